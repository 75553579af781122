"""Serves npm-installed front-end files under ``/assets/`` (Flask owns ``/static/``)."""

from flask import Blueprint, abort, current_app, send_from_directory

from gridmap.maps.assets import ALLOWED_FILES
from gridmap.web.access import ANYONE, allow
from gridmap.web.security import cacheable

bp = Blueprint("assets", __name__, url_prefix="/assets")


@bp.get("/<path:filename>")
@allow(ANYONE)
@cacheable
def asset(filename):
    """An allow-listed asset file: 200, or 404 for anything else.

    The path is compared whole with :data:`ALLOWED_FILES` before any file is
    looked at, so no spelling of a path (``..``, ``%2e``, ``%2f``, ``\\``,
    NUL) reaches another file.
    """
    if filename not in ALLOWED_FILES:
        abort(404)
    return send_from_directory(current_app.config["ASSETS_DIR"], filename, max_age=86400)
