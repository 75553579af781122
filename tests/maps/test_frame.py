"""MapFrame: on a GCJ-02 map (Amap) everything is drawn where Amap's streets are; on a
WGS 84 map nothing moves."""

import json
import re

import numpy as np
import pytest
import shapely

from gridmap.config import ROOT, load_config
from gridmap.geo.grids import GridSet
from gridmap.maps.case_map import build_case_map
from gridmap.maps.frame import MapFrame
from gridmap.maps.grids_map import embed

#: ../shared/DOMAIN.md: WGS (120, 40) -> GCJ (120.00567568355486, 40.0013047896019);
#: the Qianjiang seat: WGS (108.77568, 29.53106) -> GCJ about (108.78005, 29.52836)
VECTOR_WGS, VECTOR_GCJ = (120.0, 40.0), (120.00567568355486, 40.0013047896019)
SEAT_WGS, SEAT_GCJ = (108.77568, 29.53106), (108.78005, 29.52836)


def frame(tiles):
    return MapFrame(load_config({"TILES": tiles}, environ={})["MAP_TILES"], lang="zh",
                    assets_url="/assets")


def test_points_and_bounds_are_shifted_on_amap_and_kept_elsewhere():
    amap, osm = frame("amap"), frame("osm")
    assert amap.latlng(*VECTOR_WGS) == pytest.approx(VECTOR_GCJ[::-1], abs=1e-12)
    assert osm.latlng(*VECTOR_WGS) == [40.0, 120.0] == frame("none").latlng(*VECTOR_WGS)
    assert sum(amap.bounds(*VECTOR_WGS, *VECTOR_WGS), []) == pytest.approx(
        VECTOR_GCJ[::-1] * 2, abs=1e-12)
    # a box's shifted corners, whichever moves farthest
    south_west, north_east = amap.bounds(108.78, 29.51, 108.82, 29.54)
    corners = [amap.latlng(x, y) for x in (108.78, 108.82) for y in (29.51, 29.54)]
    assert south_west == [min(c[0] for c in corners), min(c[1] for c in corners)]
    assert north_east == [max(c[0] for c in corners), max(c[1] for c in corners)]


def layers(script):
    """The GeoJSON layers in a folium map's script."""
    return [json.loads(m) for m in re.findall(r"_add\((\{.*\})\);", script)]


def test_a_case_on_amap_is_drawn_at_its_gcj02_position_with_its_grid():
    grid = GridSet.load(ROOT / "geodata" / "grids.geojson").grids[0]
    for tiles, where in (("amap", SEAT_GCJ), ("osm", SEAT_WGS)):
        nearby = [{"lon": VECTOR_WGS[0], "lat": VECTOR_WGS[1], "url": "/case/x", "label": "#2"}]
        _, _, script = embed(build_case_map(grid, *SEAT_WGS, frame=frame(tiles), nearby=nearby))
        marker = re.search(r"L\.circleMarker\(\s*\[([-0-9.e]+), ([-0-9.e]+)\]", script)
        assert (float(marker[2]), float(marker[1])) == pytest.approx(where, abs=1e-5)
        boundary, near = layers(script)
        drawn = shapely.geometry.shape(boundary["features"][0]["geometry"])
        assert drawn.equals_exact(shapely.geometry.shape(frame(tiles).geometry(grid.geometry)),
                                  1e-12)
        assert drawn.equals_exact(grid.geometry, 1e-12) == (tiles == "osm")
        point = near["features"][0]["geometry"]["coordinates"]
        assert point == pytest.approx(VECTOR_GCJ if tiles == "amap" else VECTOR_WGS, abs=1e-12)


def test_arrays_of_points_are_shifted_together_on_amap():
    lons, lats = np.array([VECTOR_WGS[0], SEAT_WGS[0]]), np.array([VECTOR_WGS[1], SEAT_WGS[1]])
    shown_lons, shown_lats = frame("amap").lonlats(lons, lats)
    assert [shown_lons[1], shown_lats[1]] == pytest.approx(SEAT_GCJ, abs=1e-5)  # 5 decimals
    assert [shown_lons[0], shown_lats[0]] == pytest.approx(VECTOR_GCJ, abs=1e-12)
    same_lons, same_lats = frame("osm").lonlats(lons, lats)
    assert same_lons.tolist() == lons.tolist() and same_lats.tolist() == lats.tolist()
