"""HTML pages for people. Layout lives in ``templates/pages/``."""

from flask import Blueprint, current_app, g, make_response, render_template

from gridmap.maps.assets import LEAFLET_CSS, LEAFLET_JS
from gridmap.maps.frame import MapFrame
from gridmap.maps.grids_map import build_grids_map, embed
from gridmap.web.access import ANYONE, allow
from gridmap.web.assets import assets_url
from gridmap.web.i18n import t
from gridmap.web.security import add_nonce

bp = Blueprint("pages", __name__)


def map_settings():
    """What every map builder takes: the page's :class:`MapFrame` (tiles, the datum
    overlays are drawn in, where Leaflet is served)."""
    return {"frame": MapFrame(current_app.config["MAP_TILES"], lang=g.lang,
                              assets_url=assets_url())}


def grids_map(tooltips=True):
    """The folium map of all grids, in the request's language, with local assets."""
    return build_grids_map(
        current_app.extensions["gridmap"], **map_settings(),
        labels={"code": t("code"), "name": t("name"), "team": t("team"),
                "layer": t("grids"), "lang": g.lang}, tooltips=tooltips)


def render_with_map(template, fmap, **context):
    """Render ``template`` with the folium map's parts (its scripts get the CSP nonce).

    The answer's ``Link`` header names Leaflet's files, so a browser asks for them as
    soon as the headers arrive rather than once it has parsed the page's head."""
    return render_embedded(template, (*embed(fmap), fmap.get_name()), **context)


def render_embedded(template, parts, **context):
    """:func:`render_with_map` with the map already embedded: ``parts`` is
    ``(head, body, script, map name)`` (:func:`embed`, and the map's name)."""
    head, body, script, name = parts
    page = render_template(template, map_head=add_nonce(head), map_body=body,
                           map_script=script, map_name=name,
                           community=current_app.extensions["gridmap"], **context)
    url, response = assets_url(), make_response(page)
    response.headers["Link"] = (f"<{url}/{LEAFLET_CSS}>; rel=preload; as=style, "
                                f"<{url}/{LEAFLET_JS}>; rel=preload; as=script")
    return response


@bp.get("/")
@allow(ANYONE)
def index():
    """The grid overview map with every grid's 1+3+N team: 200."""
    return render_with_map("pages/index.html", grids_map())
