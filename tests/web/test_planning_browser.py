"""The planner's editor in a real Chromium (1280×800, zh-CN) against real gunicorn: a
planner signs in and lands on it, sees the 13 grids, splits grid 013 by a drawn line
and sees 14, undoes to 13 and redoes to 14 (buttons and Ctrl+Z / Ctrl+Y), runs the
check, previews the effect on the cases (the from → to table, the moving open cases,
the shaded difference), publishes with a description, and the public /api/route
answers by the new generation at once. A planner-written name stays text; team choices
for the new grids (one vacant) last through undo, redo and a reload. Then, on a
fresh server: a boundary file with a gap uploaded as the draft, its publish refused with
the problem listed, the gap fixed in one click, a shared vertex dragged (both grids
follow, with identical coordinates), a shared border redrawn, two grids merged, one
removed, published with a date and rolled back. On fresh servers too: a file with one
problem of each kind, each drawn as its own shape (points as markers); a grid added with
the add tool, given a team, a code and names, and found in the check and the preview.
Screenshots of each step go to $GRIDMAP_SCREENSHOTS (else the test's tmp_path); the
phone check at 390 px too."""

import json
import os
import urllib.request
from pathlib import Path

import pytest
import shapely
from shapely.geometry import LineString
from shapely.ops import split

from gridmap.auth.accounts import AccountStore
from gridmap.geo.grids import GridSet

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"
C = "500114005001"
EVIL = "<img src=x onerror=window.__pwned=1>"


def get_json(url):
    with urllib.request.urlopen(url) as answer:
        return json.load(answer)


def post_report(url, lon, lat, description):
    body = json.dumps({"lon": lon, "lat": lat, "category": "06", "description": description,
                       "contact": "100-0000-0001"}).encode()
    request = urllib.request.Request(url + "/api/reports", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)


@pytest.fixture(scope="module")
def planning_server(start_server, tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("planning") / "data",
                          GRIDMAP_REPORT_IP_LIMIT="1000")
    AccountStore(server.data_dir / "accounts.sqlite3").add_user("plan", PASSWORD, ["planner"])
    return server


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("GRIDMAP_SCREENSHOTS") or tmp_path) / "planning"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def the_line_across(grid):
    """A line across the grid through two of its vertices (0 and 5), drawn from about
    20 m outside to 20 m outside (the server clips it and snaps its ends)."""
    ring = grid.exterior.coords[:-1]
    (ax, ay), (bx, by) = ring[0], ring[5]
    dx, dy = bx - ax, by - ay
    return [(ax - 0.03 * dx, ay - 0.03 * dy), (bx + 0.03 * dx, by + 0.03 * dy)]


#: True once the map has not moved since the last poll and no animation runs.
SETTLED = """() => {
    const map = window.gridmapPlanning.map, now = map.getCenter().toString() + map.getZoom();
    const same = now === window.lastView && !map._animatingZoom && !map._panAnim?._inProgress;
    window.lastView = now;
    return same;
}"""


def fit_all(page, codes=None):
    """Show every grid (or those of ``codes``, closer: a click then lands within a
    metre), once any animated move (a row's click zooms to its grid) has ended: one
    still running would end at its own target, after the fit."""
    page.wait_for_function(SETTLED, polling=100)
    page.evaluate("""codes => {
        const p = window.gridmapPlanning, bounds = L.latLngBounds([]);
        p.grids.eachLayer(l => {
            if (!codes || codes.includes(l.feature.properties.grid_code)) bounds.extend(l.getBounds());
        });
        p.map.fitBounds(bounds, {animate: false});
    }""", codes)
    page.wait_for_function(SETTLED, polling=100)


def on_screen(page, lon, lat):
    return page.evaluate(
        """([lat, lon]) => {
            const map = window.gridmapPlanning.map;
            const p = map.latLngToContainerPoint(window.gridmapFrame.display(lon, lat));
            const r = map.getContainer().getBoundingClientRect();
            return [r.left + p.x, r.top + p.y];
        }""", [lat, lon])


def says(page, words):
    """Wait until the status line says ``words`` (else fail showing what it says)."""
    try:
        page.wait_for_function("w => document.getElementById('status').textContent.includes(w)",
                               arg=words, timeout=15000)
    except Exception:
        pytest.fail(f"the status says {page.inner_text('#status')!r}, not {words!r}; "
                    f"refusal: {page.inner_text('#publish-refusal')!r}")


def rows(page, n):
    page.wait_for_function(
        "n => document.querySelectorAll('#grid-list tbody tr').length === n"
        " && !window.gridmapPlanning.ui.busy", arg=n)


def test_a_planner_splits_checks_previews_and_publishes(browser, planning_server, shots):
    url = planning_server.url
    grids = {g.code: g for g in GridSet.load(planning_server.data_dir / "grids.geojson").grids}
    g13 = grids[C + "013"].geometry
    north, south = (part.representative_point() for part in
                    split(g13, LineString(the_line_across(g13))).geoms)
    for k, spot in enumerate((north, south, north, south)):
        post_report(url, spot.x, spot.y, EVIL if k == 0 else f"路灯 {k}")

    page, problems, dialogs = sign_in(browser, url)
    assert page.inner_text("#gen-info").count("第 1 代") == 1
    assert page.locator(".code-label", has_text="013").count() == 1
    assert page.is_disabled("#undo") and page.is_disabled("#redo")
    page.screenshot(path=str(shots / "1-grids.png"))

    # split 013 by a drawn line: pick it in the list, draw, finish
    page.click(f"#grid-list tr[data-code='{C}013']")
    page.click("#tool-split")
    for lon, lat in the_line_across(g13):
        x, y = on_screen(page, lon, lat)
        page.mouse.click(x, y)
    page.screenshot(path=str(shots / "2-line-drawn.png"))
    page.click("#draw-finish")
    rows(page, 14)
    assert f"{C}013" not in page.inner_text("#grid-list")
    assert page.is_enabled("#undo") and page.is_disabled("#redo")
    assert "草稿" in page.inner_text("#gen-info")
    page.screenshot(path=str(shots / "3-split-14-grids.png"))

    page.click("#undo")
    rows(page, 13)
    assert f"{C}013" in page.inner_text("#grid-list") and page.is_enabled("#redo")
    page.screenshot(path=str(shots / "4-undone-13.png"))
    page.keyboard.press("Control+y")
    rows(page, 14)
    page.keyboard.press("Control+z")
    rows(page, 13)
    page.click("#redo")
    rows(page, 14)

    # name the smaller new grid (markup stays text) and give it 013's team
    entry = page.evaluate("window.gridmapPlanning.ui.entries[window.gridmapPlanning.ui.draft]")
    assert len(entry["new_codes"]) == 2 and list(entry["team_from"].values()) == [C + "013"]
    (larger,) = entry["team_from"]  # by default the larger part takes 013's team
    fresh = [c for c in entry["new_codes"] if c != larger] + [larger]
    page.click(f"#grid-list tr[data-code='{fresh[0]}']")
    page.fill("#grid-name", EVIL)
    page.fill("#grid-name-en", "North part")
    page.click("#grid-save")
    page.wait_for_function("w => document.getElementById('grid-list').textContent.includes(w)"
                           " && !window.gridmapPlanning.ui.busy", arg=EVIL)
    assert page.locator("#grid-list img").count() == 0
    page.select_option("#grid-team", C + "013")
    page.click("#team-save")
    says(page, "团队设置已保存")
    assert page.locator(f"#grid-list tr[data-code='{fresh[0]}']").inner_text().endswith("沿用 013 的团队")
    # the larger one vacant: kept through an undo, a redo and a reload
    page.click(f"#grid-list tr[data-code='{fresh[0]}']")  # unselect
    page.click(f"#grid-list tr[data-code='{larger}']")
    assert page.input_value("#grid-team") == C + "013"
    page.select_option("#grid-team", "")
    page.click("#team-save")
    says(page, "团队设置已保存")
    page.keyboard.press("Control+z")  # the name
    page.wait_for_function("w => !document.getElementById('grid-list').textContent.includes(w)"
                           " && !window.gridmapPlanning.ui.busy", arg=EVIL)
    page.keyboard.press("Control+y")
    page.wait_for_function("w => document.getElementById('grid-list').textContent.includes(w)"
                           " && !window.gridmapPlanning.ui.busy", arg=EVIL)
    page.reload()
    rows(page, 14)
    for code, team in ((fresh[0], "沿用 013 的团队"), (larger, "空缺")):
        assert page.locator(f"#grid-list tr[data-code='{code}']").inner_text().endswith(team)
    page.locator(f"#grid-list tr[data-code='{larger}']").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "4b-named.png"))

    # the check: every problem listed and drawn; the fixable ones fixed in one click each
    page.click("#tab-check")
    page.click("#run-check")
    page.wait_for_function("() => document.getElementById('check-summary').textContent.length > 0")
    listed = page.locator("#problems tbody tr").count()
    assert page.evaluate("window.gridmapPlanning.issues.getLayers().length") == listed
    page.screenshot(path=str(shots / "5-check.png"))
    for _ in range(listed):
        if not page.locator("#problems button.fix").count():
            break
        page.locator("#problems tr", has=page.locator("button.fix")).first.click()  # zooms
        page.locator("#problems button.fix").first.click()
        page.wait_for_function("() => !window.gridmapPlanning.ui.busy")
    page.screenshot(path=str(shots / "5b-check-fixed.png"))
    assert "没有发现问题" in page.inner_text("#check-summary"), (
        page.inner_text("#problems"), page.inner_text("#status"))
    assert page.locator("#problems tbody tr").count() == 0
    rows(page, 14)
    page.screenshot(path=str(shots / "5b-check-fixed.png"))

    # the preview: 013's four cases go to the two new grids, two each
    page.click("#tab-preview")
    page.click("#run-preview")
    page.wait_for_function("() => document.getElementById('preview-summary').textContent")
    page.screenshot(path=str(shots / "6-preview.png"))
    assert page.locator("#transitions tbody tr").count(), (
        page.inner_text("#preview-summary"), page.inner_text("#status"))
    table = page.inner_text("#transitions")
    assert f"{C}013" in table
    moved = page.locator("#transitions tbody tr.marked")
    assert moved.count() == 2
    assert page.locator("#moves tbody tr").count() == 4
    assert page.evaluate("window.gridmapPlanning.preview.getLayers().length") >= 2 + 4
    assert "-100.0 %" in page.inner_text("#areas")
    page.screenshot(path=str(shots / "6-preview.png"))

    # publish with a description, moving the open cases
    page.click("#tab-publish")
    page.fill("#publish-description", "拆分第13网格")
    page.check("#publish-move")
    page.click("#publish")
    says(page, "已发布")
    assert any("第 2 代" in d for d in dialogs)
    assert "已移动 4 件" in page.inner_text("#status")
    assert "拆分第13网格" in page.inner_text("#generations")
    rows(page, 14)
    page.screenshot(path=str(shots / "7-published.png"))

    answer = get_json(f"{url}/api/route?lon={north.x}&lat={north.y}")
    assert answer["generation"] == 2 and answer["grid"]["code"] not in (None, C + "013")
    assert get_json(f"{url}/api/route?lon={north.x}&lat={north.y}&generation=1")["grid"]["code"] == C + "013"
    assert not page.evaluate("window.__pwned || false")
    assert not problems, problems


def test_the_editor_does_not_break_on_a_phone(browser, planning_server, shots):
    page = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                               is_mobile=True, has_touch=True).new_page()
    page.goto(planning_server.url + "/login")
    page.fill("input[name=username]", "plan")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/planning")
    page.wait_for_selector("#grid-list tbody tr")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.wait_for_function(SETTLED, polling=100)  # (a shot amid the first fit: shapes half drawn)
    page.screenshot(path=str(shots / "phone.png"), full_page=True)


@pytest.fixture
def fresh_server(start_server, tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("planning2") / "data")
    AccountStore(server.data_dir / "accounts.sqlite3").add_user("plan", PASSWORD, ["planner"])
    return server


def file_with_a_gap(data_dir, path):
    """The first grids with one vertex that 012 and 013 share (and no other grid) moved
    into 013 in 013 only: a gap between the two. Returns (path, the vertex)."""
    doc = json.loads((data_dir / "grids.geojson").read_text(encoding="utf-8"))
    rings = {f["properties"]["grid_code"]: f["geometry"]["coordinates"][0] for f in doc["features"]}
    ring12, ring13 = rings[C + "012"], rings[C + "013"]
    others = {tuple(p) for code, ring in rings.items() if code not in (C + "012", C + "013")
              for p in ring}
    shared = [p for p in ring13[:-1] if p in ring12 and tuple(p) not in others]
    vertex = list(shared[0])
    c = shapely.geometry.shape({"type": "Polygon", "coordinates": [ring13]}).centroid
    moved = [vertex[0] + 0.15 * (c.x - vertex[0]), vertex[1] + 0.15 * (c.y - vertex[1])]
    for i, p in enumerate(ring13):
        if p == vertex:
            ring13[i] = moved
    doc["features"][0]["properties"]["name"] = EVIL  # a name from a file stays text
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path, vertex


def test_a_planner_uploads_fixes_drags_merges_publishes_and_rolls_back(browser, fresh_server,
                                                                     shots, tmp_path):
    url = fresh_server.url
    upload, vertex = file_with_a_gap(fresh_server.data_dir, tmp_path / "网格 带缺口.geojson")
    page, problems, dialogs = sign_in(browser, url)

    # the file as the draft: the gap is listed and drawn
    page.set_input_files("#upload-file", str(upload))
    page.click("#upload")
    says(page, "草稿")
    page.click("#tab-check")
    assert page.locator("#problems tr[data-kind=gap] button.fix").count() == 1
    page.click("#tab-grids")
    assert EVIL in page.inner_text("#grid-list") and page.locator("#grid-list img").count() == 0
    page.click("#tab-check")
    assert page.evaluate("window.gridmapPlanning.issues.getLayers().length") >= 1

    # publishing it is refused, every problem listed
    page.click("#tab-publish")
    page.fill("#publish-description", "带缺口")
    page.click("#publish")
    page.wait_for_selector("#publish-refusal li")
    assert page.locator("#publish-refusal li").count() >= 2  # the summary and the gap
    assert "未能发布" in page.inner_text("#status")
    page.screenshot(path=str(shots / "b1-publish-refused.png"))

    # one click fixes the gap
    page.click("#tab-check")
    page.click("#problems tr[data-kind=gap]")  # zooms to it
    page.screenshot(path=str(shots / "b2-gap.png"))
    page.click("#problems tr[data-kind=gap] button.fix")
    page.wait_for_function("() => document.getElementById('check-summary').textContent.includes('没有发现问题')")
    rows(page, 13)

    # drag a vertex two grids share (and no third, off the outline): both follow, bit for bit
    page.click("#tab-grids")
    page.click("#tool-vertex")
    draft = page.evaluate("window.gridmapPlanning.ui.features")
    before = {f["properties"]["grid_code"]: f["geometry"]["coordinates"][0] for f in draft}
    outline = shapely.geometry.shape(json.loads(
        (fresh_server.data_dir / "community.geojson").read_text(encoding="utf-8"))["features"][0]["geometry"])
    owners = {}
    for code, ring in before.items():
        for p in ring[:-1]:
            owners.setdefault(tuple(p), set()).add(code)
    at = list(max((p for p, codes in owners.items() if len(codes) == 2),
                  key=lambda p: outline.boundary.distance(shapely.Point(p))))
    assert outline.boundary.distance(shapely.Point(at)) > 0.001
    fit_all(page)
    x, y = on_screen(page, *at)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 8, y + 5, steps=4)
    page.mouse.move(x + 16, y + 10, steps=4)
    page.mouse.up()
    page.wait_for_function("() => window.gridmapPlanning.ui.edits === 2 && !window.gridmapPlanning.ui.busy")
    after = {f["properties"]["grid_code"]: f["geometry"]["coordinates"][0]
             for f in page.evaluate("window.gridmapPlanning.ui.features")}
    changed = sorted(code for code, ring in after.items() if before.get(code) != ring)
    assert len(changed) == 2 and all(code not in before for code in changed)  # new areas, new codes
    one, other = (after[code] for code in changed)
    assert at not in one and at not in other
    moved = [p for p in one if all(p not in ring for ring in before.values())]
    assert len(moved) == 1 and moved[0] in other  # the same coordinates in both
    page.screenshot(path=str(shots / "b3-vertex-dragged.png"))

    # redraw the border of two other neighbours: from one triple point to the other
    # through a point 0.0001° (about 10 m) off the middle of their border
    owners = {}
    for code, ring in after.items():
        for p in ring[:-1]:
            owners.setdefault(tuple(p), set()).add(code)
    a, b = next((a, b) for a in sorted(after) for b in sorted(after)
                if a < b and a in before and b in before and
                len([p for p, o in owners.items() if {a, b} <= o and len(o) == 2]) >= 2)
    ends = [list(p) for p, o in owners.items() if {a, b} <= o and len(o) == 3]
    inner = [list(p) for p, o in owners.items() if o == {a, b}]
    assert len(ends) == 2 and inner
    mid = inner[len(inner) // 2]
    page.click("#draw-cancel")
    for code in (a, b):
        page.click(f"#grid-list tr[data-code='{code}']")
    page.click("#tool-redraw")
    fit_all(page, [a, b])
    for lon, lat in (ends[0], [mid[0] + 0.0001, mid[1]], ends[1]):
        page.mouse.click(*on_screen(page, lon, lat))
    page.click("#draw-finish")
    page.wait_for_function("() => window.gridmapPlanning.ui.edits === 3 && !window.gridmapPlanning.ui.busy")
    assert page.inner_text("#status").startswith("已保存"), page.inner_text("#status")
    redrawn = {f["properties"]["grid_code"]: f["geometry"]["coordinates"][0]
               for f in page.evaluate("window.gridmapPlanning.ui.features")}
    assert len(redrawn) == 13 and a not in redrawn and b not in redrawn
    page.screenshot(path=str(shots / "b3b-redrawn.png"))
    page.click("#tab-check")
    assert "没有发现问题" in page.inner_text("#check-summary")
    page.click("#tab-grids")

    # merge the two neighbours whose vertex was dragged: 12 grids
    for code in changed:
        page.click(f"#grid-list tr[data-code='{code}']")
    page.click("#tool-merge")
    rows(page, 12)
    page.screenshot(path=str(shots / "b4-merged.png"))

    # remove grid 003: its area goes to a neighbour, no hole
    page.click(f"#grid-list tr[data-code='{C}003']")
    page.click("#tool-remove")
    rows(page, 11)
    assert any("003" in d for d in dialogs)
    page.click("#tab-check")
    assert "没有发现问题" in page.inner_text("#check-summary"), page.inner_text("#problems")
    page.screenshot(path=str(shots / "b4b-removed.png"))

    # publish, then roll back to the first generation
    page.click("#tab-publish")
    page.fill("#publish-description", "合并与删除网格")
    page.fill("#publish-date", "2027-01-01")
    page.click("#publish")
    says(page, "已发布")
    assert get_json(url + "/api/route?lon=108.81&lat=29.517")["generation"] == 2
    page.select_option("#rollback-to", "1")
    page.click("#rollback")
    says(page, "已回退")
    assert any("回退到第 1 代" in d for d in dialogs)
    rows(page, 13)
    assert get_json(url + "/api/route?lon=108.81&lat=29.517")["generation"] == 1
    assert "2027-01-01" in page.inner_text("#generations")
    page.screenshot(path=str(shots / "b5-rolled-back.png"))
    assert not page.evaluate("window.__pwned || false") and page.locator("img[src=x]").count() == 0
    assert not problems, problems


def sign_in(browser, url):
    """A 1280×800 zh-CN page of a planner signed in on the editor; the page errors and
    the dialogs (each accepted) are gathered in the lists returned with it."""
    page = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN").new_page()
    problems, dialogs = [], []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.goto(url + "/login")
    page.fill("input[name=username]", "plan")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/planning")
    rows(page, 13)
    return page, problems, dialogs


def file_with_problems(data_dir, path):
    """The first grids with one problem of each kind in its own place: a gap (a vertex
    only 012 and 013 share moved into 013, in 013 only), an overlap (one of 010 and 011
    moved into 011 in 010), a part outside the outline (a vertex of 005 alone moved
    out), a T-junction (the middle of an edge of 001 and 002, in 001 only: a warning)
    and a ring that crosses itself (a twist on an edge of 007)."""
    doc = json.loads((data_dir / "grids.geojson").read_text(encoding="utf-8"))
    rings = {f["properties"]["grid_code"]: f["geometry"]["coordinates"][0] for f in doc["features"]}
    owners = {}
    for code, ring in rings.items():
        for p in ring[:-1]:
            owners.setdefault(tuple(p), set()).add(code)

    def toward(p, q, t):
        return [p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]

    def move(code, grids, to, t):
        ring = rings[code]
        v = next(p for p in ring[:-1] if owners[tuple(p)] == {C + g for g in grids})
        c = shapely.Polygon(rings[C + to]).centroid
        ring[:] = [toward(v, [c.x, c.y], t) if p == v else p for p in ring]

    move(C + "013", ("012", "013"), "013", 0.15)
    move(C + "010", ("010", "011"), "011", 0.15)
    move(C + "005", ("005",), "005", -0.15)
    ring = rings[C + "001"]
    i = next(i for i in range(len(ring) - 1)
             if {C + "001", C + "002"} <= owners[tuple(ring[i])] & owners[tuple(ring[i + 1])])
    ring.insert(i + 1, toward(ring[i], ring[i + 1], 0.5))
    ring = rings[C + "007"]
    (px, py), (qx, qy) = ring[0], ring[1]
    nx, ny = -(qy - py) * 0.05, (qx - px) * 0.05
    ring[1:1] = [[px + 0.6 * (qx - px) + nx, py + 0.6 * (qy - py) + ny],
                 [px + 0.4 * (qx - px) + nx, py + 0.4 * (qy - py) + ny]]
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


AREA_KINDS = ("overlap", "sliver_overlap", "gap", "sliver_gap", "outside_outline")


def test_the_check_draws_each_problem_as_its_own_shape(browser, fresh_server, shots, tmp_path):
    """Overlaps, gaps and parts outside are drawn as the very polygons the check found,
    a ring that crosses itself as that ring, a problem at a point as a marker; a row
    of the list zooms to its problem."""
    page, problems, _ = sign_in(browser, fresh_server.url)
    page.set_input_files("#upload-file", str(file_with_problems(fresh_server.data_dir,
                                                                tmp_path / "问题.geojson")))
    page.click("#upload")
    says(page, "草稿")
    page.click("#tab-check")
    drawn = page.evaluate("""() => {
        const p = window.gridmapPlanning;
        return p.issues.getLayers().map(l => l instanceof L.CircleMarker ? {marker: true}
            : {geometry: l.toGeoJSON(false).features[0].geometry});
    }""")
    issues = page.evaluate("window.gridmapPlanning.ui.issues.issues")
    kinds = {i["kind"] for i in issues}
    assert {"gap", "overlap", "outside_outline", "invalid_geometry", "unshared_vertex"} <= kinds
    assert len(drawn) == len(issues) == page.locator("#problems tbody tr").count()
    for issue, shape in zip(issues, drawn):
        if issue["kind"] in AREA_KINDS + ("invalid_geometry",):
            assert shape.get("geometry") == issue["geometry"], issue["kind"]  # bit for bit
            assert issue["geometry"]["type"] == ("LineString" if issue["kind"] == "invalid_geometry"
                                                 else "Polygon")
        else:
            assert shape == {"marker": True}, issue["kind"]
    for kind in kinds:
        paths = page.locator(f".leaflet-overlay-pane path.issue-{kind}")
        assert paths.count() == sum(i["kind"] == kind for i in issues), kind
        if kind in AREA_KINDS:
            assert paths.first.get_attribute("fill") != "none" and "z" in paths.first.get_attribute("d")
    assert page.locator("path.issue-invalid_geometry").get_attribute("fill") == "none"  # a line
    assert page.locator("path.issue-point").count() == sum(
        i["kind"] not in AREA_KINDS + ("invalid_geometry",) for i in issues)
    page.screenshot(path=str(shots / "c1-problems-drawn.png"))

    # a row zooms to its problem: the whole overlap in view
    at = next(k for k, i in enumerate(issues) if i["kind"] == "overlap")
    page.locator("#problems tbody tr").nth(at).click()
    page.wait_for_timeout(400)  # the zoom's animation
    assert page.evaluate("""k => {
        const p = window.gridmapPlanning;
        return p.map.getBounds().contains(p.issues.getLayers()[k].getBounds());
    }""", at)
    assert page.inner_text("#status") in page.inner_text("#problems")
    page.screenshot(path=str(shots / "c2-overlap-zoomed.png"))
    assert not problems, problems


def beyond_the_outline(grid, outline):
    """Four corners of a grid to add beyond the longest outer edge of ``grid``: the edge's
    two ends (clicked on them, they snap to them), then two points half the edge's length
    out. (Corners inside the grid would cut its slanted outer edge between its ends, on it
    only to within rounding: a hair of it outside the outline.)"""
    ring = grid.exterior.coords[:-1]
    edges = [(ring[i], ring[(i + 1) % len(ring)]) for i in range(len(ring))]
    (ax, ay), (bx, by) = max(
        (e for e in edges
         if outline.boundary.distance(shapely.LineString(e).interpolate(0.5, normalized=True)) < 1e-9),
        key=lambda e: shapely.LineString(e).length)
    dx, dy = bx - ax, by - ay
    nx, ny = -dy, dx  # a normal, pointing out of the grid
    c = grid.centroid
    if ((ax + bx) / 2 - c.x) * nx + ((ay + by) / 2 - c.y) * ny < 0:
        nx, ny = -nx, -ny
    return [(ax, ay), (bx, by), (bx + 0.5 * nx, by + 0.5 * ny), (ax + 0.5 * nx, ay + 0.5 * ny)]


def test_a_planner_adds_a_grid_and_gives_it_a_code_a_name_and_a_team(browser, fresh_server,
                                                                    shots):
    """The add tool: four corners beyond 004's outer edge (two of them its ends) make a new
    grid beside it; it takes 004's team, then the code 020 and its names (the team follows it);
    the check lists it outside the community outline, drawn; the preview lists it as a
    new grid with its workload and shades its ground."""
    url = fresh_server.url
    grids = {g.code: g for g in GridSet.load(fresh_server.data_dir / "grids.geojson").grids}
    outline = shapely.geometry.shape(json.loads(
        (fresh_server.data_dir / "community.geojson").read_text(encoding="utf-8"))["features"][0]["geometry"])
    corners = beyond_the_outline(grids[C + "004"].geometry, outline)
    page, problems, _ = sign_in(browser, url)

    page.click("#tool-add")
    assert page.get_attribute("#tool-add", "aria-pressed") == "true"
    page.evaluate("""c => window.gridmapPlanning.map.fitBounds(
        c.map(p => window.gridmapFrame.display(p[0], p[1])), {padding: [150, 150], animate: false})""",
                  [list(p) for p in corners])
    for lon, lat in corners:
        page.mouse.click(*on_screen(page, lon, lat))
    page.screenshot(path=str(shots / "d1-grid-drawn.png"))
    page.click("#draw-finish")
    rows(page, 14)
    (new,) = page.evaluate("window.gridmapPlanning.ui.entries[window.gridmapPlanning.ui.draft].new_codes")
    assert new == C + "014" and page.get_attribute("#tool-add", "aria-pressed") == "false"
    added = shapely.geometry.shape(next(f["geometry"] for f in page.evaluate(
        "window.gridmapPlanning.ui.features") if f["properties"]["grid_code"] == new))
    assert set(corners[:2]) <= set(added.exterior.coords)  # the edge's ends, bit for bit
    assert shapely.hausdorff_distance(added, shapely.Polygon(corners)) < 5e-5  # a pixel or so
    assert outline.intersection(added).area < 1e-12  # all of it beyond the outline

    # its team first, then a code never used and its names: the team follows the code
    page.click(f"#grid-list tr[data-code='{new}']")
    assert not page.is_hidden("#team-row")
    page.select_option("#grid-team", C + "004")
    page.click("#team-save")
    says(page, "团队设置已保存")
    page.fill("#grid-code", C + "020")
    page.fill("#grid-name", "东扩新区")
    page.fill("#grid-name-en", "East extension")
    page.click("#grid-save")
    page.wait_for_selector(f"#grid-list tr[data-code='{C}020']")
    rows(page, 14)
    row = page.locator(f"#grid-list tr[data-code='{C}020']")
    assert "东扩新区" in row.inner_text() and row.inner_text().endswith("沿用 004 的团队")
    assert new not in page.inner_text("#grid-list")
    assert page.locator(".code-label", has_text="020").count() == 1
    assert page.input_value("#grid-code") == C + "020" and page.input_value("#grid-team") == C + "004"
    row.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "d2-grid-added-named.png"))

    # the check: outside the community outline, named by its code, drawn as that part
    page.click("#tab-check")
    page.click("#run-check")
    page.wait_for_function("() => document.getElementById('check-summary').textContent.length > 0"
                           " && !window.gridmapPlanning.ui.busy")
    outside = page.locator("#problems tbody tr[data-kind=outside_outline]")
    assert outside.count() == 1 and page.locator("#problems tbody tr").count() == 1, (
        page.inner_text("#problems"))
    assert f"{C}020" in outside.inner_text() and "020" in outside.locator("td").nth(1).inner_text()
    assert page.locator(".leaflet-overlay-pane path.issue-outside_outline").count() == 1
    (area_m2,) = page.evaluate("window.gridmapPlanning.ui.issues.issues.map(i => i.area_m2)")
    outside.click()  # zooms to it
    page.wait_for_timeout(400)
    page.screenshot(path=str(shots / "d3-grid-added-check.png"))

    # the preview: a new grid, with its (empty) workload, its ground shaded
    page.click("#tab-preview")
    page.click("#run-preview")
    page.wait_for_function("() => document.getElementById('preview-summary').textContent")
    area = page.locator("#areas tbody tr", has_text=C + "020")
    assert area.count() == 1 and "新网格" in area.inner_text()
    assert "marked" in area.get_attribute("class")
    assert page.locator("#workload tbody tr", has_text=C + "020").count() == 1
    shaded = page.evaluate("""code => {
        const found = [];
        window.gridmapPlanning.preview.eachLayer(l => l.eachLayer && l.eachLayer(f => {
            if (f.feature && f.feature.properties.to === code) found.push(f.feature.properties);
        }));
        return found;
    }""", C + "020")
    assert len(shaded) == 1 and shaded[0]["from"] is None
    assert shaded[0]["area_m2"] == pytest.approx(area_m2, rel=1e-3)
    fit_all(page)
    page.screenshot(path=str(shots / "d4-grid-added-preview.png"))
    assert not problems, problems
