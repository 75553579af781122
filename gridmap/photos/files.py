"""PhotoStore: clean photos in the data folder, content-addressed and durable.

On disk, under ``DATA_DIR/photos/``::

    .lock                   shared by puts, exclusive for a sweep
    3f/3fa4…c2.jpg          the photo (id = SHA-256 of these bytes, hex)
    3f/3fa4…c2.thumb.jpg    its thumbnail

Files are 0600 and folders 0700. A photo is written to a temporary file,
fsynced, renamed into place and its folder fsynced before :meth:`PhotoStore.save`
returns: save before storing the case that names it, and an acknowledged case
never names a photo a crash lost. Names come from the content only, never from
a client, and an id is checked against ``[0-9a-f]{64}`` before it becomes a
path.

Garbage: a photo saved for a report that then fails (or a crash between the
two writes) names no case. :meth:`PhotoStore.sweep` deletes photos no case
names once they are older than a grace period (and stale temporary files);
saving a photo that is already there refreshes its time, and the lock keeps a
sweep from deleting it under a save.
"""

import contextlib
import fcntl
import logging
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from gridmap.diskspace import is_disk_full
from gridmap.errors import DiskFull, NotFound
from gridmap.photos.images import process
from gridmap.store.base import StoreError
from gridmap.store.snapshot import fsync_dir

log = logging.getLogger(__name__)

FOLDER = "photos"
ID_RE = re.compile(r"[0-9a-f]{64}")
SUFFIX, THUMB_SUFFIX, TMP_SUFFIX = ".jpg", ".thumb.jpg", ".tmp"
SWEEP_GRACE_S = 24 * 3600  #: an unreferenced photo younger than this is kept


@dataclass(frozen=True)
class PhotoRef:
    """What a case keeps of a stored photo."""

    id: str
    width: int
    height: int
    thumb_width: int
    thumb_height: int


class PhotoStore:
    """Photos of one data folder; any number of threads and processes at once.

    Parameters
    ----------
    data_dir : str or Path
        The data folder (it must exist); ``photos/`` is made in it if missing.
    """

    def __init__(self, data_dir):
        data_dir = Path(data_dir)
        self.root = data_dir / FOLDER
        if _mkdir(self.root):
            fsync_dir(data_dir)
        self._lock_path = self.root / ".lock"

    def put(self, data, field="photo"):
        """Process one upload (:func:`~gridmap.photos.images.process`) and save it."""
        return self.save([process(data, field)])[0]

    def put_all(self, uploads, field="photos"):
        """Process every upload, then save them all: one bad upload (named
        ``{field}[i]``) refuses the lot and nothing is written."""
        return self.save([process(data, f"{field}[{i}]") for i, data in enumerate(uploads)])

    def save(self, photos):
        """Store processed photos durably; returns their :class:`PhotoRef` in order.

        Check every upload of a request (``process``) before saving any, so a bad
        one leaves nothing behind. When this returns, every photo survives a crash.

        Raises
        ------
        DiskFull
            No room on the disk (503); the photo being written is not left behind.
        StoreError
            The disk refused a write (500); some photos may be in place, and
            :meth:`sweep` takes them away once no case names them.
        """
        folders = set()
        try:
            with self._locked(fcntl.LOCK_SH):
                for photo in photos:
                    folder = self.root / photo.id[:2]
                    _mkdir(folder)
                    for suffix, data in ((SUFFIX, photo.jpeg), (THUMB_SUFFIX, photo.thumb)):
                        _write_once(folder / f"{photo.id}{suffix}", data)
                    folders.add(folder)
                # also when the files or folders were there: another process may
                # have made them and not yet synced (or died before it could)
                for folder in sorted(folders):
                    fsync_dir(folder)
                if folders:
                    fsync_dir(self.root)
        except OSError as exc:
            if is_disk_full(exc):  # the temporary file is gone again: room brings it back
                log.error("no room to save a photo in %s: %s", self.root, exc)
                raise DiskFull("error.what.photo") from exc
            raise StoreError("error.photos.cannot_save", problem=str(exc)) from exc
        return [PhotoRef(p.id, p.width, p.height, p.thumb_width, p.thumb_height) for p in photos]

    def path(self, photo_id, thumb=False):
        """The file of a stored photo (or its thumbnail).

        Raises
        ------
        NotFound
            ``photo_id`` is no photo id, or no such photo is stored (404).
        """
        if not isinstance(photo_id, str) or not ID_RE.fullmatch(photo_id):
            raise NotFound("error.photos.no_such_photo", photo=repr(str(photo_id)[:80]), field="photo")
        path = self.root / photo_id[:2] / f"{photo_id}{THUMB_SUFFIX if thumb else SUFFIX}"
        if not path.is_file():
            raise NotFound("error.photos.no_such_photo", photo=photo_id, field="photo")
        return path

    def open(self, photo_id, thumb=False):
        """The stored JPEG (or thumbnail) as a binary file object; the caller closes it."""
        path = self.path(photo_id, thumb)
        try:
            return open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")
        except FileNotFoundError as exc:  # swept meanwhile
            raise NotFound("error.photos.no_such_photo", photo=photo_id, field="photo") from exc

    def read(self, photo_id, thumb=False):
        """The stored JPEG (or thumbnail) bytes."""
        with self.open(photo_id, thumb) as f:
            return f.read()

    def ids(self):
        """Ids of all stored photos (sorted)."""
        return sorted(p.name[:-len(SUFFIX)] for p in self.root.glob(f"??/*{SUFFIX}")
                      if ID_RE.fullmatch(p.name[:-len(SUFFIX)]))

    def has_old(self, grace_s=SWEEP_GRACE_S, now=None):
        """Whether any file here is older than ``grace_s``: else a sweep deletes nothing,
        and need not read the cases (a million of them take a while)."""
        cutoff = (time.time() if now is None else now) - grace_s
        return any(path.stat().st_mtime < cutoff
                   for folder in self.root.iterdir() if folder.is_dir()
                   for path in folder.iterdir())

    def sweep(self, referenced, grace_s=SWEEP_GRACE_S, now=None):
        """Delete photos that no case names and that are older than ``grace_s``.

        Parameters
        ----------
        referenced : iterable of str
            Ids every stored case names (read them *before* calling: a case
            stored meanwhile names a photo younger than the grace period).
        grace_s : float
            Keep anything younger, so a request between saving its photos and
            storing its case loses nothing.
        now : float, optional
            The current ``time.time()`` (tests).

        Returns
        -------
        list of str
            The ids deleted.
        """
        keep = set(referenced)
        cutoff = (time.time() if now is None else now) - grace_s
        removed = []
        with self._locked(fcntl.LOCK_EX):
            for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
                changed = False
                for path in sorted(folder.iterdir()):
                    name = path.name
                    photo_id = name.split(".", 1)[0]
                    stale_tmp = name.startswith(".") and name.endswith(TMP_SUFFIX)
                    if not (stale_tmp or (ID_RE.fullmatch(photo_id) and photo_id not in keep)):
                        continue
                    if path.stat().st_mtime >= cutoff:
                        continue
                    path.unlink()
                    changed = True
                    if name.endswith(THUMB_SUFFIX) or stale_tmp:
                        continue
                    removed.append(photo_id)
                if changed:
                    fsync_dir(folder)
        if removed:
            log.info("swept %d photos that no case names", len(removed))
        return removed

    @contextlib.contextmanager
    def _locked(self, mode):
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)


def _mkdir(path):
    """Make a 0700 folder; True if it was made now."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return False
    return True


def _write_once(path, data):
    """Write ``data`` to ``path`` unless there (same name, same bytes): temporary
    file, fsync, rename. The caller fsyncs the folder."""
    try:
        if stat.S_ISREG(os.stat(path).st_mode):
            os.utime(path)  # there already: a sweep must see it as new
            return
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}{TMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with open(fd, "wb") as f:  # closes fd
            f.write(data)
            f.flush()
            os.fsync(fd)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
