"""The automatic photo sweep: :meth:`PhotoStore.sweep` once a day, by whichever
process of a data folder gets to it first.

``gridmap serve``'s workers each call :func:`sweep_if_due` when they start and
every few minutes after; ``photos/.swept`` holds when the last sweep began, and
a worker takes it (a ``flock`` it does not wait for) before it looks, so two
workers never sweep at once and a day passes between sweeps, however many
workers and restarts. The sweep's own rules keep uploads under way safe: the
cases are read before the photos are listed, a photo younger than the grace
period (a day) is kept, and ``photos/.lock`` keeps it from deleting a photo
under a save (docs/photos.md).
"""

import fcntl
import logging
import os
import time

from gridmap.photos.files import SWEEP_GRACE_S

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 24 * 3600  #: between automatic sweeps
CHECK_EVERY_S = 600  #: how often a worker asks whether a sweep is due
MARK = ".swept"


def sweep_if_due(photos, referenced, every_s=SWEEP_EVERY_S, grace_s=SWEEP_GRACE_S, now=None):
    """Sweep ``photos`` unless a sweep began less than ``every_s`` ago or runs now.

    Parameters
    ----------
    photos : gridmap.photos.PhotoStore
    referenced : callable
        Returns the ids every stored case names; called only when a sweep is due,
        before the photos are listed.
    every_s, grace_s : float
        Time between sweeps; photos younger than ``grace_s`` are kept.
    now : float, optional
        The current ``time.time()`` (tests).

    Returns
    -------
    list of str or None
        The ids deleted, or None when no sweep was due (or another process sweeps).
    """
    now = time.time() if now is None else now
    fd = os.open(photos.root / MARK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # another worker is sweeping
        last = _last_sweep(fd)
        if last is not None and 0 <= now - last < every_s:
            return None
        os.ftruncate(fd, 0)  # claimed before sweeping: a failing sweep is not retried at once
        os.pwrite(fd, f"{now}\n".encode(), 0)
        if not photos.has_old(grace_s, now):
            return []  # nothing old enough to delete: the cases need not be read
        return photos.sweep(referenced(), grace_s=grace_s, now=now)
    finally:
        os.close(fd)  # and with it the flock


def _last_sweep(fd):
    """When the last sweep began (the mark's text), or None if never (or unreadable)."""
    text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    try:
        return float(text)
    except ValueError:
        if text:
            log.warning("photos/%s holds %r, not a time: sweeping now", MARK, text[:20])
        return None
