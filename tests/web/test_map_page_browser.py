"""The grid map page in a real headless Chromium against a real gunicorn server."""

import json

import pytest
import shapely

from gridmap.geo.grids import GridSet

pytestmark = pytest.mark.browser


def open_map(browser, url):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and "Content Security Policy" in m.text
            and errors.append(m.text))
    page.goto(url)
    page.wait_for_selector("path.leaflet-interactive")
    return page, requests, errors


@pytest.fixture
def hover_grid(grid_on_screen):
    """``(page, geometry) -> str``: hover over a grid and return its tooltip's text."""

    def hover(page, geometry):
        page.mouse.move(*grid_on_screen(page, geometry))
        return page.wait_for_selector(".leaflet-tooltip").inner_text()

    return hover


def test_map_shows_13_grids_with_tooltips_and_local_assets(browser, live_server, tmp_path,
                                                           hover_grid):
    grids = GridSet.load(live_server.data_dir / "grids.geojson")
    teams = json.loads((live_server.data_dir / "teams.json").read_text(encoding="utf-8"))["teams"]
    page, requests, errors = open_map(browser, live_server.url + "/")
    assert page.locator("path.leaflet-interactive").count() == 13
    assert "示意" in page.inner_text(".schematic")
    assert page.title() == "路东社区网格地图"
    for grid in (grids.grids[0], grids.grids[6], grids.grids[12]):
        text = hover_grid(page, grid.geometry)
        assert grid.code in text and grid.name in text
        assert teams[grid.code]["head"]["name"] in text
    # grid 009's part-time slot is vacant, and shows as such
    assert "空缺" in hover_grid(page, grids.grids[8].geometry)
    assert "空缺" in page.inner_text('[data-grid-code$="009"]')
    page.screenshot(path=str(tmp_path / "map.png"))
    assert errors == []
    assert requests and all(u.startswith(live_server.url + "/") for u in requests), requests


def test_english_on_request_and_remembered(browser, live_server):
    page, _, _ = open_map(browser, live_server.url + "/")
    page.click("#lang-switch")
    page.wait_for_selector("path.leaflet-interactive")
    assert page.title() == "Ludong Community Grid Map"
    assert "Schematic" in page.inner_text(".schematic")
    page.goto(live_server.url + "/")
    assert "Grid 1" in page.inner_text("aside.grids")


def test_markup_in_grid_names_is_shown_as_text(browser, start_server, tmp_path_factory,
                                               hover_grid):
    data = tmp_path_factory.mktemp("xss") / "data"
    start_server(data).stop()  # creates the data folder
    path = data / "generations" / "0001.geojson"  # the active generation
    doc = json.loads(path.read_text(encoding="utf-8"))
    evil = '<img src=x onerror="window.__xss=1">'
    doc["features"][0]["properties"]["name"] = evil
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    server = start_server(data)
    page, requests, errors = open_map(browser, server.url + "/")  # the map has rendered
    geometry = shapely.geometry.shape(doc["features"][0]["geometry"])
    assert evil in hover_grid(page, geometry)  # and the tooltip is shown
    assert evil in page.inner_text("aside.grids")
    # markup would have made an element (which starts fetching "x" at once): there is none
    assert page.locator('img[src="x"], [onerror]').count() == 0
    assert not [u for u in requests if u.endswith("/x")]
    assert page.evaluate("window.__xss") is None
    assert errors == []
