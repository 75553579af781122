"""Staff sign-in and sign-out. Residents never sign in."""

import hashlib
import hmac
from urllib.parse import urlsplit

from flask import (Blueprint, current_app, g, redirect, render_template, request, session,
                   url_for)

from gridmap.audit import SIGNIN, SIGNIN_FAILED, SIGNOUT
from gridmap.auth.devices import COOKIE, DEVICE_DAYS, known_device, remember_device
from gridmap.errors import RateLimited
from gridmap.web import durability
from gridmap.web.access import ANYONE, STAFF_ROLES, allow
from gridmap.web.i18n import t
from gridmap.web.security import no_store

bp = Blueprint("auth", __name__)
IP_WINDOW_S = 300


def audit(action, actor, target=None, detail=None):
    """Record a privileged action with the caller's role and address, once the
    request's case writes are on disk (the audit log must not claim a lost one)."""
    durability.flush()
    user = g.get("user")
    role = ",".join(sorted(user.roles)) if user else None
    current_app.extensions["gridmap.audit"].record(
        action, actor, role=role, target=target, detail=detail, ip=request.remote_addr)


def _safe_next(target):
    """Only same-site relative paths: never an open redirect (nor a header that cannot be
    sent: control characters, which ``urlsplit`` drops before it looks)."""
    target = target or ""
    parts = urlsplit(target)
    if (parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//")
            or any(c < " " or c == "\x7f" for c in target)):
        return url_for("pages.index")
    return target


def landing(user):
    """Where staff go after signing in (without ``next=``): dispatchers to the console,
    grid staff to their grid's queue (with several grids, to all their cases), planners
    to the boundary editor, admins to the users page, anyone else to the map."""
    codes = sorted(user.grid_codes) if user.has_role("grid_staff") else []
    if user.has_role("dispatcher"):
        return url_for("dispatch.console")
    if len(codes) > 1:
        return url_for("staff_pages.all_cases")
    if codes:
        return url_for("staff_pages.grid_queue", code=codes[0])
    if user.has_role("planner"):
        return url_for("planning_page.editor")
    if user.has_role("admin"):
        return url_for("admin_users.users")
    return url_for("pages.index")


def _next_field(target):
    """The sign-in form's ``next``: a safe path, or empty (then :func:`landing` decides)."""
    return _safe_next(target) if target else ""


@bp.get("/login")
@allow(ANYONE)
@no_store
def login_form():
    """The sign-in form: 200."""
    return render_template("auth/login.html", next=_next_field(request.args.get("next")))


@bp.post("/login")
@allow(ANYONE)
@no_store
def login():
    """Sign in: 302 on success; 401 wrong name or password; 429 when throttled or locked.

    Failures lock the account for unknown devices, or only the device when the browser
    shows a known-device cookie for the account (:mod:`gridmap.auth.devices`).
    """
    cfg = current_app.config
    throttle = current_app.extensions["gridmap.throttle"]
    allowed, retry = throttle.hit(f"signin:ip:{request.remote_addr}", cfg["SIGNIN_IP_LIMIT"],
                                  IP_WINDOW_S)
    if not allowed:
        raise RateLimited("error.auth.too_many_attempts",
                          detail={"retry_after_s": retry})
    username = request.form.get("username", "").strip().lower()[:64]
    password = request.form.get("password", "")[:1024]
    store = current_app.extensions["gridmap.accounts"]
    actor = username if store.get_user(username) else shown_name(username)
    device = known_device(current_app.secret_key, request.cookies.get(COOKIE), username,
                          store.password_stamp(username), throttle.clock())
    # a known device counts its own failures; unknown devices share the account's
    key = f"signin:device:{device}" if device else _account_key(actor)
    detail = {"known_device": True} if device else None
    locked = throttle.locked_for(key, cfg["SIGNIN_MAX_FAILURES"], cfg["SIGNIN_LOCK_SECONDS"])
    if locked:
        audit(SIGNIN_FAILED, actor, detail={"locked": True, **(detail or {})})
        raise RateLimited("error.auth.device_locked" if device else "error.auth.account_locked",
                          detail={"retry_after_s": locked})
    user = store.verify_password(username, password)
    if user is None:
        throttle.record_failure(key)
        audit(SIGNIN_FAILED, actor, detail=detail)
        return render_template("auth/login.html", next=_next_field(request.form.get("next")),
                               error=t("signin_failed"), username=username), 401
    throttle.clear(key)  # from a known device: the lock for unknown devices stays
    session.clear()
    session["sid"] = store.create_session(user.username)
    g.user = user
    audit(SIGNIN, user.username, detail=detail)
    target = request.form.get("next")
    response = redirect(_safe_next(target) if target else landing(user))
    value, _ = remember_device(current_app.secret_key, request.cookies.get(COOKIE), user.username,
                               store.password_stamp(user.username), throttle.clock())
    response.set_cookie(COOKIE, value, max_age=DEVICE_DAYS * 86400, path=url_for("auth.login"),
                        secure=cfg["COOKIE_SECURE"], httponly=True, samesite="Lax")
    return response


def unlock_signin(username):
    """Lift the sign-in lock of ``username`` for unknown devices (after a password reset:
    the failures were against the old password)."""
    current_app.extensions["gridmap.throttle"].clear(_account_key(username))


def _account_key(actor):
    return f"signin:user:{actor}"


def shown_name(username):
    """How a sign-in with a name that is no account is recorded: ``unknown:`` and a keyed
    digest, so a password typed as the name cannot be read back, while repeated tries
    with one name still show as one."""
    if not username:
        return "(empty)"
    key = hmac.new(current_app.secret_key.encode("utf-8"), b"gridmap unknown sign-in name",
                   hashlib.sha256).digest()
    return "unknown:" + hmac.new(key, username.encode("utf-8", "surrogatepass"),
                                 hashlib.sha256).hexdigest()[:16]


@bp.post("/logout")
@allow(*STAFF_ROLES)
def logout():
    """Sign out (ends the server-side session): 302 to the map."""
    current_app.extensions["gridmap.accounts"].end_session(session.get("sid", ""))
    audit(SIGNOUT, g.user.username)
    session.clear()
    return redirect(url_for("pages.index"))
