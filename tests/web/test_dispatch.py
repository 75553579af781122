"""The dispatcher's console through Flask: who may open it (grid staff only for their
own grids, on every endpoint), what each JSON endpoint answers for the filters in the
query string, the 400 naming each bad parameter, and the CSV export."""

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gridmap.web import create_app

from signed_in_clients import signed_in

PASSWORD = "correct horse battery"
PHONE = "100-2718-2818"
TZ = ZoneInfo("Asia/Shanghai")
TUESDAY_9 = datetime(2026, 3, 10, 9, 0, tzinfo=TZ)
ENDPOINTS = ("heat", "clusters", "overdue", "cases", "cases.csv", "figures", "frames")
EVIL = '<img src=x onerror=alert(1)>, "quoted"\nsecond line'


@pytest.fixture
def app(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path / "data"), "TILES": "none"})
    store = app.extensions["gridmap.accounts"]
    codes = app.extensions["gridmap"].grids.codes
    store.add_user("staff7", PASSWORD, ["grid_staff"], grid_codes=[codes[6]])
    store.add_user("disp", PASSWORD, ["dispatcher"])
    store.add_user("plan", PASSWORD, ["planner"])
    store.add_user("adm", PASSWORD, ["admin"])
    return app


@pytest.fixture
def cases(app):
    """Twelve cases, one a day from 26 February, in grids 7 and 8 (8 and 4), all late for
    sign-for at the clock's time, Tuesday 10 March, 9:00."""
    svc = app.extensions["gridmap.cases"]
    grids = app.extensions["gridmap"].grids.grids
    made = []
    for i in range(12):
        svc.clock = lambda i=i: TUESDAY_9 - timedelta(days=12 - i, hours=i % 3)
        grid = grids[6 if i % 3 else 7]
        spot = grid.geometry.representative_point()
        made.append(svc.report({
            "lon": spot.x + 0.0002 * (i % 4), "lat": spot.y, "category": "06" if i % 2 else "07",
            "description": EVIL if i == 5 else f"=HYPERLINK(\"x\") 垃圾 {i}" if i == 4 else f"路灯 {i}",
            "contact": PHONE})[0])
    svc.clock = lambda: TUESDAY_9
    return made


def get(app, user, path, **args):
    return signed_in(app, user).get(path, query_string=args)


def everywhere(app):
    x0, y0, x1, y1 = app.extensions["gridmap"].grids.bounds
    return f"{x0 - 0.01},{y0 - 0.01},{x1 + 0.01},{y1 + 0.01}"


@pytest.mark.parametrize("user, status", [("disp", 200), ("staff7", 200), ("plan", 403),
                                          ("adm", 403), (None, 401)])
def test_who_may_open_the_console_and_its_data(app, user, status):
    assert get(app, user, "/dispatch").status_code == status
    for name in (*ENDPOINTS, "live"):
        assert get(app, user, f"/api/dispatch/{name}").status_code == status, name


def test_a_dispatcher_lands_on_the_console_after_signing_in(app):
    client = app.test_client()
    client.get("/login")
    with client.session_transaction() as s:
        token = s["csrf"]
    r = client.post("/login", data={"username": "disp", "password": PASSWORD,
                                    "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"] == "/dispatch"
    page = client.get("/dispatch").get_data(as_text=True)
    assert 'id="nav-console"' in page and "调度台" in page


def test_the_page_holds_no_case_whatever_their_number(app, cases):
    page = get(app, "disp", "/dispatch").get_data(as_text=True)
    assert "路灯 1" not in page and "onerror" not in page and PHONE not in page
    assert "leaflet-heat.js" in page and "gridmap/console.js" in page
    english = get(app, "disp", "/dispatch", lang="en").get_data(as_text=True)
    assert "Dispatch console" in english and "调度台" not in english


def test_grid_staff_see_their_own_grids_only_on_every_endpoint(app, cases):
    own, other = app.extensions["gridmap"].grids.codes[6], app.extensions["gridmap"].grids.codes[7]
    mine = [c for c in cases if c["properties"]["grid_code"] == own]
    listed = get(app, "staff7", "/api/dispatch/cases", per_page=200).get_json()
    assert listed["total"] == len(mine) == 8
    assert {c["grid_code"] for c in listed["cases"]} == {own}
    assert get(app, "staff7", "/api/dispatch/clusters", bbox=everywhere(app)).get_json()["total"] == 8
    assert get(app, "staff7", "/api/dispatch/heat", bbox=everywhere(app)).get_json()["total"] == 8
    assert [g["code"] for g in get(app, "staff7", "/api/dispatch/figures").get_json()["grids"]] == [own]
    assert get(app, "staff7", "/api/dispatch/live").get_json()["total"] == 8
    for name in ENDPOINTS:
        assert get(app, "staff7", f"/api/dispatch/{name}", grid=other).status_code == 403, name
    assert get(app, "staff7", "/dispatch", grid=other).status_code == 403
    assert get(app, "staff7", f"/api/dispatch/cases/{cases[0]['id']}").status_code == 403
    page = get(app, "staff7", "/dispatch").get_data(as_text=True)
    assert own in page and other not in page
    assert get(app, "disp", "/api/dispatch/cases").get_json()["total"] == 12


def test_filters_narrow_every_layer_alike(app, cases):
    args = {"category": "06", "bbox": everywhere(app), "zoom": "16"}
    listed = get(app, "disp", "/api/dispatch/cases", **args).get_json()
    assert listed["total"] == 6 and {c["category"] for c in listed["cases"]} == {"Sanitation"}
    clusters = get(app, "disp", "/api/dispatch/clusters", **args).get_json()
    heat = get(app, "disp", "/api/dispatch/heat", **args).get_json()
    assert clusters["total"] == sum(c["count"] for c in clusters["clusters"]) == 6
    assert heat["total"] == sum(c[2] for c in heat["cells"]) == 6
    for cluster in clusters["clusters"]:  # a cluster's count is the list's total for its area
        area = ",".join(repr(v) for v in cluster["bbox"])
        inside = get(app, "disp", "/api/dispatch/cases", category="06", bbox=area).get_json()
        assert inside["total"] == cluster["count"]
    both = get(app, "disp", "/api/dispatch/cases", category="06,07").get_json()["total"]
    assert both == 12
    week = get(app, "disp", "/api/dispatch/cases", since="2026-03-05", until="2026-03-08")
    assert week.get_json()["total"] == len([
        c for c in cases if "2026-03-05" <= c["properties"]["reported_at"][:10] <= "2026-03-08"])
    assert get(app, "disp", "/api/dispatch/cases", q="路灯").get_json()["total"] == 10
    assert get(app, "disp", "/api/dispatch/cases", q="路灯 3").get_json()["total"] == 1
    west = app.extensions["gridmap"].grids.grids[6].geometry.bounds
    box = ",".join(str(v) for v in west)
    assert get(app, "disp", "/api/dispatch/cases", bbox=box).get_json()["total"] == 8
    assert get(app, "disp", "/api/dispatch/cases", state="closed").get_json()["total"] == 0


def test_overdue_cases_name_the_clock_that_ran_out(app, cases):
    svc = app.extensions["gridmap.cases"]
    late = {c["properties"]["case_no"]: svc.overdue(c["properties"]) for c in cases}
    body = get(app, "disp", "/api/dispatch/overdue", bbox=everywhere(app)).get_json()
    shown = [(no, body["clocks"][k]) for _, no, _, _, k in body["cases"]]
    assert shown == [(no, "handle" if flags["handle"] else "sign")
                     for no, flags in sorted(late.items())]
    assert {clock for _, clock in shown} == {"sign", "handle"}  # both kinds here
    signed = get(app, "disp", "/api/dispatch/overdue", overdue="sign").get_json()
    assert [signed["clocks"][c[4]] for c in signed["cases"]] == ["sign"] * 12
    figures = get(app, "disp", "/api/dispatch/figures").get_json()
    assert figures["oldest_overdue"][0]["case_no"] == 1
    assert figures["newest"][0]["case_no"] == 12
    assert {g["code"]: g["open"] for g in figures["grids"]} == {
        app.extensions["gridmap"].grids.codes[6]: 8, app.extensions["gridmap"].grids.codes[7]: 4}
    assert sum(c["count"] for c in figures["categories"]) == 12


def test_time_frames_count_each_day_and_week(app, cases):
    days = get(app, "disp", "/api/dispatch/frames", since="2026-02-26", until="2026-03-09",
               step="day").get_json()["frames"]
    assert days[0]["since"] == "2026-02-26" and days[-1]["since"] == "2026-03-09"
    assert sum(f["count"] for f in days) == 12 and len(days) == 12
    weeks = get(app, "disp", "/api/dispatch/frames", since="2026-02-26", until="2026-03-09",
                step="week").get_json()["frames"]
    assert [f["since"] for f in weeks] == ["2026-02-23", "2026-03-02", "2026-03-09"]
    assert sum(f["count"] for f in weeks) == 12
    later = get(app, "disp", "/api/dispatch/frames", since="2026-03-04", step="week").get_json()
    assert [f["count"] for f in later["frames"]] == [5, 1]  # from the 4th, not the Monday
    assert get(app, "disp", "/api/dispatch/frames", since="2030-01-01").get_json()["frames"] == []


FILTER_PATHS = ("/dispatch", "/api/dispatch/heat", "/api/dispatch/clusters",
                "/api/dispatch/overdue", "/api/dispatch/cases", "/api/dispatch/cases.csv",
                "/api/dispatch/figures", "/api/dispatch/frames")


@pytest.mark.parametrize("name, value, paths", [
    ("grid", "999", FILTER_PATHS), ("state", "lost", FILTER_PATHS),
    ("category", "x!", FILTER_PATHS), ("overdue", "late", FILTER_PATHS),
    ("since", "yesterday", FILTER_PATHS), ("until", "2026-13-01", FILTER_PATHS),
    ("q", "字" * 101, FILTER_PATHS), ("bbox", "1,2,3", FILTER_PATHS),
    ("bbox", "108,29,107,30", FILTER_PATHS), ("bbox", "nan,1,2,3", FILTER_PATHS),
    ("bbox", "-200,0,0,1", FILTER_PATHS),
    ("zoom", "23", ("/api/dispatch/heat", "/api/dispatch/clusters")),
    ("zoom", "x", ("/api/dispatch/heat", "/api/dispatch/clusters")),
    ("sort", "description", ("/api/dispatch/cases", "/api/dispatch/cases.csv")),
    ("page", "0", ("/api/dispatch/cases",)), ("per_page", "201", ("/api/dispatch/cases",)),
    ("step", "month", ("/api/dispatch/frames",))])
def test_a_bad_parameter_is_a_400_naming_it(app, name, value, paths):
    for path in paths:
        r = get(app, "disp", path, **{name: value})
        assert r.status_code == 400, path
        if path.startswith("/api/"):
            assert r.get_json()["field"] == name, path
        else:
            assert name in r.get_data(as_text=True)


def test_a_range_must_not_end_before_it_begins(app):
    r = get(app, "disp", "/api/dispatch/cases", since="2026-03-10", until="2026-03-01")
    assert r.status_code == 400 and r.get_json()["field"] == "until"


def test_csv_is_utf8_with_a_bom_escaped_and_with_contacts(app, cases):
    r = get(app, "disp", "/api/dispatch/cases.csv", sort="case_no", lang="zh")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    raw = r.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][0] == "编号" and len(rows) == 13
    assert rows[6][6] == EVIL  # quotes, comma and newline survive the round trip
    assert rows[5][6].startswith("'=HYPERLINK")  # a spreadsheet shows it, never runs it
    assert rows[1][-1] == PHONE
    staff = get(app, "staff7", "/api/dispatch/cases.csv").get_data().decode("utf-8-sig")
    assert len(list(csv.reader(io.StringIO(staff)))) == 9


def test_live_says_the_newest_case_number_and_the_list_takes_a_page(app, cases):
    assert get(app, "disp", "/api/dispatch/live").get_json() == {"latest": 12, "total": 12}
    page2 = get(app, "disp", "/api/dispatch/cases", sort="case_no", page="2",
                per_page="5").get_json()
    assert [c["case_no"] for c in page2["cases"]] == [6, 7, 8, 9, 10]
    assert page2["cases"][0]["contact"] == PHONE and page2["cases"][0]["url"].startswith("/case/")
    one = get(app, "disp", f"/api/dispatch/cases/{cases[5]['id']}").get_json()
    assert one["case_no"] == 6 and one["description"].startswith("<img")
    assert one["contact"] is None  # a popup shows no contact: the list does
