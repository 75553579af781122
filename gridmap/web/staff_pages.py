"""Staff pages of the case loop: a grid's queue and the all-cases list (cards, phone
first), and the case page with its map, deadlines, history, nearby cases and the
actions the caller may take."""

from flask import (Blueprint, current_app, flash, g, redirect, render_template, request,
                   url_for)

from gridmap.audit import CASE_FORWARD, CASE_TRANSITION
from gridmap.cases.workflow import CANCEL_REASONS, STATES, allowed_actions
from gridmap.errors import BadInput, GridmapError, NotFound
from gridmap.maps.case_map import build_case_map
from gridmap.web import case_display
from gridmap.web.access import allow, require_grid
from gridmap.web.auth import audit, landing
from gridmap.web.i18n import name_of, t
from gridmap.web.cases_api import CASE_ROLES, actor, may_see_contact, service
from gridmap.web.pages import map_settings, render_with_map
from gridmap.web.uploads import takes_photos, uploaded_photos

bp = Blueprint("staff_pages", __name__)
LIST_ARGS = ("grid", "state", "category", "overdue", "since", "until", "page", "per_page")
CONFIRMED = ("forward", "cancel")  #: actions that ask "are you sure?" first
NEARBY_RADIUS_M = 300.0


def community():
    return current_app.extensions["gridmap"]


@bp.get("/grid/<code>")
@allow(*CASE_ROLES)
def grid_queue(code):
    """A grid team's queue, a card a case: 200; 400 bad filter; 403 other grid; 404. A
    grid of an earlier generation, no longer active, still lists the cases left in it."""
    grid = community().grids[code] if code in community().grids else None
    if grid is None:
        grid = community().generations.last_published(code)
        if grid is None:
            raise NotFound("error.web.no_such_grid", code=code[:20])
        grid = dict(grid, code=code, retired=community().generation)
    require_grid(code)
    return render_list([code], grid=grid)


@bp.get("/cases")
@allow(*CASE_ROLES)
def all_cases():
    """Every case the caller may see (dispatchers: all; grid staff: their grids), a card
    a case, ``grid=`` narrowing it to one: 200; 400 bad filter; 403 a grid not theirs."""
    chosen = request.args.get("grid")
    if chosen:
        if chosen not in community().grids:
            raise BadInput("error.web.bad_grid_choice", value=repr(chosen[:20]), field="grid")
        require_grid(chosen)
        codes = [chosen]
    else:
        codes = None if g.user.has_role("dispatcher") else sorted(g.user.grid_codes)
    return render_list(codes, grid=None)


def list_filters():
    """The list's filters and page from the query string, to keep across pages."""
    return {k: v for k in LIST_ARGS if (v := request.args.get(k))}


def render_list(codes, grid):
    filters = list_filters()
    query = {k: v for k, v in filters.items() if k != "grid"}
    items, total, page, per_page = service().queue(codes, query)
    pages = max(1, -(-total // per_page))
    if page > pages:  # past the end (cases left the filter meanwhile): the last page
        filters["page"] = query["page"] = str(pages)
        items, total, page, per_page = service().queue(codes, query)
    now = service().clock()
    cards = [case_display.card(community(), now, service().staff_view(f, False), f["id"])
             for f in items]
    user = g.user
    choosable = [gr for gr in community().grids
                 if user.has_role("dispatcher") or user.can_act_on_grid(gr.code)]
    here = (url_for("staff_pages.grid_queue", code=codes[0]) if grid
            else url_for("staff_pages.all_cases"))
    return render_template("cases/grid.html", grid=grid, cards=cards, total=total, page=page,
                           pages=pages, filters=filters, here=here, states=STATES,
                           categories=community().categories.values(), grids=choosable)


@bp.get("/case/<case_id>")
@allow(*CASE_ROLES)
def case_page(case_id):
    """One case: map, fields, deadlines, history, nearby cases and the caller's actions:
    200; 403 another grid's case; 404 unknown."""
    feature = service().get(case_id)
    require_grid(feature["properties"]["grid_code"])
    return render_case(feature)


@bp.post("/case/<case_id>")
@allow(*CASE_ROLES)
@takes_photos
def act(case_id):
    """An action from the case page (a reply may carry up to 3 ``photos``, multipart): 302
    back to it with the outcome (to the caller's own list when the case left their grids).
    Forward and cancel answer 200 with a confirmation first, unless ``confirm=yes``. A
    refusal re-renders the page with the reason and its status (400 missing note or
    reason, 4xx bad photo, 403 rule, 409 wrong state)."""
    feature = service().get(case_id)
    require_grid(feature["properties"]["grid_code"])
    form = request.form
    action = form.get("action", "")
    params = {k: form[k] for k in ("to_grid", "reason") if form.get(k)}
    note = form.get("note", "").replace("\r\n", "\n") or None  # a textarea sends CRLF
    try:
        if action in CONFIRMED and form.get("confirm") != "yes":
            service().check_act(case_id, action, actor(), note=note, **params)
            return render_case(feature, confirm={"action": action, "note": note, **params})
        new = service().act(case_id, action, actor(), note=note,
                            photos=uploaded_photos(request.files), **params)
    except GridmapError as exc:
        if exc.status >= 500:
            raise
        return render_case(service().get(case_id), error=exc, form=form, status=exc.status)
    props = new["properties"]
    audit(CASE_FORWARD if action == "forward" else CASE_TRANSITION, g.user.username,
          target=case_id, detail={"action": action, "state": props["state"],
                                  "grid_code": props["grid_code"]})
    flash(f"#{props['case_no']} → {t('state_' + props['state'])}")
    if may_see_contact(new):
        return redirect(url_for("staff_pages.case_page", case_id=case_id))
    return redirect(landing(g.user))  # forwarded out of the caller's grids


def render_case(feature, error=None, form=None, confirm=None, status=200):
    """The case page; ``error`` (a GridmapError) shown above it, ``form`` refilled,
    ``confirm`` the action waiting for a confirmation."""
    cmty = community()
    view = service().staff_view(feature, may_see_contact(feature))
    grid = cmty.grid(view["grid_code"])
    lon, lat = view["location"]
    near = nearby(feature)
    fmap = build_case_map(grid, lon, lat, **map_settings(), nearby=[
        dict(n, label=f"#{n['case_no']} {n['category_name']} {n['state_name']}") for n in near])
    now = service().clock()
    actions = [a for a in allowed_actions(feature["properties"], actor()) if a != "rate"]
    team = cmty.teams[grid.code]
    members = {m.person_id: (zh, en, m.name) for _, zh, en, m in team.slots() if m}
    return render_with_map(
        "cases/case.html", fmap, case=view, case_id=feature["id"], grid=grid,
        category=cmty.category(view["category"]),
        deadlines=case_display.deadlines(cmty, now, view),
        ago=case_display.time_ago(now, view["reported_at"]),
        assignee=members.get(view.get("assignee")), nearby=near, actions=actions,
        nearby_radius=round(NEARBY_RADIUS_M),
        other_grids=[gr for gr in cmty.grids if gr.code != grid.code],
        cancel_reasons=CANCEL_REASONS, grids=cmty.grids, known=cmty.boundaries.known,
        error=error, form=form or {},
        confirm=confirm), status


def nearby(feature):
    """:meth:`CaseService.nearby` within :data:`NEARBY_RADIUS_M` that the caller may
    see, labelled for the page."""
    cat = community().category(feature["properties"]["category"])
    return [{"case_id": f["id"], "case_no": f["properties"]["case_no"],
             "url": url_for("staff_pages.case_page", case_id=f["id"]),
             "state": f["properties"]["state"],
             "state_name": t("state_" + f["properties"]["state"]),
             "category_name": name_of(cat),
             "reported_at": f["properties"]["reported_at"][5:16].replace("T", " "),
             "lon": f["geometry"]["coordinates"][0], "lat": f["geometry"]["coordinates"][1],
             "distance_m": metres}
            for f, metres in service().nearby(feature, NEARBY_RADIUS_M, may_see_contact)]
