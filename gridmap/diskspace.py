"""Room on the disks of the data folder: a full disk refuses writes, never reads.

A write that meets a full disk (``ENOSPC``, ``EDQUOT``, SQLite's
``SQLITE_FULL``) is a :class:`~gridmap.errors.DiskFull` (HTTP 503), and what
it had written is cut off again. Bookkeeping writes that only note a use
(a session's or an API token's last use) are skipped and logged instead, so
staff can still read.

:class:`DiskWatch` keeps the folders each part of the service writes in; its
:meth:`~DiskWatch.status` (one ``statvfs`` per folder, no write) feeds
``/api/health``, and :meth:`~DiskWatch.check_room` refuses a write request
up front when a disk has less than :data:`MIN_FREE_BYTES` left, so a full
disk stops writes before they start rather than halfway.

A full disk does not stop a worker writing for good (only a failed fsync
does, see :mod:`gridmap.store.geojsonseq`): a ``write`` refused with
``ENOSPC`` changed nothing on disk that is kept, so writing resumes as soon
as there is room again.
"""

import errno
import os
import sqlite3

from gridmap.errors import DiskFull

#: Less room than this (a few requests' writes) counts as full.
MIN_FREE_BYTES = 64 * 1024
FULL_ERRNOS = frozenset((errno.ENOSPC, errno.EDQUOT))


def is_disk_full(exc):
    """Whether ``exc`` (an OSError or a sqlite3.Error) says the disk or quota is full."""
    if isinstance(exc, sqlite3.Error):
        return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_FULL
    return isinstance(exc, OSError) and exc.errno in FULL_ERRNOS


def free_bytes(folder):
    """Bytes an unprivileged process may still write on the disk of ``folder``."""
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


class DiskWatch:
    """The folders the parts of the service write in, and whether each has room.

    Parameters
    ----------
    folders : dict
        Part name (``"store"``, ``"accounts"``) -> the folder it writes in.
    """

    def __init__(self, folders):
        self.folders = dict(folders)

    def status(self):
        """Part name -> ``"ok"`` or ``"disk_full"`` (one ``statvfs`` per folder)."""
        return {name: "ok" if free_bytes(folder) >= MIN_FREE_BYTES else "disk_full"
                for name, folder in self.folders.items()}

    def check_room(self):
        """Raise DiskFull unless every part has room to write."""
        if any(free_bytes(folder) < MIN_FREE_BYTES for folder in self.folders.values()):
            raise DiskFull("error.what.change")
