"""GeoJSONSeqStore's group commit, with real threads forced into one batch.

A first create holds its fsync (the leader of a batch); the threads started
meanwhile queue behind it, and all of them are committed together, in one
batch, once it is let go. The checks a batch makes among its own operations
(ids, tracking codes, idempotency keys, versions), batches mixing deferred and
plain writes, a batch whose fsync fails, and nested deferred blocks.
"""

import os
import threading

import pytest
from contract import make_feature

from gridmap.store import GeoJSONSeqStore, seqlog
from gridmap.store.base import DuplicateCase, StoreError, VersionConflict

WAIT = 10  # seconds: only ever reached when something is broken


class GatedSync:
    """Replaces fdatasync: call ``i`` waits for ``gate(i)`` to be opened if one was
    made for it (and fails if told to); every call records its thread's name."""

    def __init__(self, monkeypatch):
        self.calls, self._gates, self._started, self._fail = [], {}, {}, set()
        self._lock = threading.Lock()
        real = os.fdatasync

        def sync(fd):
            with self._lock:
                number = len(self.calls)
                self.calls.append(threading.current_thread().name)
                gate = self._gates.get(number)
                started = self._started.setdefault(number, threading.Event())
            started.set()
            if gate is not None:
                assert gate.wait(WAIT)
            if number in self._fail:
                raise OSError(5, "Input/output error")
            real(fd)

        monkeypatch.setattr(seqlog.os, "fdatasync", sync)

    def gate(self, number, fail=False):
        if fail:
            self._fail.add(number)
        with self._lock:
            return self._gates.setdefault(number, threading.Event())

    def started(self, number):
        with self._lock:
            event = self._started.setdefault(number, threading.Event())
        assert event.wait(WAIT), f"fsync {number} never started"


class Worker(threading.Thread):
    """Runs ``call()`` once; keeps its result or error."""

    def __init__(self, call):
        super().__init__()
        self.call, self.result, self.error, self.finished = call, None, None, threading.Event()

    def run(self):
        try:
            self.result = self.call()
        except Exception as exc:  # noqa: BLE001 - each test looks at it
            self.error = exc
        finally:
            self.finished.set()


def synced_mark(folder):
    return seqlog.MARK.unpack((folder / seqlog.SYNC).read_bytes()[:seqlog.MARK.size])[2]


def log_size(folder):
    return (folder / seqlog.segment_name(1)).stat().st_size


@pytest.fixture
def store(tmp_path):
    opened = GeoJSONSeqStore(tmp_path / "cases")
    opened.create(make_feature("c0"))
    yield opened
    opened.close()


def wait_for_queue(store, length):
    """Until ``length`` operations wait in the store's group-commit queue."""
    for _ in range(WAIT * 100):
        if len(store._group._queue) == length:
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"{len(store._group._queue)} operations queued, not {length}")


def in_one_batch(store, sync, calls):
    """Run ``calls`` in threads that all queue behind a leader whose fsync is held,
    so that they are committed as one batch; returns the finished workers."""
    sync.gate(0)
    leader = Worker(lambda: store.create(make_feature("leader")))
    leader.start()
    sync.started(0)
    workers = [Worker(call) for call in calls]
    for worker in workers:
        worker.start()
    wait_for_queue(store, len(calls))
    sync.gate(0).set()
    for worker in [leader, *workers]:
        worker.join(WAIT)
        assert worker.finished.is_set()
    assert leader.error is None
    return workers


def fresh_ids(store):
    with GeoJSONSeqStore(store.folder, compact_bytes=None) as reader:
        return sorted(f["id"] for f in reader.all())


def test_one_batch_stores_one_of_several_creates_with_the_same_tracking_code(store, monkeypatch):
    sync = GatedSync(monkeypatch)
    workers = in_one_batch(store, sync, [
        lambda i=i: store.create(make_feature(f"d{i}", tracking_code="T-same")) for i in range(8)])
    assert len(sync.calls) == 2  # the leader's fsync and the batch's: one batch indeed
    made = [w for w in workers if w.error is None]
    assert len(made) == 1 and made[0].result[1] is True
    for worker in workers:
        if worker.error is not None:
            assert isinstance(worker.error, DuplicateCase)
            assert worker.error.field == "tracking_code" and "T-same" in str(worker.error)
    assert fresh_ids(store) == sorted(["c0", "leader", made[0].result[0]["id"]])


def test_one_batch_stores_one_of_several_creates_with_the_same_id(store, monkeypatch):
    sync = GatedSync(monkeypatch)
    workers = in_one_batch(store, sync, [
        lambda i=i: store.create(make_feature("same", tracking_code=f"T-{i}")) for i in range(6)])
    assert [w.error is None for w in workers].count(True) == 1
    assert all(isinstance(w.error, DuplicateCase) and w.error.field == "id"
               for w in workers if w.error is not None)
    assert fresh_ids(store) == ["c0", "leader", "same"]


def test_one_batch_answers_every_repeat_of_an_idempotency_key_with_the_first_case(
        store, monkeypatch):
    sync = GatedSync(monkeypatch)
    workers = in_one_batch(store, sync, [
        lambda i=i: store.create(make_feature(f"k{i}"), idempotency_key="key-same")
        for i in range(8)])
    assert len(sync.calls) == 2 and all(w.error is None for w in workers)
    created = [w.result[0]["id"] for w in workers if w.result[1]]
    assert len(created) == 1
    assert {w.result[0]["id"] for w in workers} == set(created)
    assert fresh_ids(store) == sorted(["c0", "leader", created[0]])
    assert store.get_by_key("key-same")["id"] == created[0]


def test_one_batch_takes_one_of_two_updates_of_the_same_version(store, monkeypatch):
    sync = GatedSync(monkeypatch)
    first, second = (make_feature("c0", state=state) for state in ("signed", "cancelled"))
    workers = in_one_batch(store, sync, [lambda: store.update("c0", first, 1),
                                         lambda: store.update("c0", second, 1)])
    assert workers[0].error is None and workers[0].result["properties"]["version"] == 2
    assert isinstance(workers[1].error, VersionConflict)
    assert workers[1].error.detail["current_version"] == 2
    assert store.get("c0")["properties"]["state"] == "signed"


def test_numbers_and_versions_given_in_one_batch_follow_each_other(store, monkeypatch):
    sync = GatedSync(monkeypatch)
    workers = in_one_batch(store, sync, [
        lambda: store.create(make_feature("a")), lambda: store.create(make_feature("b")),
        lambda: store.update("c0", make_feature("c0", state="signed"), 1)])
    assert [w.error for w in workers] == [None, None, None]
    assert [w.result[0]["properties"]["case_no"] for w in workers[:2]] == [3, 4]
    assert workers[2].result["properties"]["version"] == 2
    assert store.get("c0")["properties"]["case_no"] == 1


def test_a_plain_write_batched_with_a_deferred_one_returns_only_once_durable(store, monkeypatch):
    sync = GatedSync(monkeypatch)
    held = sync.gate(1)  # the batch's fsync
    marks = {}

    def deferred():
        with store.deferred_sync():
            store.create(make_feature("deferred"))
        marks["deferred"] = synced_mark(store.folder)

    def plain():
        feature, _ = store.create(make_feature("plain"))
        marks["plain"] = synced_mark(store.folder)
        return feature

    sync.gate(0)
    leader = Worker(lambda: store.create(make_feature("leader")))
    leader.start()
    sync.started(0)
    workers = [Worker(deferred), Worker(plain)]
    for queued, worker in enumerate(workers, 1):  # in this order: the deferred one leads
        worker.start()
        wait_for_queue(store, queued)
    sync.gate(0).set()
    sync.started(1)
    # a batch with a plain write syncs inline, in the thread leading it, not in the syncer
    assert not sync.calls[1].startswith("gridmap-store-sync")
    assert not workers[1].finished.wait(0.3)  # the plain write waits for that fsync
    held.set()
    for worker in [leader, *workers]:
        worker.join(WAIT)
        assert worker.error is None
    assert marks["plain"] == marks["deferred"] == log_size(store.folder)
    assert len(sync.calls) == 2


def test_a_failed_batch_keeps_each_operations_own_error(store, monkeypatch):
    sync = GatedSync(monkeypatch)
    sync.gate(1, fail=True).set()  # the batch's fsync fails
    workers = in_one_batch(store, sync, [
        lambda: store.create(make_feature("dup", tracking_code="T-c0")),
        lambda: store.create(make_feature("good")),
        lambda: store.update("c0", make_feature("c0", state="signed"), 7),
        lambda: store.update("nobody", make_feature("nobody"), 1)])
    dup, good, stale, unknown = (w.error for w in workers)
    assert isinstance(dup, DuplicateCase) and dup.field == "tracking_code"
    assert type(good) is StoreError and "could not be written" in str(good)
    assert isinstance(stale, VersionConflict) and stale.detail["expected_version"] == 7
    assert unknown.status == 404 and unknown.field == "case_id"
    assert store.disk_error is not None


def test_a_batch_of_refusals_only_writes_and_syncs_nothing(store, monkeypatch):
    sync = GatedSync(monkeypatch)
    size = log_size(store.folder)
    workers = in_one_batch(store, sync, [
        lambda: store.create(make_feature("dup", tracking_code="T-c0")),
        lambda: store.update("c0", make_feature("c0"), 5)])
    assert [type(w.error) for w in workers] == [DuplicateCase, VersionConflict]
    assert len(sync.calls) == 1  # the leader's only
    assert log_size(store.folder) > size and fresh_ids(store) == ["c0", "leader"]


# -- deferred blocks ---------------------------------------------------------------

def test_nested_deferred_blocks_wait_once_at_the_outermost_for_every_write_in_them(
        store, monkeypatch):
    sync = GatedSync(monkeypatch)
    held = sync.gate(0)  # the fsync of the inner block's write, in the syncer
    inner_left, marks = threading.Event(), {}

    def nested():
        with store.deferred_sync():
            with store.deferred_sync():
                store.create(make_feature("inner"))
            inner_left.set()  # leaving the inner block does not wait ...
            store.create(make_feature("outer"))
        marks["end"] = synced_mark(store.folder)  # ... leaving the outer one waits for both

    worker = Worker(nested)
    worker.start()
    assert inner_left.wait(WAIT)
    sync.started(0)
    assert sync.calls[0].startswith("gridmap-store-sync")
    assert not worker.finished.wait(0.3)
    held.set()
    worker.join(WAIT)
    assert worker.error is None and marks["end"] == log_size(store.folder)


def test_an_outer_block_also_waits_for_the_write_of_an_inner_block_that_raised(
        store, monkeypatch):
    sync = GatedSync(monkeypatch)
    held = sync.gate(0)

    def nested():
        with store.deferred_sync():
            try:
                with store.deferred_sync():
                    store.create(make_feature("inner"))
                    raise KeyError("after the write")
            except KeyError:
                pass
        return synced_mark(store.folder)

    worker = Worker(nested)
    worker.start()
    sync.started(0)
    assert not worker.finished.wait(0.3)
    held.set()
    worker.join(WAIT)
    assert worker.error is None and worker.result == log_size(store.folder)


def test_after_a_block_left_by_an_exception_writes_sync_inline_again(store, monkeypatch):
    sync = GatedSync(monkeypatch)
    with pytest.raises(KeyError):
        with store.deferred_sync():
            store.create(make_feature("deferred"))
            raise KeyError("the request failed after its write")
    store.create(make_feature("plain"))
    assert sync.calls[-1] == threading.current_thread().name  # synced here, before returning
    assert synced_mark(store.folder) == log_size(store.folder)
    with store.deferred_sync():  # and a new block defers again
        store.create(make_feature("again"))
    assert sync.calls[-1].startswith("gridmap-store-sync")
    assert synced_mark(store.folder) == log_size(store.folder)
