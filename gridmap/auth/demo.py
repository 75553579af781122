"""Demo accounts: one per role, with random passwords kept in the data folder.

``DATA_DIR/demo-accounts.txt`` (mode 0600) keeps each password made here, so
every later start can print them again. Disable the accounts and delete the
file before real use. While the file names an enabled account, the service is
a demo (``active_demo_accounts``): every page says so.
"""

import fcntl
import logging
import os
import secrets
from pathlib import Path

from gridmap.auth.roles import ADMIN, DISPATCHER, GRID_STAFF, PLANNER
from gridmap.private_files import open_private

log = logging.getLogger(__name__)

DEMO_FILE = "demo-accounts.txt"
HEADER = ("# gridmap 演示账号 / demo accounts (示意 schematic). Passwords are random, made on\n"
          "# first start. Disable these accounts and delete this file before real use.\n"
          "# username<TAB>password\n")


def _demo_specs(grid_codes):
    """(username, roles, grids, display name) of the demo accounts. No display name:
    pages show the user name, the same in both languages (the banner says it is a demo)."""
    specs = [("admin", (ADMIN,), (), ""), ("planner", (PLANNER,), (), ""),
             ("dispatcher", (DISPATCHER,), (), "")]
    for i, code in enumerate(sorted(grid_codes)[:2], start=1):
        specs.append((f"grid{i:03d}", (GRID_STAFF,), (code,), ""))
    return specs


def _read_passwords(f):
    f.seek(0)
    passwords = {}
    for line in f.read().decode("utf-8").splitlines():
        if line and not line.startswith("#") and "\t" in line:
            username, password = line.split("\t", 1)
            passwords[username] = password
    return passwords


def ensure_demo_accounts(store, grid_codes, data_dir):
    """Create the demo accounts that are missing; return all of them for printing.

    Accounts: ``admin``, ``planner``, ``dispatcher``, and grid staff
    ``grid001`` and ``grid002`` for the first and second grid (by code).
    Idempotent, and safe when several worker processes start at once: the
    password file is locked while accounts are made.

    Parameters
    ----------
    store : AccountStore
    grid_codes : iterable of str
        The data folder's grid codes.
    data_dir : str or Path
        Where ``demo-accounts.txt`` is kept.

    Returns
    -------
    list of (username, password, roles, grids)
        ``password`` is None for an account this function did not make, or
        one disabled since. A password reset since is not detected (checking
        would cost a hash per account at every start): the file then holds
        the old one. ``roles`` and ``grids`` are sorted tuples.
    """
    path = Path(data_dir) / DEMO_FILE
    fd = open_private(path, os.O_RDWR)
    with os.fdopen(fd, "r+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        passwords = _read_passwords(f)
        made = {}
        for username, roles, grids, name in _demo_specs(grid_codes):
            if store.get_user(username) is not None:
                continue
            # a kept password is reused, so a printed one stays true if the store was reset
            password = passwords.get(username) or secrets.token_urlsafe(12)
            store.add_user(username, password, roles, grids, display_name=name)
            made[username] = password
            log.info("made demo account %s (%s)", username, ", ".join(roles))
        if made or f.seek(0, os.SEEK_END) == 0:
            passwords.update(made)
            f.seek(0)
            f.truncate()
            f.write((HEADER + "".join(f"{u}\t{p}\n" for u, p in passwords.items())).encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
    accounts = []
    for username, *_ in _demo_specs(grid_codes):
        user = store.get_user(username)
        if user is None:
            continue
        password = passwords.get(username) if user.enabled else None
        accounts.append((username, password, tuple(sorted(user.roles)),
                         tuple(sorted(user.grid_codes))))
    return accounts


def active_demo_accounts(store, data_dir):
    """The enabled accounts ``demo-accounts.txt`` names (their passwords are known):
    the service is a demo while there is one. Empty without the file."""
    try:
        with open(Path(data_dir) / DEMO_FILE, "rb") as f:
            named = _read_passwords(f)
    except FileNotFoundError:
        return []
    return [user.username for user in store.list_users()
            if user.username in named and user.enabled]
