"""Admin pages: user accounts and the audit log."""

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for

from gridmap.errors import GridmapError
from gridmap.web.access import allow
from gridmap.web.auth import audit

bp = Blueprint("admin", __name__, url_prefix="/admin")


def accounts():
    return current_app.extensions["gridmap.accounts"]


@bp.get("/users")
@allow("admin")
def users(error=None, status=200):
    """All accounts with an add form: 200 (400 re-render after a bad add)."""
    grids = current_app.extensions["gridmap"].grids
    return render_template("admin/users.html", users=accounts().list_users(), grids=grids,
                           error=error, form=request.form), status


@bp.post("/users")
@allow("admin")
def add_user():
    """Add an account: 302 to the list; 400 re-renders the form naming the problem."""
    form = request.form
    roles = form.getlist("roles")
    grid_codes = [c for c in form.getlist("grid_codes") if c]
    unknown = [c for c in grid_codes if c not in current_app.extensions["gridmap"].grids]
    try:
        if unknown:
            raise GridmapError(f"未知网格代码 / unknown grid codes: {', '.join(unknown)}")
        user = accounts().add_user(form.get("username", "").strip(), form.get("password", ""),
                                   roles, grid_codes=grid_codes,
                                   display_name=form.get("display_name", "").strip())
    except GridmapError as exc:
        return users(error=exc.message, status=exc.status if exc.status < 500 else 400)
    audit("user_add", g.user.username, target=user.username,
          detail={"roles": sorted(user.roles), "grids": sorted(user.grid_codes)})
    return redirect(url_for("admin.users"))


@bp.post("/users/<username>/<any(disable, enable):change>")
@allow("admin")
def change_user(username, change):
    """Disable (ends sessions and tokens) or re-enable an account: 302; 404 unknown."""
    store = accounts()
    store.get_user(username)  # 404 for an unknown name
    (store.disable_user if change == "disable" else store.enable_user)(username)
    audit(f"user_{change}", g.user.username, target=username)
    return redirect(url_for("admin.users"))


@bp.get("/audit")
@allow("admin")
def audit_log():
    """The audit log, newest first (``?action=``, ``?actor=``): 200."""
    entries = current_app.extensions["gridmap.audit"].read(
        limit=200, action=request.args.get("action") or None,
        actor=request.args.get("actor") or None)
    return render_template("admin/audit.html", entries=entries)
