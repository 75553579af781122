"""The files of a GeoJSON text-sequence store, and how processes share them.

Layout of the folder::

    cases.geojson            snapshot: a FeatureCollection, replaced whole (temp, fsync, rename)
    cases-000007.geojsons    log segment: RFC 8142 records, 0x1E + Feature JSON + "\\n"
    cases.lock               flock: held by a writer while it reads, checks and appends
    cases.sync               flock + 24 bytes: how far the current segment is known fsynced
    cases.compact.lock       flock: held by a compaction from start to end

The state is the snapshot plus the segments numbered ``next_segment`` (named
in the snapshot's ``gridmap_store`` member) and up; within them the record
with the highest ``version`` of each id wins, so reading a record twice is
harmless. Old segments are garbage, removed by the next compaction.

Segments are made non-empty: the first batch is written to a temporary file,
fsynced and hard-linked into place, so GDAL can open every ``.geojsons`` file
at any moment (it refuses empty ones). A segment is *sealed* by turning off
its write bit (``fchmod 0400``) under the write lock; nobody appends to it
after that, so each process tails its current segment with one ``fstat`` per
poll (size grew? write bit gone?). A process whose next segment is missing
compares the snapshot's inode and mtime, and reloads only if a compaction
passed it by.

A record without its final newline, or unparsable at the very end, is a torn
write of a crashed writer, never acknowledged: readers stop before it, and
the next writer truncates it before appending. Bad lines inside a segment
are logged and skipped.
"""

import contextlib
import fcntl
import logging
import os
import re
import struct
import threading
from pathlib import Path

from gridmap.jsontext import loads
from gridmap.private_files import open_private, private_folder
from gridmap.store.base import StoreError
from gridmap.store.snapshot import (SNAPSHOT, fsync_dir, read_snapshot, snapshot_ident,
                                    snapshot_next, write_snapshot)

log = logging.getLogger(__name__)

RS, NL = b"\x1e", b"\n"
LOCK, COMPACT_LOCK, SYNC = "cases.lock", "cases.compact.lock", "cases.sync"
MARK = struct.Struct("<QQQ")  # in cases.sync: segment number, its inode, bytes fsynced
SEGMENT = re.compile(r"^cases-(\d{6,})\.geojsons$")


def segment_name(number):
    return f"cases-{number:06d}.geojsons"


class SeqLog:
    """One process's view of the files: its place in the log and its locks.

    Not thread-safe: the store serialises calls with its own lock, but for
    :meth:`ensure_durable` with a descriptor, which the store's syncer thread
    calls without it (it touches only that descriptor and the mark, under the
    sync locks).

    Parameters
    ----------
    folder : str or Path
        Created if missing (its parent must exist).
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        try:
            private_folder(self.folder)
            self._open_locks()
        except OSError as exc:
            raise StoreError("error.store.folder_unusable", path=self.folder, problem=str(exc)) from exc
        self.segment, self._fd, self.offset, self._ino = 1, None, 0, None
        self._snap_ident = None
        self._stale = False  # see after_fork()
        self.loader = None  # see load()
        # While apply() runs on records read from a segment: (segment, inode,
        # end offset of the batch), for durable_at(); None for the snapshot.
        self.source = None

    def _open_locks(self):
        # flock does not exclude threads sharing a descriptor: they take this too
        self._sync_thread_lock = threading.Lock()
        # one fsync at a time in this process, so the one that sees a write-back
        # error (reported once per open file) records it before any other returns
        self._fsync_lock = threading.Lock()
        self.failure = None  # the first failed fsync: nothing unsynced is trusted after it
        self._lock_fd = open_private(self.folder / LOCK, os.O_RDWR)
        self._compact_fd = open_private(self.folder / COMPACT_LOCK, os.O_RDWR)
        self._sync_fd = open_private(self.folder / SYNC, os.O_RDWR)
        # the mark's bytes exist before any fsync needs to write it: an fsync that
        # succeeded never fails on a full disk afterwards (zeros mark nothing as synced)
        os.posix_fallocate(self._sync_fd, 0, MARK.size)

    def after_fork(self, stale=False):
        """Reopen the lock files: a forked child must not share its parent's flocks.
        ``stale``: the child's reader may not match what it has read (forked amid a
        write or a load): its next :meth:`poll` loads everything again."""
        for fd in (self._lock_fd, self._compact_fd, self._sync_fd):
            os.close(fd)
        self._open_locks()
        self._stale = stale

    @contextlib.contextmanager
    def locked(self, compaction=False):
        """Hold the write lock (or the compaction lock) of all processes."""
        fd = self._compact_fd if compaction else self._lock_fd
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def compaction_lock_if_free(self):
        """Hold the compaction lock if no process holds it; yields whether it does.
        Not for a process that may be compacting itself (flock locks are shared
        by its threads): the store uses it only while it starts."""
        try:
            fcntl.flock(self._compact_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(self._compact_fd, fcntl.LOCK_UN)

    # -- reading ---------------------------------------------------------------

    def load(self, apply):
        """Read the snapshot and every live segment (at start, or when passed by).

        With :attr:`loader` set (the store sets it), the snapshot is read by
        ``loader.load_base()``, which returns ``(next_segment, ident)``, and
        ``loader.loaded()`` is called once the segments are read too."""
        if not (self.folder / SNAPSHOT).exists():
            with self.locked():
                if not (self.folder / SNAPSHOT).exists():
                    if any(SEGMENT.match(p.name) for p in self.folder.iterdir()):
                        raise StoreError("error.store.snapshot_missing", path=self.folder / SNAPSHOT)
                    write_snapshot(self.folder, [], 1)
        self._close_segment()
        if self.loader is None:
            self.segment, self._snap_ident = read_snapshot(self.folder, apply)
        else:
            self.segment, self._snap_ident = self.loader.load_base()  # drops its work if it fails
        # A compaction between here and poll() shows as a missing segment
        # and a changed snapshot: poll() then loads again.
        try:
            self.poll(apply)
        finally:  # even after a failure: what was applied is what this log has read
            if self.loader is not None:
                self.loader.loaded()

    def poll(self, apply, locked=False):
        """Apply records appended since the last poll; cheap when there are none.

        With ``locked`` (the caller holds the write lock) a torn tail is cut off.
        """
        if self._stale:
            self._stale = False
            return self.load(apply)
        while True:
            if self._fd is None:
                self._fd = self._open_segment(self.segment)
                if self._fd is not None:
                    self._ino = os.fstat(self._fd).st_ino
                if self._fd is None:
                    ident = snapshot_ident(self.folder)
                    if ident != self._snap_ident:
                        if snapshot_next(self.folder) > self.segment:
                            log.info("a compaction passed %s by: reloading", self.folder)
                            return self.load(apply)
                        self._snap_ident = ident
                    return
                self.offset = 0
            st = os.fstat(self._fd)
            sealed = not self._writable(st)
            if st.st_size > self.offset:
                self._read_new(apply, st.st_size, final=sealed)
                if locked and not sealed and st.st_size > self.offset:
                    log.warning("%s: cutting off %d bytes of a torn record at offset %d",
                                segment_name(self.segment), st.st_size - self.offset, self.offset)
                    self._truncate(self.offset)
            if not sealed:
                return
            self._next_segment()

    def _read_new(self, apply, size, final):
        """Apply the complete records in [offset, size); stop before a torn tail
        unless ``final`` (a sealed segment: whatever is left is skipped)."""
        data = os.pread(self._fd, size - self.offset, self.offset)
        records, bad, consumed, pos = [], [], 0, 0
        while (end := data.find(NL, pos)) >= 0:
            start, pos = pos, end + 1
            line = data[start:end].lstrip(RS + b" \t\r")
            if not line:
                consumed = consumed if bad else pos
                continue
            try:
                text = line.decode("utf-8")
                rec = loads(line)
                if not isinstance(rec, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                bad.append((self.offset + start, exc))
                continue
            self._log_bad(bad)
            bad = []
            records.append((rec, text))
            consumed = pos
        if final:
            self._log_bad(bad)
            if pos < len(data):
                self._log_bad([(self.offset + pos, "no final newline")])
            consumed = len(data)
        if records:
            self.source = (self.segment, self._ino, self.offset + consumed)
            try:
                apply(records)
            finally:
                self.source = None
        self.offset += consumed

    def _log_bad(self, bad):
        for at, exc in bad:
            log.error("%s: skipping a bad record at offset %d: %s", segment_name(self.segment), at, exc)

    # -- writing (under the write lock, after poll(locked=True)) ----------------

    def append(self, data):
        """Append whole records; a new segment is written aside and linked in."""
        if self._fd is None:
            path = self.folder / segment_name(self.segment)
            tmp = self.folder / f".{path.name}.{os.getpid()}.tmp"
            fd = open_private(tmp, os.O_RDWR | os.O_APPEND | os.O_TRUNC)
            try:
                _write_all(fd, data)
                os.fsync(fd)
                os.link(tmp, path)
            except BaseException:
                os.close(fd)
                raise
            finally:
                os.unlink(tmp)
            fsync_dir(self.folder)
            self._fd, self.offset, self._ino = fd, len(data), os.fstat(fd).st_ino
            return
        written = [0]
        try:
            _write_all(self._fd, data, written)
        except BaseException:
            # Cut only the torn last record: whole records of the batch stay (never
            # acknowledged, but others may have read them; a retry finds them by key).
            self._truncate(self.offset + data.rfind(NL, 0, written[0]) + 1)
            raise
        self.offset += len(data)

    def _truncate(self, size):
        """Cut a torn record off the segment at ``size`` (under the write lock), and the
        mark with it: no process has read the cut bytes, nor synced them for anyone."""
        with self._fsync_lock, self._sync_locked():
            os.ftruncate(self._fd, size)
            mark = self._read_mark()
            if mark is not None and mark[:2] == (self.segment, self._ino) and mark[2] > size:
                os.pwrite(self._sync_fd, MARK.pack(self.segment, self._ino, size), 0)

    def sync(self):
        """Make the current segment durable up to this process's offset.

        Runs after the write lock is let go. Whoever syncs notes in
        ``cases.sync`` how far its own bytes reach (its offset: whole records
        only, which are never cut off, unlike a torn tail); a process whose
        bytes lie below that mark was covered by someone else's fsync and
        returns at once. Fsyncs of different processes run at once, so the
        kernel commits them together; within a process they take turns.
        """
        self.ensure_durable(*self.where())

    def where(self):
        """(segment, inode, offset): the end of what this process has read or written."""
        return self.segment, self._ino, self.offset

    def descriptor(self):
        """A duplicate of the current segment's descriptor, for :meth:`ensure_durable`
        without the store's lock (a compaction may close the original meanwhile);
        the caller closes it."""
        return os.dup(self._fd)

    def ensure_durable(self, segment, ino, end, fd=None):
        """Make sure bytes up to ``end`` of ``segment`` (inode ``ino``) are on disk.

        For answering with a record another process appended (or whose own
        fsync failed or was deferred): it may not be fsynced yet. Cheap when
        the mark in ``cases.sync`` covers it, or names a later segment (a
        segment is fsynced when it is sealed, before the next one starts).
        ``fd``, from :meth:`descriptor`, lets a thread that does not hold the
        store's lock sync the segment.

        Raises OSError if an fsync fails, now or earlier in this process
        (:attr:`failure`): after that only what the mark covers is trusted.
        """
        with self._fsync_lock:
            if self._mark_covers(segment, ino, end):
                return
            if self.failure is not None:
                raise OSError(self.failure.errno, f"an earlier fsync failed: {self.failure}")
            if fd is None and self._fd is not None and (segment, ino) == (self.segment, self._ino):
                fd = self._fd
            if fd is not None:
                try:
                    datasync(fd)
                except OSError as exc:
                    self.failure = exc
                    raise
                with self._sync_locked():  # raise the mark, never lower it
                    if not self._mark_covers(segment, ino, end, locked=True):
                        os.pwrite(self._sync_fd, MARK.pack(segment, ino, end), 0)
                return
        # An older segment: sealed (and fsynced by the sealer, which may still
        # be at it), or gone into a snapshot (fsynced before it was removed).
        try:
            fd = os.open(self.folder / segment_name(segment), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            if os.fstat(fd).st_ino == ino:
                os.fsync(fd)
        except OSError as exc:
            self.failure = self.failure or exc
            raise
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _sync_locked(self):
        with self._sync_thread_lock:
            fcntl.flock(self._sync_fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._sync_fd, fcntl.LOCK_UN)

    def _mark_covers(self, segment, ino, end, locked=False):
        """Whether the mark says bytes up to ``end`` of ``segment`` are on disk."""
        if not locked:
            with self._sync_locked():
                return self._mark_covers(segment, ino, end, locked=True)
        mark = self._read_mark()
        if mark is None:
            return False
        mark_segment, mark_ino, size = mark
        return mark_segment > segment or ((mark_segment, mark_ino) == (segment, ino)
                                          and size >= end)

    def _read_mark(self):
        """(segment, inode, size) from ``cases.sync``, or None before any fsync."""
        data = os.pread(self._sync_fd, MARK.size, 0)
        return MARK.unpack(data) if len(data) == MARK.size else None

    def seal(self):
        """Seal the current segment; returns its number, or None if it has no records."""
        if self._fd is None:
            return None
        os.fchmod(self._fd, 0o400)
        os.fsync(self._fd)
        number = self.segment
        self._next_segment()
        return number

    def remove_before(self, next_segment):
        """Delete segments below ``next_segment`` and snapshot temporaries
        (under the compaction lock)."""
        for path in self.folder.iterdir():
            match = SEGMENT.match(path.name)
            if (match and int(match[1]) < next_segment) or (
                    path.name.startswith((f".{SNAPSHOT}.", ".cases.index."))
                    and path.name.endswith(".tmp")):
                path.unlink(missing_ok=True)
        fsync_dir(self.folder)

    def remove_segment_temps(self):
        """Delete segment temporaries left by crashed writers (under the write lock)."""
        for path in self.folder.glob(".cases-*.geojsons.*.tmp"):
            path.unlink(missing_ok=True)

    def current_size(self):
        """Bytes in the current segment as far as this process has read."""
        return self.offset if self._fd is not None else 0

    def close(self):
        self._close_segment()
        for fd in (self._lock_fd, self._compact_fd, self._sync_fd):
            os.close(fd)

    # -- helpers ---------------------------------------------------------------

    @staticmethod
    def _writable(st):
        return bool(st.st_mode & 0o200)

    def _next_segment(self):
        self._close_segment()
        self.segment += 1

    def _close_segment(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd, self.offset = None, 0

    def _open_segment(self, number):
        """A descriptor on segment ``number`` (appending if it may be written), or None."""
        path = self.folder / segment_name(number)
        try:
            return os.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        except PermissionError:
            return os.open(path, os.O_RDONLY | os.O_CLOEXEC)  # sealed
        except FileNotFoundError:
            return None

def datasync(fd):
    """fdatasync where there is one: data and the size, without the mtime (POSIX
    counts the size as needed to read the data back, so an append is durable)."""
    getattr(os, "fdatasync", os.fsync)(fd)


def _write_all(fd, data, written=None):
    """Write all of ``data``; ``written[0]`` counts the bytes written, also on failure."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
        if written is not None:
            written[0] += n
