"""Sessions and API tokens: the credentials an :class:`AccountStore` hands out.

Both are 256-bit random strings shown to their holder once; the store keeps
only their SHA-256, and looks them up by that hash (a lookup by a hash of a
secret reveals nothing through its timing). Every lookup re-reads the user,
so a disabled user's session or token stops working at once.

Session lifetime: a session ends when signed out, after ``idle_timeout_s``
without use, or ``max_age_s`` after sign-in however active. ``last_seen`` is
written at most once a minute, so idle time is measured to within a minute.
Noting a use (``last_seen``, a token's ``last_used_at``) is bookkeeping: when
it cannot be written (a full disk) it is skipped and logged, and the request
goes on.
"""

import hashlib
import logging
import secrets
import sqlite3

from gridmap.auth.users import User, check_label, iso_time
from gridmap.errors import DiskFull, Forbidden, NotFound

log = logging.getLogger(__name__)

TOKEN_PREFIX = "gm_"
TOUCH_EVERY_S = 60

CREDENTIAL_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS sessions (
        sid_hash TEXT PRIMARY KEY, username TEXT NOT NULL,
        created_at REAL NOT NULL, last_seen REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (username)",
    """CREATE TABLE IF NOT EXISTS tokens (
        id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL UNIQUE, username TEXT NOT NULL,
        name TEXT NOT NULL, created_at REAL NOT NULL, last_used_at REAL, revoked_at REAL)""",
)


def sha256_hex(text):
    """Hex SHA-256 of ``text`` (UTF-8)."""
    return hashlib.sha256(text.encode()).hexdigest()


class CredentialsMixin:
    """Sessions and tokens; mixed into ``AccountStore``, which provides
    ``path``, ``clock``, ``idle_timeout_s``, ``max_age_s`` and ``_tx``."""

    def _enabled_user(self, db, username):
        row = db.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
        if row is None:
            raise NotFound("error.users.no_such_user", username=repr(username), field="username")
        if not row["enabled"]:
            raise Forbidden("error.users.user_disabled", username=repr(username), field="username")
        return row

    # -- sessions ----------------------------------------------------------

    def create_session(self, username):
        """Start a session for an enabled user; return its id (shown once, stored hashed).

        Also deletes sessions that have expired, of any user.
        """
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        with self._tx(write=True) as db:
            self._enabled_user(db, username)
            db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", (sha256_hex(sid), username, now, now))
            db.execute("DELETE FROM sessions WHERE last_seen < ? OR created_at < ?",
                       (now - self.idle_timeout_s, now - self.max_age_s))
        return sid

    def user_for_session(self, sid):
        """The user of a live session, or None if it ended, expired or its user is disabled."""
        if not isinstance(sid, str) or not sid:
            return None
        now, sid_hash = self.clock(), sha256_hex(sid)
        with self._tx() as db:
            row = db.execute("SELECT s.created_at AS s_created, s.last_seen, u.* FROM sessions s "
                             "JOIN users u USING (username) WHERE s.sid_hash = ?",
                             (sid_hash,)).fetchone()
        if row is None:
            return None
        if now - row["last_seen"] > self.idle_timeout_s or now - row["s_created"] > self.max_age_s:
            self._bookkeep("ending an expired session", "DELETE FROM sessions WHERE sid_hash = ?",
                           (sid_hash,))
            return None
        if not row["enabled"]:
            return None
        if now - row["last_seen"] >= TOUCH_EVERY_S:
            self._bookkeep("noting a session's use", "UPDATE sessions SET last_seen = ? "
                           "WHERE sid_hash = ?", (now, sid_hash))
        return User.from_row(row)

    def end_session(self, sid):
        """End one session (sign-out); return whether it existed."""
        if not isinstance(sid, str):
            return False
        with self._tx(write=True) as db:
            return db.execute("DELETE FROM sessions WHERE sid_hash = ?",
                              (sha256_hex(sid),)).rowcount > 0

    def end_user_sessions(self, username):
        """End every session of ``username``; return how many there were."""
        with self._tx(write=True) as db:
            return db.execute("DELETE FROM sessions WHERE username = ?", (username,)).rowcount

    # -- API tokens --------------------------------------------------------

    def create_token(self, username, name):
        """Create an API token for an enabled user.

        Parameters
        ----------
        username : str
        name : str
            What the token is for (1-64 characters), shown in listings.

        Returns
        -------
        (token_id, secret) : (str, str)
            ``secret`` is ``"gm_"`` + 43 URL-safe characters; it is stored only
            as its SHA-256 and cannot be shown again.
        """
        name = check_label(name, "name", required=True)
        token_id, secret = secrets.token_hex(8), TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._tx(write=True) as db:
            self._enabled_user(db, username)
            db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?, ?, NULL, NULL)",
                       (token_id, sha256_hex(secret), username, name, self.clock()))
        return token_id, secret

    def list_tokens(self, username=None):
        """Tokens (revoked ones too) as dicts without secrets, oldest first.

        Keys: ``id``, ``username``, ``name``, ``created_at``, ``last_used_at``,
        ``revoked_at`` (ISO 8601 or None).
        """
        sql, params = "SELECT * FROM tokens", ()
        if username is not None:
            sql, params = sql + " WHERE username = ?", (username,)
        with self._tx() as db:
            rows = db.execute(sql + " ORDER BY created_at, id", params).fetchall()
        return [_token_dict(r) for r in rows]

    def revoke_token(self, token_id):
        """Revoke a token and return its dict; revoking twice keeps the first time.

        Raises
        ------
        NotFound
            No token has this id.
        """
        with self._tx(write=True) as db:
            db.execute("UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                       (self.clock(), token_id))
            row = db.execute("SELECT * FROM tokens WHERE id = ?", (token_id,)).fetchone()
        if row is None:
            raise NotFound("error.users.no_such_token", token=repr(token_id), field="token_id")
        return _token_dict(row)

    def user_for_token(self, secret):
        """The enabled user owning a live token, or None (unknown, revoked, user disabled)."""
        if not isinstance(secret, str) or not secret.startswith(TOKEN_PREFIX):
            return None
        now, secret_hash = self.clock(), sha256_hex(secret)
        with self._tx() as db:
            row = db.execute("SELECT t.id AS token_id, t.last_used_at, u.* FROM tokens t "
                             "JOIN users u USING (username) "
                             "WHERE t.secret_hash = ? AND t.revoked_at IS NULL",
                             (secret_hash,)).fetchone()
        if row is None or not row["enabled"]:
            return None
        if row["last_used_at"] is None or now - row["last_used_at"] >= TOUCH_EVERY_S:
            self._bookkeep("noting an API token's use", "UPDATE tokens SET last_used_at = ? "
                           "WHERE id = ?", (now, row["token_id"]))
        return User.from_row(row)

    def _bookkeep(self, what, sql, params):
        """A write that only notes a use: skipped and logged when it cannot be done (a full
        disk, a lock held too long), so that the request it serves (maybe a read) goes on."""
        try:
            with self._tx(write=True) as db:
                db.execute(sql, params)
        except (DiskFull, sqlite3.OperationalError) as exc:
            log.warning("%s skipped: %s", what, exc.__cause__ or exc)


def _token_dict(row):
    return {"id": row["id"], "username": row["username"], "name": row["name"],
            "created_at": iso_time(row["created_at"]), "last_used_at": iso_time(row["last_used_at"]),
            "revoked_at": iso_time(row["revoked_at"])}
