"""A case's photos on the web: served to those who may see them, made public by staff.

- ``/track/<code>/photos/<id>.jpg`` (and ``<id>.thumb.jpg``): the reporter, by
  the tracking code, sees every photo of the case;
- ``/photos/<case_id>/<id>.jpg``: staff who may see the case (its grid's staff,
  dispatchers) see every photo; everyone else only those marked public (other
  grids' staff get a 403 for the rest, the public a 401);
- staff mark a photo public or private again: ``POST /api/cases/<id>/photos/<id>``
  (JSON ``{"public": true}``) or the form on the case's page
  (``POST /case/<id>/photos/<id>``).

The file name is matched whole against ``<64 hex>[.thumb].jpg`` and the id must
be one of the case's: no part of a client's path reaches the disk. Private
photos are ``Cache-Control: private, no-store``; public ones may be cached for
good (a photo's id is the hash of its bytes).
"""

import re

from flask import Blueprint, current_app, flash, g, jsonify, redirect, request, url_for

from gridmap.audit import CASE_PHOTO
from gridmap.cases.photos import may_see_photo
from gridmap.errors import GridmapError, NotFound
from gridmap.web.access import ANYONE, allow, require_grid
from gridmap.web.auth import audit
from gridmap.web.cases_api import CASE_ROLES, json_body, may_see_contact, service
from gridmap.web.i18n import t
from gridmap.web.security import cacheable, no_store
from gridmap.web.staff_pages import render_case

bp = Blueprint("photo_views", __name__)
NAME = re.compile(r"([0-9a-f]{64})(\.thumb)?\.jpg")
PRIVATE, PUBLIC = "private, no-store", "public, max-age=31536000, immutable"


def photo_store():
    return service().photos


def _photo_response(feature, name, sees_all):
    """The JPEG ``name`` of the case, if the viewer may see it; else a 404."""
    match = NAME.fullmatch(name)
    entries = feature["properties"].get("photos")
    if match is None or not may_see_photo(entries, match.group(1), sees_all):
        raise NotFound("error.web.no_such_photo", photo=name[:80], field="photo")
    data = photo_store().read(match.group(1), thumb=bool(match.group(2)))
    response = current_app.response_class(data, mimetype="image/jpeg")
    public = may_see_photo(entries, match.group(1), sees_all=False)
    response.headers["Cache-Control"] = PUBLIC if public else PRIVATE
    return response


@bp.get("/track/<code>/photos/<name>")
@allow(ANYONE)
@no_store
@cacheable
def reporter_photo(code, name):
    """A photo of the case for its reporter (any photo of it): 200 JPEG; 404."""
    return _photo_response(service().by_tracking(code), name, sees_all=True)


@bp.get("/photos/<case_id>/<name>")
@allow(ANYONE)
@no_store  # refusals; a photo sets its own Cache-Control
@cacheable
def case_photo(case_id, name):
    """A photo of the case: public ones to anyone, the rest to staff who may see the case:
    200 JPEG; 401 not signed in; 403 another grid's staff; 404 unknown."""
    feature = service().get(case_id)
    match = NAME.fullmatch(name)
    public = match is not None and may_see_photo(feature["properties"].get("photos"),
                                                 match.group(1), sees_all=False)
    if not public:
        require_grid(feature["properties"]["grid_code"])
    return _photo_response(feature, name, sees_all=True)


def _set_public(case_id, photo_id, public):
    feature = service().get(case_id)
    require_grid(feature["properties"]["grid_code"])
    new = service().set_photo_public(case_id, photo_id, public)
    audit(CASE_PHOTO, g.user.username, target=case_id,
          detail={"photo": photo_id, "public": public,
                  "grid_code": new["properties"]["grid_code"]})
    return new


@bp.post("/api/cases/<case_id>/photos/<photo_id>")
@allow(*CASE_ROLES)
def set_public_api(case_id, photo_id):
    """``{"public": true|false}``: show the photo to everyone, or to the reporter and staff
    only: 200 with the case; 400 bad body; 403 another grid; 404 no such case or photo."""
    body = json_body({"public"})
    new = _set_public(case_id, photo_id, body.get("public"))
    return jsonify(service().staff_view(new, may_see_contact(new)))


@bp.post("/case/<case_id>/photos/<photo_id>")
@allow(*CASE_ROLES)
def set_public_form(case_id, photo_id):
    """The case page's form: ``public`` = 1 or 0; 302 back to the case page with the
    outcome; a refusal re-renders it with the reason (400, 404 no such photo, 409)."""
    raw = request.form.get("public", "")
    public = {"1": True, "0": False}.get(raw, raw)
    try:
        _set_public(case_id, photo_id, public)
    except GridmapError as exc:
        if exc.status >= 500 or exc.status in (401, 403):
            raise
        return render_case(service().get(case_id), error=exc, status=exc.status)
    flash(t("photo_made_public" if public else "photo_made_private"))
    return redirect(url_for("staff_pages.case_page", case_id=case_id))
