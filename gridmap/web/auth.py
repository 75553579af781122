"""Staff sign-in and sign-out. Residents never sign in."""

from urllib.parse import urlsplit

from flask import (Blueprint, current_app, g, redirect, render_template, request, session,
                   url_for)

from gridmap.audit import SIGNIN, SIGNIN_FAILED, SIGNOUT
from gridmap.errors import RateLimited
from gridmap.web import durability
from gridmap.web.access import ANYONE, STAFF_ROLES, allow
from gridmap.web.i18n import t

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
    """Where staff go after signing in (without ``next=``): dispatchers to all cases,
    grid staff to their grid's queue (with several grids, to all their cases), admins
    to the users page, anyone else to the map."""
    codes = sorted(user.grid_codes) if user.has_role("grid_staff") else []
    if user.has_role("dispatcher") or len(codes) > 1:
        return url_for("staff_pages.all_cases")
    if codes:
        return url_for("staff_pages.grid_queue", code=codes[0])
    if user.has_role("admin"):
        return url_for("admin.users")
    return url_for("pages.index")


def _next_field(target):
    """The sign-in form's ``next``: a safe path, or empty (then :func:`landing` decides)."""
    return _safe_next(target) if target else ""


@bp.get("/login")
@allow(ANYONE)
def login_form():
    """The sign-in form: 200."""
    return render_template("auth/login.html", next=_next_field(request.args.get("next")))


@bp.post("/login")
@allow(ANYONE)
def login():
    """Sign in: 302 on success; 401 wrong name or password; 429 when throttled or locked."""
    cfg = current_app.config
    throttle = current_app.extensions["gridmap.throttle"]
    allowed, retry = throttle.hit(f"signin:ip:{request.remote_addr}", cfg["SIGNIN_IP_LIMIT"],
                                  IP_WINDOW_S)
    if not allowed:
        raise RateLimited("登录尝试过多，请稍后再试 / too many sign-in attempts, try later",
                          detail={"retry_after_s": retry})
    username = request.form.get("username", "").strip().lower()[:64]
    actor = username or "(empty)"
    password = request.form.get("password", "")[:1024]
    key = f"signin:user:{username}"
    if throttle.failures(key, cfg["SIGNIN_LOCK_SECONDS"]) >= cfg["SIGNIN_MAX_FAILURES"]:
        audit(SIGNIN_FAILED, actor, detail={"locked": True})
        raise RateLimited("该账号因多次登录失败被暂时锁定 / account locked after repeated failures",
                          detail={"retry_after_s": cfg["SIGNIN_LOCK_SECONDS"]})
    store = current_app.extensions["gridmap.accounts"]
    user = store.verify_password(username, password)
    if user is None:
        throttle.record_failure(key)
        audit(SIGNIN_FAILED, actor)
        return render_template("auth/login.html", next=_next_field(request.form.get("next")),
                               error=t("signin_failed"), username=username), 401
    throttle.clear(key)
    session.clear()
    session["sid"] = store.create_session(user.username)
    g.user = user
    audit(SIGNIN, user.username)
    target = request.form.get("next")
    return redirect(_safe_next(target) if target else landing(user))


@bp.post("/logout")
@allow(*STAFF_ROLES)
def logout():
    """Sign out (ends the server-side session): 302 to the map."""
    current_app.extensions["gridmap.accounts"].end_session(session.get("sid", ""))
    audit(SIGNOUT, g.user.username)
    session.clear()
    return redirect(url_for("pages.index"))
