"""The resident's side on a 390 × 844 touch phone (zh-CN), in a real Chromium against
real gunicorn: the report map names the grid of a tapped or located point before
anything is sent and refuses a point outside the service area at once; a duplicate
hint opens the earlier case's public view; the tracking page shows the location map;
"我的上报" lists this device's reports from the browser's storage alone."""

from pathlib import Path

import pytest
import shapely

from gridmap.geo.grids import GridSet

from test_case_loop_browser import watch

pytestmark = pytest.mark.browser
PHONE = "100-3333-0004"


def tap_at(page, lon, lat):
    """Tap the report map at ``lon, lat``: panned into view first, and tapped once the map
    has settled (no animation, the point inside the map's box)."""
    page.evaluate(
        """([lat, lon]) => {
            const map = Object.values(window).find(v => v instanceof L.Map);
            map.getContainer().scrollIntoViewIfNeeded(true);
            if (!map.getBounds().pad(-0.1).contains([lat, lon])) map.setView([lat, lon], map.getZoom(), {animate: false});
        }""", [lat, lon])
    x, y = page.wait_for_function(
        """([lat, lon]) => {
            const map = Object.values(window).find(v => v instanceof L.Map);
            if (map._animatingZoom || (map._panAnim && map._panAnim._inProgress)) return false;
            if (!map.getBounds().pad(-0.1).contains([lat, lon])) { map.setView([lat, lon], map.getZoom(), {animate: false}); return false; }
            const p = map.latLngToContainerPoint([lat, lon]), r = map.getContainer().getBoundingClientRect();
            return [r.left + p.x, r.top + p.y];
        }""", arg=[lat, lon], polling=100).json_value()
    page.touchscreen.tap(x, y)


def grid_text(page, expected):
    page.wait_for_function("t => document.getElementById('point-grid').textContent.includes(t)",
                           arg=expected)
    return page.inner_text("#point-grid")


def test_the_residents_side_on_a_phone(browser, live_server, tmp_path):
    grids = GridSet.load(live_server.data_dir / "grids.geojson")
    grid = grids.grids[2]
    spot = grid.geometry.representative_point()
    x0, y0, x1, y1 = grids.bounds
    far = ((x0 + x1) / 2, y1 + 0.003)  # about 330 m north of every grid
    shots = Path(tmp_path)
    problems, sent = [], []
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True,
                                  is_mobile=True, locale="zh-CN", permissions=["geolocation"],
                                  geolocation={"latitude": spot.y, "longitude": spot.x})
    phone = context.new_page()
    watch(phone, problems)
    phone.on("request", lambda r: sent.append((r.method, r.url, r.post_data or "")))
    phone.goto(live_server.url + "/report")
    phone.wait_for_selector("path.leaflet-interactive")
    phone.select_option("select[name=category]", "06")
    phone.fill("textarea[name=description]", f"路灯不亮，联系 {PHONE}")
    phone.fill("input[name=contact]", PHONE)

    # 1. outside: refused at once, naming the nearest grid; nothing is sent
    tap_at(phone, *far)
    text = grid_text(phone, "不在服务范围内")
    assert "最近的网格是第" in text and "米" in text
    phone.screenshot(path=str(shots / "1-outside.png"))
    phone.tap("#submit")
    assert "不在服务范围内" in phone.inner_text("#error")
    assert not [s for s in sent if s[0] == "POST"]

    # just outside, within the snapping tolerance: taken, as intake takes it
    corners = shapely.get_coordinates(shapely.union_all(grids.geometries))
    summit = corners[corners[:, 1].argmax()]
    tap_at(phone, summit[0], summit[1] + 0.0002)  # about 22 m north of the highest corner
    snapped = grid_text(phone, "就近归入")
    phone.tap("#submit")
    phone.wait_for_selector("#result:not([hidden])")
    assert phone.inner_text("#result-grid").split("（")[0] in snapped
    phone.goto(live_server.url + "/report")
    phone.wait_for_selector("path.leaflet-interactive")
    phone.select_option("select[name=category]", "06")
    phone.fill("textarea[name=description]", f"路灯不亮，联系 {PHONE}")
    phone.fill("input[name=contact]", PHONE)

    # a slow lookup of the last tap never overwrites the answer for this one
    held = []
    phone.route("**/api/route?*", lambda route: held.append(route) if not held
                else route.continue_())
    tap_at(phone, *far)
    grid_text(phone, "正在查询")
    phone.click("#locate")  # "use my location": the phone is inside the grid
    assert grid.name in grid_text(phone, "所属网格：")
    try:
        held[0].continue_()  # the outside answer arrives late (or its fetch was aborted)
    except pytest.importorskip("playwright.sync_api").Error:  # the page gave the request up
        pass
    phone.wait_for_timeout(300)
    assert phone.inner_text("#point-grid") == f"所属网格：{grid.name}"
    phone.unroute("**/api/route?*")
    phone.screenshot(path=str(shots / "2-inside.png"))
    phone.tap("#submit")
    phone.wait_for_selector("#result:not([hidden])")
    first = phone.inner_text("#result-code")

    # 2. the same spot again: the duplicate hint opens the earlier case's public view
    phone.goto(live_server.url + "/report")
    phone.wait_for_selector("path.leaflet-interactive")
    phone.select_option("select[name=category]", "06")
    phone.fill("textarea[name=description]", "门口路灯还是不亮")
    tap_at(phone, spot.x, spot.y)
    grid_text(phone, grid.name)
    phone.tap("#submit")
    link = phone.wait_for_selector("#result-duplicates a")
    assert link.inner_text().startswith("#2 ")  # #1 was the snapped report
    second = phone.inner_text("#result-code")
    phone.screenshot(path=str(shots / "3-duplicate-hint.png"), full_page=True)
    link.tap()
    phone.wait_for_selector("#public-case path.leaflet-interactive")  # the grid's boundary
    page_text = phone.inner_text("main")
    assert "路灯不亮" in page_text and grid.name in page_text
    assert PHONE not in page_text and "1003330004" not in page_text.replace("-", "")
    assert first not in phone.content() and second not in phone.content()
    phone.screenshot(path=str(shots / "4-public-case.png"), full_page=True)

    # 3. the tracking page shows the location map
    phone.goto(f"{live_server.url}/track/{first}")
    phone.wait_for_selector("#location-map path.leaflet-interactive")
    assert phone.locator("#location-map path.leaflet-interactive").count() == 2  # grid, point
    phone.screenshot(path=str(shots / "5-track-map.png"), full_page=True)

    # 4. 我的上报: this device's codes, from the browser alone
    sent.clear()
    phone.goto(live_server.url + "/track")
    items = phone.locator("#my-reports li")
    items.first.wait_for()
    assert items.count() == 3
    assert "#3" in items.nth(0).inner_text() and "环境卫生" in items.nth(0).inner_text()
    assert items.nth(1).locator("a").get_attribute("href") == f"/track/{first}"
    assert not [s for s in sent if first in s[1] + s[2] or second in s[1] + s[2]]
    phone.screenshot(path=str(shots / "6-my-reports.png"), full_page=True)
    phone.once("dialog", lambda d: d.accept())
    items.nth(0).locator("button").tap()
    phone.reload()
    items.first.wait_for()
    assert items.count() == 2 and first in items.first.inner_text()
    items.first.locator("a").tap()
    phone.wait_for_url(f"**/track/{first}")
    assert problems == []
    context.close()
