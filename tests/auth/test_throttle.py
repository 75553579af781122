"""Throttle: GCRA rate limits in a shared mapped file, failure counts in SQLite."""

import fcntl
import os
import sqlite3
import threading

import pytest

from gridmap.auth import buckets as buckets_mod
from gridmap.auth.buckets import Buckets
from gridmap.auth.throttle import Throttle
from gridmap.errors import BadInput


@pytest.fixture
def throttle(tmp_path, clock):
    return Throttle(tmp_path / "throttle.sqlite3", clock=clock)


def rows(throttle, table):
    with sqlite3.connect(throttle.path) as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_limit_then_retry_after(throttle, clock):
    key = "report:ip:10.0.0.1"
    assert [throttle.hit(key, 3, 60) for _ in range(3)] == [(True, 0)] * 3  # a burst of 3
    assert throttle.hit(key, 3, 60) == (False, 20)  # then one every 60 / 3 s
    clock.advance(19.5)
    assert throttle.hit(key, 3, 60) == (False, 1)
    clock.advance(0.5)
    assert throttle.hit(key, 3, 60) == (True, 0)
    assert throttle.hit(key, 3, 60) == (False, 20)


def test_the_bucket_refills_at_the_sustained_rate(throttle, clock):
    key = "signin:ip:1.2.3.4"
    assert throttle.hit(key, 4, 100)[0]
    clock.advance(60)  # 2.4 steps of 25 s: the bucket is empty again
    assert [throttle.hit(key, 4, 100)[0] for _ in range(5)] == [True] * 4 + [False]
    clock.advance(50)  # two steps
    assert [throttle.hit(key, 4, 100)[0] for _ in range(3)] == [True, True, False]
    # sustained: over 1,000 s of one try a second, 4 per 100 s get through (+ the burst)
    allowed = 0
    for _ in range(1000):
        clock.advance(1)
        allowed += throttle.hit(key, 4, 100)[0]
    assert allowed == 40


def test_refused_hits_change_nothing(throttle, clock):
    assert sum(throttle.hit("report:ip:flood", 5, 3600)[0] for _ in range(100)) == 5
    clock.advance(720)  # one step: the 95 refusals did not push the bucket
    assert [throttle.hit("report:ip:flood", 5, 3600) for _ in range(2)] == [(True, 0), (False, 720)]


def test_keys_are_independent(throttle):
    assert throttle.hit("signin:user:alice", 1, 60)[0]
    assert not throttle.hit("signin:user:alice", 1, 60)[0]
    assert throttle.hit("signin:user:bob", 1, 60)[0]


def test_failures_and_lockout(throttle, clock):
    key = "signin:user:alice"
    for _ in range(3):
        throttle.record_failure(key)
        clock.advance(10)
    assert throttle.failures(key, 900) == 3
    assert throttle.failures(key, 15) == 1
    assert throttle.failures("signin:user:bob", 900) == 0
    assert throttle.locked_for(key, 3, 900) == 900 - 30
    assert throttle.locked_for(key, 4, 900) == 0
    clock.advance(900 - 30)
    assert throttle.locked_for(key, 3, 900) == 0
    throttle.clear(key)
    assert throttle.failures(key, 10_000) == 0


def test_clear_keeps_rate_limit_hits(throttle):
    throttle.hit("signin:ip:9.9.9.9", 1, 60)
    throttle.clear("signin:ip:9.9.9.9")
    assert throttle.hit("signin:ip:9.9.9.9", 1, 60)[0] is False


def test_old_failures_are_pruned(tmp_path, clock):
    throttle = Throttle(tmp_path / "t.sqlite3", keep_failures_s=3600, clock=clock)
    for i in range(10):
        throttle.record_failure(f"signin:user:u{i}")
    assert rows(throttle, "throttle_failures") == 10
    clock.advance(3601)
    throttle.record_failure("signin:user:u1")
    assert rows(throttle, "throttle_failures") == 1


@pytest.mark.parametrize("limit, window", [(0, 60), (-1, 60), (1.5, 60), (True, 60),
                                           (5, 0), (5, -1), (5, float("nan")), (5, "60")])
def test_bad_arguments(throttle, limit, window):
    with pytest.raises(BadInput):
        throttle.hit("k", limit, window)


def hit_in_process(path, index, barrier, results):
    throttle = Throttle(path)
    barrier.wait(timeout=60)
    results.put(sum(throttle.hit("report:ip:shared", 50, 3600)[0] for _ in range(30)))


def test_processes_share_the_limit_exactly(tmp_path, run_in_processes):
    path = tmp_path / "throttle.sqlite3"
    allowed = run_in_processes(hit_in_process, path)
    assert sum(allowed) == 50, allowed
    assert Throttle(path).hit("report:ip:shared", 50, 3600)[0] is False


def test_one_connection_per_thread_with_synchronous_normal(throttle):
    throttle.record_failure("k")
    conn = throttle._conn.get()
    assert throttle._conn.get() is conn
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    seen = []
    thread = threading.Thread(target=lambda: seen.append((throttle.failures("k", 60),
                                                         throttle._conn.get())))
    thread.start()
    thread.join()
    assert seen[0][0] == 1 and seen[0][1] is not conn
    assert throttle.failures("k", 60) == 1 and throttle._conn.get() is conn


def test_a_forked_child_opens_its_own_connection_and_shares_the_buckets(throttle):
    assert throttle.hit("fork", 2, 60) == (True, 0)
    throttle.record_failure("fork")
    parent_conn = throttle._conn.get()
    pid = os.fork()
    if pid == 0:  # the child: its own connection, the shared counts
        code = 1
        try:
            ok = (throttle.failures("fork", 60) == 1 and throttle._conn.get() is not parent_conn
                  and throttle.hit("fork", 2, 60) == (True, 0)
                  and throttle.hit("fork", 2, 60) == (False, 30))
            code = 0 if ok else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert throttle._conn.get() is parent_conn
    assert throttle.hit("fork", 2, 60) == (False, 30)


def test_an_old_database_works_and_keeps_its_old_tables(tmp_path):
    # workers of the previous releases may still run during a rolling restart
    path = tmp_path / "throttle.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE throttle_hits (key TEXT, at REAL, expires_at REAL)")
        db.execute("CREATE TABLE throttle_rates (key TEXT PRIMARY KEY, tat REAL NOT NULL)")
    throttle = Throttle(path)
    assert throttle.hit("k", 1, 60) == (True, 0)
    throttle.record_failure("k")
    with sqlite3.connect(path) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"throttle_hits", "throttle_rates", "throttle_failures"} <= tables


def test_hits_never_touch_the_database(throttle, clock):
    statements = []
    throttle._conn.get().set_trace_callback(statements.append)
    allowed = [throttle.hit("report:ip:flood", 2, 60)[0] for _ in range(50)]
    assert allowed == [True] * 2 + [False] * 48
    assert statements == []  # a flood of reports never queues for the database's write lock


# -- the buckets file --------------------------------------------------------------

def test_an_empty_bucket_frees_its_slot_for_any_key(tmp_path, monkeypatch):
    monkeypatch.setattr(buckets_mod, "PROBE", 2)
    table = Buckets(tmp_path, "b", slots=2)  # every key probes both slots
    assert table.take("a", 1000.0, 10, 60) == (True, 1010.0)
    assert table.take("b", 1000.0, 10, 60) == (True, 1010.0)
    assert table.take("c", 1011.0, 10, 60) == (True, 1021.0)  # a and b are empty again
    assert table.take("c", 1011.0, 10, 60) == (True, 1031.0)  # the same slot, not a new one
    assert table.take("b", 1011.0, 10, 60) == (True, 1021.0)  # empty, whichever slot it finds


def test_a_full_table_gives_up_the_bucket_nearest_to_empty(tmp_path, monkeypatch):
    monkeypatch.setattr(buckets_mod, "PROBE", 2)
    table = Buckets(tmp_path, "b", slots=2)
    assert table.take("a", 1000.0, 50, 60)[0] and table.take("b", 1000.0, 10, 60)[0]
    assert table.take("c", 1001.0, 10, 60) == (True, 1011.0)  # took b's slot (due at 1010)
    assert table.take("a", 1001.0, 50, 60) == (False, 1050.0)  # a still counts
    assert table.take("b", 1001.0, 10, 60) == (True, 1011.0)  # b starts afresh (took c's)


def test_instances_of_one_file_share_it_and_a_foreign_file_starts_empty(tmp_path):
    first, second = Buckets(tmp_path, "throttle"), Buckets(tmp_path, "throttle")
    assert first.path.name == f"throttle-v{buckets_mod.VERSION}-{buckets_mod.SLOTS}.buckets"
    assert first.take("k", 1000.0, 30, 60) == (True, 1030.0)
    assert second.take("k", 1000.0, 30, 60) == (True, 1060.0)
    assert first.take("k", 1000.0, 30, 60) == (False, 1060.0)
    with open(first.path, "r+b") as f:
        f.write(b"NOTOURS!")
    pid = os.fork()
    if pid == 0:  # a process opening the file afresh finds it foreign and empties it
        os._exit(0 if Buckets(tmp_path, "throttle").take("k", 1000.0, 30, 60) == (True, 1030.0)
                 else 1)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def test_a_second_instance_never_drops_the_lock_of_a_hit_in_progress(tmp_path, monkeypatch):
    # record locks belong to the process: opening or closing the file again would
    # release the lock another thread holds mid-hit
    inside, release = threading.Event(), threading.Event()
    table = Buckets(tmp_path, "b")
    find = Buckets._find

    def slow_find(self, *args):
        inside.set()
        release.wait(10)
        return find(self, *args)

    monkeypatch.setattr(Buckets, "_find", slow_find)
    hit = threading.Thread(target=table.take, args=("k", 1000.0, 1, 60))
    hit.start()
    try:
        assert inside.wait(10)
        Buckets(tmp_path, "b")  # opened again in this process meanwhile
        pid = os.fork()
        if pid == 0:  # another process must still find the file locked
            fd = os.open(table.path, os.O_RDWR)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os._exit(1)
            except OSError:
                os._exit(0)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    finally:
        release.set()
        hit.join()


def test_threads_share_the_limit_exactly(tmp_path):
    throttle = Throttle(tmp_path / "t.sqlite3")
    allowed = []

    def hits():
        allowed.append(sum(throttle.hit("report:ip:threads", 100, 3600)[0] for _ in range(60)))

    threads = [threading.Thread(target=hits) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 100
