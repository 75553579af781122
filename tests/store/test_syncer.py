"""The syncer thread: calls run in order, outside the caller, and errors reach the waiter."""

import threading

import pytest

from gridmap.store.syncer import Syncer


def test_calls_run_in_order_in_the_thread_and_wait_returns_after():
    syncer, seen, gate = Syncer("t-sync"), [], threading.Event()
    first = syncer.submit(lambda: gate.wait(10) and seen.append(threading.current_thread().name))
    second = syncer.submit(seen.append, "second")
    assert seen == []  # the first is held: nothing has run, and the caller is free
    gate.set()
    second.wait()
    first.wait()
    first.wait()  # waiting again returns at once
    assert seen == ["t-sync", "second"]
    syncer.shutdown()


def test_an_error_is_raised_by_wait_and_the_thread_goes_on():
    syncer = Syncer("t-sync")
    failed = syncer.submit(lambda: 1 / 0)
    fine = syncer.submit(int, "7")
    with pytest.raises(ZeroDivisionError):
        failed.wait()
    fine.wait()
    syncer.shutdown()


def test_shutdown_runs_what_was_handed_over():
    syncer, seen = Syncer("t-sync"), []
    for i in range(100):
        syncer.submit(seen.append, i)
    syncer.shutdown()
    assert seen == list(range(100))
