"""Tile presets in a real Chromium against real gunicorn: on Amap (GCJ-02) a tap is stored
as the WGS 84 point under it; with ``none`` no tile is asked for and the grids still draw.
There is no internet here: Amap's tile requests are answered by the test."""

import io
import json
import math
import urllib.request

import pytest
import shapely
from PIL import Image

from gridmap.geo.datums import from_wgs84, to_wgs84
from gridmap.geo.grids import GridSet

pytestmark = pytest.mark.browser
AMAP_HOSTS = {f"https://webrd0{n}.is.autonavi.com" for n in "1234"}


def tile_png():
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (240, 232, 200)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def amap_server(start_server, tmp_path_factory):
    return start_server(tmp_path_factory.mktemp("amap") / "data", GRIDMAP_TILES="amap")


@pytest.fixture(scope="module")
def offline_server(start_server, tmp_path_factory):
    return start_server(tmp_path_factory.mktemp("offline") / "data", GRIDMAP_TILES="none")


def open_page(browser, url, tiles=None):
    """A phone-sized page with every request recorded; Amap's tile hosts answered locally."""
    page = browser.new_page(viewport={"width": 390, "height": 844})
    seen, problems = [], []
    page.on("request", lambda r: seen.append(r.url))
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    if tiles:
        page.route("https://*.is.autonavi.com/**",
                   lambda route: route.fulfill(status=200, content_type="image/png", body=tiles))
    page.goto(url)
    page.wait_for_selector("path.leaflet-interactive")
    return page, seen, problems


def metres(a, b):
    """Distance between two (lon, lat) points, in metres (small distances)."""
    dx = (a[0] - b[0]) * 111_320 * math.cos(math.radians(a[1]))
    return math.hypot(dx, (a[1] - b[1]) * 110_574)


def test_a_tap_on_amap_is_routed_and_stored_as_the_wgs84_point_under_it(browser, amap_server,
                                                                         tmp_path):
    grid = GridSet.load(amap_server.data_dir / "grids.geojson").grids[4]
    spot = grid.geometry.representative_point()
    near = from_wgs84(spot.x, spot.y, "gcj02")  # where Amap's tiles have that street corner
    page, seen, problems = open_page(browser, amap_server.url + "/report", tiles=tile_png())
    # the pixel there, at the highest zoom, and the place on the map at that very pixel
    x, y, lat, lon = page.evaluate(
        """([lat, lon]) => {
            const map = Object.values(window).find(v => v instanceof L.Map);
            map.getContainer().scrollIntoViewIfNeeded(true);
            map.setView([lat, lon], map.getMaxZoom(), {animate: false});
            map.on("click", e => { window.__tap = e.latlng; });
            const p = map.latLngToContainerPoint([lat, lon]);
            const r = map.getContainer().getBoundingClientRect();
            const x = Math.round(r.left + p.x), y = Math.round(r.top + p.y);
            const at = map.mouseEventToLatLng({clientX: x, clientY: y});  // as a click's
            return [x, y, at.lat, at.lng];
        }""", [near[1], near[0]])
    known = to_wgs84(lon, lat, "gcj02")  # the WGS 84 point Amap draws at that pixel
    assert 500 < metres(known, (lon, lat)) < 540 and grid.geometry.covers(shapely.Point(known))
    page.wait_for_load_state("networkidle")
    page.mouse.click(x, y)
    assert page.evaluate("[window.__tap.lng, window.__tap.lat]") == pytest.approx((lon, lat),
                                                                                  abs=1e-9)
    page.select_option("select[name=category]", "06")
    page.fill("textarea[name=description]", "路灯不亮")
    page.click("#submit")
    page.wait_for_selector("#result:not([hidden])")
    assert grid.code in page.inner_text("#result-grid")
    page.screenshot(path=str(tmp_path / "amap-reported.png"))
    code = page.inner_text("#result-code")
    with urllib.request.urlopen(f"{amap_server.url}/api/track/{code}") as answer:
        stored = json.load(answer)["location"]
    assert metres(stored, known) < 0.02  # stored in WGS 84, to 2 cm (7 decimals: 1 cm)
    tiles = [u for u in seen if not u.startswith(amap_server.url + "/")]
    assert tiles and {u.split("/appmaptile")[0] for u in tiles} <= AMAP_HOSTS, tiles
    assert problems == []


def test_the_page_converts_markers_and_clicks_as_the_server_does(browser, amap_server):
    page, _, _ = open_page(browser, amap_server.url + "/", tiles=tile_png())
    points = [(108.8, 29.52), (120.0, 40.0), (135.04, 53.5), (73.67, 39.0), (2.35, 48.85),
              (108.77568, 29.53106)]
    shown = page.evaluate("ps => ps.map(p => { const l = gridmapFrame.display(p[0], p[1]); "
                          "return [l.lng, l.lat]; })", points)
    back = page.evaluate("ps => ps.map(p => { const w = gridmapFrame.wgs84(L.latLng(p[1], p[0])); "
                         "return [w.lon, w.lat]; })", shown)
    for point, on_map, again in zip(points, shown, back):
        assert on_map == pytest.approx(from_wgs84(*point, "gcj02"), abs=1e-12)
        assert again == pytest.approx(to_wgs84(*on_map, "gcj02"), abs=1e-12)
        assert again == pytest.approx(point, abs=1e-8)
    assert page.evaluate("gridmapFrame.datum") == "gcj02"


def test_offline_the_grids_draw_and_no_tile_is_asked_for(browser, offline_server, tmp_path):
    for path in ("/", "/report"):
        page, seen, problems = open_page(browser, offline_server.url + path)
        page.wait_for_load_state("networkidle")
        assert page.locator("path.leaflet-interactive").count() == 13
        assert page.locator("img.leaflet-tile").count() == 0
        assert seen and all(u.startswith(offline_server.url + "/") for u in seen), seen
        assert not [u for u in seen if "tile" in u.split("/")[-1]], seen
        assert problems == []
        page.screenshot(path=str(tmp_path / f"offline{path.replace('/', '-')}.png"))
