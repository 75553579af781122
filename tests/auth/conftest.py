"""Shared helpers for the auth tests."""

import multiprocessing

import pytest


class FakeClock:
    """A clock for the stores' ``clock=`` argument that moves only when told."""

    def __init__(self, t=1_750_000_000.0):
        self.t = t

    def __call__(self):
        return self.t

    def advance(self, seconds):
        self.t += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def run_in_processes():
    """``run(target, path, n=4)``: run ``target(path, index, barrier, results)`` in ``n``
    spawned processes at once; return what each put in ``results``."""
    return _run_in_processes


def _run_in_processes(target, path, n=4):
    """Run ``target(path, index, barrier, results)`` in ``n`` spawned processes at
    once; return what each put in ``results``."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=target, args=(path, i, barrier, results)) for i in range(n)]
    for p in procs:
        p.start()
    try:
        for p in procs:  # the results are small: joining before reading them cannot block
            p.join(timeout=120)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
    assert [p.exitcode for p in procs] == [0] * n
    return [results.get(timeout=5) for _ in procs]
