"""How maps are drawn for one page: tiles, and the datum overlays are shifted to.

gridmap keeps WGS 84 inside. Amap's tiles are drawn in GCJ-02, about 500 m off at
Qianjiang, so on such a map every grid, marker and heat cell is converted to GCJ-02
before it is drawn, and every click converted back before it is used. A
:class:`MapFrame` does this on the server for folium maps; on the page,
``window.gridmapFrame`` (from ``frame.js``, added to every map the frame makes) does
it for markers and clicks::

    marker.setLatLng(gridmapFrame.display(lon, lat));        // WGS 84 -> map
    map.on("click", e => post(gridmapFrame.wgs84(e.latlng)));  // map -> {lon, lat} WGS 84
"""

import json
from pathlib import Path

import folium
import numpy as np
import shapely

from gridmap.geo.coords import CHINA_BBOX
from gridmap.geo.datums import _MARGIN, _TOLERANCE, from_wgs84
from gridmap.maps.assets import use_local_assets

#: decimal places of coordinates sent to a map: 6 is 0.1 m, finer than a screen shows
DECIMALS = 6
FRAME_JS = (Path(__file__).with_name("frame.js")).read_text(encoding="utf-8")


class MapFrame:
    """Tiles and display datum of the maps on one page.

    Parameters
    ----------
    tiles : gridmap.maps.tiles.TileSource
    lang : str
        The page's language (Tianditu's annotation layer follows it).
    assets_url : str
        Where the app serves the npm-installed assets (e.g. ``/assets``).
    """

    def __init__(self, tiles, *, lang, assets_url):
        self.tiles = tiles
        self.lang = lang
        self.assets_url = assets_url
        self.datum = tiles.datum

    def lonlats(self, lons, lats):
        """WGS 84 arrays (or two floats) as drawn on the map: ``(lons, lats)``."""
        if self.datum == "wgs84":
            return lons, lats
        return from_wgs84(lons, lats, self.datum)

    def latlng(self, lon, lat):
        """A WGS 84 point as Leaflet's ``[lat, lon]`` on the map."""
        lon, lat = self.lonlats(float(lon), float(lat))
        return [lat, lon]

    def geometry(self, geometry, decimals=None):
        """A shapely geometry (WGS 84) as a GeoJSON mapping drawn on the map, its
        coordinates rounded to ``decimals`` places if given."""
        if self.datum != "wgs84":
            geometry = shapely.transform(geometry, self._shift)
        if decimals is not None:
            geometry = shapely.transform(geometry, lambda xy: xy.round(decimals))
        return shapely.geometry.mapping(geometry)

    def bounds(self, x0, y0, x1, y1):
        """WGS 84 bounds as Leaflet's ``[[south, west], [north, east]]`` on the map."""
        lons, lats = self.lonlats(np.array([x0, x1, x0, x1]), np.array([y0, y0, y1, y1]))
        return [[float(lats.min()), float(lons.min())], [float(lats.max()), float(lons.max())]]

    def new_map(self, lon, lat, zoom_start):
        """A folium map centred on a WGS 84 point, with this frame's tiles (if any), local
        assets and ``window.gridmapFrame``."""
        fmap = folium.Map(location=self.latlng(lon, lat), zoom_start=zoom_start, tiles=None,
                          max_zoom=self.tiles.max_zoom, control_scale=True)
        use_local_assets(fmap, self.assets_url)
        config = {"datum": self.datum, "box": CHINA_BBOX, "margin": _MARGIN,
                  "tolerance": _TOLERANCE}
        fmap.get_root().script.add_child(
            folium.Element(f"{FRAME_JS.strip()}({json.dumps(config)});"), name="gridmap_frame")
        for i, layer in enumerate(self.tiles.layers(self.lang)):  # Leaflet shows one attribution
            folium.TileLayer(tiles=layer.url, attr=self.tiles.attribution, overlay=i > 0,
                             subdomains=layer.subdomains or "abc",
                             max_zoom=self.tiles.max_zoom).add_to(fmap)
        return fmap

    def _shift(self, coords):
        lons, lats = from_wgs84(coords[:, 0], coords[:, 1], self.datum)
        return np.column_stack([lons, lats])
