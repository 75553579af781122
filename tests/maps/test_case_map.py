"""The case map: the grid's boundary, the case, and nearby cases whose popups link to
their pages with every text escaped."""

import json
import re

from gridmap.config import ROOT, load_config
from gridmap.geo.grids import GridSet
from gridmap.maps.case_map import build_case_map
from gridmap.maps.frame import MapFrame
from gridmap.maps.grids_map import embed

SETTINGS = {"frame": MapFrame(load_config({"TILES": "https://tiles.example/{z}/{x}/{y}.png"},
                                          environ={})["MAP_TILES"], lang="zh", assets_url="/assets")}


def test_nearby_popups_link_to_case_pages_with_their_labels_escaped():
    grid = GridSet.load(ROOT / "geodata" / "grids.geojson").grids[2]
    spot = grid.geometry.representative_point()
    fmap = build_case_map(grid, spot.x, spot.y, **SETTINGS, nearby=[
        {"lon": spot.x + 0.001, "lat": spot.y, "url": "/case/abc?x=1&y=2",
         "label": "#7 <img src=x onerror=alert(1)>"}])
    head, body, script = embed(fmap)
    layers = [json.loads(m) for m in re.findall(r"_add\((\{.*\})\);", script)]
    links = [f["properties"]["link"] for layer in layers for f in layer.get("features", ())
             if "link" in f.get("properties", {})]
    assert links == [
        '<a href="/case/abc?x=1&amp;y=2">#7 &lt;img src=x onerror=alert(1)&gt;</a>']
    assert "$(" not in script  # folium's Popup needs jQuery, which pages do not load
    assert "cdn" not in head.lower()


def test_without_nearby_cases_the_map_has_no_popups():
    grid = GridSet.load(ROOT / "geodata" / "grids.geojson").grids[2]
    spot = grid.geometry.representative_point()
    _, _, script = embed(build_case_map(grid, spot.x, spot.y, **SETTINGS))
    assert "bindPopup" not in script and "fitBounds" in script
