"""HTML pages for people. Layout lives in ``templates/pages/``."""

from flask import Blueprint, current_app, g, render_template, url_for

from gridmap.maps.grids_map import build_grids_map, embed
from gridmap.web.access import ANYONE, allow
from gridmap.web.i18n import t
from gridmap.web.security import add_nonce

bp = Blueprint("pages", __name__)


def map_settings():
    """Tiles, their attribution and where Leaflet is served: what every map builder takes."""
    cfg = current_app.config
    return {"tiles": cfg["TILES"], "attribution": cfg["TILES_ATTRIBUTION"],
            "assets_url": url_for("assets.asset", filename="x")[:-2]}


def grids_map(tooltips=True):
    """The folium map of all grids, in the request's language, with local assets."""
    return build_grids_map(
        current_app.extensions["gridmap"], **map_settings(),
        labels={"code": t("code"), "name": t("name"), "team": t("team"),
                "layer": t("grids"), "lang": g.lang}, tooltips=tooltips)


def render_with_map(template, fmap, **context):
    """Render ``template`` with the folium map's parts (its scripts get the CSP nonce)."""
    head, body, script = embed(fmap)
    return render_template(template, map_head=add_nonce(head), map_body=body,
                           map_script=script, map_name=fmap.get_name(),
                           community=current_app.extensions["gridmap"], **context)


@bp.get("/")
@allow(ANYONE)
def index():
    """The grid overview map with every grid's 1+3+N team: 200."""
    return render_with_map("pages/index.html", grids_map())
