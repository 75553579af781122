"""Pages under each tile preset: grids drawn in the tiles' datum, the tile layers in the
page, and a CSP whose img-src names exactly the tile hosts."""

import json
import re

import pytest

from gridmap.geo.datums import from_wgs84
from gridmap.geo.grids import GridSet
from gridmap.maps.frame import DECIMALS
from gridmap.web import create_app

KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tiles") / "data"


def site(data_dir, tiles, **settings):
    return create_app({"DATA_DIR": str(data_dir), "TILES": tiles, **settings}).test_client()


def drawn_grids(html):
    """The grid features in a page's folium script, by grid code."""
    layers = [json.loads(m) for m in re.findall(r"_add\((\{.*\})\);", html)]
    return {f["properties"]["grid_code"]: f["geometry"] for layer in layers
            for f in layer.get("features", ()) if "grid_code" in f.get("properties", {})}


def img_src(answer):
    return re.search(r"img-src ([^;]*);", answer.headers["Content-Security-Policy"])[1]


@pytest.mark.parametrize("path", ["/", "/report"])
def test_on_amap_a_grid_vertex_is_drawn_at_its_gcj02_position(data_dir, path):
    pages = {tiles: site(data_dir, tiles).get(path).get_data(as_text=True)
             for tiles in ("amap", "osm")}
    stored = GridSet.load(data_dir / "grids.geojson").grids
    known = {grid.code: grid.geometry.exterior.coords[0] for grid in stored}  # WGS 84 vertices
    spots = [grid.geometry.representative_point() for grid in stored]  # the code labels
    near = 0.5 * 10**-DECIMALS + 1e-12  # pages round coordinates to DECIMALS places (about 5 cm)
    for tiles, html in pages.items():
        def shown(lon, lat):
            return from_wgs84(lon, lat, "gcj02") if tiles == "amap" else (lon, lat)
        grids = drawn_grids(html)
        assert len(grids) == len(known) == 13
        for code, (lon, lat) in known.items():
            assert grids[code]["coordinates"][0][0] == pytest.approx(shown(lon, lat), abs=near)
        labels = json.loads(re.search(r"(\[\[.*?\]\])\.forEach", html)[1])  # GridLabels
        assert len(labels) == 13
        for (lat, lon, _), spot in zip(labels, spots):
            assert (lon, lat) == pytest.approx(shown(spot.x, spot.y), abs=near)


def test_img_src_names_exactly_the_tile_hosts(data_dir):
    cases = {
        "osm": ["https://tile.openstreetmap.org"],
        "amap": [f"https://webrd0{n}.is.autonavi.com" for n in "1234"],
        "tianditu-imagery": [f"https://t{n}.tianditu.gov.cn" for n in range(8)],
        "none": [],
        "https://{s}.tiles.example/{z}/{x}/{y}.png": ["https://a.tiles.example",
                                                      "https://b.tiles.example"],
    }
    for tiles, hosts in cases.items():
        client = site(data_dir, tiles, TIANDITU_KEY=KEY, TILES_SUBDOMAINS="ab")
        for path in ("/", "/report", "/api/grids"):
            assert img_src(client.get(path)).split() == ["'self'", "data:", *hosts]


def test_tianditu_pages_draw_base_and_annotation_in_the_pages_language(data_dir):
    client = site(data_dir, "tianditu-vector", TIANDITU_KEY=KEY)
    for lang, labels in (("zh", "cva"), ("en", "eva")):
        html = client.get(f"/?lang={lang}").get_data(as_text=True)
        layers = re.findall(r'L\.tileLayer\(\s*"https://t\{s\}\.tianditu\.gov\.cn/(\w+)/', html)
        assert layers == ["vec_w", f"{labels}_w"]
        assert html.count(f"tk={KEY}") == 2 and json.dumps("天地图")[1:-1] in html


def test_offline_pages_have_no_tile_layer(data_dir):
    html = site(data_dir, "none").get("/report").get_data(as_text=True)
    assert "L.tileLayer" not in html and len(drawn_grids(html)) == 13
    assert "gridmapFrame" in html  # the page's script still finds it
