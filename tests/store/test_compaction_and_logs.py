"""GeoJSONSeqStore: what compaction takes in and when it runs, that two instances
never compact at once, forks during a write, and what the store logs (the
operator's only view of a failing disk)."""

import logging
import os
import threading

import pytest
from contract import make_feature

from gridmap.store import GeoJSONSeqStore, geojsonseq, seqlog, snapshot
from gridmap.store.base import StoreError

WAIT = 10  # seconds: only ever reached when something is broken


def snapshot_ids(folder):
    ids = []
    snapshot.read_snapshot(folder, lambda records: ids.extend(rec["id"] for rec, _ in records))
    return sorted(ids)


def test_compaction_takes_in_what_another_instance_wrote_and_logs_it(folder, open_store,
                                                                      caplog):
    store, other = open_store(), open_store()
    store.create(make_feature("c0"))
    other.create(make_feature("c1"))  # store has not read it yet
    with caplog.at_level(logging.INFO, logger="gridmap.store.geojsonseq"):
        assert store.compact() is True
    assert snapshot_ids(folder) == ["c0", "c1"]
    assert f"compacted {folder}: 2 cases, log segment 1 sealed" in caplog.messages


def test_compaction_runs_once_the_segment_holds_min_bytes(folder, open_store):
    store = open_store(compact_bytes=None)
    store.create(make_feature("c0"))
    size = (folder / seqlog.segment_name(1)).stat().st_size
    assert store.compact(min_bytes=size + 1) is False
    assert store.compact(min_bytes=size) is True
    assert store.compact() is False  # an empty segment: nothing to do


def test_two_instances_never_compact_at_once(folder, open_store, monkeypatch):
    first, second = open_store(), open_store()  # each with its own locks, as two processes
    first.create(make_feature("c0"))
    release, writing = threading.Event(), threading.Event()
    real = geojsonseq.write_snapshot

    def held_write(*args):
        if threading.current_thread().name == "first-compaction":
            writing.set()
            assert release.wait(WAIT)
        return real(*args)

    monkeypatch.setattr(geojsonseq, "write_snapshot", held_write)
    compacting = threading.Thread(target=first.compact, name="first-compaction")
    compacting.start()
    assert writing.wait(WAIT)
    second.create(make_feature("c1"))  # writers wait only for the seal, not the snapshot
    done = threading.Event()
    waiting = threading.Thread(target=lambda: second.compact() and done.set())
    waiting.start()
    assert not done.wait(0.3)  # the second compaction waits for the first
    release.set()
    compacting.join(WAIT)
    waiting.join(WAIT)
    assert done.is_set() and snapshot_ids(folder) == ["c0", "c1"]


def test_a_failed_background_compaction_is_logged_and_writing_goes_on(folder, open_store,
                                                                      monkeypatch, caplog):
    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(geojsonseq, "write_snapshot", full)
    store = open_store(compact_bytes=1)
    store.create(make_feature("c0"))  # starts a compaction in the background
    store._compactor.join(WAIT)
    assert (f"compaction of {folder} failed: [Errno 28] No space left on device"
            in caplog.messages)
    store.create(make_feature("c1"))
    assert store.count() == 2


def test_a_failed_fsync_is_logged_once_naming_the_folder(folder, open_store, monkeypatch, caplog):
    store = open_store()
    store.create(make_feature("c0"))

    def failing(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(seqlog.os, "fdatasync", failing)
    for name in ("c1", "c2"):
        with pytest.raises(StoreError, match="Input/output error"):
            store.create(make_feature(name))
    critical = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert critical == [f"fsync of {folder} failed: [Errno 5] Input/output error; writing stops "
                        "in this process: check the disk, then restart"]


def test_a_deferred_fsync_that_cannot_be_handed_over_says_why(folder, open_store, monkeypatch,
                                                               caplog):
    store = open_store()
    store.create(make_feature("c0"))

    def no_descriptor():
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(store._log, "descriptor", no_descriptor)
    with store.deferred_sync():
        store.create(make_feature("c1"))
    assert (f"deferred fsync of {folder} unavailable ([Errno 24] Too many open files): "
            "syncing inline") in caplog.messages


def run_in_child(body):
    """Fork; run ``body()`` in the child; its exit code (0: it returned), or None if it
    had not ended after WAIT seconds (then it is killed)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            body()
            code = 0
        finally:
            os._exit(code)
    for _ in range(WAIT * 20):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        threading.Event().wait(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return None


def test_a_child_forked_during_a_write_has_locks_of_its_own(folder, open_store, monkeypatch):
    store = open_store()
    store.create(make_feature("c0"))
    syncing, release = threading.Event(), threading.Event()
    real = os.fdatasync
    parent = os.getpid()

    def held(fd):
        if os.getpid() == parent and not release.is_set():
            syncing.set()
            assert release.wait(WAIT)
        real(fd)

    monkeypatch.setattr(seqlog.os, "fdatasync", held)
    writer = threading.Thread(target=store.create, args=(make_feature("parent"),))
    writer.start()
    assert syncing.wait(WAIT)  # the parent's commit holds its locks now
    try:
        assert run_in_child(lambda: store.create(make_feature("child"))) == 0
    finally:
        release.set()
        writer.join(WAIT)
    # the child read the parent's record, written before the fork but not yet in
    # the parent's index: its own case got the next number
    assert [(f["properties"]["case_no"], f["id"]) for f in open_store().all()] == [
        (1, "c0"), (2, "parent"), (3, "child")]


def test_a_forked_child_of_a_compacting_store_compacts_by_itself(folder, open_store):
    store = open_store(compact_bytes=1)
    store.create(make_feature("c0"))
    store._compactor.join(WAIT)  # the parent's compactor thread is not the child's

    def child():
        store.create(make_feature("child"))
        store._compactor.join(WAIT)

    assert run_in_child(child) == 0
    assert snapshot_ids(folder) == ["c0", "child"]


def test_a_key_written_in_a_deferred_block_is_answered_again_once_synced(folder, open_store):
    store = open_store()
    with store.deferred_sync():
        store.create(make_feature("c1"), idempotency_key="k1")
    feature, created = store.create(make_feature("c2"), idempotency_key="k1")
    assert (feature["id"], created) == ("c1", False)


def test_a_deferred_fsync_outlives_a_compaction_that_closes_the_segment(folder, open_store,
                                                                       monkeypatch):
    store = open_store(compact_bytes=None)
    store.create(make_feature("c0"))
    release, started = threading.Event(), threading.Event()
    real = os.fdatasync

    def held(fd):
        if threading.current_thread().name.startswith("gridmap-store-sync"):
            started.set()
            assert release.wait(WAIT)
        real(fd)

    monkeypatch.setattr(seqlog.os, "fdatasync", held)
    outcome = []

    def deferred():
        with store.deferred_sync():
            store.create(make_feature("c1"))
        outcome.append("ok")

    writer = threading.Thread(target=deferred)
    writer.start()
    assert started.wait(WAIT)  # the syncer has its descriptor and waits ...
    assert store.compact() is True  # ... while the segment is sealed and closed
    release.set()
    writer.join(WAIT)
    assert outcome == ["ok"] and store.disk_error is None
    assert snapshot_ids(folder) == ["c0", "c1"]


def test_a_failed_deferred_fsync_names_the_error(folder, open_store, monkeypatch):
    store = open_store()
    store.create(make_feature("c0"))

    def failing(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(seqlog.os, "fdatasync", failing)
    with pytest.raises(StoreError) as info:
        with store.deferred_sync():
            store.create(make_feature("c1"))
    assert info.value.render("zh") == "案件未能写入：[Errno 5] Input/output error"
    assert info.value.render("en") == "the case could not be written: [Errno 5] Input/output error"


def test_a_store_closed_while_a_write_waits_refuses_it(folder, open_store, monkeypatch):
    store = open_store()
    store.create(make_feature("c0"))
    release, started = threading.Event(), threading.Event()
    real = os.fdatasync

    def held(fd):
        if not release.is_set():
            started.set()
            assert release.wait(WAIT)
        real(fd)

    monkeypatch.setattr(seqlog.os, "fdatasync", held)
    leader = threading.Thread(target=store.create, args=(make_feature("leader"),))
    leader.start()
    assert started.wait(WAIT)
    errors = []

    def queued():
        try:
            store.create(make_feature("queued"))
        except StoreError as exc:
            errors.append(exc.render("en"))

    waiting = threading.Thread(target=queued)
    waiting.start()
    for _ in range(WAIT * 100):
        if store._group._queue:
            break
        threading.Event().wait(0.01)
    else:
        pytest.fail("the write never queued behind the held fsync")
    closing = threading.Thread(target=store.close)
    closing.start()
    for _ in range(WAIT * 100):
        if store._closed:
            break
        threading.Event().wait(0.01)
    else:
        pytest.fail("the store never closed")
    release.set()
    for thread in (leader, waiting, closing):
        thread.join(WAIT)
    assert errors == [f"the case store {folder} is closed"]
    assert sorted(f["id"] for f in open_store().all()) == ["c0", "leader"]


CHILD = """
import sys, threading
from gridmap.store import GeoJSONSeqStore, geojsonseq
sys.path.insert(0, {tests!r})
from contract import make_feature
geojsonseq.write_snapshot = lambda *args: threading.Event().wait()  # a compaction that hangs
store = GeoJSONSeqStore({folder!r}, compact_bytes=1)
store.create(make_feature("c0"))
assert store._compactor.name == "gridmap-store-compact"
print("written", flush=True)
"""


def test_a_process_may_exit_while_its_compaction_runs(folder):
    import subprocess
    import sys
    from pathlib import Path

    child = subprocess.run(
        [sys.executable, "-c", CHILD.format(tests=str(Path(__file__).parent), folder=str(folder))],
        capture_output=True, text=True, timeout=WAIT * 3)
    assert child.returncode == 0 and child.stdout == "written\n", child.stderr
    assert GeoJSONSeqStore(folder).count() == 1


def test_compaction_starts_once_the_segment_reaches_compact_bytes(tmp_path):
    with GeoJSONSeqStore(tmp_path / "measure", compact_bytes=None) as scratch:
        scratch.create(make_feature("c0"))
        size = (tmp_path / "measure" / seqlog.segment_name(1)).stat().st_size
    below = GeoJSONSeqStore(tmp_path / "below", compact_bytes=size + 1)
    exact = GeoJSONSeqStore(tmp_path / "exact", compact_bytes=size)
    for store in (below, exact):
        store.create(make_feature("c0"))
        store.close()  # waits for a compaction it started
    assert (tmp_path / "below" / seqlog.segment_name(1)).exists()
    assert not (tmp_path / "exact" / seqlog.segment_name(1)).exists()
    assert snapshot_ids(tmp_path / "exact") == ["c0"]


def test_the_fork_hook_gives_every_store_fresh_locks_and_no_compactor(folder, open_store):
    """What ``os.fork`` runs in a child, called here in-process: a lock held by a
    thread of the parent at the fork (here: this thread) must not block the child."""
    store = open_store(compact_bytes=1)
    store.create(make_feature("c0"))
    store._compactor.join(WAIT)
    with store._io_lock:
        geojsonseq._reset_after_fork()
        assert store._compactor is None
        done = threading.Event()
        writer = threading.Thread(target=lambda: store.create(make_feature("c1")) and done.set())
        writer.start()
        assert done.wait(WAIT)  # neither the old io lock nor the old flock holds it up
    writer.join(WAIT)
    store._compactor.join(WAIT)
    assert snapshot_ids(folder) == ["c0", "c1"]
