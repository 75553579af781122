"""Rate-limit buckets in a file every worker process maps into memory.

A bucket is one number, its *theoretical arrival time* (``tat``, see
:mod:`gridmap.auth.throttle`). The file is a header and its slots, each
(16-byte keyed BLAKE2b digest of the key, ``tat`` as a double). A key lives
in one of :data:`PROBE` slots from the one its digest points at; a slot whose
``tat`` has passed holds an empty bucket, so it is free for any key, and the
table never needs pruning. Should all the slots of a key be taken by buckets
still filling, the one nearest to empty is given up: that key gets a fresh
burst, which is the only way the table errs, and always towards letting a
hit through. The digest is keyed with a random salt kept in the header, so
nobody can choose keys that crowd out another key's slots; by chance it takes
tens of thousands of keys hitting within one window.

A hit reads and writes its slots under a POSIX record lock on the file and,
for the threads of a process, a thread lock: two system calls and no
database. Record locks belong to a process, and closing any descriptor of
the file drops them all, so each process opens the file once
(:meth:`Buckets._table`, again after a fork, never closing what it inherited) and
every :class:`Buckets` of that file shares it. The file is fully allocated
before it is mapped (a write to a hole in a mapping on a full disk would kill
the process) and not fsynced: a power cut may forget the last hits, which
only lets a few more through. Its name carries the layout
(``throttle-v2-65536.buckets``), so releases with another layout never map
one file differently.
"""

import fcntl
import hashlib
import mmap
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

from gridmap.private_files import open_private

MAGIC = b"GMBUCKET"
VERSION = 2
SLOTS = 1 << 16  # 1.5 MiB
PROBE = 8
_HEADER = struct.Struct("<8sII16s")  # magic, version, slots, salt
_HEADER_SIZE = 64
_SLOT = struct.Struct("<16sd")


@dataclass
class _Table:
    fd: int
    map: mmap.mmap
    salt: bytes
    lock: threading.Lock


_tables = {}  # (resolved path, slots) -> this process's _Table
_tables_lock = threading.Lock()


def _forget_after_fork():
    """In a forked child: open the files afresh (own record locks, unheld thread
    locks); what the parent opened stays open, as closing it would drop locks."""
    global _tables, _tables_lock
    _tables, _tables_lock = {}, threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


class Buckets:
    """GCRA buckets shared by every process mapping the same file.

    Parameters
    ----------
    folder : str or Path
        Where the file lives (it must exist); the file is created on first use.
    stem : str
        The start of the file's name, e.g. ``"throttle"``.
    slots : int
        How many buckets the file holds (part of its name).
    """

    def __init__(self, folder, stem, slots=SLOTS):
        self.path = Path(folder) / f"{stem}-v{VERSION}-{slots}.buckets"
        self._slots = slots
        self._key = (self.path.resolve(), slots)
        self._table()

    def take(self, key, now, step, room):
        """Add ``step`` seconds to the bucket of ``key`` if it stays within ``room``
        seconds of ``now``; returns ``(allowed, tat)``, the bucket's time after."""
        table = self._table()
        digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16,
                                 key=table.salt).digest()
        first = int.from_bytes(digest[:8], "little")
        with table.lock:
            fcntl.lockf(table.fd, fcntl.LOCK_EX)
            try:
                slot, tat = self._find(table.map, digest, first, now)
                new = max(tat, now) + step
                if new - now > room:
                    return False, tat
                _SLOT.pack_into(table.map, slot, digest, new)
                return True, new
            finally:
                fcntl.lockf(table.fd, fcntl.LOCK_UN)

    def _find(self, data, digest, first, now):
        """(offset, tat) of the key's slot; an empty bucket in a free (or the
        nearest-to-empty) slot if it has none."""
        free = nearest = None
        for i in range(PROBE):
            at = _HEADER_SIZE + (first + i) % self._slots * _SLOT.size
            held, tat = _SLOT.unpack_from(data, at)
            if held == digest:
                return at, tat
            if tat <= now:
                free = at if free is None else free
            elif nearest is None or tat < nearest[1]:
                nearest = (at, tat)
        return (nearest[0] if free is None else free), now

    def _table(self):
        """This process's open table of the file (opened now if need be)."""
        table = _tables.get(self._key)
        if table is not None:
            return table
        with _tables_lock:
            table = _tables.get(self._key)
            if table is None:
                _tables[self._key] = table = _open(self.path, self._slots)
            return table


def _open(path, slots):
    size = _HEADER_SIZE + slots * _SLOT.size
    fd = open_private(path, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        try:
            os.posix_fallocate(fd, 0, size)  # OSError (ENOSPC) now, not SIGBUS later
            magic, version, count, salt = _HEADER.unpack(os.pread(fd, _HEADER.size, 0))
            if (magic, version, count) != (MAGIC, VERSION, slots):  # new, or not ours
                salt = os.urandom(16)
                empty = bytes(size - _HEADER_SIZE)
                if os.pwrite(fd, empty, _HEADER_SIZE) != len(empty):
                    raise OSError(f"short write to {path}")
                os.pwrite(fd, _HEADER.pack(MAGIC, VERSION, slots, salt), 0)
            data = mmap.mmap(fd, size)
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN)
    except BaseException:
        os.close(fd)  # nothing of ours is locked through this file yet
        raise
    return _Table(fd, data, salt, threading.Lock())
