"""The automatic sweep: once a day whichever worker gets to it, never two at once, and
only photos no case names that are older than the grace period."""

import fcntl
import os
import time

import pytest

from gridmap.photos import PhotoStore
from gridmap.photos.files import SWEEP_GRACE_S
from gridmap.photos.sweeper import MARK, SWEEP_EVERY_S, sweep_if_due

from photomaker import noise_jpeg

DAY = 24 * 3600


@pytest.fixture
def store(tmp_path):
    return PhotoStore(tmp_path)


def aged(store, ref, seconds):
    path = store.path(ref.id)
    os.utime(path, (time.time() - seconds,) * 2)


def test_the_first_sweep_runs_at_once_and_the_next_a_day_later(store):
    kept, orphan = store.put(noise_jpeg(1)), store.put(noise_jpeg(2))
    young = store.put(noise_jpeg(3))
    for ref in (kept, orphan):
        aged(store, ref, SWEEP_GRACE_S + 60)
    asked = []

    def referenced():
        asked.append(1)
        return {kept.id}

    now = time.time()
    assert sweep_if_due(store, referenced, now=now) == [orphan.id]  # never swept: due
    assert store.ids() == sorted([kept.id, young.id])
    late = store.put(noise_jpeg(4))
    aged(store, late, SWEEP_GRACE_S + 60)
    assert sweep_if_due(store, referenced, now=now + SWEEP_EVERY_S - 1) is None
    assert len(asked) == 1  # the cases are not even read when no sweep is due
    assert late.id in store.ids()
    assert sorted(sweep_if_due(store, referenced, now=now + SWEEP_EVERY_S + 1)) == sorted(
        [late.id, young.id])  # young no more
    assert store.ids() == [kept.id]
    assert oct((store.root / MARK).stat().st_mode & 0o777) == "0o600"


def test_no_sweep_while_another_process_sweeps(store):
    orphan = store.put(noise_jpeg(1))
    aged(store, orphan, SWEEP_GRACE_S + 60)
    fd = os.open(store.root / MARK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another worker holds the mark
        assert sweep_if_due(store, lambda: set()) is None
        assert store.ids() == [orphan.id]
    finally:
        os.close(fd)
    assert sweep_if_due(store, lambda: set()) == [orphan.id]


def test_a_mark_that_is_no_time_means_never_swept(store):
    orphan = store.put(noise_jpeg(1))
    aged(store, orphan, SWEEP_GRACE_S + 60)
    (store.root / MARK).write_text("garbage")
    assert sweep_if_due(store, lambda: set()) == [orphan.id]
    assert float((store.root / MARK).read_text()) == pytest.approx(time.time(), abs=60)


def test_a_mark_from_the_future_does_not_stop_sweeping(store):
    orphan = store.put(noise_jpeg(1))
    aged(store, orphan, SWEEP_GRACE_S + 60)
    (store.root / MARK).write_text(str(time.time() + DAY))  # the clock was set back
    assert sweep_if_due(store, lambda: set()) == [orphan.id]


def test_a_sweep_with_nothing_old_enough_reads_no_case(store):
    """A million cases take a while to read: a sweep that could delete nothing (no
    file older than the grace period, stale temporary files included) skips them."""
    young = store.put(noise_jpeg(1))
    folder = store.path(young.id).parent
    asked = []

    def referenced():
        asked.append(1)
        return set()

    now = time.time()
    assert sweep_if_due(store, referenced, now=now) == [] and asked == []
    assert store.ids() == [young.id]
    aged(store, young, SWEEP_GRACE_S + 60)
    assert sweep_if_due(store, referenced, now=now + SWEEP_EVERY_S + 1) == [young.id]
    assert asked == [1]
    tmp = folder / ".left-behind.jpg.tmp"
    tmp.write_bytes(b"x")
    os.utime(tmp, (now - SWEEP_GRACE_S - 60,) * 2)
    assert sweep_if_due(store, referenced, now=now + 2 * SWEEP_EVERY_S + 2) == []
    assert asked == [1, 1] and not tmp.exists()
