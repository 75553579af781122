"""Files and folders only the service's own user may read: every one it writes.

The data folder holds residents' contacts, password hashes, session and
signing secrets, so each file the service creates is mode 0600 and each
folder 0700, whatever the process's umask and the modes of existing folders.
The modes are asked for at creation (so no moment passes with a wider one)
and, for a file or folder that already existed (made by an older release,
restored from a backup, made by hand), narrowed when the service opens it.
Narrowing only takes away the group's and others' bits: a sealed log
segment keeps its 0400.

Use :func:`open_private` instead of ``os.open(..., O_CREAT)``,
:func:`private_folder` instead of ``mkdir``, and :func:`make_tree_private`
for a data folder at startup. ``tempfile.mkstemp`` and ``mkdtemp`` already
make 0600 files and 0700 folders.
"""

import fcntl
import itertools
import logging
import os
import stat
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

FILE_MODE = 0o600
FOLDER_MODE = 0o700
_OTHERS = 0o077  # the group's and everybody's bits


def _narrow(st, chmod):
    """Take the group's and others' bits away if there are any; True if it did."""
    if st.st_mode & _OTHERS:
        chmod(stat.S_IMODE(st.st_mode) & ~_OTHERS)
        return True
    return False


def open_private(path, flags):
    """``os.open(path, flags | O_CREAT | O_CLOEXEC)`` giving a file only its owner may read.

    A new file is made 0600; an existing one loses any group or other bits.

    Returns
    -------
    int
        The descriptor.
    """
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        _narrow(os.fstat(fd), lambda mode: os.fchmod(fd, mode))
    except BaseException:
        os.close(fd)
        raise
    return fd


def private_folder(path, parents=False):
    """Make the folder ``path`` (0700) if missing, else narrow its mode; return it as a Path.

    With ``parents``, missing parent folders are made 0700 too (existing ones
    are left as they are: they are not the service's).
    """
    path = Path(path)
    if parents and not path.parent.exists():
        private_folder(path.parent, parents=True)
    try:
        os.mkdir(path, FOLDER_MODE)
    except FileExistsError:
        pass
    # os.mkdir's mode also passes the umask, which can only take bits away;
    # an existing folder (or a race with another process) gets narrowed here
    _narrow(os.stat(path), lambda mode: os.chmod(path, mode))
    return path


def make_tree_private(folder):
    """Narrow the mode of ``folder`` and of everything in it that this user owns.

    Symbolic links are not followed. Returns how many modes were narrowed
    (each is logged).
    """
    me = os.geteuid()
    narrowed = 0
    paths = (os.path.join(top, name) for top, folders, files in os.walk(folder)
             for name in folders + files)
    for path in itertools.chain([os.fspath(folder)], paths):
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode) or st.st_uid != me:
                continue
            changed = _narrow(st, lambda mode: os.chmod(path, mode))
        except FileNotFoundError:
            continue  # removed meanwhile by a running process (a compaction's leftovers)
        if changed:
            log.warning("narrowed the mode of %s from %o: only the service's user may read it",
                        path, stat.S_IMODE(st.st_mode))
            narrowed += 1
    return narrowed


@contextmanager
def exclusive_lock(path):
    """Hold an exclusive ``flock`` on the lock file ``path`` (made private if new) across
    processes, for the ``with`` block; closing the descriptor releases it."""
    fd = open_private(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
