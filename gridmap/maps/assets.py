"""Front-end assets for folium maps, served locally (never from a CDN).

Folium points at CDNs by default; every map built here is switched to the
copies installed from the npm registry (``package-lock.json``) and served by
the app under ``/assets/``.
"""

from pathlib import Path

LEAFLET_JS = "leaflet/dist/leaflet.js"
LEAFLET_CSS = "leaflet/dist/leaflet.css"
LEAFLET_HEAT_JS = "leaflet.heat/dist/leaflet-heat.js"
CONSOLE_JS = "gridmap/console.js"
PLANNING_JS = "gridmap/planning.js"
#: gridmap's own front-end modules, served beside the npm packages: path there -> file
OWN_FILES = {CONSOLE_JS: Path(__file__).with_name("console.js"),
             PLANNING_JS: Path(__file__).with_name("planning.js")}
#: The files the app serves under ``/assets/``, by their exact path there: Leaflet and
#: the images its stylesheet and default marker load, Leaflet.heat, and
#: :data:`OWN_FILES`. Nothing else is served, however the path is spelt (``..``,
#: encoded, backslashes).
ALLOWED_FILES = frozenset((LEAFLET_JS, LEAFLET_CSS, LEAFLET_HEAT_JS, *OWN_FILES, *(
    f"leaflet/dist/images/{name}.png"
    for name in ("layers", "layers-2x", "marker-icon", "marker-icon-2x", "marker-shadow"))))


def use_local_assets(folium_map, assets_url):
    """Make ``folium_map`` load Leaflet from ``assets_url`` and nothing else."""
    folium_map.default_js = [("leaflet", f"{assets_url}/{LEAFLET_JS}")]
    folium_map.default_css = [("leaflet_css", f"{assets_url}/{LEAFLET_CSS}")]
    return folium_map
