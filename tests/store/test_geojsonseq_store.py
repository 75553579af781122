"""GeoJSONSeqStore: the contract, plus its files, torn tails, compaction and forks."""

import contextlib
import functools
import json
import logging
import os
import random
import threading

import geopandas as gpd
import pyogrio
import pytest
from contract import (BulkContract, CaseStoreContract, batch_of, default_create_many, make_feature,
                      run_and_kill)

from gridmap.store import GeoJSONSeqStore
from gridmap.store import seqlog, snapshot
from gridmap.errors import DiskFull
from gridmap.store.base import StoreError


def live_files(folder):
    """The snapshot and the log segments it does not cover, in order."""
    head = (folder / snapshot.SNAPSHOT).read_text(encoding="utf-8").split("\n", 1)[0]
    next_segment = json.loads(head.removesuffix("[") + "[]}")["gridmap_store"]["next_segment"]
    segments = sorted(p for p in folder.iterdir()
                      if (m := seqlog.SEGMENT.match(p.name)) and int(m[1]) >= next_segment)
    return [folder / snapshot.SNAPSHOT, *segments]


def read_ids(folder):
    """Feature ids in the live files, read by geopandas (GDAL), with repeats."""
    ids = []
    for path in live_files(folder):
        frame = gpd.read_file(path)
        assert frame.empty or frame.crs.to_epsg() == 4326
        ids += list(frame["id"]) if not frame.empty else []
    return ids


def segment(folder, number=1):
    return folder / seqlog.segment_name(number)


class TestGeoJSONSeqContract(CaseStoreContract):

    @pytest.fixture
    def store_factory(self, tmp_path):
        return functools.partial(GeoJSONSeqStore, tmp_path / "cases")

    def check_files(self, store):
        ids = read_ids(store.folder)  # creates only: each id once across the live files
        assert sorted(ids) == sorted(f["id"] for f in store.all())


class TestDefaultCreateMany(BulkContract):
    """The default ``create_many`` of the interface, for backends without their own."""

    @pytest.fixture
    def store_factory(self, tmp_path):
        return functools.partial(default_create_many,
                                 functools.partial(GeoJSONSeqStore, tmp_path / "cases"))


def test_a_batch_is_one_write_and_one_fsync(folder, open_store, monkeypatch):
    store = open_store()
    store.create(make_feature("c0"))
    calls = []
    for module, name in ((seqlog.os, "write"), (seqlog.os, "fdatasync"), (seqlog.os, "fsync")):
        real = getattr(os, name)
        monkeypatch.setattr(module, name, lambda *a, real=real, name=name: calls.append(name)
                            or real(*a))
    store.create_many(batch_of("b", 500))
    assert calls == ["write", "fdatasync"]
    assert synced_mark(folder)[2] == os.stat(segment(folder)).st_size


def test_batches_of_processes_at_once_are_numbered_without_gaps(folder, open_store):
    first, second = open_store(), open_store()  # each with its own locks, as two processes
    threads = [threading.Thread(target=lambda s=s, p=p: [s.create_many(batch_of(f"{p}{b}-", 50))
                                                         for b in range(10)])
               for s, p in ((first, "x"), (second, "y"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    numbers = {}
    for f in open_store().all():
        numbers.setdefault(f["id"].split("-")[0], []).append(f["properties"]["case_no"])
    assert sorted(n for ns in numbers.values() for n in ns) == list(range(1, 1001))
    for ns in numbers.values():  # each batch's cases follow each other
        assert ns == list(range(ns[0], ns[0] + 50))


def test_files_are_geojson_that_geopandas_reads(folder, open_store):
    store = open_store()
    for i in range(5):
        store.create(make_feature(f"c{i}"), idempotency_key=f"k{i}")
    store.update("c1", store.get("c1"), 1)
    assert store.compact() is True
    store.create(make_feature("c5"))
    store.update("c5", store.get("c5"), 1)
    snapshot = gpd.read_file(folder / "cases.geojson")
    assert sorted(snapshot["id"]) == [f"c{i}" for i in range(5)]
    assert snapshot.set_index("id").loc["c1", "version"] == 2
    assert snapshot.crs.to_epsg() == 4326 and set(snapshot.geom_type) == {"Point"}
    log_path = segment(folder, 2)
    data = log_path.read_bytes()
    assert data.startswith(b"\x1e{") and data.count(b"\x1e") == 2 and data.endswith(b"}\n")
    assert pyogrio.read_info(log_path)["driver"] == "GeoJSONSeq"
    frame = gpd.read_file(log_path)
    assert list(frame["id"]) == ["c5", "c5"] and list(frame["version"]) == [1, 2]
    assert "idempotency_key" not in frame.columns and "idempotency_key" not in store.get("c0")
    assert not segment(folder, 1).exists()
    assert open_store().create(make_feature("c9"), idempotency_key="k0")[0]["id"] == "c0"


def test_a_torn_tail_is_ignored_then_cut_off(folder, open_store, caplog):
    store = open_store()
    for i in range(3):
        store.create(make_feature(f"c{i}"))
    store.close()
    path = segment(folder)
    data = path.read_bytes()
    last = data.rindex(b"\x1e")
    path.write_bytes(data[:last + (len(data) - last) // 2])  # the last record, torn mid-way
    assert list(gpd.read_file(path)["id"]) == ["c0", "c1"]
    reader = open_store()
    assert reader.count() == 2 and reader.get("c2") is None
    reader.refresh()
    assert reader.count() == 2
    writer = open_store()
    created, _ = writer.create(make_feature("c3"))
    assert created["properties"]["case_no"] == 3
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and all(line.startswith(b"\x1e{") for line in lines[:-1])
    assert [json.loads(line[1:])["id"] for line in lines[:-1]] == ["c0", "c1", "c3"]
    assert list(gpd.read_file(path)["id"]) == ["c0", "c1", "c3"]
    reader.refresh()
    assert reader.get("c3")["properties"]["case_no"] == 3 and reader.count() == 3
    assert "torn record" in caplog.text


def test_garbage_at_the_end_with_a_newline_is_also_a_torn_tail(folder, open_store):
    open_store().create(make_feature("c0"))
    with open(segment(folder), "ab") as f:
        f.write(b"\x1e{\"type\": \"Feat\x00\x00\n")
    store = open_store()
    assert store.count() == 1
    store.create(make_feature("c1"))
    assert list(gpd.read_file(segment(folder))["id"]) == ["c0", "c1"]


def test_a_bad_record_inside_the_log_is_logged_and_skipped(folder, open_store, caplog):
    store = open_store()
    store.create(make_feature("c0"))
    with open(segment(folder), "ab") as f:
        f.write(b"\x1e{not json}\n")
        f.write(b"\x1e" + json.dumps({"type": "Feature", "id": "x"}).encode() + b"\n")
    store.create(make_feature("c1"))
    caplog.set_level(logging.ERROR)
    other = open_store()
    assert sorted(f["id"] for f in other.all()) == ["c0", "c1"]
    assert "bad record" in caplog.text and "not a case" in caplog.text


def test_readers_follow_compactions(folder, open_store):
    writer, reader = open_store(), open_store()
    for i in range(3):
        writer.create(make_feature(f"c{i}"))
    reader.refresh()
    writer.compact()
    writer.create(make_feature("c3"))
    reader.refresh()
    assert reader.count() == 4
    for i in (4, 5):  # two compactions while the reader looks away: it must reload
        writer.compact()
        writer.create(make_feature(f"c{i}"))
    writer.compact()
    reader.refresh()
    assert reader.count() == 6
    reader.create(make_feature("c6"))
    writer.refresh()
    assert writer.get("c6")["properties"]["case_no"] == 7
    names = sorted(p.name for p in folder.iterdir() if p.suffix.startswith(".geojson"))
    assert names == ["cases-000005.geojsons", "cases.geojson"]
    fresh = open_store()
    assert sorted(f["properties"]["case_no"] for f in fresh.all()) == list(range(1, 8))
    assert sorted(read_ids(folder)) == [f"c{i}" for i in range(7)]


def test_compaction_is_skipped_when_the_log_is_empty_and_sweeps_leftovers(folder, open_store):
    store = open_store()
    assert store.compact() is False
    store.create(make_feature("c0"))
    leftovers = [folder / ".cases-000009.geojsons.1.tmp", folder / ".cases.geojson.1.tmp"]
    for path in leftovers:
        path.write_text("{half")
    assert store.compact() is True
    assert not any(path.exists() for path in leftovers)
    assert open_store().count() == 1


def test_refresh_is_one_fstat_when_nothing_changed(folder, open_store, monkeypatch):
    writer, reader = open_store(), open_store()
    writer.create(make_feature("c0"))
    reader.refresh()
    calls = []
    for name in ("fstat", "stat", "open", "pread"):
        real = getattr(os, name)
        monkeypatch.setattr(seqlog.os, name, functools.partial(
            lambda real, name, *a, **k: calls.append(name) or real(*a, **k), real, name))
    reader.refresh()
    assert calls == ["fstat"]
    writer.create(make_feature("c1"))
    reader.refresh()
    assert reader.count() == 2 and "pread" in calls


def test_a_write_returns_only_after_its_bytes_are_fsynced(folder, open_store, monkeypatch):
    store = open_store()
    synced = {}

    def syncing(real):
        def sync(fd):
            st = os.fstat(fd)
            real(fd)
            synced[st.st_ino] = max(synced.get(st.st_ino, 0), st.st_size)
        return sync

    for name in ("fsync", "fdatasync"):
        monkeypatch.setattr(seqlog.os, name, syncing(getattr(os, name)))
    for i in range(4):
        store.create(make_feature(f"c{i}"))
        if i % 2:
            store.update(f"c{i}", store.get(f"c{i}"), 1)
        st = os.stat(segment(folder))
        assert synced.get(st.st_ino, 0) == st.st_size


def test_the_highest_version_wins_whatever_the_order_of_records(folder, open_store):
    store = open_store()
    store.create(make_feature("c0"))
    feature = store.get("c0")
    feature["properties"]["state"] = "signed"
    store.update("c0", feature, 1)
    store.close()
    lines = segment(folder).read_bytes().splitlines(keepends=True)
    segment(folder).write_bytes(b"".join(reversed(lines)))  # version 2, then version 1
    reloaded = open_store().get("c0")["properties"]
    assert (reloaded["version"], reloaded["state"]) == (2, "signed")


def test_threads_share_fsyncs(folder, open_store, monkeypatch):
    store = open_store()
    fsyncs = []
    for name in ("fsync", "fdatasync"):
        real = getattr(os, name)
        monkeypatch.setattr(seqlog.os, name, lambda fd, real=real: fsyncs.append(fd) or real(fd))

    def work(t):
        for i in range(50):
            store.create(make_feature(f"t{t}-{i}"))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count() == 400
    assert len(fsyncs) < 400 / 2, f"{len(fsyncs)} fsyncs for 400 creates: no group commit"


def test_processes_share_fsyncs(folder, open_store, monkeypatch):
    first, second = open_store(), open_store()  # each with its own locks, as two processes
    first.create(make_feature("c0"))
    calls = []
    real = os.fdatasync
    monkeypatch.setattr(seqlog.os, "fdatasync", lambda fd: calls.append(fd) or real(fd))

    def append(store, number):  # what a commit does under the write lock
        record = make_feature(f"c{number}")
        record["properties"].update(case_no=number + 1, version=1)
        with store._log.locked():
            store._log.poll(store._apply, locked=True)
            store._log.append(f"\x1e{json.dumps(record)}\n".encode())

    append(first, 1)
    append(second, 2)
    second._log.sync()  # its fsync covers the bytes of both
    first._log.sync()
    assert len(calls) == 1
    append(first, 3)
    first._log.sync()  # bytes past the mark: a second fsync
    assert len(calls) == 2
    assert open_store().count() == 4


def test_acknowledged_creates_survive_kill_9_during_compaction(folder, open_store):
    store = open_store()
    threads = [threading.Thread(target=lambda t=t: [store.create(make_feature(f"p{t}-{i}"))
                                                    for i in range(250)]) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    factory = functools.partial(GeoJSONSeqStore, folder)
    acked = []
    for run in range(4):
        acked += run_and_kill(factory, f"k{run}", rng, compact_every=15)
        check = open_store()
        ids = {f["id"] for f in check.all()}
        assert set(acked) <= ids, f"lost {set(acked) - ids} (seed {seed})"
        assert sorted(f["properties"]["case_no"] for f in check.all()) == list(range(1, len(ids) + 1))
        assert sorted(read_ids(folder)) == sorted(ids)
    check.create(make_feature("last"))
    assert check.compact() is True
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert [p.name for p in folder.glob("*.geojsons")] == []


def test_a_forked_child_writes_beside_its_parent(folder, open_store):
    store = open_store()
    store.create(make_feature("before"))
    pid = os.fork()
    if pid == 0:  # the child: its own locks, same data
        code = 0
        try:
            for i in range(100):
                store.create(make_feature(f"child-{i}"))
        except BaseException:  # noqa: BLE001 - reported by the exit code
            code = 1
        os._exit(code)
    for i in range(100):
        store.create(make_feature(f"parent-{i}"))
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    store.refresh()
    assert sorted(f["properties"]["case_no"] for f in store.all()) == list(range(1, 202))


def test_compaction_starts_by_itself_past_compact_bytes(folder, open_store):
    store = open_store(compact_bytes=4000)
    for i in range(20):
        store.create(make_feature(f"c{i}"))
    store.close()  # waits for a running compaction
    assert not segment(folder, 1).exists()
    assert open_store().count() == 20


def synced_mark(folder):
    return seqlog.MARK.unpack((folder / seqlog.SYNC).read_bytes()[:seqlog.MARK.size])


@pytest.mark.parametrize("refresh_first", [True, False], ids=["fast-path", "staging-hit"])
def test_a_repeated_key_is_answered_only_once_its_record_is_fsynced(folder, open_store,
                                                                    monkeypatch, refresh_first):
    writer, other = open_store(), open_store()
    writer.create(make_feature("c0"))
    monkeypatch.setattr(writer._log, "sync", lambda: None)  # appended, not yet fsynced
    writer.create(make_feature("c1"), idempotency_key="k1")
    size = segment(folder).stat().st_size
    assert synced_mark(folder)[2] < size
    if refresh_first:
        other.refresh()  # the answer then comes from the index, without the write lock
    syncs = []
    real = seqlog.os.fdatasync
    monkeypatch.setattr(seqlog.os, "fdatasync", lambda fd: syncs.append(fd) or real(fd))
    feature, created = other.create(make_feature("c2"), idempotency_key="k1")
    assert (feature["id"], created) == ("c1", False) and len(syncs) == 1
    segment_no, ino, synced = synced_mark(folder)
    assert (segment_no, ino) == (1, segment(folder).stat().st_ino) and synced >= size
    assert other.create(make_feature("c2"), idempotency_key="k1")[1] is False
    assert len(syncs) == 1  # checked once per record


class HeldSync:
    """Replaces fdatasync: each call waits until released (or fails if told to)."""

    def __init__(self, monkeypatch, fail=False):
        self.release, self.started, self.calls, self.fail = (threading.Event(),
                                                             threading.Event(), [], fail)
        real = os.fdatasync

        def sync(fd):
            self.calls.append(threading.current_thread().name)
            self.started.set()
            assert self.release.wait(30)
            if self.fail:
                raise OSError(5, "Input/output error")
            real(fd)

        monkeypatch.setattr(seqlog.os, "fdatasync", sync)


def test_deferred_sync_returns_before_the_fsync_and_waits_at_the_end(folder, open_store,
                                                                     monkeypatch):
    store = open_store()
    store.create(make_feature("c0"))
    held = HeldSync(monkeypatch)
    left = threading.Event()

    def block():
        with store.deferred_sync():
            feature, created = store.create(make_feature("c1"), idempotency_key="k1")
            assert created and feature["properties"]["case_no"] == 2
            assert store.get("c1")["id"] == "c1"  # visible at once, in this process
            assert held.started.wait(10) and held.calls[0].startswith("gridmap-store-sync")
            assert synced_mark(folder)[2] < segment(folder).stat().st_size  # not yet durable
        left.set()

    thread = threading.Thread(target=block)
    thread.start()
    assert not left.wait(0.3)  # the block's end waits for the fsync
    held.release.set()
    thread.join(30)
    assert left.is_set() and synced_mark(folder)[2] == segment(folder).stat().st_size
    assert len(held.calls) == 1


@pytest.mark.parametrize("deferred", [True, False])
def test_a_failed_fsync_stops_writing_until_a_restart(folder, open_store, monkeypatch, caplog,
                                                      deferred):
    store = open_store()
    store.create(make_feature("c0"))  # the segment's first record is fsynced as it is made
    held = HeldSync(monkeypatch, fail=True)
    held.release.set()
    with pytest.raises(StoreError, match="could not be written"):
        with store.deferred_sync() if deferred else contextlib.nullcontext():
            store.create(make_feature("c1"), idempotency_key="k1")
    assert synced_mark(folder)[2] < segment(folder).stat().st_size
    assert "writing stops in this process" in caplog.text and store.disk_error is not None
    held.fail = False  # a later fsync would succeed, but proves nothing of the lost pages
    for attempt in (lambda: store.create(make_feature("c9"), idempotency_key="k1"),
                    lambda: store.create(make_feature("c2")),
                    lambda: store.update("c0", store.get("c0"), 1)):
        with pytest.raises(StoreError, match="could not be written"):
            attempt()
    assert len(held.calls) == 1 and store.count() == 2  # reads go on
    restarted = open_store()  # after a restart the key is answered once its record is synced
    feature, created = restarted.create(make_feature("c9"), idempotency_key="k1")
    assert (feature["id"], created) == ("c1", False) and len(held.calls) == 2
    assert synced_mark(folder)[2] == segment(folder).stat().st_size


def test_a_batch_whose_fsync_fails_stops_writing_and_a_restart_replays_its_keys(
        folder, open_store, monkeypatch):
    store = open_store()
    store.create(make_feature("c0"))
    held = HeldSync(monkeypatch, fail=True)
    held.release.set()
    with pytest.raises(StoreError, match="could not be written"):
        store.create_many(batch_of("b", 3), idempotency_keys=["k0", "k1", "k2"])
    assert store.disk_error is not None and store.count() == 4  # in the file: visible
    held.fail = False
    with pytest.raises(StoreError, match="could not be written"):
        store.create_many(batch_of("x", 2))
    restarted = open_store()  # its keys answered once their records are synced
    done = restarted.create_many(batch_of("b", 3), idempotency_keys=["k0", "k1", "k2"])
    assert done == [(f"b{i}", i + 2, False) for i in range(3)] and len(held.calls) == 2
    assert synced_mark(folder)[2] == segment(folder).stat().st_size


def test_fsyncs_queued_behind_a_failed_one_fail_too(folder, open_store, monkeypatch):
    store = open_store()
    store.create(make_feature("c0"))
    held = HeldSync(monkeypatch, fail=True)
    outcomes = []

    def deferred_create(name):
        try:
            with store.deferred_sync():
                store.create(make_feature(name))
            outcomes.append((name, "ok"))
        except StoreError:
            outcomes.append((name, "failed"))

    first = threading.Thread(target=deferred_create, args=("c1",))
    first.start()
    assert held.started.wait(10)  # c1's fsync is running (held) ...
    second = threading.Thread(target=deferred_create, args=("c2",))
    second.start()
    for _ in range(1000):  # ... and c2 is appended, its fsync queued behind
        if store.count() == 3:
            break
        threading.Event().wait(0.01)
    assert store.count() == 3 and len(held.calls) == 1
    held.release.set()
    first.join(30)
    second.join(30)
    assert sorted(outcomes) == [("c1", "failed"), ("c2", "failed")]
    assert len(held.calls) == 1  # the second never trusted a later fsync


def test_after_a_failed_fsync_records_the_mark_covers_are_still_answered(folder, open_store,
                                                                        monkeypatch):
    store, other = open_store(), open_store()
    store.create(make_feature("c0"))
    other.create(make_feature("c1"), idempotency_key="k1")  # fsynced by the other: under the mark
    assert store.count() == 2  # read here, not known to be synced
    held = HeldSync(monkeypatch, fail=True)
    held.release.set()
    with pytest.raises(StoreError):
        store.create(make_feature("c2"), idempotency_key="k2")
    feature, created = store.create(make_feature("c9"), idempotency_key="k1")
    assert (feature["id"], created) == ("c1", False)  # no fsync needed: the mark covers it
    with pytest.raises(StoreError):  # its record is past the mark: not trusted
        store.create(make_feature("c9"), idempotency_key="k2")
    assert len(held.calls) == 1


def test_a_deferred_fsync_that_cannot_be_handed_over_runs_inline(folder, open_store,
                                                                 monkeypatch, caplog):
    store = open_store()
    store.create(make_feature("c0"))

    def no_descriptor():
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(store._log, "descriptor", no_descriptor)
    held = HeldSync(monkeypatch)
    held.release.set()
    with store.deferred_sync():
        store.create(make_feature("c1"))
        assert held.calls == [threading.current_thread().name]  # synced before create returned
    assert synced_mark(folder)[2] == segment(folder).stat().st_size
    assert "syncing inline" in caplog.text and store.get("c1") is not None


def test_a_failed_append_keeps_its_whole_records_and_cuts_the_torn_one(folder, open_store,
                                                                      monkeypatch):
    store = open_store()
    store.create(make_feature("c0"))
    size = segment(folder).stat().st_size
    records = []
    for number in (1, 2):
        record = make_feature(f"c{number}")
        record["properties"].update(case_no=number + 1, version=1)
        records.append(f"\x1e{json.dumps(record)}\n".encode())
    ino, real_write, calls = segment(folder).stat().st_ino, os.write, []

    def short_write(fd, data):  # the disk fills up in the middle of the second record
        if os.fstat(fd).st_ino != ino:
            return real_write(fd, data)
        calls.append(len(data))
        if len(calls) == 1:  # a short write, as the kernel does ...
            return real_write(fd, bytes(data[:len(records[0]) + 10]))
        raise OSError(28, "No space left on device")  # ... then the error

    monkeypatch.setattr(seqlog.os, "write", short_write)
    with store._log.locked():
        store._log.poll(store._apply, locked=True)
        with pytest.raises(OSError, match="No space"):
            store._log.append(records[0] + records[1])
    monkeypatch.undo()
    assert segment(folder).stat().st_size == size + len(records[0])
    assert synced_mark(folder)[2] <= size  # the mark never covered the unsynced record
    reader = open_store()
    assert reader.get("c1") is not None and reader.get("c2") is None and reader.count() == 2
    store.create(make_feature("c3"))  # the writer goes on after the whole record
    assert sorted(f["id"] for f in open_store().all()) == ["c0", "c1", "c3"]


def test_nested_deferred_blocks_wait_at_the_outermost(folder, open_store, monkeypatch):
    store = open_store()
    store.create(make_feature("c0"))
    held = HeldSync(monkeypatch)
    held.release.set()
    with store.deferred_sync():
        with store.deferred_sync():
            store.create(make_feature("c1"))
        store.create(make_feature("c2"))
    assert synced_mark(folder)[2] == segment(folder).stat().st_size
    assert store.count() == 3  # and a plain create still syncs inline, in its own thread
    store.create(make_feature("c3"))
    assert held.calls[-1] == threading.current_thread().name


def test_a_full_disk_refuses_a_write_whole_and_writing_resumes_once_there_is_room(small_disk):
    folder = small_disk.path / "cases"
    store = GeoJSONSeqStore(folder)
    store.create(make_feature("c0"))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    small_disk.fill()
    big = make_feature("c1", note="x" * 20_000)  # more than the last page of the segment holds
    with pytest.raises(DiskFull) as refused:
        store.create(big)
    assert refused.value.status == 503 and "disk is full" in str(refused.value)
    with pytest.raises(DiskFull), store.deferred_sync():  # as a web request writes
        store.create(big)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # nothing torn
    assert store.disk_error is None  # a refused write() is no failed fsync: not stopped
    assert store.get("c0") is not None and store.count() == 1  # reads go on
    small_disk.free()
    store.create(big)
    assert sorted(f["id"] for f in GeoJSONSeqStore(folder).all()) == ["c0", "c1"]
