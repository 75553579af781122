"""Staff accounts in SQLite: users and password checks, plus the sessions and
API tokens of :mod:`gridmap.auth.credentials`.

Passwords are hashed with scrypt through ``werkzeug.security`` (a library
Flask depends on, not Flask itself), method :data:`HASH_METHOD`: N=2**15,
r=8, p=1, a 16-character random salt, 32 MiB and some tens of milliseconds
per check. A stored hash with other parameters is upgraded at the next
successful sign-in.

Disabling a user ends their sessions and revokes their API tokens; enabling
them again restores password sign-in only. Resetting a password ends the
user's sessions, and the browsers they signed in on stop counting as known
devices (:meth:`AccountStore.password_stamp`); their tokens keep working.

No change leaves the accounts without an enabled admin once there is one:
disabling the last enabled admin, or taking the admin role from them, is a
:class:`LastAdmin` conflict, decided inside the write transaction so two
admins disabling each other at once cannot both succeed.
"""

import hashlib
import sqlite3
import time

from werkzeug.security import check_password_hash, generate_password_hash

from gridmap.auth.credentials import CREDENTIAL_SCHEMA, CredentialsMixin
from gridmap.auth.database import Keeper, open_database, transaction
from gridmap.auth.roles import GRID_STAFF, check_grid_codes, check_roles
from gridmap.auth.users import User, check_label, check_password, check_username
from gridmap.errors import Conflict, NotFound

#: File name of the account store in the data folder.
ACCOUNTS_FILE = "accounts.sqlite3"
#: werkzeug method string: scrypt, N=32768, r=8, p=1 (werkzeug 3.1's default, pinned here).
HASH_METHOD = "scrypt:32768:8:1"

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS users (
        username TEXT PRIMARY KEY, display_name TEXT NOT NULL, password_hash TEXT NOT NULL,
        roles TEXT NOT NULL, grid_codes TEXT NOT NULL, enabled INTEGER NOT NULL,
        person_id TEXT, created_at REAL NOT NULL)""",
    *CREDENTIAL_SCHEMA,
)


#: A hash of a discarded random password (same method), checked when the
#: username is unknown so that the answer takes as long as for a real user.
DUMMY_HASH = ("scrypt:32768:8:1$dofp2PS214LwHCOA$260a08178d4d98d29045a69187afbd952dbff950b64229f2"
              "5eaf88da65607e27f0ed26aa3bec6bbcdb96862ec6a8d74dacefaba0d5ef1f5e887389db0e0c0977")


#: SQL: the row is an enabled account holding the admin role (roles are space-separated).
ENABLED_ADMIN = "enabled = 1 AND ' ' || roles || ' ' LIKE '% admin %'"


class LastAdmin(Conflict):
    """A change that would leave no enabled admin (HTTP 409); nothing is changed."""

    code = "last_admin"


def _no_user(username):
    return NotFound("error.users.no_such_user", username=repr(username), field="username")


def _keep_an_admin(db, username, was_admin):
    """Raise LastAdmin (rolling the transaction back) if ``username`` was an enabled admin
    and, after this transaction's change, no enabled admin is left."""
    if was_admin and not db.execute(f"SELECT 1 FROM users WHERE {ENABLED_ADMIN} LIMIT 1").fetchone():
        raise LastAdmin("error.users.last_admin", username=username, field="roles")


class AccountStore(CredentialsMixin):
    """Users, sessions and API tokens in one SQLite file.

    Safe to share between threads and between processes: every call opens
    its own short-lived connection (see :mod:`gridmap.auth.database`).

    Parameters
    ----------
    path : str or Path
        The database file, normally ``DATA_DIR/accounts.sqlite3``
        (:data:`ACCOUNTS_FILE`); its folder must exist. Created on first use.
    idle_timeout_s : float
        A session unused this long has ended (default 8 hours).
    max_age_s : float
        A session ends this long after sign-in however active (default 7 days).
    clock : callable
        Returns the time in epoch seconds; tests pass a fake one.
    """

    def __init__(self, path, idle_timeout_s=8 * 3600, max_age_s=7 * 86400, clock=time.time):
        self.path = open_database(path, SCHEMA)
        self._keeper = Keeper(self.path)  # reads go on when the disk is full
        self.idle_timeout_s = idle_timeout_s
        self.max_age_s = max_age_s
        self.clock = clock

    def _tx(self, write=False):
        self._keeper.hold()
        return transaction(self.path, write=write)

    def add_user(self, username, password, roles, grid_codes=(), display_name="", person_id=None):
        """Create an enabled user and return it.

        Parameters
        ----------
        username : str
            3-32 characters of ``a-z 0-9 _ . -``.
        password : str
            10-1024 characters, not all one character.
        roles : iterable of str
            One or more of :data:`gridmap.auth.roles.ROLES`.
        grid_codes : iterable of str
            15-digit codes: one or more with ``grid_staff``, none without it.
            Whether they exist in the data folder is the caller's check
            (:func:`gridmap.auth.roles.check_grid_codes` with ``known``).
        display_name, person_id : str, optional
            A name to show and the person's id in ``teams.json``.

        Raises
        ------
        BadInput
            A bad value, named in the message; nothing is stored.
        Conflict
            The username is taken.
        """
        check_username(username)
        check_password(password)
        roles = check_roles(roles)
        grid_codes = check_grid_codes(roles, grid_codes)
        display_name = check_label(display_name, "display_name")
        person_id = check_label(person_id, "person_id") or None
        if self.get_user(username) is not None:  # fail fast; the insert below decides races
            raise self._taken(username)
        pw_hash = generate_password_hash(password, method=HASH_METHOD)
        try:
            with self._tx(write=True) as db:
                db.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
                           (username, display_name, pw_hash, " ".join(sorted(roles)),
                            " ".join(sorted(grid_codes)), person_id, self.clock()))
        except sqlite3.IntegrityError:
            raise self._taken(username) from None
        return self.get_user(username)

    @staticmethod
    def _taken(username):
        return Conflict("error.users.username_taken", username=repr(username), field="username")

    def get_user(self, username):
        """The user called ``username``, or None."""
        with self._tx() as db:
            row = db.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
        return None if row is None else User.from_row(row)

    def list_users(self):
        """All users, sorted by username."""
        with self._tx() as db:
            return [User.from_row(r) for r in db.execute("SELECT * FROM users ORDER BY username")]

    def _update_user(self, username, assignments, params=(), end_sessions=False,
                     revoke_tokens=False):
        with self._tx(write=True) as db:
            self._change_row(db, username, assignments, params)
            if end_sessions:
                db.execute("DELETE FROM sessions WHERE username = ?", (username,))
            if revoke_tokens:
                db.execute("UPDATE tokens SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL",
                           (self.clock(), username))
        return self.get_user(username)

    @staticmethod
    def _change_row(db, username, assignments, params=()):
        """Update one user's row inside ``db``'s transaction: the row as it was (404 unknown;
        LastAdmin if the change leaves no enabled admin)."""
        row = db.execute("SELECT *, " + ENABLED_ADMIN + " AS was_admin FROM users "
                         "WHERE username = ?", (username,)).fetchone()
        if row is None:
            raise _no_user(username)
        db.execute(f"UPDATE users SET {assignments} WHERE username = ?", (*params, username))
        _keep_an_admin(db, username, row["was_admin"])
        return row

    def disable_user(self, username):
        """Stop ``username`` signing in; end their sessions and revoke their tokens.

        Raises LastAdmin for the last enabled admin (nothing changes)."""
        return self._update_user(username, "enabled = 0", end_sessions=True, revoke_tokens=True)

    def enable_user(self, username):
        """Let ``username`` sign in again (ended sessions and revoked tokens stay so)."""
        return self._update_user(username, "enabled = 1")

    def reset_password(self, username, new_password):
        """Set a new password for ``username`` and end their sessions (tokens keep working).

        Their known devices are forgotten with the old password (:meth:`password_stamp`)."""
        check_password(new_password)
        if self.get_user(username) is None:  # fail before spending a hash
            raise _no_user(username)
        pw_hash = generate_password_hash(new_password, method=HASH_METHOD)
        return self._update_user(username, "password_hash = ?", (pw_hash,), end_sessions=True)

    def set_roles(self, username, roles, grid_codes=()):
        """Replace the roles and grid codes of ``username`` (checked as in :meth:`add_user`).

        Takes effect on the user's next request: sessions re-read the user. Raises
        LastAdmin when it takes the admin role from the last enabled admin.
        """
        return self.edit_user(username, roles, grid_codes)[1]

    def edit_user(self, username, roles, grid_codes=(), display_name=None):
        """Replace the roles and grid codes of ``username`` (checked as in :meth:`add_user`),
        and its display name unless None, in one transaction.

        Returns
        -------
        (old, new) : (User, User)
            The user before and after, read inside the transaction.

        Raises
        ------
        BadInput
            A bad value, named in the message; nothing is changed.
        NotFound
            No such user.
        LastAdmin
            The change would take the admin role from the last enabled admin.
        """
        roles = check_roles(roles)
        grid_codes = check_grid_codes(roles, grid_codes)
        assignments, params = "roles = ?, grid_codes = ?", [" ".join(sorted(roles)),
                                                             " ".join(sorted(grid_codes))]
        if display_name is not None:
            assignments += ", display_name = ?"
            params.append(check_label(display_name, "display_name"))
        with self._tx(write=True) as db:
            old = User.from_row(self._change_row(db, username, assignments, params))
        return old, self.get_user(username)

    def follow_teams(self, team_from):
        """Give grid staff the grids that took their grid's team: ``team_from`` maps a new
        grid code to the code whose team it took (a published generation's ``team_from``).
        Every account holding a source code gains the new codes, in one transaction; codes
        are only added, so the cases left in a retired grid stay in reach and a rollback
        needs nothing undone.

        Returns
        -------
        list of (User, User)
            Each changed account before and after, by username.
        """
        gains = {}
        for new, source in team_from.items():
            gains.setdefault(source, set()).add(new)
        changed = []
        with self._tx(write=True) as db:
            for row in db.execute("SELECT * FROM users ORDER BY username").fetchall():
                old = User.from_row(row)
                add = set().union(*(gains.get(c, ()) for c in old.grid_codes)) - old.grid_codes
                if GRID_STAFF not in old.roles or not add:
                    continue
                db.execute("UPDATE users SET grid_codes = ? WHERE username = ?",
                           (" ".join(sorted(old.grid_codes | add)), old.username))
                changed.append(old)
        return [(old, self.get_user(old.username)) for old in changed]

    def password_stamp(self, username):
        """A short digest of the user's password hash, or None for an unknown user.

        A known-device cookie names the stamp of its sign-in
        (:mod:`gridmap.auth.devices`): a new password makes those devices
        unknown again. The stamp reveals nothing of the password (it is a
        digest of a salted scrypt hash) and is never shown.
        """
        with self._tx() as db:
            row = db.execute("SELECT password_hash FROM users WHERE username = ?",
                             (username,)).fetchone()
        if row is None:
            return None
        return hashlib.sha256(b"gridmap device stamp\0" + row[0].encode()).hexdigest()[:16]

    def verify_password(self, username, password):
        """The enabled user whose password this is, or None.

        An unknown username costs one hash check too, so the answer time does
        not reveal which usernames exist. A disabled user's password is
        checked as well, then refused.
        """
        if not isinstance(password, str):
            password = ""
        with self._tx() as db:
            row = db.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
        if row is None:
            check_password_hash(DUMMY_HASH, password)
            return None
        if not check_password_hash(row["password_hash"], password) or not row["enabled"]:
            return None
        if not row["password_hash"].startswith(HASH_METHOD + "$"):  # older parameters: upgrade
            new_hash = generate_password_hash(password, method=HASH_METHOD)  # (or next time)
            self._bookkeep("upgrading a password hash", "UPDATE users SET password_hash = ? "
                           "WHERE username = ? AND password_hash = ?",
                           (new_hash, username, row["password_hash"]))
        return User.from_row(row)
