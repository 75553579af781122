"""The contract every case store backend passes.

Use it as a mixin: a test class that subclasses :class:`CaseStoreContract`
and defines a ``store_factory`` fixture, a picklable callable (it is sent to
other processes) that returns a new store instance over the same data each
time it is called; ``store_factory(clocks=extractor)`` one with that clock
extractor (the aggregates' tests use :func:`contract_clocks`). A second
instance stands in for another process; the multi-process tests start real
ones. Override :meth:`check_files` to add backend checks after crashes (the
GeoJSON backend loads its files in geopandas there).
"""

import base64
import multiprocessing
import os
import pickle
import random
import signal
import subprocess
import sys
import threading
import types
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gridmap.errors import BadInput, GridmapError, NotFound
from gridmap.store.base import (CLOCK_COLUMNS, MAX_CELLS, CaseFilter, CaseStore, DuplicateCase,
                                StoreError, VersionConflict)

HERE = Path(__file__).resolve().parent
T0 = datetime(2025, 5, 1, 9, 0, tzinfo=timezone(timedelta(hours=8)))
LON, LAT = 108.7757, 29.5311


def make_feature(name, *, grid="500114001001001", state="reported", category="road",
                 reported_at=None, lon=LON, lat=LAT, **props):
    """A case Feature as the workflow would make it (id ``name``, tracking ``T-name``)."""
    reported_at = reported_at or T0.isoformat()
    return {"type": "Feature", "id": name,
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"tracking_code": f"T-{name}", "grid_code": grid, "state": state,
                           "category": category, "reported_at": reported_at,
                           "description": "路灯不亮 <b>lamp</b>", "marks": [],
                           "history": [{"at": reported_at, "action": "report", "actor": None}],
                           **props}}


def contract_clocks(props):
    """The contract's clock extractor: ``properties["clocks"]`` holds the six instants
    of CLOCK_COLUMNS as ISO text or null (a workflow would derive them from history)."""
    values = props.get("clocks") or [None] * len(CLOCK_COLUMNS)
    return [None if v is None else datetime.fromisoformat(v).timestamp() for v in values]


def north_of(lat, metres):
    return lat + metres / 111_195.08  # metres per degree on the mean sphere


# -- aggregates: varied cases and brute-force answers from store.all() -----------------

WORDS = ("路灯", "垃圾", "Lamp", "water", "井盖", "noise")
AGG_STATES = ("reported", "signed", "handling", "replied", "closed", "rated", "cancelled")
AGG_CATEGORIES = ("road", "waste", "water")
CLOCK_NAMES = ("sign", "handle", "verify")


def varied_feature(rng, name):
    """A case with random grid, state, category, time (in one of three offsets, or
    none), place, description and clocks."""
    at = T0 + timedelta(minutes=rng.randrange(400 * 24 * 60))
    clocks = []
    for _ in CLOCK_NAMES:
        deadline = at + timedelta(hours=rng.randrange(1, 200)) if rng.random() < 0.8 else None
        stop = at + timedelta(hours=rng.randrange(300)) if rng.random() < 0.5 else None
        clocks += [deadline and deadline.isoformat(), stop and stop.isoformat()]
    feature = make_feature(
        name, grid=rng.choice("ABC"), state=rng.choice((*AGG_STATES, None)),
        category=rng.choice((*AGG_CATEGORIES, None)),
        reported_at=at.astimezone(timezone(timedelta(hours=rng.choice((8, 0, -5))))).isoformat(),
        lon=LON + rng.uniform(-0.02, 0.02), lat=LAT + rng.uniform(-0.02, 0.02),
        description=" ".join(rng.sample(WORDS, 2)), clocks=clocks)
    if rng.random() < 0.05:
        del feature["properties"]["reported_at"]
    return feature


def late(props, clock, now):
    """Whether ``clock`` of a case with :func:`contract_clocks` is late at ``now``."""
    values = props.get("clocks") or [None] * 6
    deadline, stop = values[2 * CLOCK_NAMES.index(clock):][:2]
    if deadline is None or props["state"] == "cancelled":
        return False
    return (datetime.fromisoformat(stop) if stop else now) > datetime.fromisoformat(deadline)


def passes(feature, flt, now):
    """Whether ``feature`` passes ``flt``, judged by hand."""
    p = feature["properties"]
    lon, lat = feature["geometry"]["coordinates"][:2]
    at = p.get("reported_at") and datetime.fromisoformat(p["reported_at"])
    return ((flt.grid_codes is None or p["grid_code"] in flt.grid_codes)
            and (flt.states is None or p.get("state") in flt.states)
            and (flt.categories is None or p.get("category") in flt.categories)
            and (flt.since is None or (at is not None and at >= flt.since))
            and (flt.until is None or (at is not None and at < flt.until))
            and (flt.bbox is None or (flt.bbox[0] <= lon <= flt.bbox[2]
                                      and flt.bbox[1] <= lat <= flt.bbox[3]))
            and all(w.casefold() in (p.get("description") or "").casefold()
                    for w in (flt.text or "").split())
            and (flt.overdue is None or any(late(p, c, now) for c in CLOCK_NAMES
                                            if flt.overdue in (c, "any"))))


def random_box(rng):
    west, south = LON + rng.uniform(-0.03, 0.01), LAT + rng.uniform(-0.03, 0.01)
    return (west, south, west + rng.uniform(0, 0.03), south + rng.uniform(0, 0.03))


def random_filter(rng, now):
    kw = {"now": now}
    if rng.random() < 0.4:
        kw["grid_codes"] = rng.sample(["A", "B", "C", "Z"], rng.randint(0, 2))
    if rng.random() < 0.4:
        kw["states"] = rng.sample(AGG_STATES, rng.randint(1, 3))
    if rng.random() < 0.3:
        kw["categories"] = rng.sample(AGG_CATEGORIES, rng.randint(1, 2))
    for name in ("since", "until"):
        if rng.random() < 0.3:
            kw[name] = T0 + timedelta(days=rng.uniform(0, 400))
    if rng.random() < 0.3:
        kw["bbox"] = random_box(rng)
    if rng.random() < 0.3:
        kw["text"] = " ".join(w.upper() for w in rng.sample(WORDS, rng.randint(1, 2)))
    if rng.random() < 0.4:
        kw["overdue"] = rng.choice(("sign", "handle", "verify", "any"))
    return CaseFilter(**kw)


def group_value(feature, key, tz):
    p = feature["properties"]
    if key in ("grid_code", "category", "state"):
        return p.get(key)
    if p.get("reported_at") is None:
        return None
    local = datetime.fromisoformat(p["reported_at"]).astimezone(ZoneInfo(tz))
    if key == "day":
        return local.date().isoformat()
    if key == "month":
        return local.strftime("%Y-%m")
    year, week, _ = local.isocalendar()
    return f"{year}-W{week:02d}"


def brute_count_by(features, by, tz):
    counts = {}
    for f in features:
        combo = tuple(group_value(f, k, tz) for k in by)
        counts[combo] = counts.get(combo, 0) + 1
    return sorted(({**dict(zip(by, combo)), "count": n} for combo, n in counts.items()), key=repr)


# -- code run in other processes (module level, so 'spawn' can import it) ---------

def create_and_update(factory, worker, n, shared_ids, barrier, results):
    """4-process test body: creates (some keys shared by all workers) and updates."""
    store = factory()
    barrier.wait()
    creates, updates, conflicts = [], [], 0
    for i in range(n):
        key = f"shared-{i}" if i % 5 == 0 else f"w{worker}-{i}"
        feature, created = store.create(make_feature(f"w{worker}-{i}"), idempotency_key=key)
        creates.append((key, feature["id"], created, feature["properties"]["case_no"]))
        if i % 3 == 0:
            case_id = shared_ids[i % len(shared_ids)]
            if i % 2 == 0:
                store.refresh()
            current = store.get(case_id)
            mark = f"w{worker}-{i}"
            current["properties"]["marks"].append(mark)
            try:
                new = store.update(case_id, current, current["properties"]["version"])
                updates.append((case_id, mark, new["properties"]["version"]))
            except VersionConflict:
                conflicts += 1
    store.close()
    results.put((creates, updates, conflicts))


def create_forever(payload):
    """kill -9 test body: create, then print each acknowledged id at once (with
    ``batch``: create_many batches of ids ``<name>.<j>``, printing each batch's name)."""
    factory, prefix, compact_every, batch = pickle.loads(base64.b64decode(payload))
    store = factory()
    print("ready", flush=True)
    for i in range(10**9):
        name = f"{prefix}-{i}"
        if batch:
            names = [f"{name}.{j}" for j in range(batch)]
            store.create_many([make_feature(n) for n in names], [f"key-{n}" for n in names])
        else:
            store.create(make_feature(name), idempotency_key=f"key-{name}")
        print(name, flush=True)
        if compact_every and i % compact_every == compact_every - 1:
            print("compacting", flush=True)
            store.compact()


def run_and_kill(factory, prefix, rng, compact_every=0, batch=0):
    """Run :func:`create_forever` in a child and SIGKILL it at a random moment
    (with ``compact_every``: while it compacts). Returns the acknowledged ids
    (with ``batch``: the acknowledged batches' names)."""
    payload = base64.b64encode(pickle.dumps((factory, prefix, compact_every, batch))).decode()
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import contract; "
            f"contract.create_forever({payload!r})")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    acked, compactions = [], 0
    target = rng.randint(1, 3) if compact_every else rng.randint(5, 80)
    try:
        assert child.stdout.readline() == "ready\n"
        for line in child.stdout:
            if line == "compacting\n":
                compactions += 1
                if compactions >= target:
                    threading.Event().wait(rng.uniform(0, 0.03))  # somewhere inside compact()
                    break
            else:
                acked.append(line.rstrip("\n"))
                if not compact_every and len(acked) >= target:
                    # somewhere inside create() (or create_many(), a batch at 10 µs a case)
                    threading.Event().wait(rng.uniform(0, 0.002 + batch * 1e-5))
                    break
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        rest = child.stdout.read().split("\n")[:-1]  # a last line without newline is not acked
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL, "the child died before it was killed"
    assert not compact_every or compactions >= target, "the child never reached compaction"
    return acked + [line for line in rest if line != "compacting"]


def default_create_many(factory):
    """A store from ``factory`` whose ``create_many`` is :class:`CaseStore`'s default
    (one create after another), to run :class:`BulkContract` on it."""
    store = factory()
    store.create_many = types.MethodType(CaseStore.create_many, store)
    return store


class StoreFixtures:
    """``store`` and ``open_store`` from the ``store_factory`` the subclass provides."""

    def check_files(self, store):
        """Backend hook: check the stored files after a crash (default: nothing)."""

    @pytest.fixture
    def open_store(self, store_factory):
        """Open another instance on the same data; all are closed after the test."""
        opened = []

        def open_(**kwargs):
            opened.append(store_factory(**kwargs))
            return opened[-1]

        yield open_
        for store in opened:
            store.close()

    @pytest.fixture
    def store(self, open_store):
        return open_store()


def batch_of(prefix, n, **kwargs):
    return [make_feature(f"{prefix}{i}", lat=north_of(LAT, i), **kwargs) for i in range(n)]


class BulkContract(StoreFixtures):
    """:meth:`CaseStore.create_many`: part of the contract, also run on the default."""

    def test_create_many_numbers_the_batch_in_order_after_what_is_stored(self, store, open_store):
        store.create(make_feature("first"))
        done = store.create_many(batch_of("b", 4), idempotency_keys=["k0", None, "k2", None])
        assert done == [(f"b{i}", i + 2, True) for i in range(4)]
        for s in (store, open_store()):
            assert s.count() == 5
            stored = s.get("b2")
            expected = batch_of("b", 4)[2]
            expected["properties"].update(case_no=4, version=1)
            assert stored == expected
            assert s.get_by_key("k2") == stored
        assert store.create(make_feature("last"))[0]["properties"]["case_no"] == 6

    def test_create_many_replays_keys_seen_before_or_earlier_in_the_batch(self, store, open_store):
        stale = open_store()
        store.create(make_feature("c0"), idempotency_key="k0")
        batch = batch_of("b", 3)
        done = stale.create_many(batch, idempotency_keys=["k0", "k1", "k1"])
        assert done == [("c0", 1, False), ("b1", 2, True), ("b1", 2, False)]
        assert store.count() == 2 and store.get("b0") is None and store.get("b2") is None
        assert store.create_many([]) == []

    @pytest.mark.parametrize("position", [0, 2])
    @pytest.mark.parametrize("mutate, field", [
        (lambda f: f.update(id=""), "id"),
        (lambda f: f["geometry"].update(coordinates=[float("nan"), 29.5]), "lon"),
        (lambda f: f["properties"].pop("tracking_code"), "tracking_code"),
        (lambda f: f["properties"].update(reported_at="yesterday"), "reported_at"),
        (lambda f: f.update(properties=None), "properties"),
    ])
    def test_create_many_refuses_a_bad_feature_naming_it_and_stores_nothing(
            self, store, position, mutate, field):
        batch = batch_of("b", 3)
        mutate(batch[position])
        with pytest.raises(BadInput) as info:
            store.create_many(batch)
        assert info.value.status == 400 and info.value.field == f"features[{position}].{field}"
        assert store.count() == 0
        assert store.create(make_feature("c0"))[0]["properties"]["case_no"] == 1

    @pytest.mark.parametrize("keys, field", [
        (["k0"], "idempotency_keys"),
        (["k0", "", None], "idempotency_keys[1]"),
        (["k0", 7, None], "idempotency_keys[1]"),
    ])
    def test_create_many_refuses_bad_keys_and_stores_nothing(self, store, keys, field):
        with pytest.raises(BadInput) as info:
            store.create_many(batch_of("b", 3), idempotency_keys=keys)
        assert info.value.field == field
        assert store.count() == 0

    @pytest.mark.parametrize("clash, field", [
        (lambda b: b[2].update(id="b0"), "features[2].id"),
        (lambda b: b[1]["properties"].update(tracking_code="T-b0"), "features[1].tracking_code"),
        (lambda b: b[2].update(id="c0"), "features[2].id"),
        (lambda b: b[0]["properties"].update(tracking_code="T-c0"), "features[0].tracking_code"),
    ])
    def test_create_many_refuses_duplicates_in_the_batch_or_stored_and_stores_nothing(
            self, store, open_store, clash, field):
        stale = open_store()
        store.create(make_feature("c0"))
        batch = batch_of("b", 3)
        clash(batch)
        for s in (store, stale):
            with pytest.raises(DuplicateCase) as info:
                s.create_many(batch)
            assert info.value.status == 409 and info.value.field == field
        assert store.count() == stale.count() == 1

    def test_acknowledged_batches_survive_kill_9_whole(self, store_factory, open_store):
        seed = random.randrange(10**6)
        rng = random.Random(seed)
        acked, size = [], 100
        for run in range(4):
            acked += run_and_kill(store_factory, f"k{run}", rng, batch=size)
            store = open_store()
            features = list(store.all())
            ids = [f["id"] for f in features]
            assert len(ids) == len(set(ids))
            assert [f["properties"]["case_no"] for f in features] == list(range(1, len(ids) + 1))
            batches = {}
            for case_id in ids:
                name, j = case_id.rsplit(".", 1)
                batches.setdefault(name, []).append(int(j))
            for name in acked:
                assert batches.get(name) == list(range(size)), f"batch {name} torn (seed {seed})"
            for name, members in batches.items():  # the unacknowledged one: a prefix at most
                assert members == list(range(len(members))), f"{name} has holes (seed {seed})"
            self.check_files(store)
        assert len(acked) >= 4 * 5


class CaseStoreContract(BulkContract):
    """Contract tests; subclasses provide the ``store_factory`` fixture."""

    # -- create ------------------------------------------------------------------

    def test_create_numbers_and_versions_cases(self, store):
        for i in range(3):
            feature, created = store.create(make_feature(f"c{i}"))
            assert created is True
            assert feature["properties"]["case_no"] == i + 1
            assert feature["properties"]["version"] == 1
        feature = store.get("c1")
        expected = make_feature("c1")
        expected["properties"].update(case_no=2, version=1)
        assert feature == expected
        assert store.get_by_tracking("T-c1") == expected
        assert store.count() == 3

    def test_store_set_numbers_override_the_callers(self, store):
        feature = make_feature("c0", case_no=99, version=7)
        assert store.create(feature)[0]["properties"]["case_no"] == 1
        assert store.get("c0")["properties"]["version"] == 1

    def test_a_new_instance_loads_what_was_written(self, store, open_store):
        store.create(make_feature("c0"), idempotency_key="k0")
        other = open_store()
        assert other.get("c0")["properties"]["case_no"] == 1
        assert other.create(make_feature("c9"), idempotency_key="k0")[1] is False

    def test_refresh_shows_another_instances_writes(self, store, open_store):
        other = open_store()
        store.create(make_feature("c0"))
        other.refresh()
        assert other.get("c0") is not None
        assert other.create(make_feature("c1"))[0]["properties"]["case_no"] == 2
        store.refresh()
        assert store.count() == 2 and store.get("c1") is not None

    def test_reads_see_another_instances_writes_without_refresh(self, store, open_store):
        others = [open_store() for _ in range(6)]  # each opened before the writes, one read each
        assert all(other.count() == 0 for other in others)
        store.create(make_feature("c0"))
        store.create(make_feature("c1", lat=north_of(LAT, 10)))
        store.update("c0", {**store.get("c0"), "properties": {
            **store.get("c0")["properties"], "state": "signed"}}, 1)
        assert others[0].count() == 2
        assert others[1].get("c0")["properties"]["state"] == "signed"
        assert others[2].get_by_tracking("T-c1")["id"] == "c1"
        assert others[3].query(states=["signed"])[1] == 1
        assert [f["id"] for f in others[4].near(LON, LAT, 50)] == ["c0", "c1"]
        assert [f["id"] for f in others[5].all()] == ["c0", "c1"]

    def test_repeated_idempotency_key_returns_the_first_case(self, store):
        first, created = store.create(make_feature("c0"), idempotency_key="k")
        again, created_again = store.create(make_feature("c1"), idempotency_key="k")
        assert (created, created_again) == (True, False)
        assert again == first
        assert store.count() == 1 and store.get("c1") is None

    def test_a_case_is_found_by_its_idempotency_key_also_by_another_instance(self, store,
                                                                               open_store):
        other = open_store()  # opened before the create, never refreshed
        first, _ = store.create(make_feature("c0"), idempotency_key="k0")
        store.create(make_feature("c1", lat=north_of(LAT, 10)))
        assert store.get_by_key("k0") == first
        assert other.get_by_key("k0") == first
        assert store.get_by_key("k1") is None
        with pytest.raises(BadInput):
            store.get_by_key("")

    def test_idempotency_holds_across_instances_without_refresh(self, store, open_store):
        stale = open_store()  # opened before the first create, never refreshed
        first, _ = store.create(make_feature("c0"), idempotency_key="k")
        again, created = stale.create(make_feature("c1"), idempotency_key="k")
        assert created is False and again["id"] == "c0"
        store.refresh()
        assert store.count() == 1

    @pytest.mark.parametrize("clash", ["id", "tracking_code"])
    def test_duplicates_are_refused_also_by_a_stale_instance(self, store, open_store, clash):
        stale = open_store()
        store.create(make_feature("c0"))
        twin = make_feature("c0") if clash == "id" else make_feature("c1", tracking_code="T-c0")
        for s in (store, stale):
            with pytest.raises(DuplicateCase) as info:
                s.create(twin)
            assert info.value.status == 409 and info.value.field == clash
        assert store.create(make_feature("c2"))[0]["properties"]["case_no"] == 2
        assert store.count() == 2

    @pytest.mark.parametrize("mutate, field", [
        (lambda f: f.update(type="Point"), "type"),
        (lambda f: f.update(id=""), "id"),
        (lambda f: f.update(id=7), "id"),
        (lambda f: f.update(geometry={"type": "LineString", "coordinates": [[0, 0], [1, 1]]}),
         "geometry"),
        (lambda f: f.update(geometry=None), "geometry"),
        (lambda f: f.update(geometry="POINT (108.7 29.5)"), "geometry"),
        (lambda f: f["geometry"].update(coordinates=[29.53, 108.77]), "lat"),
        (lambda f: f["geometry"].update(coordinates=[float("nan"), 29.5]), "lon"),
        (lambda f: f.update(properties=None), "properties"),
        (lambda f: f["properties"].pop("tracking_code"), "tracking_code"),
        (lambda f: f["properties"].pop("grid_code"), "grid_code"),
        (lambda f: f["properties"].update(reported_at="2025-05-01T09:00:00"), "reported_at"),
        (lambda f: f["properties"].update(reported_at="yesterday"), "reported_at"),
        (lambda f: f["properties"].update(state=3), "state"),
        (lambda f: f["properties"].update(photo=b"\x00"), "properties"),
        (lambda f: f["properties"].update(score=float("inf")), "properties"),
    ])
    def test_bad_features_are_refused_and_nothing_is_stored(self, store, mutate, field):
        feature = make_feature("c0")
        mutate(feature)
        with pytest.raises(BadInput) as info:
            store.create(feature)
        assert info.value.status == 400 and info.value.field == field
        assert store.count() == 0

    def test_bad_idempotency_key_is_refused(self, store):
        with pytest.raises(BadInput):
            store.create(make_feature("c0"), idempotency_key="")
        assert store.count() == 0

    # -- update ------------------------------------------------------------------

    def test_update_replaces_and_bumps_the_version(self, store):
        store.create(make_feature("c0"))
        feature = store.get("c0")
        feature["properties"]["state"] = "signed"
        feature["geometry"]["coordinates"] = [LON + 0.001, LAT]
        new = store.update("c0", feature, 1)
        assert new["properties"]["version"] == 2 and new["properties"]["case_no"] == 1
        assert store.get("c0") == new
        assert store.get("c0")["properties"]["state"] == "signed"
        assert store.query(states=["reported"])[1] == 0

    def test_stale_update_conflicts_and_changes_nothing(self, store, open_store):
        stale = open_store()
        store.create(make_feature("c0"))
        stale.refresh()
        old = stale.get("c0")
        feature = store.get("c0")
        feature["properties"]["state"] = "signed"
        store.update("c0", feature, 1)
        old["properties"]["state"] = "cancelled"
        for s in (store, stale):
            with pytest.raises(VersionConflict) as info:
                s.update("c0", old, 1)
            assert info.value.status == 409
            assert info.value.detail == {"case_id": "c0", "expected_version": 1, "current_version": 2}
        stale.refresh()
        for s in (store, stale, open_store()):
            assert s.get("c0")["properties"]["state"] == "signed"
            assert s.get("c0")["properties"]["version"] == 2

    def test_update_of_an_unknown_case_is_not_found(self, store):
        with pytest.raises(NotFound) as info:
            store.update("nope", make_feature("nope"), 1)
        assert info.value.status == 404
        assert store.count() == 0

    def test_update_cannot_change_id_or_tracking_code(self, store):
        store.create(make_feature("c0"))
        with pytest.raises(BadInput):
            store.update("c0", make_feature("c1"), 1)
        with pytest.raises(BadInput):
            store.update("c0", make_feature("c0", tracking_code="T-other"), 1)
        with pytest.raises(BadInput):
            store.update("c0", make_feature("c0"), 0)
        assert store.get("c0")["properties"]["version"] == 1

    def test_update_keeps_the_idempotency_key(self, store, open_store):
        store.create(make_feature("c0"), idempotency_key="k")
        store.update("c0", store.get("c0"), 1)
        assert open_store().create(make_feature("c1"), idempotency_key="k")[0]["id"] == "c0"

    # -- copies and reads ----------------------------------------------------------

    def test_returned_features_are_deep_copies(self, store):
        source = make_feature("c0")
        created, _ = store.create(source)
        source["properties"]["history"].append("input changed")
        for feature in (created, store.get("c0"), store.get_by_tracking("T-c0"),
                        store.query()[0][0], store.near(LON, LAT, 1)[0], next(store.all())):
            feature["properties"]["history"].append("output changed")
            feature["properties"]["state"] = "closed"
            feature["geometry"]["coordinates"][0] = 0.0
        assert store.get("c0")["properties"]["history"] == make_feature("c0")["properties"]["history"]
        assert store.get("c0")["properties"]["state"] == "reported"
        assert store.get("c0")["geometry"]["coordinates"] == [LON, LAT]

    def test_missing_cases_are_none(self, store):
        assert store.get("nope") is None and store.get_by_tracking("T-nope") is None

    def test_all_and_count(self, store):
        for i in (2, 0, 1):
            store.create(make_feature(f"c{i}"))
        assert [f["id"] for f in store.all()] == ["c2", "c0", "c1"]
        assert store.count() == 3

    @pytest.fixture
    def filled(self, store):
        """12 cases: grids A/B/C, states, categories, hourly reports in mixed offsets."""
        for i in range(12):
            at = T0 + timedelta(hours=i)
            at = at.astimezone(timezone.utc) if i % 2 else at  # same instants, other offset
            store.create(make_feature(f"c{i:02d}", grid="ABC"[i % 3], category=["road", "waste"][i % 2],
                                      state=["reported", "signed", "closed"][i % 4 % 3],
                                      reported_at=at.isoformat()))
        return store

    def test_query_filters(self, filled):
        ids = lambda result: sorted(f["id"] for f in result[0])  # noqa: E731
        assert ids(filled.query(grid_codes=["A"])) == ["c00", "c03", "c06", "c09"]
        assert ids(filled.query(grid_codes=["A", "B"], categories=["waste"])) == ["c01", "c03", "c07",
                                                                                 "c09"]
        assert ids(filled.query(states=["closed"])) == ["c02", "c06", "c10"]
        since, until = (T0 + timedelta(hours=3)).isoformat(), T0 + timedelta(hours=6)
        assert ids(filled.query(since=since, until=until)) == ["c03", "c04", "c05"]
        assert ids(filled.query(since="2025-05-01T10:00:00Z")) == ["c09", "c10", "c11"]
        assert filled.query(grid_codes=[])[1] == 0
        assert filled.query(grid_codes=["Z"]) == ([], 0)

    def test_query_order_paging_and_total(self, filled):
        page, total = filled.query(limit=5, offset=2)
        assert total == 12 and [f["id"] for f in page] == ["c09", "c08", "c07", "c06", "c05"]
        assert [f["id"] for f in filled.query(order="reported_at", limit=2)[0]] == ["c00", "c01"]
        assert [f["properties"]["case_no"] for f in filled.query(order="-case_no", limit=3)[0]] == [
            12, 11, 10]
        assert [f["id"] for f in filled.query(order="case_no", limit=None, offset=10)[0]] == ["c10",
                                                                                               "c11"]
        assert filled.query(offset=50) == ([], 12)

    def test_query_predicate(self, filled):
        page, total = filled.query(predicate=lambda f: f["id"].endswith("1"), order="case_no")
        assert total == 2 and [f["id"] for f in page] == ["c01", "c11"]

    @pytest.mark.parametrize("kwargs", [
        {"order": "state"}, {"limit": -1}, {"offset": None}, {"grid_codes": "A"},
        {"states": [1]}, {"categories": "road"},
        {"since": "2025-05-01T09:00:00"}, {"until": "soon"}, {"predicate": "overdue"},
    ])
    def test_query_refuses_bad_arguments_naming_them(self, filled, kwargs):
        (name, value), = kwargs.items()
        with pytest.raises(BadInput) as info:
            filled.query(**kwargs)
        assert info.value.field == name and name in str(info.value)
        if name == "predicate":
            assert info.value.render("zh") == "predicate 须可调用，收到 'overdue'"
            assert info.value.render("en") == "predicate must be callable, got 'overdue'"

    def test_a_query_answers_50_cases_a_page_by_default(self, store):
        for i in range(51):
            store.create(make_feature(f"c{i:02d}"))
        page, total = store.query(order="case_no")
        assert total == 51 and len(page) == 50 and page[-1]["id"] == "c49"

    @pytest.mark.parametrize("call, field", [
        (lambda s: s.get(""), "case_id"), (lambda s: s.get_by_tracking(7), "tracking_code"),
        (lambda s: s.get_by_key(["k"]), "idempotency_key"),
        (lambda s: s.update("", make_feature("c0"), 1), "case_id"),
        (lambda s: s.near(LON, LAT, 50, categories="road"), "categories"),
        (lambda s: s.near(LON, LAT, 50, states=[None]), "states"),
        (lambda s: s.near(LON, LAT, 50, properties="state"), "properties"),
    ])
    def test_lookups_refuse_bad_arguments_naming_them(self, store, call, field):
        with pytest.raises(BadInput) as info:
            call(store)
        assert info.value.field == field and field in str(info.value)

    def test_near_finds_cases_within_the_radius_nearest_first(self, store):
        for name, metres in (("at40", 40), ("at0", 0), ("at49", 49.5), ("at51", 51), ("at500", 500)):
            store.create(make_feature(name, lat=north_of(LAT, metres)))
        store.create(make_feature("waste10", lat=north_of(LAT, 10), category="waste"))
        store.create(make_feature("closed5", lat=north_of(LAT, 5), state="closed"))
        near = store.near(LON, LAT, 50, categories=["road"], states=["reported"])
        assert [f["id"] for f in near] == ["at0", "at40", "at49"]
        assert [f["id"] for f in store.near(LON, LAT, 50)] == ["at0", "closed5", "waste10", "at40",
                                                              "at49"]
        assert len(store.near(LON, LAT, 1000)) == 7 and store.near(0.0, 0.0, 1000) == []
        assert [f["id"] for f in store.near(LON, LAT, 1000, limit=2)] == ["at0", "closed5"]
        with pytest.raises(BadInput):
            store.near(LON, LAT, -1)
        with pytest.raises(BadInput):
            store.near(LON, LAT, 50, properties="state")

    @pytest.mark.parametrize("properties", [
        ["case_no", "state", "reported_at"],  # served from the index
        ["tracking_code", "grid_code", "category", "version", "case_no"],
        ["description", "state"],  # one the index does not hold: read from the case
        ["no_such_property"], [],
    ])
    def test_near_returns_only_the_properties_asked_for(self, store, properties):
        store.create(make_feature("at0"))
        store.create(make_feature("at10", lat=north_of(LAT, 10), state=None))
        store.update("at0", {**store.get("at0"), "properties": {
            **store.get("at0")["properties"], "description": "修好了"}}, 1)
        sparse = store.near(LON, LAT, 50, properties=properties)
        full = store.near(LON, LAT, 50)
        assert [f["id"] for f in sparse] == ["at0", "at10"]
        for s, f in zip(sparse, full):
            assert s == {"type": "Feature", "id": f["id"], "geometry": {
                "type": "Point", "coordinates": f["geometry"]["coordinates"][:2]},
                "properties": {k: v for k, v in f["properties"].items()
                               if k in properties and v is not None}}

    def test_a_closed_store_refuses_work(self, store_factory):
        store = store_factory()
        store.close()
        with pytest.raises(StoreError):
            store.create(make_feature("c0"))
        with pytest.raises(GridmapError):
            store.refresh()

    # -- filtered selects and aggregates -----------------------------------------------

    @pytest.fixture
    def varied(self, open_store):
        """160 varied cases, a quarter written by a second instance, 40 updates (new
        state, place, grid, clocks); returns (store, now, all cases by hand)."""
        rng = random.Random(15)
        store, other = open_store(clocks=contract_clocks), open_store(clocks=contract_clocks)
        for i in range(160):
            (other if i % 4 == 0 else store).create(varied_feature(rng, f"v{i:03d}"))
        for i in rng.sample(range(160), 40):
            writer = rng.choice((store, other))
            current = writer.get(f"v{i:03d}")
            fresh = varied_feature(rng, f"v{i:03d}")
            current["geometry"] = fresh["geometry"]
            for key in ("state", "grid_code", "clocks", "description"):
                current["properties"][key] = fresh["properties"][key]
            writer.update(current["id"], current, current["properties"]["version"])
        now = T0 + timedelta(days=200)
        return store, now, list(open_store().all())

    def test_find_matches_a_brute_force_over_all_cases(self, varied):
        store, now, features = varied
        rng = random.Random(1)
        for _ in range(60):
            flt = random_filter(rng, now)
            expected = [f for f in features if passes(f, flt, now)]
            order = rng.choice(("-reported_at", "reported_at", "-case_no", "case_no"))
            limit, offset = rng.choice((None, 1, 5, 50)), rng.choice((0, 0, 3))
            sort_key = (lambda f: f["properties"]["case_no"]) if order.endswith("case_no") else (
                lambda f: (datetime.fromisoformat(f["properties"]["reported_at"]).timestamp()
                           if "reported_at" in f["properties"] else -float("inf"),
                           f["properties"]["case_no"]))
            expected.sort(key=sort_key, reverse=order.startswith("-"))
            page, total = store.find(flt, order=order, limit=limit, offset=offset)
            assert total == len(expected), flt
            assert page == expected[offset:None if limit is None else offset + limit], flt
            assert store.find(flt, limit=0)[1] == total

    def test_find_pages_like_query_and_answers_sparse_features(self, varied):
        store, _, features = varied
        assert store.find() == store.query()
        assert store.find(CaseFilter(states=["closed"]), order="case_no", limit=7, offset=2) == (
            store.query(states=["closed"], order="case_no", limit=7, offset=2))
        sparse, total = store.find(CaseFilter(grid_codes=["A"]), properties=["case_no", "state"])
        whole = store.find(CaseFilter(grid_codes=["A"]))[0]
        assert total == len([f for f in features if f["properties"]["grid_code"] == "A"])
        assert sparse == [{"type": "Feature", "id": f["id"], "geometry": f["geometry"],
                           "properties": {k: f["properties"][k] for k in ("case_no", "state")
                                          if f["properties"].get(k) is not None}} for f in whole]

    def test_text_search_needs_every_word_whatever_the_case(self, store):
        store.create(make_feature("c0", description='Lamp 路灯 "broken" \\ back\\slash'))
        store.create(make_feature("c1", description="LAMP post"))
        store.create(make_feature("c2", description=None))
        ids = lambda text: sorted(f["id"] for f in store.find(CaseFilter(text=text))[0])  # noqa: E731
        assert ids("lamp") == ["c0", "c1"]
        assert ids("lamp 路灯") == ["c0"]
        assert ids('"BROKEN"') == ["c0"] and ids("back\\slash") == ["c0"]
        assert ids("lamp\tPOST") == ["c1"] and ids("road") == []  # road: a category, not text
        assert ids("   ") == ["c0", "c1", "c2"]

    def test_text_search_matches_substrings_like_a_brute_force_across_edits_and_instances(
            self, open_store):
        """Descriptions of Chinese, Latin, digits and punctuation (some repeated, some
        missing or not text), written by two instances, edited, then read by a third."""
        rng = random.Random(13)
        alphabet = list("路灯不亮垃圾井盖漏水号楼LampWATER42ß,.!\"、，（） ")

        def words():
            return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))

        # the pairs of 路灯不 and ABA, but not the words; and the words
        pool = [words() for _ in range(8)] + ["路灯 灯不亮", "ab.ba", "路灯不亮", "aBa"]
        store, other = open_store(), open_store()

        def described(name):
            value = rng.choice((*pool, words(), words(), None, 5))
            return make_feature(name, description=value)

        for i in range(60):
            (other if i % 3 == 0 else store).create(described(f"w{i:02d}"))
        for i in rng.sample(range(60), 20):
            writer = rng.choice((store, other))
            current = writer.get(f"w{i:02d}")
            current["properties"]["description"] = described("x")["properties"]["description"]
            writer.update(current["id"], current, current["properties"]["version"])
        features = list(store.all())
        texts = [f["properties"].get("description") for f in features]
        asked = [rng.choice([t for t in texts if isinstance(t, str) and t.strip()])]
        for _ in range(60):
            t = rng.choice([t for t in texts if isinstance(t, str) and t] or ["x"])
            start = rng.randrange(len(t))
            asked.append(t[start:start + rng.randint(1, 4)].upper())
        asked += [words() for _ in range(20)] + ["路灯不", "aba", "灯", "a"] * 3
        for instance in (store, other, open_store()):
            for i in range(80):
                text = " ".join(rng.sample(asked, rng.randint(1, 2)))
                flt = CaseFilter(text=text)
                asked_words = text.casefold().split()  # none: no filter, every case
                expected = sorted(f["id"] for f, t in zip(features, texts) if not asked_words or (
                    isinstance(t, str) and all(w in t.casefold() for w in asked_words)))
                got, total = instance.find(flt, order="case_no", limit=None)
                assert (sorted(f["id"] for f in got), total) == (expected, len(expected)), text
                if i % 20 == 0:
                    heat = instance.heat(flt, (LON - 1, LAT - 1, LON + 1, LAT + 1), 12)
                    assert heat["total"] == sum(c[2] for c in heat["cells"]) == len(expected), (
                        heat, expected)

    @pytest.mark.parametrize("by", [("grid_code",), ("category", "state"), ("day",), ("week",),
                                    ("month", "grid_code"), ("grid_code", "category", "week"),
                                    ("state", "day", "category", "month", "week", "grid_code")])
    @pytest.mark.parametrize("tz", ["Asia/Shanghai", "UTC", "America/New_York"])
    def test_count_by_matches_a_brute_force(self, varied, by, tz):
        store, now, features = varied
        rng = random.Random(f"{by}{tz}")
        for flt in [None, *(random_filter(rng, now) for _ in range(4))]:
            rows = store.count_by(flt, by, tz=tz)
            chosen = [f for f in features if passes(f, flt or CaseFilter(), now)]
            assert sorted(rows, key=repr) == brute_count_by(chosen, by, tz)
            assert rows == sorted(rows, key=lambda r: [(r[k] is not None, r[k] or "") for k in by])

    def test_days_weeks_and_months_are_those_of_the_time_zone(self, store):
        instants = {  # instant: (Shanghai day, week, month), (UTC day), (New York day)
            "2026-03-01T23:30:00+08:00": ("2026-03-01", "2026-W09", "2026-03", "2026-03-01",
                                          "2026-03-01"),
            "2026-03-01T00:30:00+08:00": ("2026-03-01", "2026-W09", "2026-03", "2026-02-28",
                                          "2026-02-28"),
            "2026-03-01T16:00:00+00:00": ("2026-03-02", "2026-W10", "2026-03", "2026-03-01",
                                          "2026-03-01"),
            "2021-01-01T08:00:00+08:00": ("2021-01-01", "2020-W53", "2021-01", "2021-01-01",
                                          "2020-12-31"),
            "2026-03-08T04:30:00+00:00": ("2026-03-08", "2026-W10", "2026-03", "2026-03-08",
                                          "2026-03-07"),  # 23:30 EST
            "2026-03-08T06:59:59+00:00": ("2026-03-08", "2026-W10", "2026-03", "2026-03-08",
                                          "2026-03-08"),  # 01:59:59 EST
            "2026-11-01T03:30:00+00:00": ("2026-11-01", "2026-W44", "2026-11", "2026-11-01",
                                          "2026-10-31"),  # 23:30 EDT
            "2026-11-01T05:30:00+00:00": ("2026-11-01", "2026-W44", "2026-11", "2026-11-01",
                                          "2026-11-01"),  # 01:30 EDT
            "2026-12-31T20:00:00+00:00": ("2027-01-01", "2026-W53", "2027-01", "2026-12-31",
                                          "2026-12-31"),
        }
        for i, at in enumerate(instants):
            store.create(make_feature(f"c{i}", reported_at=at))
        days = {}
        for tz in ("Asia/Shanghai", "UTC", "America/New_York"):
            days[tz] = {r["day"]: r["count"] for r in store.count_by(None, ("day",), tz=tz)}
        expected = {}
        for column, tz in ((0, "Asia/Shanghai"), (3, "UTC"), (4, "America/New_York")):
            for values in instants.values():
                expected.setdefault(tz, {}).setdefault(values[column], 0)
                expected[tz][values[column]] += 1
        assert days == expected
        weeks = {r["week"]: r["count"] for r in store.count_by(None, ("week",))}
        months = {r["month"]: r["count"] for r in store.count_by(None, ("month",))}
        assert sum(weeks.values()) == sum(months.values()) == len(instants)
        for _, week, month, _, _ in instants.values():
            assert week in weeks and month in months
        assert weeks["2026-W10"] == 3 and months["2026-03"] == 5

    def test_heat_weights_add_up_to_the_matching_total(self, varied):
        store, now, features = varied
        rng = random.Random(2)
        for zoom in (0, 10, 14, 16.5, 18, 24):
            flt = random_filter(rng, now) if zoom else None
            bbox = random_box(rng) if zoom > 10 else (-180, -85, 180, 85)
            heat = store.heat(flt, bbox, zoom)
            both = CaseFilter(**{**vars(flt or CaseFilter()), "bbox": None}), (flt or CaseFilter()).bbox
            inside = [f for f in features if passes(f, both[0], now) and passes(
                f, CaseFilter(bbox=bbox), now) and (both[1] is None or passes(
                    f, CaseFilter(bbox=both[1]), now))]
            assert heat["total"] == len(inside) == sum(w for _, _, w in heat["cells"])
            assert len(heat["cells"]) <= MAX_CELLS
            assert heat["max"] == max((w for _, _, w in heat["cells"]), default=0)
            for lat, lon, _ in heat["cells"]:
                assert bbox[1] - 1e-6 <= lat <= bbox[3] + 1e-6 and bbox[0] - 1e-6 <= lon <= bbox[2] + 1e-6

    def test_heat_cells_sit_at_the_mean_of_their_cases_and_stay_few(self, store):
        store.create(make_feature("a", lon=LON, lat=LAT))
        store.create(make_feature("b", lon=LON + 0.00001, lat=LAT + 0.00002))
        store.create(make_feature("far", lon=LON + 0.01, lat=LAT))
        heat = store.heat(None, (LON - 0.1, LAT - 0.1, LON + 0.1, LAT + 0.1), 12)
        assert sorted(heat["cells"]) == [[round(LAT, 6), round(LON + 0.01, 6), 1],
                                         [round(LAT + 0.00001, 6), round(LON + 0.000005, 6), 2]]
        assert heat["max"] == 2 and heat["total"] == 3
        for i in range(200):  # a zoom far too deep for the box: cells grow, never past the cap
            store.create(make_feature(f"s{i}", lon=LON + (i % 20) * 0.05, lat=LAT + (i // 20) * 0.05))
        heat = store.heat(None, (LON - 1, LAT - 1, LON + 1, LAT + 1), 24, cell_px=1)
        assert len(heat["cells"]) <= MAX_CELLS and heat["total"] == 203
        assert store.heat(None, (0, 0, 1, 1), 10) == {"cells": [], "total": 0, "max": 0}

    def test_cluster_counts_equal_the_list_total_for_the_same_filters_and_area(self, varied):
        store, now, _ = varied
        rng = random.Random(3)
        for zoom in (3, 12, 14, 15, 17, 19, 22):
            flt = random_filter(rng, now)
            bbox = random_box(rng)
            clusters = store.clusters(flt, bbox, zoom)
            area = CaseFilter(**{**vars(flt), "bbox": bbox})
            listed, total = store.find(area, limit=None)
            if flt.bbox is not None:  # both boxes: the list with each
                listed = [f for f in listed if passes(f, CaseFilter(bbox=flt.bbox), now)]
                total = len(listed)
            assert clusters["total"] == total == sum(c["count"] for c in clusters["clusters"])
            assert len(clusters["clusters"]) <= MAX_CELLS
            by_id = {f["id"]: f for f in listed}
            for c in clusters["clusters"]:
                west, south, east, north = c["bbox"]
                assert west - 1e-6 <= c["lon"] <= east + 1e-6 and south - 1e-6 <= c["lat"] <= north + 1e-6
                assert bbox[0] <= west <= east <= bbox[2] and bbox[1] <= south <= north <= bbox[3]
                if c["count"] == 1:
                    f = by_id[c["id"]]
                    assert c["case_no"] == f["properties"]["case_no"]
                    assert [west, south] == [east, north] == f["geometry"]["coordinates"][:2]
                else:
                    assert "id" not in c and "case_no" not in c

    def test_grid_figures_match_a_brute_force(self, varied):
        store, now, features = varied
        rng = random.Random(4)
        for flt in [None, *(random_filter(rng, now) for _ in range(6))]:
            at = now + timedelta(days=rng.uniform(-100, 100))
            expected = {}
            for f in features:
                if not passes(f, flt or CaseFilter(), at):  # now= judges the filter's clocks too
                    continue
                p = f["properties"]
                any_late = any(late(p, c, at) for c in CLOCK_NAMES)
                is_open = p["state"] in ("reported", "signed", "handling", "replied")
                closed = p["state"] in ("closed", "rated")
                row = expected.setdefault(p["grid_code"], dict.fromkeys(
                    ("received", "open", "overdue", "open_overdue", "closed", "closed_on_time"), 0))
                for name, yes in (("received", True), ("open", is_open), ("overdue", any_late),
                                  ("open_overdue", is_open and any_late), ("closed", closed),
                                  ("closed_on_time", closed and not late(p, "handle", at))):
                    row[name] += yes
            assert store.grid_figures(flt, now=at) == expected

    def test_aggregates_see_other_instances_writes_without_refresh(self, open_store):
        store, other = open_store(clocks=contract_clocks), open_store(clocks=contract_clocks)
        assert store.count_by(None, ("grid_code",)) == []
        late_clocks = [(T0 - timedelta(hours=1)).isoformat(), None] + [None] * 4
        other.create(make_feature("c0", grid="A", clocks=late_clocks))
        other.create(make_feature("c1", grid="B"))
        box = (LON - 1, LAT - 1, LON + 1, LAT + 1)
        assert store.find(CaseFilter(overdue="sign", now=T0))[1] == 1
        assert store.count_by(None, ("grid_code",)) == [{"grid_code": "A", "count": 1},
                                                        {"grid_code": "B", "count": 1}]
        feature = other.get("c0")
        feature["properties"].update(grid_code="B", state="cancelled")
        feature["geometry"]["coordinates"] = [LON + 0.5, LAT]
        other.update("c0", feature, 1)
        assert store.count_by(None, ("grid_code", "state")) == [
            {"grid_code": "B", "state": "cancelled", "count": 1},
            {"grid_code": "B", "state": "reported", "count": 1}]
        assert store.find(CaseFilter(overdue="any", now=T0))[1] == 0  # cancelled: never late
        assert store.heat(None, box, 8)["total"] == 2
        assert store.clusters(None, (LON + 0.4, LAT - 1, LON + 0.6, LAT + 1), 12)["clusters"][0][
            "id"] == "c0"
        assert store.grid_figures(None, now=T0)["B"]["received"] == 2

    def test_a_store_without_clocks_knows_no_deadlines(self, store):
        store.create(make_feature("c0", clocks=[(T0 - timedelta(hours=1)).isoformat(), None,
                                                None, None, None, None]))
        assert store.find(CaseFilter(overdue="any", now=T0)) == ([], 0)
        assert store.grid_figures(None)[make_feature("c0")["properties"]["grid_code"]][
            "overdue"] == 0

    @pytest.mark.parametrize("call, field", [
        (lambda s: s.find({"states": ["closed"]}), "flt"),
        (lambda s: s.find(None, order="grid_code"), "order"),
        (lambda s: s.find(None, limit=-1), "limit"),
        (lambda s: s.find(None, properties="state"), "properties"),
        (lambda s: s.count_by(None, ()), "by"),
        (lambda s: s.count_by(None, ("year",)), "by"),
        (lambda s: s.count_by(None, ("day", "day")), "by"),
        (lambda s: s.count_by(None, "grid_code"), "by"),
        (lambda s: s.count_by(None, ("day",), tz="Mars/Olympus"), "tz"),
        (lambda s: s.count_by(None, ("day",), tz="../../etc/passwd"), "tz"),
        (lambda s: s.heat(None, (1, 2, 3), 10), "bbox"),
        (lambda s: s.heat(None, (3, 2, 1, 4), 10), "bbox"),
        (lambda s: s.heat(None, (1, 2, 3, float("nan")), 10), "bbox"),
        (lambda s: s.heat(None, (1, 2, 3, 4), 25), "zoom"),
        (lambda s: s.heat(None, (1, 2, 3, 4), True), "zoom"),
        (lambda s: s.heat(None, (1, 2, 3, 4), 10, cell_px=0), "cell_px"),
        (lambda s: s.clusters(None, "1,2,3,4", 10), "bbox"),
        (lambda s: s.clusters(None, (1, 2, 3, 4), -1), "zoom"),
        (lambda s: s.grid_figures(None, now=datetime(2026, 1, 1)), "now"),
        (lambda s: s.grid_figures("A"), "flt"),
    ])
    def test_aggregates_refuse_bad_arguments_naming_them_and_change_nothing(self, varied, call,
                                                                            field):
        store, _, features = varied
        with pytest.raises(BadInput) as info:
            call(store)
        assert info.value.status == 400 and info.value.field == field
        for lang in ("zh", "en"):
            assert field in info.value.render(lang)
        assert list(store.all()) == features

    # -- concurrency and crashes -------------------------------------------------------

    def test_threads_create_at_once(self, store):
        errors = []

        def work(t):
            try:
                for i in range(100):
                    store.create(make_feature(f"t{t}-{i}"), idempotency_key=f"t{t}-{i}")
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        numbers = sorted(f["properties"]["case_no"] for f in store.all())
        assert numbers == list(range(1, 801))

    def test_refreshes_while_writing_lose_nothing(self, store, open_store):
        other, stop, errors = open_store(), threading.Event(), []

        def run(target, *args):
            try:
                target(*args)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        def create(s, prefix):
            for i in range(100):
                s.create(make_feature(f"{prefix}{i}"))

        def refresh():
            while not stop.is_set():
                store.refresh()

        writers = [threading.Thread(target=run, args=(create, store, f"a{t}-")) for t in range(3)]
        writers.append(threading.Thread(target=run, args=(create, other, "b-")))
        readers = [threading.Thread(target=run, args=(refresh,)) for _ in range(2)]
        for t in writers + readers:
            t.start()
        for t in writers:
            t.join()
        stop.set()
        for t in readers:
            t.join()
        assert errors == []
        store.refresh()
        expected = {f["id"]: f for f in open_store().all()}
        assert len(expected) == 400 and {f["id"]: f for f in store.all()} == expected

    def test_processes_create_and_update_at_once(self, store, store_factory, open_store):
        shared = [f"s{i}" for i in range(3)]
        for name in shared:
            store.create(make_feature(name))
        ctx = multiprocessing.get_context("spawn")
        barrier, results = ctx.Barrier(4), ctx.Queue()
        workers = [ctx.Process(target=create_and_update,
                               args=(store_factory, w, 200, shared, barrier, results))
                   for w in range(4)]
        for p in workers:
            p.start()
        outcomes = [results.get(timeout=60) for _ in workers]
        for p in workers:
            p.join(timeout=10)
            assert p.exitcode == 0
        creates = [c for outcome in outcomes for c in outcome[0]]
        by_key = {}
        for key, case_id, created, case_no in creates:
            by_key.setdefault(key, set()).add((case_id, case_no))
        assert all(len(v) == 1 for v in by_key.values()), "a key gave two different cases"
        made = [c for c in creates if c[2]]
        assert len(made) == len(by_key) == 40 + 4 * 160
        check = open_store()
        ids = {f["id"] for f in check.all()}
        assert ids == {c[1] for c in made} | set(shared)
        assert sorted(f["properties"]["case_no"] for f in check.all()) == list(range(1, len(ids) + 1))
        updates = [u for outcome in outcomes for u in outcome[1]]
        attempts = 4 * len(range(0, 200, 3))
        assert len(updates) + sum(outcome[2] for outcome in outcomes) == attempts
        for name in shared:
            applied = sorted((v, mark) for case_id, mark, v in updates if case_id == name)
            final = check.get(name)["properties"]
            assert [v for v, _ in applied] == list(range(2, len(applied) + 2))
            assert final["version"] == len(applied) + 1
            assert final["marks"] == [mark for _, mark in applied], "an update was lost or doubled"

    def test_acknowledged_creates_survive_kill_9(self, store_factory, open_store):
        seed = random.randrange(10**6)
        rng = random.Random(seed)
        acked = []
        for run in range(5):
            acked += run_and_kill(store_factory, f"k{run}", rng)
            store = open_store()
            features = list(store.all())
            ids = [f["id"] for f in features]
            assert set(acked) <= set(ids), f"lost {set(acked) - set(ids)} (seed {seed})"
            assert len(ids) == len(set(ids))
            assert sorted(f["properties"]["case_no"] for f in features) == list(range(1, len(ids) + 1))
            self.check_files(store)
        assert len(acked) >= 5 * 5
