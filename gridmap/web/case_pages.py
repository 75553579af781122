"""The resident's pages of the case loop: report and tracking (staff's pages are in
:mod:`gridmap.web.staff_pages`)."""

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from gridmap.cases.categories import in_use
from gridmap.web.access import ANYONE, allow
from gridmap.web.cases_api import service
from gridmap.web.pages import grids_map, render_with_map
from gridmap.web.security import no_store

bp = Blueprint("case_pages", __name__)


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
    grid = current_app.extensions["gridmap"].grids[view["grid"]["code"]]
    return render_template("cases/track.html", view=view, grid=grid)
