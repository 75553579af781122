"""Who may call which view: every endpoint declares its roles, or startup fails.

``@allow(ANYONE)`` marks a view open to residents (no account);
``@allow("dispatcher", "admin")`` limits it to those roles. Before each
request the caller is identified (API token, else session cookie) and the
view's policy applied: no identity → 401, wrong role → 403. Objects a role
may see only in part (grid staff and their own grids) are checked in the
view with :func:`require_grid`.
"""

import logging

from flask import current_app, g, request, session

from gridmap.errors import Forbidden, GridmapError

log = logging.getLogger(__name__)

ANYONE = "anyone"
STAFF_ROLES = ("grid_staff", "dispatcher", "planner", "admin")


class Unauthorized(GridmapError):
    status = 401
    code = "unauthorized"


def allow(*roles):
    """Declare the roles that may call a view (``ANYONE`` for the public)."""
    unknown = set(roles) - {ANYONE, *STAFF_ROLES}
    if not roles or unknown:
        raise ValueError(f"allow() needs roles from {(ANYONE, *STAFF_ROLES)}, got {roles}")

    def mark(view):
        view.allowed_roles = frozenset(roles)
        return view

    return mark


def policy_of(app, endpoint):
    return getattr(app.view_functions.get(endpoint), "allowed_roles", None)


def check_policies(app):
    """Every routed endpoint must declare its roles: a new route cannot escape."""
    missing = sorted(rule.endpoint for rule in app.url_map.iter_rules()
                     if policy_of(app, rule.endpoint) is None)
    if missing:
        raise RuntimeError(f"views without an access policy (@allow): {missing}")


def current_user():
    return g.get("user")


def require_grid(grid_code):
    """Grid staff may act on their own grids only; dispatchers on all."""
    user = current_user()
    if user is None:
        raise Unauthorized("error.web.sign_in_first")
    if user.has_role("dispatcher") or user.can_act_on_grid(grid_code):
        return
    raise Forbidden("error.web.other_grid")


def _identify():
    store = current_app.extensions["gridmap.accounts"]
    g.user, g.auth_by_token = None, False
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        g.user = store.user_for_token(header[7:].strip())
        if g.user is None:
            raise Unauthorized("error.web.bad_token")
        g.auth_by_token = True
    elif "sid" in session:
        g.user = store.user_for_session(session["sid"])
        if g.user is None:
            session.pop("sid", None)


def _authorize():
    _identify()
    roles = policy_of(current_app, request.endpoint)
    if roles is None or ANYONE in roles:
        return  # unrouted (404/405 follow) or public
    if g.user is None:
        raise Unauthorized("error.web.sign_in_first")
    if not (g.user.roles & roles):
        log.info("refused %s %s to %s", request.method, request.path, g.user.username)
        raise Forbidden("error.web.role_may_not")


def init_app(app):
    app.before_request(_authorize)
    app.jinja_env.globals["current_user"] = current_user
