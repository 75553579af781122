"""The user record and the checks on usernames, passwords and names.

Kept apart from the store so the web layer can check a form before it
touches the database, and so the messages are the same everywhere.
"""

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from gridmap.auth.roles import GRID_STAFF
from gridmap.errors import BadInput

USERNAME_RE = re.compile(r"^[a-z0-9_.-]{3,32}$")
PASSWORD_MIN, PASSWORD_MAX = 10, 1024
CHINA_TZ = timezone(timedelta(hours=8), "CST")
#: Letters and digits of a generated password: none that reads like another (0/O, 1/l/I).
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def iso_time(ts):
    """Epoch seconds as ISO 8601 in China Standard Time (``None`` stays ``None``).

    Examples
    --------
    >>> iso_time(0)
    '1970-01-01T08:00:00+08:00'
    """
    return None if ts is None else datetime.fromtimestamp(ts, CHINA_TZ).isoformat(timespec="seconds")


@dataclass(frozen=True)
class User:
    """A staff account as stored (never with its password hash)."""

    username: str
    display_name: str
    roles: frozenset
    grid_codes: frozenset
    enabled: bool
    created_at: str
    person_id: str | None = None

    def has_role(self, role):
        """Whether the user holds ``role``."""
        return role in self.roles

    def can_act_on_grid(self, code):
        """Whether the user is grid staff of grid ``code``.

        Only grid membership is answered here; whether a dispatcher or an
        admin may act on every grid is the caller's policy.
        """
        return GRID_STAFF in self.roles and code in self.grid_codes

    def to_dict(self):
        """JSON-ready fields; roles and grid codes as sorted lists."""
        return {"username": self.username, "display_name": self.display_name,
                "roles": sorted(self.roles), "grid_codes": sorted(self.grid_codes),
                "enabled": self.enabled, "created_at": self.created_at,
                "person_id": self.person_id}

    @classmethod
    def from_row(cls, row):
        """Build from a row of the ``users`` table (space-separated roles and codes)."""
        return cls(username=row["username"], display_name=row["display_name"],
                   roles=frozenset(row["roles"].split()),
                   grid_codes=frozenset(row["grid_codes"].split()),
                   enabled=bool(row["enabled"]), created_at=iso_time(row["created_at"]),
                   person_id=row["person_id"])


def check_username(username):
    """Return ``username`` if it is 3-32 characters of ``a-z 0-9 _ . -``.

    Raises
    ------
    BadInput
        Naming the value received and the rule.
    """
    if not (isinstance(username, str) and USERNAME_RE.match(username)):
        raise BadInput("error.users.bad_username", value=repr(username), field="username")
    return username


def check_password(password):
    """Raise BadInput unless ``password`` has 10-1024 characters, not all one character.

    The message gives the length received, never the password.
    """
    if not isinstance(password, str) or not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        got = len(password) if isinstance(password, str) else type(password).__name__
        raise BadInput("error.users.bad_password_length", low=PASSWORD_MIN, high=PASSWORD_MAX,
                       got=got, field="password")
    if len(set(password)) == 1:
        raise BadInput("error.users.password_one_character", field="password")
    if any("\ud800" <= c <= "\udfff" for c in password):  # bytes that were not UTF-8
        raise BadInput("error.users.password_not_utf8", field="password")


def generate_password(groups=4, size=4):
    """A random password to hand to a person: ``groups`` groups of ``size`` characters of
    :data:`PASSWORD_ALPHABET` joined by ``-`` (``7kqm-x2pa-…``): 16 characters from 31,
    about 79 bits, easy to read out and to type on a phone.

    Examples
    --------
    >>> len(generate_password()), generate_password().count("-")
    (19, 3)
    """
    return "-".join("".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(size))
                    for _ in range(groups))


def check_label(value, field, max_len=64, required=False):
    """Return ``value`` stripped if it is one line of at most ``max_len`` characters.

    ``None`` counts as empty. Used for display names, person ids and token names.
    """
    if value is None:
        value = ""
    if isinstance(value, str):
        value = value.strip()
    if (not isinstance(value, str) or len(value) > max_len or (required and not value)
            or any(ord(c) < 32 or ord(c) == 127 for c in value)):
        raise BadInput("error.users.bad_required_label" if required else "error.users.bad_label",
                       limit=max_len, value=repr(value), field=field)
    return value
