"""The dispatcher's console in a real Chromium against real gunicorn: the heat is drawn
from the server's cells, cluster counts are the list's totals, a filter changes map,
list and URL (and the back button undoes it), a report filed through the API shows
within 3 s without moving the map or closing a popup, a resident's markup stays text,
and the page asks nothing of any host but its own (the test's tile server)."""

import json
import time
import urllib.request

import pytest
import shapely

from gridmap.auth.accounts import AccountStore
from gridmap.geo.datums import from_wgs84
from gridmap.geo.grids import GridSet

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"
EVIL = "<img src=x onerror=alert(1)>"


def post_report(url, lon, lat, category, description):
    body = json.dumps({"lon": lon, "lat": lat, "category": category,
                       "description": description, "contact": "100-0000-0001"}).encode()
    request = urllib.request.Request(url + "/api/reports", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)


def seed(server):
    """Two dozen reports through the API in grids 1–4, one of them with markup;
    returns the grids and how many are of category 06."""
    grids = GridSet.load(server.data_dir / "grids.geojson").grids
    AccountStore(server.data_dir / "accounts.sqlite3").add_user("disp", PASSWORD, ["dispatcher"])
    for i in range(24):
        spot = grids[i % 4].geometry.representative_point()
        post_report(server.url, spot.x + 0.0003 * (i % 3), spot.y + 0.0002 * (i % 5),
                    "06" if i % 3 == 0 else "07", EVIL if i == 7 else f"第 {i} 件")
    return grids, 8


@pytest.fixture(scope="module")
def console_server(start_server, tmp_path_factory):
    return start_server(tmp_path_factory.mktemp("console") / "data",
                        GRIDMAP_REPORT_IP_LIMIT="1000")


def console_page(browser, url):
    """A zh-CN desktop page signed in as the dispatcher, on the page sign-in leads to."""
    page = browser.new_context(viewport={"width": 1400, "height": 900},
                               locale="zh-CN").new_page()
    seen, problems, dialogs = [], [], []
    page.on("request", lambda r: seen.append(r.url))
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: m.type == "error" and "/test-tiles/" not in (
        m.location or {}).get("url", "") and problems.append(m.text))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.route("https://*.is.autonavi.com/**", lambda route: route.abort())  # no internet here
    page.goto(url + "/login")
    page.fill("input[name=username]", "disp")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#signed-in-as")
    return page, seen, problems, dialogs


def settled(page, total):
    """Wait until the list shows ``total`` and the layers agree with it."""
    page.wait_for_function(
        """n => document.getElementById("list-total").dataset.total === String(n)
               && Object.values(gridmapConsole.clusters).reduce((s, m) => s + m.cluster.count, 0) === n
               && gridmapConsole.heat._latlngs.reduce((s, c) => s + c[2], 0) === n""", arg=total)


def test_the_console_draws_filters_and_stays_live(browser, console_server, tmp_path):
    grids, of_06 = seed(console_server)
    url = console_server.url
    page, seen, problems, dialogs = console_page(browser, url)
    assert page.url == url + "/dispatch"  # where a dispatcher lands

    # the heat layer is drawn, with the server's weights
    settled(page, 24)
    painted = page.evaluate("""() => {
        const c = gridmapConsole.heat._canvas, d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
    assert painted > 1000

    # cluster counts are the list's totals, cluster by cluster
    clusters = page.evaluate("Object.values(gridmapConsole.clusters).map(m => m.cluster)")
    assert len(clusters) > 1
    for cluster in clusters:
        total = page.evaluate("""b => fetch("/api/dispatch/cases?bbox=" + b.join(","))
                                   .then(r => r.json()).then(j => j.total)""", cluster["bbox"])
        assert total == cluster["count"]
    page.screenshot(path=str(tmp_path / "console.png"))

    # a filter changes map, list and URL; the back button brings the view back
    page.click("#category-filter summary")
    page.check("input[name=category][value='06']")
    page.wait_for_url("**/dispatch?category=06")
    settled(page, of_06)
    assert page.locator("#cases tbody tr").count() == of_06
    page.screenshot(path=str(tmp_path / "console-filtered.png"))
    page.go_back()
    settled(page, 24)
    assert page.url == url + "/dispatch" and not page.is_checked("input[name=category][value='06']")

    # zoom in on grid 1, open a case's popup, then a new report comes in
    spot = grids[0].geometry.representative_point()
    page.evaluate("""([lon, lat]) => gridmapConsole.map.setView(gridmapFrame.display(lon, lat), 18,
                                                                  {animate: false})""",
                  [spot.x, spot.y])
    page.wait_for_function("() => Object.values(gridmapConsole.clusters).some(m => m.cluster.count === 1)")
    page.evaluate("""() => Object.values(gridmapConsole.clusters).find(m => m.cluster.count === 1)
                               .openPopup()""")
    page.wait_for_selector(".leaflet-popup .popup a")
    page.wait_for_timeout(400)  # the popup pans the map to fit its text, animated
    view = page.evaluate("[gridmapConsole.map.getCenter(), gridmapConsole.map.getZoom()]")
    in_view = page.evaluate("""() => fetch("/api/dispatch/cases?bbox=" + gridmapConsole.map.getBounds()
                               .toBBoxString()).then(r => r.json()).then(j => j.total)""")
    page.wait_for_function("n => document.getElementById('list-total').dataset.total === String(n)",
                           arg=in_view)
    here = page.evaluate("gridmapFrame.wgs84(gridmapConsole.map.getCenter())")
    started = time.monotonic()
    post_report(url, here["lon"], here["lat"], "07", "新来的一件")
    page.wait_for_selector("#new-reports:not([hidden])", timeout=3000)
    page.wait_for_function("n => document.getElementById('list-total').dataset.total === String(n)",
                           arg=in_view + 1, timeout=3000)
    assert time.monotonic() - started < 3
    assert "1" in page.inner_text("#new-reports")
    now = page.evaluate("[gridmapConsole.map.getCenter(), gridmapConsole.map.getZoom()]")
    assert now == view
    assert page.locator(".leaflet-popup").count() == 1  # the popup stayed open
    page.screenshot(path=str(tmp_path / "console-live.png"))

    # a resident's markup is shown as text and never runs
    page.evaluate("() => gridmapConsole.map.closePopup()")
    page.fill("input[name=q]", "onerror")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**/dispatch?q=onerror")
    page.evaluate("() => gridmapConsole.map.fitBounds(gridmapConsole.grids.getBounds())")
    page.wait_for_function("() => document.querySelector('#cases tbody td:nth-child(6)')"
                           "?.textContent === '<img src=x onerror=alert(1)>'")
    page.wait_for_function("() => Object.values(gridmapConsole.clusters).length === 1")
    page.evaluate("() => Object.values(gridmapConsole.clusters)[0].openPopup()")
    page.wait_for_selector(".leaflet-popup .popup p")
    assert page.inner_text(".leaflet-popup .popup p") == EVIL
    assert page.locator("img[src='x']").count() == 0 and dialogs == []

    # nothing but this server (its test tiles included) was asked for anything
    assert seen and all(u.startswith(url + "/") for u in seen), [
        u for u in seen if not u.startswith(url + "/")]
    assert problems == []


@pytest.fixture(scope="module")
def amap_console(start_server, tmp_path_factory):
    return start_server(tmp_path_factory.mktemp("amap-console") / "data", GRIDMAP_TILES="amap")


def test_on_amap_a_case_is_drawn_at_its_gcj02_position(browser, amap_console):
    grids = GridSet.load(amap_console.data_dir / "grids.geojson").grids
    AccountStore(amap_console.data_dir / "accounts.sqlite3").add_user("disp", PASSWORD,
                                                                       ["dispatcher"])
    spot = grids[5].geometry.representative_point()
    code = post_report(amap_console.url, spot.x, spot.y, "06", "井盖缺失")["tracking_code"]
    with urllib.request.urlopen(f"{amap_console.url}/api/track/{code}") as answer:
        lon, lat = json.load(answer)["location"]
    page, _, _, _ = console_page(browser, amap_console.url)
    page.wait_for_function("() => Object.values(gridmapConsole.clusters).length === 1")
    drawn = page.evaluate("() => { const p = Object.values(gridmapConsole.clusters)[0].getLatLng();"
                          " return [p.lng, p.lat]; }")
    # the cluster sits at its members' mean, sent to 6 decimals (0.1 m); GCJ-02 is 500 m off
    assert drawn == pytest.approx(from_wgs84(lon, lat, "gcj02"), abs=2e-6)
    assert shapely.Point(lon, lat).distance(spot) < 1e-6
