"""The resident's pages of the case loop: report, tracking, and the public view of a
case (staff's pages are in :mod:`gridmap.web.staff_pages`)."""

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from gridmap.cases.categories import in_use
from gridmap.cases.workflow import STATES
from gridmap.maps.case_map import build_case_map
from gridmap.web.access import ANYONE, allow
from gridmap.web.cases_api import service
from gridmap.web.i18n import t
from gridmap.web.pages import grids_map, map_settings, render_with_map
from gridmap.web.security import no_store

bp = Blueprint("case_pages", __name__)


def state_names():
    """``{state: name}`` in the request's language."""
    return {state: t(f"state_{state}") for state in STATES}


def render_located(template, view, **context):
    """Render ``template`` for a public view's case with its map (the point in its
    grid's boundary) and its ``grid``."""
    grid = current_app.extensions["gridmap"].grid(view["grid"]["code"])
    lon, lat = view["location"][:2]
    return render_with_map(template, build_case_map(grid, lon, lat, **map_settings()),
                           view=view, grid=grid, **context)


@bp.get("/report")
@allow(ANYONE)
def report():
    """The resident's mobile report page (map tap or "use my location"): 200."""
    categories = in_use(current_app.extensions["gridmap"].categories).values()
    return render_with_map("cases/report.html", grids_map(tooltips=False),
                           categories=categories, state_names=state_names())


@bp.get("/track")
@allow(ANYONE)
@no_store
def track_lookup():
    """Look up a tracking code: 200 form (and this device's own reports, listed from the
    browser's storage by the page's script), or 302 to the case's page."""
    code = request.args.get("code", "").strip().upper()
    if code:
        return redirect(url_for("case_pages.track", code=code[:20]))
    return render_template("cases/track.html", view=None)


@bp.get("/track/<code>")
@allow(ANYONE)
@no_store
def track(code):
    """A case as its reporter sees it (no contact, no staff names), with its map: 200;
    404 unknown."""
    view = service().public_view(service().by_tracking(code), all_photos=True)
    return render_located("cases/track.html", view)


@bp.get("/public/case/<case_id>")
@allow(ANYONE)
def public_case(case_id):
    """A case as anyone may see it, by its id (Open311's ``service_request_id``): what
    Open311 publishes (category, state, the masked description, grid, dates, the public
    photos, the location), never a contact, the reporter, the tracking code, the reply
    or who handles it: 200; 404 unknown."""
    feature = service().get(case_id)
    view = service().public_view(feature)
    return render_located("cases/public_case.html", view, case_id=feature["id"])
