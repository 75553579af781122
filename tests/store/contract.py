"""The contract every case store backend passes.

Use it as a mixin: a test class that subclasses :class:`CaseStoreContract`
and defines a ``store_factory`` fixture, a picklable callable (it is sent to
other processes) that returns a new store instance over the same data each
time it is called. A second instance stands in for another process; the
multi-process tests start real ones. Override :meth:`check_files` to add
backend checks after crashes (the GeoJSON backend loads its files in
geopandas there).
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

import pytest

from gridmap.errors import BadInput, GridmapError, NotFound
from gridmap.store.base import CaseStore, DuplicateCase, StoreError, VersionConflict

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


def north_of(lat, metres):
    return lat + metres / 111_195.08  # metres per degree on the mean sphere


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

        def open_():
            opened.append(store_factory())
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
