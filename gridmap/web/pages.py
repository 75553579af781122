"""HTML pages for people. Layout lives in ``templates/pages/``."""

from flask import Blueprint, current_app, g, render_template, url_for

from gridmap.maps.grids_map import build_grids_map, embed
from gridmap.web.i18n import t
from gridmap.web.security import add_nonce
from gridmap.web.access import ANYONE, allow

bp = Blueprint("pages", __name__)


@bp.get("/")
@allow(ANYONE)
def index():
    """The grid overview map with every grid's 1+3+N team: 200."""
    community = current_app.extensions["gridmap"]
    cfg = current_app.config
    fmap = build_grids_map(
        community, tiles=cfg["TILES"], attribution=cfg["TILES_ATTRIBUTION"],
        assets_url=url_for("assets.asset", filename="x")[:-2],
        labels={"code": t("code"), "name": t("name"), "team": t("team"),
                "layer": t("grids"), "lang": g.lang})
    head, body, script = embed(fmap)
    return render_template("pages/index.html", map_head=add_nonce(head), map_body=body,
                           map_script=script, community=community)
