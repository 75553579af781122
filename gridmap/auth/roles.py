"""Staff roles, their labels, and the checks on roles and grid codes.

Residents report without an account; every other user holds one or more
of :data:`ROLES`. Grid staff (members of a grid's 1+3+N team) see and act on
their own grids only, so a ``grid_staff`` account names at least one grid
code, and an account without that role names none.
"""

import re

from gridmap.errors import BadInput

GRID_STAFF, DISPATCHER, PLANNER, ADMIN = "grid_staff", "dispatcher", "planner", "admin"
#: Roles an account may hold.
ROLES = (GRID_STAFF, DISPATCHER, PLANNER, ADMIN)
#: The anonymous role of anyone without an account.
RESIDENT = "resident"
#: role -> (Chinese label, English label)
ROLE_LABELS = {
    GRID_STAFF: ("网格员", "grid staff"),
    DISPATCHER: ("调度员", "dispatcher"),
    PLANNER: ("规划员", "planner"),
    ADMIN: ("管理员", "admin"),
    RESIDENT: ("居民", "resident"),
}
GRID_CODE_RE = re.compile(r"^\d{15}$")


def role_label(role, lang="zh"):
    """The label of ``role`` in ``lang`` ("zh" or "en").

    Examples
    --------
    >>> role_label("dispatcher"), role_label("dispatcher", "en")
    ('调度员', 'dispatcher')
    """
    zh, en = ROLE_LABELS[role]
    return en if lang == "en" else zh


def check_roles(roles):
    """Return ``roles`` as a frozenset after checking each is one of :data:`ROLES`.

    Parameters
    ----------
    roles : iterable of str
        At least one role; repeats are merged.

    Raises
    ------
    BadInput
        Naming the bad role and the allowed ones, or if ``roles`` is empty.

    Examples
    --------
    >>> sorted(check_roles(["admin", "planner", "admin"]))
    ['admin', 'planner']
    """
    if isinstance(roles, str):
        roles = [roles]
    roles = list(roles)
    for role in roles:
        if role not in ROLES:
            raise BadInput("error.roles.unknown_role", role=repr(role)[:60], allowed=list(ROLES),
                           field="roles")
    if not roles:
        raise BadInput("error.roles.no_role", allowed=list(ROLES), field="roles")
    return frozenset(roles)


def check_grid_codes(roles, grid_codes, known=None):
    """Return ``grid_codes`` as a frozenset after checking them against ``roles``.

    Parameters
    ----------
    roles : frozenset of str
        Checked roles (see :func:`check_roles`).
    grid_codes : iterable of str
        15-digit codes; required (one or more) with ``grid_staff``, refused
        without it.
    known : collection of str, optional
        The grid codes of the data folder; when given, every code must be one.

    Raises
    ------
    BadInput
        Naming the bad code and what is allowed.
    """
    if isinstance(grid_codes, str):
        grid_codes = [grid_codes]
    codes = list(grid_codes)
    for code in codes:
        if not (isinstance(code, str) and GRID_CODE_RE.match(code)):
            raise BadInput("error.roles.bad_grid_code", code=repr(code)[:60], field="grid_codes")
        if known is not None and code not in known:
            raise BadInput("error.roles.unknown_grid", code=code, count=len(known),
                           examples=sorted(known)[:3], field="grid_codes")
    if GRID_STAFF in roles and not codes:
        raise BadInput("error.roles.staff_without_grid", field="grid_codes")
    if GRID_STAFF not in roles and codes:
        raise BadInput("error.roles.grids_without_staff", codes=repr(codes),
                       roles=repr(sorted(roles)), field="grid_codes")
    return frozenset(codes)
