"""Admin pages for staff accounts: the list with an add form, and one account's page
to change its display name, roles and grids, disable or enable it, and reset its
password (the new password is shown once, on the answer to the confirmation).

Disabling and resetting ask first: the POST without ``confirm=yes`` answers with a
confirmation on the account's page, as the case page does for forward and cancel.
An admin is not offered (and is refused) disabling or resetting their own account.
Every change goes through :class:`~gridmap.auth.accounts.AccountStore`, the same
functions as ``gridmap users``, is audited, and says what it did (a flash message
after a redirect; the new password's page for a reset).
"""

from flask import (Blueprint, current_app, flash, g, redirect, render_template, request,
                   url_for)

from gridmap.audit import (PASSWORD_RESET, ROLES_CHANGE, USER_ADD, USER_DISABLE, USER_ENABLE,
                           USER_RENAME)
from gridmap.auth.roles import ROLES, check_grid_codes, check_roles
from gridmap.auth.users import generate_password
from gridmap.errors import GridmapError, NotFound
from gridmap.web.access import allow
from gridmap.web.auth import audit, unlock_signin
from gridmap.web.i18n import name_of, t

bp = Blueprint("admin_users", __name__, url_prefix="/admin")
CONFIRMED = ("disable", "reset")  #: changes that ask "are you sure?" first


def accounts():
    return current_app.extensions["gridmap.accounts"]


def grids():
    return current_app.extensions["gridmap"].grids


def _refused(exc):
    return exc.status if exc.status < 500 else 400


@bp.get("/users")
@allow("admin")
def users(error=None, status=200):
    """All accounts, each linking to its page, and an add form: 200 (4xx re-render after a
    bad add)."""
    return render_template("admin/users.html", users=accounts().list_users(), grids=grids(),
                           roles=ROLES, error=error, form=request.form), status


@bp.post("/users")
@allow("admin")
def add_user():
    """Add an account: 302 to its page; 400 (409 a taken name) re-renders naming the problem."""
    form = request.form
    grid_codes = [c for c in form.getlist("grid_codes") if c]
    try:
        roles = check_roles(form.getlist("roles"))
        check_grid_codes(roles, grid_codes, known=grids().codes)
        user = accounts().add_user(form.get("username", "").strip(), form.get("password", ""),
                                   roles, grid_codes=grid_codes,
                                   display_name=form.get("display_name", "").strip())
    except GridmapError as exc:
        return users(error=exc.render(g.lang), status=_refused(exc))
    audit(USER_ADD, g.user.username, target=user.username,  # the same detail as the CLI's
          detail={"roles": sorted(user.roles), "grid_codes": sorted(user.grid_codes)})
    flash(t("user_added", user=user.username))
    return redirect(url_for("admin_users.user", username=user.username))


def _account(username):
    user = accounts().get_user(username)
    if user is None:
        raise NotFound("error.users.no_such_user", username=repr(username[:40]), field="username")
    return user


def render_user(user, error=None, form=None, confirm=None, new_password=None, status=200):
    """One account's page; ``error`` shown above the form (``form`` refilled), ``confirm``
    the change waiting for a yes, ``new_password`` the password just set (shown once)."""
    tokens = sum(1 for tk in accounts().list_tokens(user.username) if not tk["revoked_at"])
    return render_template("admin/user.html", account=user, grids=grids(), roles=ROLES,
                           is_self=user.username == g.user.username, error=error, form=form,
                           confirm=confirm, new_password=new_password, tokens=tokens), status


@bp.get("/users/<username>")
@allow("admin")
def user(username):
    """One account: its edit form and what may be done to it: 200; 404 unknown."""
    return render_user(_account(username))


@bp.post("/users/<username>")
@allow("admin")
def edit_user(username):
    """Save display name, roles and grids: 302 back with what changed; 4xx re-renders the
    page naming the field (400 bad value, 409 the last enabled admin's role), nothing
    changed; 404 unknown."""
    user = _account(username)
    form = request.form
    grid_codes = [c for c in form.getlist("grid_codes") if c]
    try:
        roles = check_roles(form.getlist("roles"))
        check_grid_codes(roles, grid_codes, known=grids().codes)
        old, new = accounts().edit_user(username, roles, grid_codes,
                                        display_name=form.get("display_name"))  # None: kept
    except GridmapError as exc:
        return render_user(user, error={"message": exc.render(g.lang), "field": exc.field}, form=form,
                           status=_refused(exc))
    changes = []
    if (old.roles, old.grid_codes) != (new.roles, new.grid_codes):
        audit(ROLES_CHANGE, g.user.username, target=username, detail={
            "roles": sorted(new.roles), "grid_codes": sorted(new.grid_codes),
            "old_roles": sorted(old.roles), "old_grid_codes": sorted(old.grid_codes)})
        if old.roles != new.roles:
            changes.append(t("user_roles_now", roles=role_names(new.roles)))
        if old.grid_codes != new.grid_codes:
            changes.append(t("user_grids_now", grids=grid_names(new.grid_codes))
                           if new.grid_codes else t("user_grids_none"))
    if old.display_name != new.display_name:
        audit(USER_RENAME, g.user.username, target=username,
              detail={"display_name": new.display_name, "old_display_name": old.display_name})
        changes.append(t("user_name_now", name=new.display_name or "—"))
    flash(t("user_changed", user=username, changes=t("list_sep_clause").join(changes))
          if changes else t("user_unchanged", user=username))
    return redirect(url_for("admin_users.user", username=username))


def role_names(roles):
    """Role labels in the page's language, in the order of :data:`ROLES` (others left out)."""
    roles = set(roles)
    return t("list_sep").join(t(f"role_{r}") for r in ROLES if r in roles)


def grid_names(codes):
    """Grid names in the page's language (English where the grid has one), in grid order."""
    return t("list_sep").join(name_of(gr) for gr in grids() if gr.code in codes)


def _oneself(user, change):
    """The 409 page for a change to one's own account (never offered), or None."""
    if user.username != g.user.username:
        return None
    return render_user(user, error={"message": t(f"user_not_self_{change}"), "field": "username"},
                       status=409)


@bp.post("/users/<username>/<any(disable, enable):change>")
@allow("admin")
def change_user(username, change):
    """Disable (ends sessions and tokens; asks first unless ``confirm=yes``) or enable an
    account: 302 back with what was done; 200 the confirmation; 404 unknown; 409 one's
    own account (or, in a race, the last enabled admin)."""
    user = _account(username)
    if change == "disable":
        if refused := _oneself(user, "disable"):
            return refused
        if request.form.get("confirm") != "yes":
            return render_user(user, confirm="disable")
    # (LastAdmin only in a race: the caller is an enabled admin, and not this account)
    (accounts().disable_user if change == "disable" else accounts().enable_user)(username)
    audit(USER_DISABLE if change == "disable" else USER_ENABLE, g.user.username, target=username)
    flash(t(f"user_{change}d", user=username))
    return redirect(url_for("admin_users.user", username=username))


@bp.post("/users/<username>/reset-password")
@allow("admin")
def reset_password(username):
    """Give an account a new generated password (asks first unless ``confirm=yes``): 200
    the page showing it once (``Cache-Control: no-store``; the password is never logged
    nor audited); the user's sessions end, the browsers they signed in on count as
    unknown devices again, and the sign-in lock of the account is lifted. 404 unknown;
    409 one's own account."""
    user = _account(username)
    if refused := _oneself(user, "reset"):
        return refused
    if request.form.get("confirm") != "yes":
        return render_user(user, confirm="reset")
    password = generate_password()
    user = accounts().reset_password(username, password)
    unlock_signin(username)
    audit(PASSWORD_RESET, g.user.username, target=username)
    return render_user(user, new_password=password)
