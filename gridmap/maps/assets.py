"""Front-end assets for folium maps, served locally (never from a CDN).

Folium points at CDNs by default; every map built here is switched to the
copies installed from the npm registry (``package-lock.json``) and served by
the app under ``/assets/``.
"""

#: npm package files the app may serve: (url path under /assets/, purpose)
ALLOWED_PREFIXES = ("leaflet/dist/",)

LEAFLET_JS = "leaflet/dist/leaflet.js"
LEAFLET_CSS = "leaflet/dist/leaflet.css"


def use_local_assets(folium_map, assets_url):
    """Make ``folium_map`` load Leaflet from ``assets_url`` and nothing else."""
    folium_map.default_js = [("leaflet", f"{assets_url}/{LEAFLET_JS}")]
    folium_map.default_css = [("leaflet_css", f"{assets_url}/{LEAFLET_CSS}")]
    return folium_map
