"""The audit log page: what was done, by whom and when, in words.

Each entry reads as a sentence in the page's language (the ``audit_says.<action>``
message of its action, ``audit_action.<action>`` naming it in the filter), with
the accounts and cases it names linked, and its time in the working calendar's
zone. Filters (GET, so a filtered log can be bookmarked): ``actor`` (who acted),
``target`` (what was acted on), ``action``, ``since`` and ``until`` (local dates,
both included) and ``page``.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template, request, url_for
from markupsafe import Markup, escape

from gridmap.audit import ACTIONS
from gridmap.errors import BadInput
from gridmap.web.access import allow
from gridmap.web.admin_users import role_names
from gridmap.web.i18n import name_of, t

bp = Blueprint("admin_audit", __name__, url_prefix="/admin")
PER_PAGE = 50
FILTERS = ("actor", "target", "action", "since", "until")
#: actions whose target is an account
USER_TARGETS = ("user_add", "user_disable", "user_enable", "password_reset", "roles_change",
                "user_rename")
CASE_TARGETS = ("case_transition", "case_forward", "case_photo")


class BadFilter(Exception):
    """A filter value the page cannot use: (field, value)."""


def _filters():
    """The filters asked for, checked: (shown, read arguments, page)."""
    shown = {k: v.strip() for k in FILTERS if (v := request.args.get(k, "").strip())}
    zone = ZoneInfo(current_app.extensions["gridmap"].calendar.timezone)
    if shown.get("action", ACTIONS[0]) not in ACTIONS:
        raise BadFilter("action", shown["action"])
    days = {}
    for key in ("since", "until"):
        if key in shown:
            try:
                days[key] = date.fromisoformat(shown[key])
            except ValueError:
                raise BadFilter(key, shown[key]) from None
    page = request.args.get("page", "1")
    if not (page.isascii() and page.isdigit() and 1 <= int(page) <= 100_000):
        raise BadFilter("page", page)
    args = {k: shown.get(k) for k in ("actor", "target", "action")}
    if "since" in days:
        args["since"] = datetime.combine(days["since"], time(0), zone)
    if "until" in days:
        args["before"] = datetime.combine(days["until"] + timedelta(days=1), time(0), zone)
    return shown, args, int(page)


@bp.get("/audit")
@allow("admin")
def audit_log():
    """The audit log, newest first, ``PER_PAGE`` entries a page: 200; 400 a filter that
    is not a known action, a date or a page number (the page names it)."""
    zone = ZoneInfo(current_app.extensions["gridmap"].calendar.timezone)
    people = current_app.extensions["gridmap.accounts"].list_users()
    try:
        shown, args, page = _filters()
    except BadFilter as exc:
        field, value = exc.args
        return render_template("admin/audit.html", entries=[], filters={}, page=1, more=False,
                               people=people, actions=ACTIONS, error=t(
                                   "audit_bad_filter", field=t(f"audit_filter_{field}"),
                                   value=value[:40])), 400
    found = current_app.extensions["gridmap.audit"].read(
        limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE, **args)
    accounts = {u.username: u for u in people}
    entries = [describe(e, zone, accounts) for e in found[:PER_PAGE]]
    return render_template("admin/audit.html", entries=entries, filters=shown, page=page,
                           more=len(found) > PER_PAGE, people=people, actions=ACTIONS,
                           error=None, without_target={k: v for k, v in shown.items()
                                                       if k != "target"})


def describe(entry, zone, accounts):
    """One entry as the page shows it: local time, who, the sentence (markup with links)
    and a note; any field missing or odd (an older entry) still reads."""
    action = entry.get("action")
    detail = entry.get("detail") if isinstance(entry.get("detail"), dict) else {}
    at = datetime.fromisoformat(entry["at"]).astimezone(zone)
    return {"at": at.strftime("%Y-%m-%d %H:%M:%S"), "at_iso": at.isoformat(timespec="seconds"),
            "actor": entry.get("actor") or "", "who": _who(entry.get("actor") or "", accounts),
            "role": role_names(str(entry.get("role") or "").split(",")),
            "action": action, "says": _says(action, entry.get("target"), detail, accounts),
            "note": _note(action, detail), "ip": entry.get("ip") or ""}


def _who(actor, accounts):
    if actor.startswith("cli:"):
        return t("audit_actor_cli", user=actor[4:])
    if actor.startswith("unknown:") or actor == "(empty)":
        return t("audit_actor_unknown")
    user = accounts.get(actor)
    return f"{user.display_name} ({actor})" if user and user.display_name else actor


def _link(href, text):
    return Markup('<a href="{}">{}</a>').format(href, text)


def _user(name, accounts):
    name = str(name or "—")
    return _link(url_for("admin_users.user", username=name), name) if name in accounts else name


def _case(case_id):
    """A link to the case, named by its number (its id if it cannot be read)."""
    case_id = str(case_id or "")
    try:
        feature = current_app.extensions["gridmap.cases"].store.get(case_id) if case_id else None
    except BadInput:  # not an id the store takes (too long)
        feature = None
    number = f"#{feature['properties']['case_no']}" if feature else case_id[:12] or "—"
    return _link(url_for("staff_pages.case_page", case_id=case_id), number) if feature else number


def _grid(code):
    known = current_app.extensions["gridmap"].boundaries.known
    return name_of(known[code]) if code in known else str(code or "—")


def _grids(codes):
    return t("list_sep").join(_grid(c) for c in codes) if codes else t("audit_no_grid")


def _category(code):
    category = current_app.extensions["gridmap"].categories.get(code)
    if category is None:
        return str(code or "—")
    return f"{code} {name_of(category)}"


def _says(action, target, detail, accounts):
    """The entry's sentence, its values escaped and its links made here."""
    if action not in ACTIONS:
        return str(action)
    params = {}
    if action in USER_TARGETS:
        params["user"] = _user(target, accounts)
    if action in CASE_TARGETS:
        params["case"] = _case(target)
    if action in ("user_add", "roles_change"):
        params["roles"] = role_names(detail.get("roles") or ())
        params["grids"] = _grids(detail.get("grid_codes") or ())
    if action == "user_rename":
        params.update(name=detail.get("display_name") or "—",
                      old=detail.get("old_display_name") or "—")
    if action in ("token_create", "token_revoke"):
        params.update(token=str(target or "—"), user=_user(detail.get("username"), accounts),
                      name=detail.get("name") or "—")
    if action == "case_transition":
        step = detail.get("action")
        params["step"] = t(f"action_{step}") if step in STEPS else str(step or "—")
    if action == "case_forward":
        params["grid"] = _grid(detail.get("grid_code"))
    if action == "case_photo":
        params["state"] = t("photo_public" if detail.get("public") else "photo_private")
    if action in ("category_add", "category_change"):
        params["category"] = _category(target)
    if action in ("boundary_publish", "boundary_rollback"):
        params["what"] = str(target or "")
    return Markup(escape(t(f"audit_says.{action}"))).format(**params)


STEPS = ("sign", "start", "reply", "close", "forward", "cancel", "reopen", "rate", "report")


def _note(action, detail):
    """A short aside: how a sign-in went, what roles and grids were before."""
    if action in ("signin", "signin_failed"):
        parts = [t("audit_known_device")] if detail.get("known_device") else []
        if detail.get("locked"):
            parts.append(t("audit_locked"))
        return t("list_sep").join(parts)
    if action == "roles_change" and "old_roles" in detail:
        return t("audit_was", roles=role_names(detail.get("old_roles") or ()),
                 grids=_grids(detail.get("old_grid_codes") or ()))
    return ""
