"""Serves npm-installed front-end files under ``/assets/`` (Flask owns ``/static/``)."""

from flask import Blueprint, abort, current_app, send_from_directory

from gridmap.maps.assets import ALLOWED_PREFIXES
from gridmap.web.access import ANYONE, allow

bp = Blueprint("assets", __name__, url_prefix="/assets")


@bp.get("/<path:filename>")
@allow(ANYONE)
def asset(filename):
    """A whitelisted asset file: 200, or 404 for anything else."""
    if not filename.startswith(ALLOWED_PREFIXES):
        abort(404)
    return send_from_directory(current_app.config["ASSETS_DIR"], filename, max_age=86400)
