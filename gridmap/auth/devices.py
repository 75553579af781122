"""Known devices: a signed cookie that a browser gets when it signs in.

Five wrong passwords lock an account for a while, and anyone who knows a
user name could use that to keep its owner out. So the lock applies to
*unknown* devices only, as OWASP's "Slow Down Online Guessing Attacks with
Device Cookies" describes (and as GitHub and Google recognise devices): a
successful sign-in gives the browser a device cookie naming the account and
a random nonce, signed with a key derived from the app's secret key. A
sign-in that presents a valid cookie for the account it names is counted
apart: its wrong passwords lock only that device (the nonce), never the
account for others, and the account's lock for unknown devices does not
stop it. A stolen cookie therefore gives a guesser no more tries than the
lock allows, and a forged one is just an unknown device.

One cookie holds the devices of the last :data:`MAX_ACCOUNTS` accounts
signed in from that browser (a shared office computer), each for
:data:`DEVICE_DAYS` days from its last successful sign-in.

Each device is known only with the password it signed in with: the entry
holds the account's password stamp
(:meth:`gridmap.auth.accounts.AccountStore.password_stamp`), so after a
password reset every device of the account is unknown again, and a cookie
taken from a browser the owner no longer trusts counts for nothing.

The cookie is ``base64url(JSON [[username, nonce, issued_at, stamp], ...])
"." hex HMAC-SHA256``; nothing in it is secret, and a cookie that does not
verify counts as no cookie.
"""

import base64
import binascii
import hashlib
import hmac
import json
import secrets

COOKIE = "gridmap_device"
DEVICE_DAYS = 90
MAX_ACCOUNTS = 8
_LABEL = b"gridmap known-device cookie v2"  # v1 had no stamp: a v1 cookie is no device


def _key(secret):
    return hmac.new(secret.encode("utf-8"), _LABEL, hashlib.sha256).digest()


def _sign(secret, payload):
    return hmac.new(_key(secret), payload, hashlib.sha256).hexdigest()


def _entries(secret, value, now):
    """The cookie's ``[username, nonce, issued_at, stamp]`` entries that verify and have
    not expired."""
    payload, _, signature = (value or "").rpartition(".")
    if not payload or not hmac.compare_digest(
            _sign(secret, payload.encode("ascii", "replace")).encode("ascii"),
            signature.encode("ascii", "replace")):
        return []
    try:
        entries = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
        return [[u, n, t, s] for u, n, t, s in entries
                if isinstance(u, str) and isinstance(n, str) and isinstance(t, (int, float))
                and isinstance(s, str) and 0 <= now - t < DEVICE_DAYS * 86400]
    except (ValueError, TypeError, binascii.Error):
        return []  # signed by us, so never expected; still no device


def read_devices(secret, value, now):
    """``{username: (nonce, stamp)}`` from a cookie value: only entries that verify and
    have not expired.

    Parameters
    ----------
    secret : str
        The app's secret key.
    value : str or None
        The cookie as sent.
    now : float
        Epoch seconds.
    """
    return {username: (nonce, stamp) for username, nonce, _, stamp in _entries(secret, value, now)}


def known_device(secret, value, username, stamp, now):
    """The nonce of this browser as a known device of ``username`` whose password stamp is
    now ``stamp`` (None for an unknown account), or None: an unknown device."""
    nonce, signed_in_with = read_devices(secret, value, now).get(username, (None, None))
    return nonce if stamp is not None and signed_in_with == stamp else None


def remember_device(secret, value, username, stamp, now):
    """The cookie value after ``username`` signed in on this device with the password of
    ``stamp``: a new nonce for it, the other accounts kept (the most recent
    :data:`MAX_ACCOUNTS`). Returns (value, nonce)."""
    nonce = secrets.token_urlsafe(16)
    entries = [e for e in _entries(secret, value, now) if e[0] != username]
    entries = entries[-(MAX_ACCOUNTS - 1):] + [[username, nonce, now, stamp]]
    payload = base64.urlsafe_b64encode(json.dumps(entries, separators=(",", ":")).encode("ascii"))
    return f"{payload.decode('ascii')}.{_sign(secret, payload)}", nonce
