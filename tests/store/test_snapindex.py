"""GeoJSONSeqStore's ``cases.index``: written at compaction, trusted only when it
matches the snapshot in every point, rebuilt otherwise; a store started from it
answers exactly like one that parsed every feature, and features read on
demand stay right while other processes compact."""

import functools
import json
import logging
import os
import random
import shutil
from datetime import datetime, timedelta

import pytest
from contract import LAT, LON, T0, contract_clocks, make_feature, north_of, run_and_kill

from gridmap.store import GeoJSONSeqStore, snapindex
from gridmap.store import index as index_mod
from gridmap.store import words as words_mod
from gridmap.store.base import CaseFilter, DuplicateCase, StoreError
from gridmap.store.features import haversine_m
from gridmap.store.index import Entry, SnapEntry

GRIDS = ("500114001001001", "500114001001002", "500114001001003")
STATES = ("reported", "signed", "handling", "closed", "cancelled")
CATEGORIES = ("road", "lamp", "noise", "waste")
WORDS = ("路灯", "积水", "噪音", "垃圾", "lamp")


def random_feature(rng, name):
    at = T0 + timedelta(hours=rng.randrange(0, 24 * 120))
    clocks = [None if rng.random() < 0.3 else
              (at + timedelta(hours=rng.randrange(-50, 200))).isoformat() for _ in range(6)]
    feature = make_feature(name, grid=rng.choice(GRIDS), state=rng.choice(STATES),
                           category=rng.choice(CATEGORIES), reported_at=at.isoformat(),
                           lon=LON + rng.uniform(-0.02, 0.02), lat=LAT + rng.uniform(-0.02, 0.02),
                           clocks=clocks)
    feature["properties"]["description"] = " ".join(rng.sample(WORDS, 2)) + f" 第{name}号"
    if rng.random() < 0.1:
        del feature["properties"]["reported_at"]
    return feature


def fill(store, rng, count, prefix="c"):
    """``count`` random cases (some with keys, some made in one batch), then updates."""
    names = [f"{prefix}{i}" for i in range(count)]
    half = count // 2
    store.create_many([random_feature(rng, n) for n in names[:half]],
                      [f"key-{n}" if rng.random() < 0.5 else None for n in names[:half]])
    for n in names[half:]:
        store.create(random_feature(rng, n), idempotency_key=f"key-{n}" if rng.random() < 0.5 else None)
    update(store, rng, names, count // 3)
    return names


def update(store, rng, names, count):
    for name in rng.sample(names, count):
        current = store.get(name)
        feature = random_feature(rng, name)
        feature["properties"]["tracking_code"] = current["properties"]["tracking_code"]
        store.update(name, feature, current["properties"]["version"])


def answers(store, names, rng):
    """Everything the store answers, for comparing two stores on the same data."""
    out = {"count": store.count(), "all": list(store.all())}
    out["points"] = [a.tolist() for a in store.points()]
    for name in names[::3] + ["nobody"]:
        out[f"get {name}"] = store.get(name)
        out[f"tracking {name}"] = store.get_by_tracking(f"T-{name}")
        out[f"key {name}"] = store.get_by_key(f"key-{name}")
    now = T0 + timedelta(days=60)
    for i in range(12):
        grids = rng.sample(GRIDS, rng.randint(1, 2)) if rng.random() < 0.6 else None
        states = rng.sample(STATES, rng.randint(1, 3)) if rng.random() < 0.6 else None
        categories = rng.sample(CATEGORIES, 2) if rng.random() < 0.4 else None
        since = (T0 + timedelta(days=rng.randrange(0, 60))).isoformat() if rng.random() < 0.4 else None
        order = rng.choice(["-reported_at", "reported_at", "case_no", "-case_no"])
        out[f"query {i}"] = store.query(grid_codes=grids, states=states, categories=categories,
                                        since=since, order=order, limit=rng.choice([5, 50, None]),
                                        offset=rng.choice([0, 3]))
        flt = CaseFilter(grid_codes=grids, states=states, categories=categories,
                         text=rng.choice([None, "路灯", "lamp 积水"]),
                         overdue=rng.choice([None, "sign", "any"]), now=now)
        out[f"find {i}"] = store.find(flt, order=order, limit=20,
                                      properties=rng.choice([None, ["state", "grid_code"],
                                                             ["description"]]))
        out[f"count_by {i}"] = store.count_by(flt, rng.choice([["grid_code"], ["state", "week"],
                                                               ["category", "day"]]))
        bbox = (LON - 0.03, LAT - 0.03, LON + 0.03, LAT + 0.03)
        out[f"heat {i}"] = store.heat(flt, bbox, rng.randint(10, 17))
        out[f"clusters {i}"] = store.clusters(flt, bbox, rng.randint(10, 17))
        out[f"figures {i}"] = store.grid_figures(flt, now=now)
        out[f"near {i}"] = store.near(LON, north_of(LAT, rng.uniform(-500, 500)),
                                      rng.choice([50, 800, 3000]), categories=categories,
                                      states=states, limit=rng.choice([None, 10]))
    out["predicate"] = store.query(predicate=lambda f: "路灯" in f["properties"]["description"],
                                   limit=None)
    return json.loads(json.dumps(out, default=str))


def fallbacks(caplog):
    return [r.getMessage() for r in caplog.records if "reading the snapshot whole" in r.getMessage()]


def index_path(folder):
    return folder / snapindex.INDEX


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_store_started_from_the_index_answers_like_one_that_parsed_everything(
        folder, open_store, tmp_path, caplog, seed):
    rng = random.Random(seed)
    writer = open_store(compact_bytes=None, clocks=contract_clocks)
    names = fill(writer, rng, 150)
    assert writer.compact() is True
    update(writer, rng, names, 30)  # newer versions in the log, after the snapshot
    more = fill(writer, rng, 20, prefix="n")  # and new cases
    assert index_path(folder).exists()
    with caplog.at_level(logging.INFO, logger="gridmap.store.geojsonseq"):
        indexed = open_store(compact_bytes=None, clocks=contract_clocks)
        assert fallbacks(caplog) == []
        parsed_folder = tmp_path / "parsed"
        shutil.copytree(folder, parsed_folder)
        index_path(parsed_folder).unlink()
        parsed = GeoJSONSeqStore(parsed_folder, compact_bytes=None, clocks=contract_clocks)
        assert fallbacks(caplog) == [f"{parsed_folder}: {snapindex.INDEX} no index: "
                                     "reading the snapshot whole"]
    try:
        seed_q = rng.randrange(10**6)
        expected = answers(parsed, names + more, random.Random(seed_q))
        assert answers(indexed, names + more, random.Random(seed_q)) == expected
        assert answers(writer, names + more, random.Random(seed_q)) == expected
        # a write after a start from the index: numbering, keys and tracking codes hold
        feature = random_feature(rng, "late")
        for store in (indexed, parsed):
            assert store.create(feature, idempotency_key="key-late")[0]["properties"]["case_no"] == 171
            again = random_feature(rng, "other")
            assert store.create(again, idempotency_key="key-late")[0]["id"] == "late"
            keyed = next(n for n in names[::3] if expected[f"key {n}"] is not None)
            assert store.create(again, idempotency_key=f"key-{keyed}")[0]["id"] == keyed
    finally:
        parsed.close()


def copy_index_of(source, target):
    shutil.copyfile(index_path(source), index_path(target))


def opens_from_the_index(folder, caplog, **kwargs):
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="gridmap.store.geojsonseq"):
        store = GeoJSONSeqStore(folder, compact_bytes=None, **kwargs)
    store.close()
    return not fallbacks(caplog)


def reopen_and_check(folder, caplog, expected, reason, **kwargs):
    """Open ``folder``: the index must be refused for ``reason``, the store must hold
    ``expected``, and the index must have been rebuilt (the next open trusts it)."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="gridmap.store.geojsonseq"):
        store = GeoJSONSeqStore(folder, compact_bytes=None, **kwargs)
    try:
        [message] = fallbacks(caplog)
        assert reason in message
        assert list(store.all()) == expected
    finally:
        store.close()
    assert f"{folder}: wrote {snapindex.INDEX} ({len(expected)} cases)" in caplog.messages
    assert opens_from_the_index(folder, caplog, **kwargs)


@pytest.fixture
def compacted(folder, open_store):
    store = open_store(compact_bytes=None)
    fill(store, random.Random(7), 40)
    store.compact()
    return store


def test_a_crash_between_the_index_and_the_snapshot_leaves_a_stale_index(folder, compacted,
                                                                         tmp_path, caplog):
    # compaction writes the index, then renames the snapshot: a kill between the two
    # leaves the new index beside the old snapshot and the old log
    crashed = tmp_path / "crashed"
    compacted.update("c0", make_feature("c0"), compacted.get("c0")["properties"]["version"])
    shutil.copytree(folder, crashed)  # the folder as the crash leaves it ...
    compacted.compact()
    copy_index_of(folder, crashed)  # ... with the new index already renamed into place
    expected = list(GeoJSONSeqStore(folder, compact_bytes=None).all())
    reopen_and_check(crashed, caplog, expected, "stale: made for another snapshot")


def test_an_index_older_than_its_snapshot_is_stale(folder, compacted, tmp_path, caplog):
    old = tmp_path / "old.index"
    shutil.copyfile(index_path(folder), old)
    compacted.update("c1", make_feature("c1"), compacted.get("c1")["properties"]["version"])
    compacted.compact()
    shutil.copyfile(old, index_path(folder))
    reopen_and_check(folder, caplog, list(compacted.all()), "stale")


def test_an_index_whose_snapshot_was_rewritten_in_place_is_stale(folder, compacted, caplog):
    # same inode and size, its mtime put back: only the hashed edges tell
    path = folder / "cases.geojson"
    road = [f for f in compacted.all() if f["properties"]["category"] == "road"]
    st = path.stat()
    data = path.read_bytes()
    with open(path, "r+b") as f:
        f.write(data.replace(b'"road"', b'"ROAD"'))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_ino == st.st_ino
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="gridmap.store.geojsonseq"):
        store = GeoJSONSeqStore(folder, compact_bytes=None)
    try:
        [message] = fallbacks(caplog)
        assert "stale: the snapshot's first or last bytes differ" in message
        assert road and all(store.get(f["id"])["properties"]["category"] == "ROAD" for f in road)
    finally:
        store.close()


@pytest.mark.parametrize("keep", [0, 5, 10, 12, 100, -1])
def test_a_torn_index_is_detected_and_rebuilt(folder, compacted, caplog, keep):
    data = index_path(folder).read_bytes()
    index_path(folder).write_bytes(data[:keep] if keep >= 0 else data[:-1])
    start = f"{snapindex.INDEX} not a gridmap case index (or torn at the start): reading"
    reason = {0: start, 5: start, 10: start, 12: "torn or corrupt header",
              100: "torn or corrupt header", -1: "torn: "}[keep]
    reopen_and_check(folder, caplog, list(compacted.all()), reason)


def test_an_index_of_another_store_is_foreign(folder, compacted, tmp_path, caplog):
    other = GeoJSONSeqStore(tmp_path / "other", compact_bytes=None)
    fill(other, random.Random(7), 40)  # the same cases, written again: another snapshot
    other.compact()
    other.close()
    copy_index_of(tmp_path / "other", folder)
    reopen_and_check(folder, caplog, list(compacted.all()), "stale: made for another snapshot")


def test_an_index_of_another_format_is_refused(folder, compacted, caplog):
    data = index_path(folder).read_bytes()
    index_path(folder).write_bytes(data.replace(snapindex.FORMAT.encode(), b"gridmap-cases-index/9", 1))
    reopen_and_check(folder, caplog, list(compacted.all()), "another format: 'gridmap-cases-index/9'")


def body_start(data):
    return len(snapindex.MAGIC) + snapindex.LENGTH.size + snapindex.LENGTH.unpack_from(
        data, len(snapindex.MAGIC))[0]


@pytest.mark.parametrize("where", [0.0, 0.1, 0.5, 0.99, 1.0])
def test_a_corrupt_body_is_detected_by_its_checksum(folder, compacted, caplog, where):
    data = bytearray(index_path(folder).read_bytes())
    start = body_start(data)
    at = start + int((len(data) - 1 - start) * where)  # from the body's first byte to the CRC's last
    data[at] ^= 0x40
    index_path(folder).write_bytes(bytes(data))
    reopen_and_check(folder, caplog, list(compacted.all()), "corrupt: the checksum differs")


def test_a_changed_header_that_still_parses_is_corrupt(folder, compacted, caplog):
    # a vocabulary value changed in place: valid JSON, same length, wrong grids
    data = index_path(folder).read_bytes()
    start = body_start(data)
    header = data[:start]
    assert b'"500114001001001"' in header
    index_path(folder).write_bytes(header.replace(b'"500114001001001"', b'"500114001001009"')
                                   + data[start:])
    reopen_and_check(folder, caplog, list(compacted.all()), "corrupt: the checksum differs")


def test_rows_that_do_not_fit_their_vocabulary_are_corrupt(folder, compacted, caplog):
    # a writer's mistake the checksum cannot see: codes beyond the vocabulary
    store = GeoJSONSeqStore(folder, compact_bytes=None)
    snap = snapindex.SnapshotFile(folder / "cases.geojson")
    try:
        next_segment, rows, clocks = snapindex.read_index(folder, snap, None)
        rows = dict(rows, grid=rows["grid"] + 100)
        snapindex.write_index(folder, snap, next_segment, rows, clocks, None)
    finally:
        snap.close()
        store.close()
    reopen_and_check(folder, caplog, list(compacted.all()), "corrupt: IndexError")


def test_an_index_made_without_clocks_is_rebuilt_for_a_store_with_them(folder, compacted, caplog):
    reopen_and_check(folder, caplog, list(compacted.all()), "made with clocks None, not 'clocks'",
                     clocks=contract_clocks)
    assert opens_from_the_index(folder, caplog)  # one without clocks takes one with them


def test_a_reader_keeps_reading_its_snapshot_while_another_process_compacts(folder, open_store):
    reader, writer = open_store(compact_bytes=None), open_store(compact_bytes=None)
    fill(writer, random.Random(3), 60)
    writer.compact()
    reader.refresh()
    expected = list(reader.all())
    pages = reader.all()  # a generator reading features by offset from the old snapshot
    first = [next(pages) for _ in range(10)]
    for _ in range(3):  # the snapshot it reads is replaced (renamed over) three times
        update(writer, random.Random(4), [f["id"] for f in expected], 20)
        writer.compact()
    assert first + list(pages) == expected
    assert list(reader.all()) == list(writer.all())  # and it then follows the new one


def test_kill_9_during_compaction_never_leaves_an_index_that_is_trusted_wrongly(
        folder, open_store, tmp_path, caplog):
    store = open_store()
    fill(store, random.Random(5), 100)
    store.compact()
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    factory = functools.partial(GeoJSONSeqStore, folder)
    for run in range(4):
        acked = run_and_kill(factory, f"k{run}", rng, compact_every=15)
        check = GeoJSONSeqStore(folder, compact_bytes=None)
        parsed_folder = tmp_path / f"parsed{run}"
        shutil.copytree(folder, parsed_folder)
        index_path(parsed_folder).unlink(missing_ok=True)
        parsed = GeoJSONSeqStore(parsed_folder, compact_bytes=None)
        try:
            held = list(check.all())
            assert held == list(parsed.all()), f"seed {seed}"
            assert set(acked) <= {f["id"] for f in held}, f"seed {seed}"
        finally:
            check.close()
            parsed.close()


def test_a_start_from_the_index_holds_no_object_per_case(folder, compacted):
    store = GeoJSONSeqStore(folder, compact_bytes=None)
    try:
        index = store._index
        assert index.base.count == len(index) == compacted.count() > 0
        assert not index.by_id and not index.by_tracking and not index.by_key
        assert all(e is None for e in index.columns.entries.tolist())
        entry = index.get("id", "c3")  # made when asked, its text read then
        assert isinstance(entry, SnapEntry)
        with pytest.raises(AttributeError):
            Entry.raw.__get__(entry)  # the slot for the text was never filled
        assert entry.feature() == compacted.get("c3")
        assert not index.by_id and index.columns.entries[entry.case_no - 1] is None
    finally:
        store.close()


def test_reported_times_survive_the_index(folder, open_store):
    store = open_store(compact_bytes=None)
    at = datetime.fromisoformat("2025-05-01T09:00:00.123456+08:00")
    store.create(make_feature("a", reported_at=at.isoformat()))
    store.create(make_feature("b", reported_at=None))
    store.compact()
    again = open_store(compact_bytes=None)
    assert [f["properties"].get("reported_at") for f in again.all()] == [
        at.isoformat(), T0.isoformat()]
    assert again.query(since=at.isoformat())[1] == 1


def test_an_index_made_under_other_clock_rules_is_rebuilt(folder, open_store, caplog):
    def rules(tag):
        clocks = functools.partial(contract_clocks)
        clocks.fingerprint = lambda: tag  # as the cases layer's: the rules' files hashed
        return clocks

    store = open_store(compact_bytes=None, clocks=rules("v1"))
    fill(store, random.Random(9), 30)
    store.compact()
    assert opens_from_the_index(folder, caplog, clocks=rules("v1"))
    reopen_and_check(folder, caplog, list(store.all()), "made with clocks 'v1', not 'v2'",
                     clocks=rules("v2"))


def open_deleted_snapshots(folder):
    """Descriptors of this process on snapshots in ``folder`` that were renamed over."""
    return [fd for fd in os.listdir("/proc/self/fd")
            if os.path.realpath(f"/proc/self/fd/{fd}") == f"{folder}/cases.geojson (deleted)"]


def test_a_compacting_store_lets_its_old_snapshot_go(folder, open_store):
    store, other = open_store(compact_bytes=None), open_store(compact_bytes=None)
    names = fill(store, random.Random(11), 50)
    store.compact()
    other.refresh()
    assert open_deleted_snapshots(folder) == []
    update(store, random.Random(12), names, 10)
    store.compact()  # the compacting store starts over from its new snapshot ...
    assert len(open_deleted_snapshots(folder)) == 1  # ... the other still reads the old one
    other.refresh()  # until it sees it was passed by
    assert open_deleted_snapshots(folder) == []
    assert list(store.all()) == list(other.all())
    assert not store._index.by_id and store._index.base.count == len(names)  # arrays only


def test_a_snapshot_cut_short_under_a_reader_is_a_store_error_naming_it(folder, compacted):
    store = GeoJSONSeqStore(folder, compact_bytes=None)
    try:
        path = folder / "cases.geojson"
        os.truncate(path, path.stat().st_size // 2)  # someone else's damage, not a compaction
        with pytest.raises(StoreError) as caught:
            list(store.all())
        assert caught.value.code == "store_error"
        assert "at offset" in str(caught.value) and str(path) in str(caught.value)
    finally:
        store.close()


def test_an_index_that_cannot_be_read_is_not_trusted(folder, compacted, caplog):
    index_path(folder).unlink()
    index_path(folder).mkdir()  # open() fails with an OSError other than "missing"
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="gridmap.store.geojsonseq"):
        store = GeoJSONSeqStore(folder, compact_bytes=None)
    try:
        [message] = fallbacks(caplog)
        assert f"{snapindex.INDEX} unreadable: [Errno 21] Is a directory" in message
        assert list(store.all()) == list(compacted.all())
        assert any("could not write cases.index" in m for m in caplog.messages)
    finally:
        store.close()


def test_a_header_that_is_not_an_object_is_corrupt(folder, compacted, caplog):
    index_path(folder).write_bytes(snapindex.MAGIC + snapindex.LENGTH.pack(2) + b"[]")
    reopen_and_check(folder, caplog, list(compacted.all()),
                     f"{snapindex.INDEX} torn or corrupt header: the header is not an object: "
                     "reading")


def test_an_index_made_for_another_snapshot_format_is_refused(folder, compacted, caplog):
    data = index_path(folder).read_bytes()
    start = body_start(data)
    header = data[:start].replace(b'"gridmap-cases/1"', b'"gridmap-cases/0"')
    assert header != data[:start]
    index_path(folder).write_bytes(header + data[start:])
    reopen_and_check(folder, caplog, list(compacted.all()),
                     f"{snapindex.INDEX} made for a snapshot of format 'gridmap-cases/0': reading")


def found_as_a_scan_finds(store, texts):
    cases = list(store.all())
    for text in texts:
        words = text.casefold().split()
        expected = sorted(f["id"] for f in cases
                          if all(w in f["properties"]["description"].casefold() for w in words))
        found, total = store.find(CaseFilter(text=text), order="case_no", limit=None)
        assert sorted(f["id"] for f in found) == expected and total == len(expected) > 0, text
    return cases


@pytest.mark.parametrize("reopen", [False, True])
def test_words_are_found_in_cases_put_in_bulk_and_in_a_start_from_the_index(
        folder, open_store, reopen, monkeypatch):
    """The word index is saved in cases.index and a start loads it: words are found
    in the snapshot's cases, in those written after the start (new documents merged
    into the loaded ones) and after a second compaction that saves both."""
    monkeypatch.setattr(words_mod, "MERGE_MIN", 3)  # merges after a start, with few cases
    rng = random.Random(7)
    store = open_store(compact_bytes=None, clocks=contract_clocks)
    names = fill(store, rng, 60)  # half of them made by create_many
    texts = ("路灯", "lamp 积水", "第c3号", "号")
    if reopen:
        assert store.compact() is True
        store = open_store(compact_bytes=None, clocks=contract_clocks)
        assert store._index.base.count == 60
    assert len(found_as_a_scan_finds(store, texts)) == len(names)
    for i in range(8):
        feature = random_feature(rng, f"w{i}")
        feature["properties"]["description"] = f"新词{i} 井盖松动 Manhole"
        store.create(feature)
    for name in names[-6:]:
        current = store.get(name)
        current["properties"]["description"] = f"改过 {name} 井盖"
        store.update(name, current, current["properties"]["version"])
    texts += ("井盖", "manhole 新词3", "改过", "松动")
    found_as_a_scan_finds(store, texts)
    if reopen:
        assert store.compact() is True
        store = open_store(compact_bytes=None, clocks=contract_clocks)
        assert store._index.base.count == 68 and not store._index.by_id
        found_as_a_scan_finds(store, texts)


def test_an_index_whose_words_were_folded_otherwise_is_rebuilt(folder, compacted, caplog,
                                                              monkeypatch):
    monkeypatch.setattr(snapindex, "FOLDING", "casefold, Unicode 1.0")
    reopen_and_check(folder, caplog, list(compacted.all()), "words folded by ")


def test_lookups_check_the_string_when_hashes_collide(folder, open_store, monkeypatch):
    """Ids, tracking codes and keys are found by a 64-bit hash, then checked: with a
    hash that collides all the time (a string's length), every answer stays exact."""
    monkeypatch.setattr(index_mod, "text_hash", len)
    store = open_store(compact_bytes=None)
    names = fill(store, random.Random(5), 60)
    store.compact()
    started = GeoJSONSeqStore(folder, compact_bytes=None)
    try:
        assert started._index.base.count == 60 and not started._index.by_id
        for name in names:
            feature = store.get(name)
            assert started.get(name) == feature
            assert started.get_by_tracking(f"T-{name}") == feature
            assert started.get_by_key(f"key-{name}") == store.get_by_key(f"key-{name}")
        for missing in ("c999", "c10x", "x", ""):  # same lengths as held ones, or none
            if missing:
                assert started.get(missing) is None
            assert started.get_by_tracking(f"T-{missing}") is None
            assert started.get_by_key(f"key-{missing}") is None
        with pytest.raises(DuplicateCase):  # a taken tracking code is found whatever the hash
            started.create(dict(make_feature("fresh"), properties=dict(
                make_feature("fresh")["properties"], tracking_code=f"T-{names[7]}")))
    finally:
        started.close()


def test_a_store_compacted_twice_from_its_index_answers_like_one_that_parsed_everything(
        folder, open_store, tmp_path):
    """The second compaction writes the index from the arrays of the first (hashes,
    versions, cells of the cases the log did not change) and from the log's cases."""
    rng = random.Random(21)
    writer = open_store(compact_bytes=None, clocks=contract_clocks)
    names = fill(writer, rng, 120)
    writer.compact()
    update(writer, rng, names, 40)
    names += fill(writer, rng, 30, prefix="m")
    writer.compact()  # from a start on the first index, plus the log
    update(writer, rng, names, 10)
    reopened = open_store(compact_bytes=None, clocks=contract_clocks)
    assert reopened._index.base.count == 150
    parsed_folder = tmp_path / "parsed"
    shutil.copytree(folder, parsed_folder)
    index_path(parsed_folder).unlink()
    parsed = GeoJSONSeqStore(parsed_folder, compact_bytes=None, clocks=contract_clocks)
    try:
        seed_q = rng.randrange(10**6)
        expected = answers(parsed, names, random.Random(seed_q))
        assert answers(reopened, names, random.Random(seed_q)) == expected
        assert answers(writer, names, random.Random(seed_q)) == expected
        for name in names:  # versions carried over: an update needs the current one
            current = reopened.get(name)
            feature = dict(current, properties=dict(current["properties"], state="closed"))
            assert reopened.update(name, feature, current["properties"]["version"])[
                "properties"]["version"] == current["properties"]["version"] + 1
    finally:
        parsed.close()


@pytest.mark.parametrize("lon, lat", [(LON, LAT), (179.9995, 10.0), (-179.9995, -10.0),
                                      (20.0, 89.95)])
def test_near_on_the_arrays_matches_a_plain_scan(folder, open_store, lon, lat):
    """Cases held as arrays only are found by distance as a scan finds them: across
    cell borders, wide searches, the antimeridian and near a pole; a case changed
    in the log since is found at its new place only."""
    rng = random.Random(int(lon * 1000))
    store = open_store(compact_bytes=None)
    spread = 0.0004 if abs(lat) > 89 else 0.02
    for i in range(300):
        x = lon + rng.uniform(-spread, spread) * (1 if i % 3 else 30)
        x = (x + 180) % 360 - 180
        y = max(-90.0, min(90.0, lat + rng.uniform(-spread, spread)))
        store.create(make_feature(f"p{i}", lon=x, lat=y, category=rng.choice(["road", "waste"]),
                                  state=rng.choice(["reported", "closed"])))
    store.compact()
    started = GeoJSONSeqStore(folder, compact_bytes=None)
    try:
        for i in range(0, 300, 7):  # moved by the log: the base's place must not answer
            current = started.get(f"p{i}")
            current["geometry"]["coordinates"] = [lon, north_of(lat, -3) if lat > 0 else lat]
            started.update(f"p{i}", current, current["properties"]["version"])
        cases = list(started.all())
        for radius in (0, 40, 60, 800, 5000, 80_000, 3_000_000):
            for categories, states in ((None, None), (["road"], None), (None, ["closed"])):
                expected = sorted(
                    (haversine_m(lon, lat, *f["geometry"]["coordinates"]),
                     f["properties"]["case_no"], f["id"]) for f in cases
                    if (categories is None or f["properties"]["category"] in categories)
                    and (states is None or f["properties"]["state"] in states))
                expected = [i for d, _, i in expected if d <= radius]
                found = started.near(lon, lat, radius, categories=categories, states=states)
                assert [f["id"] for f in found] == expected, (radius, categories, states)
                assert [f["id"] for f in started.near(lon, lat, radius, categories=categories,
                                                      states=states, limit=3)] == expected[:3]
    finally:
        started.close()
