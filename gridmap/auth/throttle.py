"""Rate limits and sign-in failure counts, shared by worker processes.

:meth:`Throttle.hit` is the generic cell rate algorithm (GCRA, a leaky bucket
kept as one number): ``limit`` per ``window_s`` means a burst of up to
``limit`` hits at once, then one more every ``window_s / limit`` seconds, so
the sustained rate never exceeds ``limit`` per window. Each key has one
bucket, its *theoretical arrival time* (``tat``): the moment the bucket is
empty again. A hit is allowed when ``max(tat, now) + window_s / limit`` is at
most ``window_s`` ahead, and then stored as the new ``tat``; refused hits
change nothing. So a hit costs the same whatever the limit (a sliding-window
log walks ``limit`` rows). Unlike a log, a bucket lets the burst and the
refill meet: any ``window_s`` seconds may admit up to ``2 * limit - 1`` hits,
never more than ``limit`` per window on average. A key is meant for one
(limit, window): the bucket is kept as one time, whatever the limit of the
hit that moved it.

The buckets live in a memory-mapped file (:mod:`gridmap.auth.buckets`), read
and moved under one lock, so processes hitting one key at once never let
more through than the limit, and a hit (the rate limit of every resident's
report) costs microseconds. Releases before 2026-11-28 kept them in the
``throttle_rates`` table: during a rolling restart old and new workers count
apart, and the table is left in place for the old ones.

Failures (wrong passwords) are rows in SQLite. Each thread of each process
keeps its own connection (:class:`~gridmap.auth.database.LocalConnection`,
reopened after a fork), and the throttle file runs with ``PRAGMA
synchronous=NORMAL``: commits are not fsynced (WAL checkpoints still are). A
power cut may thus forget the last few hits or failures, which only lets a
few attempts more through (or brings back failures just cleared); the files
stay consistent. Accounts and sessions live in another file and keep
synchronous FULL.

Keys are strings naming what is limited, e.g. ``"signin:user:alice"``,
``"signin:ip:1.2.3.4"``, ``"report:ip:1.2.3.4"``.

Use a file of its own (``DATA_DIR/throttle.sqlite3``, :data:`THROTTLE_FILE`;
the buckets file goes beside it) so a flood of failed sign-ins never queues
behind, or ahead of, account writes; the tables do not clash with the
account store's if shared.
"""

import math
import time

from gridmap.auth.buckets import Buckets
from gridmap.auth.database import Keeper, LocalConnection, disk_full_refused, open_database
from gridmap.errors import BadInput

THROTTLE_FILE = "throttle.sqlite3"
PRUNE_EVERY_S = 60
SYNCHRONOUS = "NORMAL"  # losing the last hits in a power cut is harmless

_NTH_FAILURE = ("SELECT at FROM throttle_failures WHERE key = ? AND at > ? "
                "ORDER BY at DESC LIMIT 1 OFFSET ?")
# Rounding: limit steps of window/limit may add up to a hair over the window.
_SLACK_S = 1e-6  # above the rounding of epoch seconds (~2.4e-7 s in 2026)

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS throttle_failures (key TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS throttle_failures_by_key ON throttle_failures (key, at)",
)


def _check(limit=1, window_s=1.0):
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise BadInput("error.throttle.bad_limit", value=repr(limit)[:60])
    if not (isinstance(window_s, (int, float)) and 0 < window_s < math.inf):
        raise BadInput("error.throttle.bad_window", value=repr(window_s)[:60])


class Throttle:
    """Counters shared by every process using the same files.

    Parameters
    ----------
    path : str or Path
        The database file; its folder must exist. Created on first use, and
        the buckets file beside it.
    keep_failures_s : float
        Failures older than this are deleted (default one day); ask
        :meth:`failures` only about windows shorter than this.
    clock : callable
        Returns the time in epoch seconds; tests pass a fake one.
    """

    def __init__(self, path, keep_failures_s=86400, clock=time.time):
        self.path = open_database(path, SCHEMA)
        self.keep_failures_s = keep_failures_s
        self.clock = clock
        self._pruned_at = -math.inf
        self._conn = LocalConnection(self.path, synchronous=SYNCHRONOUS)
        # -wal and -shm outlive this process's other connections: a worker started on a
        # full disk opens the file only if they are there (see Keeper)
        self._keeper = Keeper(self.path)
        self._buckets = Buckets(self.path.parent, self.path.stem)

    def hit(self, key, limit, window_s):
        """Count one attempt at ``key`` if the bucket of ``limit`` per ``window_s`` has room.

        Returns
        -------
        (allowed, retry_after_s) : (bool, int)
            ``retry_after_s`` is 0 when allowed, else the whole seconds (at
            least 1) until the next hit would be allowed.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> t = Throttle(pathlib.Path(tempfile.mkdtemp()) / "t.sqlite3", clock=lambda: 1000.0)
        >>> [t.hit("report:ip:10.0.0.1", limit=2, window_s=60) for _ in range(3)]
        [(True, 0), (True, 0), (False, 30)]
        """
        _check(limit, window_s)
        now = self.clock()
        step = window_s / limit
        room = window_s + _SLACK_S
        allowed, tat = self._buckets.take(key, now, step, room)
        return (True, 0) if allowed else (False, max(1, math.ceil(tat + step - room - now)))

    def record_failure(self, key):
        """Record one failed attempt (e.g. a wrong password) at ``key``."""
        now = self.clock()
        db = self._conn.get()
        with disk_full_refused():  # a failure not counted: refuse the attempt (503)
            db.execute("INSERT INTO throttle_failures VALUES (?, ?)", (key, now))
            self._prune(db, now)

    def failures(self, key, window_s):
        """How many failures were recorded at ``key`` in the last ``window_s`` seconds."""
        _check(window_s=window_s)
        return self._conn.get().execute(
            "SELECT count(*) FROM throttle_failures WHERE key = ? AND at > ?",
            (key, self.clock() - window_s)).fetchone()[0]

    def locked_for(self, key, limit, window_s):
        """Seconds until ``key`` has fewer than ``limit`` failures in ``window_s`` (0 if now).

        A lock-out helper: refuse a sign-in while this is above 0, and say
        when to try again.
        """
        _check(limit, window_s)
        now = self.clock()
        nth = self._conn.get().execute(_NTH_FAILURE, (key, now - window_s, limit - 1)).fetchone()
        if nth is None:
            return 0
        return max(1, math.ceil(nth["at"] + window_s - now))

    def clear(self, key):
        """Forget the failures of ``key`` (e.g. after a successful sign-in).

        Rate-limit hits are kept: signing in must not reset a rate limit.
        """
        with disk_full_refused():
            self._conn.get().execute("DELETE FROM throttle_failures WHERE key = ?", (key,))

    def _prune(self, db, now):
        # At most once a minute per process.
        if now - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = now
        db.execute("DELETE FROM throttle_failures WHERE at <= ?", (now - self.keep_failures_s,))
