"""Admin pages for the live settings: categories with their time limits, and the
working calendar (accounts: :mod:`gridmap.web.admin_users`; the audit log:
:mod:`gridmap.web.admin_audit`).

Settings changes are checked with the loaders' own rules, written atomically
to the data folder and audited; every worker process picks them up on its
next request (``Community.refresh``). They apply to deadlines set from then
on: existing cases keep the deadlines they were given.
"""

import re

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from gridmap.audit import CALENDAR_CHANGE, CATEGORY_ADD, CATEGORY_CHANGE
from gridmap.cases.calendar import WEEKDAYS
from gridmap.cases.categories import LIMITS, MAX_LIMIT_HOURS, NAME_MAX, make_category
from gridmap.errors import BadInput, GridmapError, NotFound
from gridmap.web.access import allow
from gridmap.web.auth import audit
from gridmap.web.i18n import t, tn

bp = Blueprint("admin", __name__, url_prefix="/admin")
PERIOD = re.compile(r"(\S+?)\s*[-–—~至]\s*(\S+)")
YEAR_LINE = re.compile(r"([0-9]{4})(\*?)(?:\s+(.*))?")


def community():
    return current_app.extensions["gridmap"]


def _refused(exc):
    """The status for a refused settings change: the error's own 4xx, else 400."""
    return exc.status if exc.status < 500 else 400


@bp.get("/categories")
@allow("admin")
def categories(error=None, failed=None, status=200):
    """Categories with their limits, an edit form per row and an add form: 200 (400 re-render)."""
    return render_template("admin/categories.html", categories=community().categories.values(),
                           error=error, failed=failed, form=request.form, name_max=NAME_MAX,
                           max_hours=MAX_LIMIT_HOURS), status


def _category_from_form(code):
    form = request.form
    return make_category(code, form.get("name", ""), form.get("name_en", ""),
                         {k: form.get(f"{k}_hours", "") for k in LIMITS},
                         retired=form.get("retired") == "on")


def _category_detail(category, old=None):
    detail = {"name": category.name, "name_en": category.name_en,
              "limits_hours": category.to_dict()["limits_hours"], "retired": category.retired}
    if old is not None:
        detail["old_limits_hours"] = old.to_dict()["limits_hours"]
        detail["old_retired"] = old.retired
    return detail


@bp.post("/categories")
@allow("admin")
def add_category():
    """Add a category with a new two-digit code: 302 to the list; 400 re-renders naming the field."""
    code = request.form.get("code", "").strip()

    def add(current):
        if code in current:
            raise BadInput("error.admin.category_taken", code=code, field="code")
        current[code] = category
        return dict(sorted(current.items()))

    try:
        category = _category_from_form(code)
        community().save_categories(add)
    except GridmapError as exc:
        return categories(error=exc.render(g.lang), failed="new", status=_refused(exc))
    audit(CATEGORY_ADD, g.user.username, target=code, detail=_category_detail(category))
    flash(t("settings_saved"))
    _, cases = current_app.extensions["gridmap.cases"].store.query(categories=[code], limit=1)
    if cases:  # the code of a category deleted by hand: its cases now show this one
        flash(tn("category_code_had_cases", cases, code=code))
    return redirect(url_for("admin.categories"))


@bp.post("/categories/<code>")
@allow("admin")
def change_category(code):
    """Change one category's names, limits and whether it is retired: 302 to the list;
    400 re-renders (also for retiring the last category in use); 404 unknown code."""
    if code not in community().categories:
        raise NotFound("error.admin.no_such_category", code=code[:20])

    def change(current):
        current[code] = category
        return current

    try:
        category = _category_from_form(code)
        old, _ = community().save_categories(change)
    except GridmapError as exc:
        return categories(error=exc.render(g.lang), failed=code, status=_refused(exc))
    audit(CATEGORY_CHANGE, g.user.username, target=code,
          detail=_category_detail(category, old.get(code)))
    flash(t("settings_saved"))
    return redirect(url_for("admin.categories"))


@bp.get("/calendar")
@allow("admin")
def calendar(error=None, status=200):
    """The working calendar as an edit form: 200 (400 re-render naming the field)."""
    cal = community().calendar
    doc = cal.to_dict()
    shown = {"working_days": doc["working_days"],
             "working_hours": "\n".join(f"{a}-{b}" for a, b in doc["working_hours"]),
             "holidays": "\n".join(doc["holidays"]), "workdays": "\n".join(doc["workdays"]),
             "years": "\n".join(f"{year}{'*' if entry['provisional'] else ''} {entry['source']}"
                                .strip() for year, entry in doc["years"].items())}
    if error:  # show what was sent, so the admin can correct it
        shown = dict(request.form.to_dict(), working_days=request.form.getlist("working_days"))
    return render_template("admin/calendar.html", calendar=cal, shown=shown, error=error,
                           weekdays=[d[:3] for d in WEEKDAYS]), status


@bp.post("/calendar")
@allow("admin")
def change_calendar():
    """Change working days, periods, holidays, make-up workdays and years: 302; 400 re-renders."""
    form = request.form
    try:
        fields = {"working_days": form.getlist("working_days"),
                  "working_hours": _periods(form.get("working_hours", "")),
                  "holidays": _dates(form.get("holidays", "")),
                  "workdays": _dates(form.get("workdays", "")),
                  "years": _years(form.get("years", ""))}
        old, new = community().save_calendar(lambda doc: dict(doc, **fields))
    except GridmapError as exc:
        return calendar(error=exc.render(g.lang), status=_refused(exc))
    audit(CALENDAR_CHANGE, g.user.username, detail=_calendar_detail(old, new))
    flash(t("settings_saved"))
    return redirect(url_for("admin.calendar"))


def _lines(text):
    return [line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip()]


def _periods(text):
    """``08:30-12:00`` lines as ``[["08:30", "12:00"], …]``; the calendar checks the times."""
    periods = []
    for line in _lines(text):
        match = PERIOD.fullmatch(line)
        if not match:
            raise BadInput("error.admin.bad_period", value=repr(line[:30]), field="working_hours")
        periods.append([match[1], match[2]])
    return periods


def _dates(text):
    """Dates separated by lines, spaces or commas; the calendar checks each one."""
    return [d for d in re.split(r"[\s,，、;；]+", text) if d]


def _years(text):
    """``2026 source`` lines (``2027* source`` for a provisional year) as the ``years`` object."""
    years = {}
    for line in _lines(text):
        match = YEAR_LINE.fullmatch(line)
        if not match:
            problem = "error.admin.bad_year_line"
        elif match[1] in years:
            problem = "error.admin.year_twice"
        elif len(line) > 1000:
            problem = "error.admin.year_line_too_long"
        else:
            years[match[1]] = {"source": (match[3] or "").strip(), "provisional": bool(match[2])}
            continue
        raise BadInput(problem, value=repr(line[:40]), field="years")
    return years


def _calendar_detail(old, new):
    """What changed, safe for the audit log: days, periods, and dates added or removed."""
    before, after = old.to_dict(), new.to_dict()
    detail = {"working_days": after["working_days"], "working_hours": after["working_hours"],
              "years": sorted(after["years"])}
    for key in ("holidays", "workdays"):
        added = sorted(set(after[key]) - set(before[key]))
        removed = sorted(set(before[key]) - set(after[key]))
        if added:
            detail[f"{key}_added"] = added
        if removed:
            detail[f"{key}_removed"] = removed
    return detail
