"""SQLite plumbing shared by the account store and the throttle.

One short-lived connection per call: opening a SQLite file costs tens of
microseconds, and a connection that is never shared cannot be misused by
threads or inherited across a gunicorn fork. The file is in WAL mode, so
readers never wait for the writer; writers queue for up to
:data:`BUSY_TIMEOUT_S`. Writes start with ``BEGIN IMMEDIATE``, taking the
write lock before reading, so a read-modify-write (a counter, a uniqueness
check) is atomic across processes and never fails on a lock upgrade.

Busy paths (the throttle's failure counts, on every sign-in) instead keep
one connection per thread and process (:class:`LocalConnection`): that saves
the open, and the WAL checkpoint SQLite runs when the last connection to a
file closes.
"""

import contextlib
import os
import sqlite3
import threading
from pathlib import Path

from gridmap.diskspace import is_disk_full
from gridmap.errors import DiskFull
from gridmap.private_files import open_private

BUSY_TIMEOUT_S = 5.0
SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")

# Connections inherited through a fork: never used or closed in the child
# (closing could touch the parent's WAL locks), only kept from the collector.
_INHERITED = []


def open_database(path, schema):
    """Create the SQLite file at ``path`` (mode 0600) in WAL mode with ``schema``.

    Parameters
    ----------
    path : str or Path
        The database file; its folder must exist.
    schema : sequence of str
        ``CREATE ... IF NOT EXISTS`` statements, run in one transaction, so
        several processes may open the same new file at once.

    Returns
    -------
    Path
    """
    path = Path(path)
    # Created here with owner-only permissions: SQLite gives its -wal and
    # -shm files the same mode as the database file.
    os.close(open_private(path, os.O_WRONLY))
    with contextlib.closing(_connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in schema:
                conn.execute(statement)
        except BaseException:
            conn.rollback()
            raise
        conn.execute("COMMIT")
    return path


def _connect(path, synchronous=None):
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    if synchronous is not None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS}, got {synchronous!r}")
        conn.execute(f"PRAGMA synchronous={synchronous}")
    return conn


class LocalConnection:
    """One autocommit connection to ``path`` per thread and per process.

    Parameters
    ----------
    path : Path
        A file made by :func:`open_database`.
    synchronous : str or None
        ``PRAGMA synchronous`` for these connections (None: SQLite's default,
        FULL). ``"NORMAL"`` in WAL mode skips the fsync of each commit: a power
        cut may lose the last commits, never corrupt the file.

    A connection is never shared between threads, and a process forked
    after one was opened opens its own (the pid is checked on every call).
    """

    def __init__(self, path, synchronous=None):
        self.path, self.synchronous = Path(path), synchronous
        self._local = threading.local()

    def get(self):
        """This thread's connection, opened on first use (or first use after a fork)."""
        local, pid = self._local, os.getpid()
        conn = getattr(local, "conn", None)
        if conn is None or local.pid != pid:
            if conn is not None:
                _INHERITED.append(conn)
            local.conn, local.pid = None, pid
            local.conn = conn = _connect(self.path, self.synchronous)
        return conn

    def close(self):
        """Close this thread's connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            self._local.conn = None
            conn.close()


@contextlib.contextmanager
def transaction(path, write=False):
    """A connection inside one transaction; committed on success, else rolled back.

    Parameters
    ----------
    path : Path
        A file made by :func:`open_database`.
    write : bool
        Take the write lock at once (``BEGIN IMMEDIATE``); readers use a
        deferred transaction, which sees one consistent snapshot.
    """
    with contextlib.closing(_connect(path)) as conn, disk_full_refused():
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.execute("COMMIT")


@contextlib.contextmanager
def disk_full_refused():
    """SQLite's "database or disk is full" as a DiskFull (HTTP 503); SQLite has rolled
    the transaction back, so nothing of it is kept."""
    try:
        yield
    except sqlite3.Error as exc:
        if is_disk_full(exc):
            raise DiskFull("error.what.account_data") from exc
        raise


class Keeper:
    """One idle connection to a WAL database, held open by this process.

    SQLite deletes the ``-wal`` and ``-shm`` files when the last connection
    closes, and a reader must create them again, which fails on a full disk
    (``SQLITE_IOERR_SHMSIZE``): with short-lived connections every read would
    then fail, and so would opening the file (:func:`open_database`) in a worker
    started then. While one connection stays open they stay, so reads go on:
    every process keeps one (``gridmap serve``'s master too, through the app it
    builds to check the configuration, so workers it starts on a full disk boot).
    :meth:`hold` opens it again in a forked child (the inherited one is kept
    from the collector, never closed).
    """

    def __init__(self, path):
        self.path, self._conn, self._pid = Path(path), None, None
        self.hold()

    def hold(self):
        """Open this process's connection if it has none (one ``getpid`` when it has)."""
        pid = os.getpid()
        if self._pid == pid:
            return
        if self._conn is not None:
            _INHERITED.append(self._conn)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens -wal and -shm
        self._conn, self._pid = conn, pid
