"""Pages of the case loop: the resident's report and tracking pages, and each
grid team's queue with its sign / handle / reply / close buttons."""

from flask import (Blueprint, current_app, flash, g, redirect, render_template, request,
                   url_for)

from gridmap.audit import CASE_FORWARD, CASE_TRANSITION
from gridmap.cases.categories import in_use
from gridmap.cases.workflow import STATE_NAMES, allowed_actions
from gridmap.errors import GridmapError, NotFound
from gridmap.web.access import ANYONE, allow, require_grid
from gridmap.web.auth import audit
from gridmap.web.cases_api import CASE_ROLES, actor, may_see_contact, service
from gridmap.web.pages import grids_map, render_with_map
from gridmap.web.security import no_store
from gridmap.web.uploads import takes_photos, uploaded_photos

bp = Blueprint("case_pages", __name__)
QUEUE_ARGS = ("state", "category", "overdue", "since", "until", "page", "per_page")


@bp.get("/report")
@allow(ANYONE)
def report():
    """The resident's mobile report page (map tap or "use my location"): 200."""
    categories = in_use(current_app.extensions["gridmap"].categories).values()
    return render_with_map("cases/report.html", grids_map(tooltips=False),
                           categories=categories)


@bp.get("/track")
@allow(ANYONE)
@no_store
def track_lookup():
    """Look up a tracking code: 200 form, or 302 to the case's page."""
    code = request.args.get("code", "").strip().upper()
    if code:
        return redirect(url_for("case_pages.track", code=code[:20]))
    return render_template("cases/track.html", view=None)


@bp.get("/track/<code>")
@allow(ANYONE)
@no_store
def track(code):
    """A case as its reporter sees it (no contact, no staff names): 200; 404 unknown."""
    view = service().public_view(service().by_tracking(code), all_photos=True)
    return render_template("cases/track.html", view=view, state_names=STATE_NAMES)


@bp.get("/grid/<code>")
@allow(*CASE_ROLES)
def grid_queue(code):
    """A grid team's queue with the actions each case allows: 200; 403 other grid; 404."""
    return render_queue(code)


def queue_filters():
    """The queue's filters and page from the query string, to keep across actions."""
    return {k: v for k in QUEUE_ARGS if (v := request.args.get(k))}


def render_queue(code, error=None, status=200):
    community = current_app.extensions["gridmap"]
    if code not in community.grids:
        raise NotFound(f"没有该网格 / no such grid: {code[:20]}")
    require_grid(code)
    filters = queue_filters()
    items, total, page, per_page = service().queue(code, filters)
    pages = max(1, -(-total // per_page))
    if page > pages:  # past the end (an action took cases out of the filter): the last page
        filters["page"] = str(pages)
        items, total, page, per_page = service().queue(code, filters)
    me = actor()
    rows = [(service().staff_view(f, may_see_contact(f)), allowed_actions(f["properties"], me))
            for f in items]
    return render_template("cases/grid.html", grid=community.grids[code], rows=rows,
                           total=total, page=page, pages=pages, state_names=STATE_NAMES,
                           filters=filters, categories=community.categories.values(),
                           category=community.category, grids=community.grids,
                           team=community.teams[code], error=error), status


@bp.post("/grid/<code>/cases/<case_id>")
@allow(*CASE_ROLES)
@takes_photos
def act(code, case_id):
    """A queue button (a reply may carry up to 3 ``photos``, multipart): 302 back to the
    queue with the outcome; a refusal re-renders the queue with the reason and its status
    (400 bad note, 4xx bad photo, 403 rule, 409 wrong state)."""
    feature = service().get(case_id)
    require_grid(feature["properties"]["grid_code"])
    form = request.form
    action = form.get("action", "")
    params = {k: form[k] for k in ("to_grid", "reason") if form.get(k)}
    try:
        new = service().act(case_id, action, actor(), note=form.get("note") or None,
                            photos=uploaded_photos(request.files), **params)
    except GridmapError as exc:
        if exc.status >= 500:
            raise
        return render_queue(code, error=exc.message, status=exc.status)
    audit(CASE_FORWARD if action == "forward" else CASE_TRANSITION, g.user.username,
          target=case_id, detail={"action": action, "state": new["properties"]["state"],
                                  "grid_code": new["properties"]["grid_code"]})
    flash(f"#{new['properties']['case_no']} → {STATE_NAMES[new['properties']['state']][0]}")
    return redirect(url_for("case_pages.grid_queue", code=code, **queue_filters()))
