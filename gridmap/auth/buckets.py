"""Rate-limit buckets in a file every worker process maps into memory.

A bucket is one number, its *theoretical arrival time* (``tat``, see
:mod:`gridmap.auth.throttle`). The file is a header and :data:`SLOTS` slots
of (16-byte BLAKE2b digest of the key, ``tat`` as a double). A key lives in
one of :data:`PROBE` slots from the one its digest points at; a slot whose
``tat`` has passed holds an empty bucket, so it is free for any key, and the
table never needs pruning. Should all the slots of a key be taken by buckets
still filling (tens of thousands of keys hit within one window), the one
nearest to empty is given up: that key gets a fresh burst, which is the only
way the table errs, and always towards letting a hit through.

A hit reads and writes its slots under a POSIX record lock on the file (one
owner per process; forked children take their own) and, for the threads of a
process, a thread lock per file: two system calls and no database. The file is not
fsynced: a power cut may forget the last hits, which only lets a few more
through. Its name carries the layout (``...-v1-65536.buckets``), so releases
with another layout never map one file differently.
"""

import fcntl
import hashlib
import mmap
import os
import struct
import threading
from pathlib import Path

MAGIC = b"GMBUCKET"
VERSION = 1
SLOTS = 1 << 16  # 1.5 MiB
PROBE = 8
_HEADER = struct.Struct("<8sII")  # magic, version, slots
_HEADER_SIZE = 64
_SLOT = struct.Struct("<16sd")


_path_locks = {}  # one thread lock per file: record locks do not tell a process's threads apart
_path_locks_lock = threading.Lock()


def bucket_file(folder, stem, slots=SLOTS):
    """The path of the buckets file named ``stem`` in ``folder``."""
    return Path(folder) / f"{stem}-v{VERSION}-{slots}.buckets"


class Buckets:
    """GCRA buckets shared by every process mapping the same file.

    Parameters
    ----------
    path : str or Path
        The file (see :func:`bucket_file`); created on first use, its folder
        must exist.
    slots : int
        How many buckets the file holds.
    """

    def __init__(self, path, slots=SLOTS):
        self.path = Path(path)
        self._slots = slots
        with _path_locks_lock:
            self._lock = _path_locks.setdefault(self.path.resolve(), threading.Lock())
        size = _HEADER_SIZE + slots * _SLOT.size
        header = _HEADER.pack(MAGIC, VERSION, slots)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX)
            try:
                if os.fstat(fd).st_size < size:  # new (never shrink: others may map it)
                    os.ftruncate(fd, size)
                if os.pread(fd, _HEADER.size, 0) != header:  # new, or not ours: start empty
                    os.pwrite(fd, bytes(size - _HEADER_SIZE), _HEADER_SIZE)
                    os.pwrite(fd, header, 0)
                self._map = mmap.mmap(fd, size)
            finally:
                fcntl.lockf(fd, fcntl.LOCK_UN)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def take(self, key, now, step, room):
        """Add ``step`` seconds to the bucket of ``key`` if it stays within ``room``
        seconds of ``now``; returns ``(allowed, tat)``, the bucket's time after."""
        digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        first = int.from_bytes(digest[:8], "little")
        with self._lock:
            fcntl.lockf(self._fd, fcntl.LOCK_EX)
            try:
                slot, tat = self._find(digest, first, now)
                new = max(tat, now) + step
                if new - now > room:
                    return False, tat
                _SLOT.pack_into(self._map, slot, digest, new)
                return True, new
            finally:
                fcntl.lockf(self._fd, fcntl.LOCK_UN)

    def _find(self, digest, first, now):
        """(offset, tat) of the key's slot; an empty bucket in a free (or the
        nearest-to-empty) slot if it has none."""
        free = nearest = None
        for i in range(PROBE):
            at = _HEADER_SIZE + (first + i) % self._slots * _SLOT.size
            held, tat = _SLOT.unpack_from(self._map, at)
            if held == digest:
                return at, tat
            if tat <= now:
                free = at if free is None else free
            elif nearest is None or tat < nearest[1]:
                nearest = (at, tat)
        return (nearest[0] if free is None else free), now

    def close(self):
        self._map.close()
        os.close(self._fd)
