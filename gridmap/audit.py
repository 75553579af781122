"""The audit log of privileged actions: append-only JSON Lines.

``DATA_DIR/audit.jsonl`` (:data:`AUDIT_FILE`) holds one JSON object per line::

    {"at": "2025-03-01T09:30:12.345+08:00", "action": "signin", "actor": "alice",
     "role": "dispatcher", "target": null, "detail": null, "ip": "10.0.0.7"}

Writers in any number of processes append under an exclusive ``flock``,
with one ``O_APPEND`` write and an ``fsync`` before :meth:`AuditLog.record`
returns, so lines never interleave and a recorded action survives a crash.
On a full disk the line is cut off again and :class:`~gridmap.errors.DiskFull`
raised (the entry goes to the error log instead).
A line torn by a crash is closed with a newline by the next writer and
skipped by readers. There is no method to change or delete an entry.

``detail`` must never hold passwords, session ids or token secrets: callers
pass only what is safe to show an admin (names, ids, roles, old and new
states). Keys that name secrets (:data:`SECRET_KEYS`) are refused as a
guard against mistakes, not as a filter.
"""

import fcntl
import json
import logging
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from gridmap.diskspace import is_disk_full
from gridmap.errors import BadInput, DiskFull
from gridmap.private_files import open_private

log = logging.getLogger(__name__)

AUDIT_FILE = "audit.jsonl"
CHINA_TZ = timezone(timedelta(hours=8), "CST")

SIGNIN, SIGNIN_FAILED, SIGNOUT = "signin", "signin_failed", "signout"
USER_ADD, USER_DISABLE, USER_ENABLE = "user_add", "user_disable", "user_enable"
PASSWORD_RESET, ROLES_CHANGE, USER_RENAME = "password_reset", "roles_change", "user_rename"
TOKEN_CREATE, TOKEN_REVOKE = "token_create", "token_revoke"
CASE_TRANSITION, CASE_FORWARD = "case_transition", "case_forward"
CASE_PHOTO = "case_photo"  # a photo made public or private
BOUNDARY_PUBLISH, BOUNDARY_ROLLBACK = "boundary_publish", "boundary_rollback"
CATEGORY_ADD, CATEGORY_CHANGE, CALENDAR_CHANGE = "category_add", "category_change", "calendar_change"
#: Every action the log accepts.
ACTIONS = (SIGNIN, SIGNIN_FAILED, SIGNOUT, USER_ADD, USER_DISABLE, USER_ENABLE, PASSWORD_RESET,
           ROLES_CHANGE, USER_RENAME, TOKEN_CREATE, TOKEN_REVOKE, CASE_TRANSITION, CASE_FORWARD, CASE_PHOTO,
           BOUNDARY_PUBLISH, BOUNDARY_ROLLBACK, CATEGORY_ADD, CATEGORY_CHANGE, CALENDAR_CHANGE)
#: ``detail`` keys refused anywhere in the detail, because they name secrets.
SECRET_KEYS = frozenset({"password", "new_password", "password_hash", "secret", "token",
                         "token_secret", "sid", "session", "session_id"})


def _check_detail(value, path="detail"):
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).lower() in SECRET_KEYS:
                raise BadInput("error.audit.secret_in_detail", path=f"{path}.{key}", field="detail")
            _check_detail(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_detail(item, f"{path}[{i}]")


def _as_datetime(value, field="before"):
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise BadInput("error.audit.bad_time_text", value=repr(value)[:60],
                           field=field) from None
    if not isinstance(value, datetime):
        raise BadInput("error.audit.bad_time", value=repr(value)[:60], field=field)
    return value if value.tzinfo else value.replace(tzinfo=CHINA_TZ)


class AuditLog:
    """Append-only audit log in a JSON Lines file shared by processes.

    Parameters
    ----------
    path : str or Path
        Normally ``DATA_DIR/audit.jsonl``; created (mode 0600) on first record.
    clock : callable
        Returns the time in epoch seconds; tests pass a fake one.
    """

    def __init__(self, path, clock=time.time):
        self.path = Path(path)
        self.clock = clock

    def record(self, action, actor, role=None, target=None, detail=None, ip=None):
        """Append one entry and return it once it is on disk.

        Parameters
        ----------
        action : str
            One of :data:`ACTIONS`.
        actor : str
            Who acted: a username, ``"cli:<os user>"``, or for failed sign-ins
            the name tried if it is an account, else ``unknown:`` and a keyed
            digest of it (:func:`gridmap.web.auth.shown_name`).
        role, target, ip : str, optional
            The actor's role, what was acted on (a username, token id, case
            id, grid code), the client address.
        detail : dict, optional
            JSON-ready facts safe to show an admin; never secrets.

        Raises
        ------
        BadInput
            An unknown action, an empty actor, or a secret-named detail key.
        """
        if action not in ACTIONS:
            raise BadInput("error.audit.unknown_action", action=repr(action)[:60],
                           allowed=list(ACTIONS), field="action")
        if not (isinstance(actor, str) and actor):
            raise BadInput("error.audit.bad_actor", value=repr(actor)[:60], field="actor")
        _check_detail(detail)
        at = datetime.fromtimestamp(self.clock(), CHINA_TZ).isoformat(timespec="milliseconds")
        entry = {"at": at, "action": action, "actor": actor, "role": role, "target": target,
                 "detail": detail, "ip": ip}
        data = (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        fd = open_private(self.path, os.O_RDWR | os.O_APPEND)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # a crash tore the last line: close it, keep ours whole
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
                os.ftruncate(fd, size)  # no torn line left behind (we hold the lock)
                log.error("audit entry not written, no room in %s: %s", self.path, entry)
                raise DiskFull("error.what.audit_entry") from exc
            os.fsync(fd)
        finally:
            os.close(fd)  # also releases the lock
        if size == 0:  # a new file: make its directory entry durable too
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        return entry

    def read(self, limit=100, before=None, action=None, actor=None, since=None, offset=0,
             target=None):
        """Entries newest first, at most ``limit``, optionally filtered.

        Parameters
        ----------
        limit : int
            Most entries to return.
        before : str or datetime, optional
            Only entries strictly older (for paging: pass the last ``at`` seen).
        action, actor, target : str, optional
            Only entries with this action / actor / target.
        since : str or datetime, optional
            Only entries at this time or later (with ``before``: a date range).
        offset : int
            Skip this many matching entries first (page ``n`` of ``limit``:
            ``offset=(n - 1) * limit``); exact even when entries share a time.

        Lines that are not JSON objects (a torn last line) are skipped.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise BadInput("error.audit.bad_limit", value=repr(limit)[:60], field="limit")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise BadInput("error.audit.bad_offset", value=repr(offset)[:60], field="offset")
        before = None if before is None else _as_datetime(before)
        since = None if since is None else _as_datetime(since, "since")
        found = []
        if not self.path.exists():
            return found
        for line in self._lines_newest_first():
            try:
                entry = json.loads(line)
                at = datetime.fromisoformat(entry["at"])
            except (ValueError, TypeError, KeyError):
                log.warning("%s: skipping an unreadable line: %.80r", self.path, line)
                continue
            if ((action is not None and entry.get("action") != action)
                    or (actor is not None and entry.get("actor") != actor)
                    or (target is not None and entry.get("target") != target)
                    or (before is not None and at >= before)
                    or (since is not None and at < since)):
                continue
            if offset:
                offset -= 1
                continue
            found.append(entry)
            if len(found) == limit:
                break
        return found

    def _lines_newest_first(self, block=1 << 16):
        """Complete lines from the end backwards; bytes after the last newline are torn."""
        with open(self.path, "rb") as f:
            pos, pending, at_end = os.fstat(f.fileno()).st_size, b"", True
            while pos > 0:
                step = min(block, pos)
                pos -= step
                f.seek(pos)
                parts = (f.read(step) + pending).split(b"\n")
                pending, complete = parts[0], parts[1:]
                if at_end and complete:
                    complete, at_end = complete[:-1], False  # drop the unterminated tail
                yield from (line for line in reversed(complete) if line)
            if pending and not at_end:
                yield pending
