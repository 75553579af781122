"""The case API through Flask: intake answers and refusals, queues, the workflow
by role and grid, and public tracking that never shows contact or staff names."""

import codecs
import html
import json
import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from gridmap.web import create_app

from signed_in_clients import signed_in

PASSWORD = "correct horse battery"
PHONE = "100-4242-4242"
CSRF = "c" * 43


@pytest.fixture
def app(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path / "data"), "REPORT_IP_LIMIT": 1000})
    store = app.extensions["gridmap.accounts"]
    codes = app.extensions["gridmap"].grids.codes
    store.add_user("staff7", PASSWORD, ["grid_staff"], grid_codes=[codes[6]])
    store.add_user("other7", PASSWORD, ["grid_staff"], grid_codes=[codes[6]])
    store.add_user("staff8", PASSWORD, ["grid_staff"], grid_codes=[codes[7]])
    store.add_user("disp", PASSWORD, ["dispatcher"])
    store.add_user("plan", PASSWORD, ["planner"])
    return app


def as_user(app, username):
    return signed_in(app, username, CSRF)


def spot(app, index):
    point = app.extensions["gridmap"].grids.grids[index].geometry.representative_point()
    return point.x, point.y


def report(client, app, index=6, **fields):
    lon, lat = spot(app, index)
    body = {"lon": lon, "lat": lat, "category": "06", "description": "垃圾堆积", **fields}
    return client.post("/api/reports", json=body)


def act(client, case_id, **body):
    return client.post(f"/api/cases/{case_id}/actions", json=body, headers={"X-CSRF-Token": CSRF})


def count(app):
    return app.extensions["gridmap.cases"].store.count()


def test_a_report_is_routed_with_team_and_deadlines(app, client):
    r = report(client, app, contact=PHONE)
    assert r.status_code == 201
    body = r.get_json()
    grid = app.extensions["gridmap"].grids.grids[6]
    assert body["grid"]["code"] == grid.code and body["grid"]["head"]
    assert body["grid"]["handler"]["role"] == "full_time" and body["grid"]["handler"]["name"]
    assert body["state"] == "reported" and body["routing"] == "inside"
    # category 06: signed for within 1 working hour, handled within 4 more, both from the report
    calendar = app.extensions["gridmap"].calendar
    case = app.extensions["gridmap.cases"].store.get(body["case_id"])["properties"]
    reported = datetime.fromisoformat(case["reported_at"])
    expected = {"sign": calendar.add_working_hours(reported, 1),
                "handle": calendar.add_working_hours(reported, 1 + 4)}
    assert {k: datetime.fromisoformat(v) for k, v in body["deadlines"].items()} == expected
    assert calendar.working_hours_between(reported, expected["handle"]) == 5
    assert len(body["tracking_code"]) == 11 and body["duplicates"] == []
    assert PHONE not in r.get_data(as_text=True)


def test_nearby_open_cases_of_the_same_category_are_hinted(app, client):
    first = report(client, app).get_json()
    second = report(client, app, description="同一处垃圾").get_json()
    assert second["duplicates"] == [{"case_id": first["case_id"], "case_no": first["case_no"],
                                     "state": "reported",
                                     "reported_at": first["reported_at"]}]
    assert first["tracking_code"] not in str(second)  # another reporter's secret
    other = report(client, app, category="07").get_json()
    assert other["duplicates"] == []


@pytest.mark.parametrize("where", ["body", "header"])
def test_a_repeated_idempotency_key_returns_the_first_case(app, client, where):
    kwargs = {"idempotency_key": "abc-123"} if where == "body" else {}
    lon, lat = spot(app, 6)
    body = {"lon": lon, "lat": lat, "category": "06", "description": "x", **kwargs}
    headers = {"Idempotency-Key": "abc-123"} if where == "header" else {}
    first = client.post("/api/reports", json=body, headers=headers)
    again = client.post("/api/reports", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json() == again.get_json()
    # the same key with another report does not hand over the first report's tracking code
    other = client.post("/api/reports", json=dict(body, description="y"), headers=headers)
    assert other.status_code == 409 and other.get_json()["field"] == "idempotency_key"
    assert first.get_json()["tracking_code"] not in other.get_data(as_text=True)
    assert count(app) == 1


def test_outside_the_service_area_is_a_422_and_stores_nothing(app, client):
    r = client.post("/api/reports", json={"lon": 108.70, "lat": 29.52, "category": "06",
                                          "description": "远处"})
    assert r.status_code == 422
    body = r.get_json()
    assert body["nearest"]["code"].endswith("005") and body["distance_m"] > 8000
    assert count(app) == 0


@pytest.mark.parametrize("body, field", [
    ({"lat": 29.52, "category": "06", "description": "x"}, "lon"),
    ({"lon": "108.8", "lat": 29.52, "category": "06", "description": "x"}, "lon"),
    ({"lon": 108.8, "lat": 129.52, "category": "06", "description": "x"}, "lat"),
    ({"lon": 108.8, "lat": 29.52, "category": "66", "description": "x"}, "category"),
    ({"lon": 108.8, "lat": 29.52, "category": "06", "description": ""}, "description"),
    ({"lon": 108.8, "lat": 29.52, "category": "06", "description": "x" * 4001}, "description"),
    ({"lon": 108.8, "lat": 29.52, "category": "06", "description": "x", "contact": "call me"},
     "contact"),
    ({"lon": 108.8, "lat": 29.52, "category": "06", "description": "x", "datum": "utm"}, "datum"),
    ({"lon": 108.8, "lat": 29.52, "category": "06", "description": "x", "hide_name": "yes"},
     "hide_name"),
    ({"lon": 108.8, "lat": 29.52, "category": "06", "description": "x", "photo": "p"}, "photo"),
    ([1, 2], "body"),
])
def test_bad_fields_are_400s_naming_the_field(app, client, body, field):
    r = client.post("/api/reports", json=body)
    assert r.status_code == 400 and r.get_json()["field"] == field
    assert count(app) == 0


def test_broken_and_oversized_bodies(app, client):
    broken = client.post("/api/reports", data="{", content_type="application/json")
    assert (broken.status_code, broken.get_json()) == (400, {
        "error": "bad_input", "field": "body",
        "message": "the body is not valid JSON", "message_id": "error.body.not_json",
        "params": {"field": "body"}})
    plain = client.post("/api/reports", data="lon=1", content_type="text/plain")
    assert (plain.status_code, plain.get_json()["error"]) == (403, "csrf_failed")  # no JSON: a form
    big = client.post("/api/reports", data="x" * 300_000, content_type="application/json")
    assert big.status_code == 413 and big.get_json()["error"]
    assert count(app) == 0


def report_text(app):
    lon, lat = spot(app, 6)
    return json.dumps({"lon": lon, "lat": lat, "category": "06", "description": "垃圾堆积"},
                      ensure_ascii=False)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le",
                                      "utf-32-be"])
def test_json_not_in_utf8_is_a_400_naming_the_encoding(app, client, encoding):
    r = client.post("/api/reports", data=report_text(app).encode(encoding),
                    content_type="application/json")
    assert r.status_code == 400 and r.get_json()["field"] == "body"
    assert f"got {encoding.upper()}" in r.get_json()["message"]
    assert count(app) == 0


def test_a_utf8_byte_order_mark_is_ignored(app, client):
    r = client.post("/api/reports", data=codecs.BOM_UTF8 + report_text(app).encode(),
                    content_type="application/json")
    assert r.status_code == 201 and count(app) == 1


def test_anonymous_reports_are_rate_limited(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path / "d"), "REPORT_IP_LIMIT": 3})
    client = app.test_client()
    codes = [report(client, app, description=f"第{i}条").status_code for i in range(5)]
    assert codes == [201, 201, 201, 429, 429]
    assert count(app) == 3


@pytest.mark.parametrize("hops, expected", [
    # no proxy configured: the forwarded header is ignored, so it cannot dodge the limit
    (0, [201, 201, 429, 429]),
    # behind one proxy: each client has its own limit, whatever the socket says
    (1, [201, 201, 429, 201]),
])
def test_rate_limits_key_on_the_client_behind_a_trusted_proxy(tmp_path, hops, expected):
    app = create_app({"DATA_DIR": str(tmp_path / "d"), "REPORT_IP_LIMIT": 2, "PROXY_HOPS": hops})
    client = app.test_client()
    lon, lat = spot(app, 6)
    codes = [client.post("/api/reports", json={"lon": lon, "lat": lat, "category": "06",
                                               "description": f"第{i}条"},
                         headers={"X-Forwarded-For": f"10.0.0.7, {client_ip}"},
                         environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code
             for i, client_ip in enumerate(["203.0.113.5"] * 3 + ["198.51.100.9"])]
    assert codes == expected
    assert count(app) == expected.count(201)


def test_the_whole_loop_by_role(app, client):
    case_id = report(client, app, contact=PHONE).get_json()["case_id"]
    staff, other, disp = as_user(app, "staff7"), as_user(app, "other7"), as_user(app, "disp")
    assert act(staff, case_id, action="reply", note="x").status_code == 409  # not yet handling
    for action in ("sign", "start"):
        assert act(staff, case_id, action=action).status_code == 200
    r = act(staff, case_id, action="reply", note="已清理干净")
    assert r.status_code == 200 and r.get_json()["deadlines"]["verify"]
    assert act(staff, case_id, action="close").status_code == 403  # the handler may not verify
    r = act(other, case_id, action="close")
    assert r.status_code == 200 and r.get_json()["state"] == "closed"
    tracking = r.get_json()["tracking_code"]
    r = client.post(f"/api/track/{tracking}/rating", json={"rating": 5, "comment": "满意"})
    assert r.status_code == 200 and r.get_json()["state"] == "rated"
    again = client.post(f"/api/track/{tracking}/rating", json={"rating": 1})
    assert again.status_code == 409
    r = act(disp, case_id, action="reopen", note="居民反映又堆积")
    assert r.status_code == 200 and r.get_json()["rework_count"] == 1
    actions = [e["action"] for e in r.get_json()["history"]]
    assert actions == ["report", "sign", "start", "reply", "close", "rate", "reopen"]


def test_staff_of_another_grid_cannot_read_or_act_by_guessing_the_id(app, client):
    case_id = report(client, app, contact=PHONE).get_json()["case_id"]
    outsider = as_user(app, "staff8")
    before = app.extensions["gridmap.cases"].store.get(case_id)
    assert outsider.get(f"/api/cases/{case_id}").status_code == 403
    assert act(outsider, case_id, action="sign").status_code == 403
    assert outsider.get(f"/api/grids/{before['properties']['grid_code']}/cases").status_code == 403
    assert as_user(app, "plan").get(f"/api/cases/{case_id}").status_code == 403
    assert app.extensions["gridmap.cases"].store.get(case_id) == before
    assert as_user(app, "staff7").get("/api/cases/nonexistent").status_code == 404


def test_forwarding_moves_the_case_to_the_other_grid(app, client):
    case_id = report(client, app).get_json()["case_id"]
    codes = app.extensions["gridmap"].grids.codes
    staff7, staff8 = as_user(app, "staff7"), as_user(app, "staff8")
    assert act(staff7, case_id, action="forward", note="属第8网格",
               to_grid="999").status_code == 400
    r = act(staff7, case_id, action="forward", note="属第8网格", to_grid=codes[7])
    assert r.status_code == 200 and r.get_json()["grid_code"] == codes[7]
    assert staff7.get(f"/api/cases/{case_id}").status_code == 403
    assert staff8.get(f"/api/cases/{case_id}").status_code == 200
    assert act(staff8, case_id, action="sign").status_code == 200


TUESDAY_9 = datetime(2026, 3, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def at(app, when):
    app.extensions["gridmap.cases"].clock = lambda: when


def overdue(app, username, case_id):
    return as_user(app, username).get(f"/api/cases/{case_id}").get_json()["overdue"]


def test_a_forward_restarts_the_sign_for_clock_of_the_receiving_grid(app, client):
    codes = app.extensions["gridmap"].grids.codes
    at(app, TUESDAY_9)
    waiting = report(client, app).get_json()["case_id"]
    signed = report(client, app).get_json()["case_id"]
    staff7 = as_user(app, "staff7")
    assert act(staff7, signed, action="sign").status_code == 200
    at(app, TUESDAY_9 + timedelta(minutes=10))
    for case_id in (waiting, signed):
        r = act(staff7, case_id, action="forward", note="属第8网格", to_grid=codes[7])
        assert r.get_json()["deadlines"]["sign"] == "2026-03-10T10:10:00+08:00"
    assert overdue(app, "staff8", waiting)["sign"] is False
    at(app, TUESDAY_9 + timedelta(days=3))  # grid 8 never signed for them
    assert [overdue(app, "staff8", c)["sign"] for c in (waiting, signed)] == [True, True]
    queue = as_user(app, "staff8").get(f"/api/grids/{codes[7]}/cases?overdue=sign").get_json()
    assert queue["total"] == 2
    assert act(as_user(app, "staff8"), waiting, action="sign").status_code == 200
    assert overdue(app, "staff8", waiting)["sign"] is True  # signed, but late


def test_a_reopened_case_gets_handling_time_anew_and_its_new_reply_is_verified(app, client):
    at(app, TUESDAY_9)
    created = report(client, app).get_json()
    case_id, tracking = created["case_id"], created["tracking_code"]
    staff7, other7, disp = as_user(app, "staff7"), as_user(app, "other7"), as_user(app, "disp")
    for action in ("sign", "start"):
        assert act(staff7, case_id, action=action).status_code == 200
    assert act(staff7, case_id, action="reply", note="已清理").status_code == 200
    assert act(other7, case_id, action="close").status_code == 200
    assert client.post(f"/api/track/{tracking}/rating", json={"rating": 1}).status_code == 200
    at(app, TUESDAY_9 + timedelta(days=7))  # Tuesday a week on
    r = act(disp, case_id, action="reopen", note="又堆积了")
    assert r.status_code == 200
    assert r.get_json()["deadlines"] == {"sign": "2026-03-10T10:00:00+08:00",
                                         "handle": "2026-03-17T15:00:00+08:00"}
    public = client.get(f"/api/track/{tracking}").get_json()
    assert (public["state"], public["reply"], public["rating"]) == ("handling", None, None)
    assert [e.get("note") for e in public["history"] if e["action"] in ("reply", "rate")] == [
        "已清理", None]  # the first round stays in the history
    assert overdue(app, "disp", case_id) == {"sign": False, "handle": False, "verify": False}
    at(app, TUESDAY_9 + timedelta(days=8))
    assert overdue(app, "disp", case_id)["handle"] is True  # no reply since the reopen
    assert act(staff7, case_id, action="reply", note="已彻底清理").status_code == 200
    at(app, TUESDAY_9 + timedelta(days=14))
    # the first round's close does not count for the second reply
    assert overdue(app, "disp", case_id) == {"sign": False, "handle": True, "verify": True}


def test_a_forward_to_a_person_of_the_receiving_grid_keeps_that_person(app, client):
    community = app.extensions["gridmap"]
    codes = community.grids.codes
    person = community.teams[codes[7]].part_time.person_id
    case_id = report(client, app).get_json()["case_id"]
    staff7 = as_user(app, "staff7")
    mine = community.teams[codes[6]].part_time.person_id
    r = act(staff7, case_id, action="forward", note="交第8网格", to_grid=codes[7], to_person=mine)
    assert r.status_code == 400 and r.get_json()["field"] == "to_person"
    r = act(staff7, case_id, action="forward", note="交第8网格", to_grid=codes[7], to_person=person)
    assert r.status_code == 200 and r.get_json()["assignee"] == person
    assert r.get_json()["history"][-1]["to_person"] == person
    tracked = client.get(f"/api/track/{r.get_json()['tracking_code']}").get_json()
    assert tracked["handled_by"]["role"] == "part_time"


def test_grid_queue_filters_and_pages(app, client):
    for i in range(5):
        report(client, app, description=f"第{i}条", category="06" if i % 2 else "07")
    report(client, app, index=7)
    staff = as_user(app, "staff7")
    code = app.extensions["gridmap"].grids.codes[6]
    body = staff.get(f"/api/grids/{code}/cases").get_json()
    assert body["total"] == 5 and len(body["cases"]) == 5
    assert staff.get(f"/api/grids/{code}/cases?category=07").get_json()["total"] == 3
    page = staff.get(f"/api/grids/{code}/cases?per_page=2&page=3").get_json()
    assert page["total"] == 5 and len(page["cases"]) == 1
    assert staff.get(f"/api/grids/{code}/cases?state=signed").get_json()["total"] == 0
    assert staff.get(f"/api/grids/{code}/cases?overdue=any").get_json()["total"] == 0
    service = app.extensions["gridmap.cases"]
    later = service.clock() + timedelta(days=30)
    service.clock = lambda: later  # a month on, nobody has signed for anything
    assert staff.get(f"/api/grids/{code}/cases?overdue=sign").get_json()["total"] == 5
    for bad in ("state=lost", "overdue=soon", "page=0", "per_page=500", "since=yesterday"):
        r = staff.get(f"/api/grids/{code}/cases?{bad}")
        assert r.status_code == 400 and r.get_json()["field"] == bad.split("=")[0]
    assert staff.get("/api/grids/500114005001999/cases").status_code == 404


def test_an_admin_who_is_also_grid_staff_reads_only_their_own_grids_cases(app, client):
    codes = app.extensions["gridmap"].grids.codes
    app.extensions["gridmap.accounts"].add_user("adm7", PASSWORD, ["grid_staff", "admin"],
                                                grid_codes=[codes[6]])
    other = report(client, app, index=7, contact=PHONE).get_json()["case_id"]
    own = report(client, app, index=6, contact="100-5151-5151").get_json()["case_id"]
    admin = as_user(app, "adm7")
    for path in (f"/grid/{codes[7]}", f"/api/grids/{codes[7]}/cases", f"/api/cases/{other}",
                 f"/case/{other}", f"/cases?grid={codes[7]}"):
        r = admin.get(path)
        assert r.status_code == 403 and PHONE not in r.get_data(as_text=True)
    assert "100-5151-5151" in admin.get(f"/case/{own}").get_data(as_text=True)  # own grid
    listed = admin.get("/cases").get_data(as_text=True)  # all the cases of their grids
    assert own in listed and other not in listed


def test_the_queue_page_pages_and_keeps_its_filters(app, client):
    for i in range(5):
        report(client, app, description=f"第{i}条", category="06" if i < 3 else "07")
    code = app.extensions["gridmap"].grids.codes[6]
    staff = as_user(app, "staff7")
    first = staff.get(f"/grid/{code}?category=06&per_page=2").get_data(as_text=True)
    assert first.count('<li class="case-card"') == 2 and "第 1 / 2 页" in first
    link = html.unescape(re.search(r'<a rel="next" href="([^"]+)"', first)[1])
    assert urlsplit(link).path == f"/grid/{code}"
    assert parse_qs(urlsplit(link).query) == {"category": ["06"], "per_page": ["2"], "page": ["2"]}
    second = staff.get(link).get_data(as_text=True)
    assert second.count('<li class="case-card"') == 1 and 'rel="prev"' in second
    assert 'rel="next"' not in second  # newest first: the oldest is last
    assert "第0条" not in first and "第0条" in second
    assert "<form method=\"post\"" not in second.split('id="queue"')[1]  # actions: case page


def test_a_page_past_the_end_shows_the_last_page(app, client):
    for i in range(3):
        report(client, app, description=f"第{i}条")
    code = app.extensions["gridmap"].grids.codes[6]
    staff = as_user(app, "staff7")
    page = staff.get(f"/grid/{code}?state=reported&per_page=1&page=7").get_data(as_text=True)
    assert page.count('<li class="case-card"') == 1 and "第 3 / 3 页" in page
    assert "第0条" in page  # the oldest
    prev = html.unescape(re.search(r'<a rel="prev" href="([^"]+)"', page)[1])
    assert parse_qs(urlsplit(prev).query)["page"] == ["2"]


@pytest.mark.parametrize("body, field", [
    ({"action": ["sign"]}, "action"), ({"action": {"a": 1}}, "action"),
    ({"action": "forward", "note": "n", "to_grid": ["x"]}, "to_grid"),
    ({"action": "forward", "note": "n", "to_person": {"x": [1]}}, "to_person"),
    ({"action": "forward", "note": "n", "to_person": "nobody"}, "to_person"),
    ({"action": "sign", "bogus": 1}, "body"),
    # fields the action does not use are checked too
    ({"action": "sign", "to_grid": {"$ne": 1}}, "to_grid"),
    ({"action": "sign", "to_person": ["p"]}, "to_person"),
    ({"action": "sign", "reason": 1}, "reason"), ({"action": "sign", "note": True}, "note"),
])
def test_odd_action_bodies_are_a_400_naming_the_field_and_change_nothing(app, client, body,
                                                                          field):
    case_id = report(client, app).get_json()["case_id"]
    before = app.extensions["gridmap.cases"].store.get(case_id)
    r = act(as_user(app, "staff7"), case_id, **body)
    assert r.status_code == 400 and r.get_json()["field"] == field
    assert app.extensions["gridmap.cases"].store.get(case_id) == before


@pytest.mark.parametrize("query, field", [("page=%C2%B2", "page"), ("per_page=%E2%91%A0", "per_page"),
                                          ("until=2026-13-01", "until")])
def test_odd_queue_arguments_are_a_400_naming_them(app, query, field):
    code = app.extensions["gridmap"].grids.codes[6]
    staff = as_user(app, "staff7")
    r = staff.get(f"/api/grids/{code}/cases?{query}")
    assert r.status_code == 400 and r.get_json()["field"] == field
    assert staff.get(f"/grid/{code}?{query}").status_code == 400


def test_a_date_as_until_includes_that_day(app, client):
    at(app, TUESDAY_9)
    report(client, app)
    staff = as_user(app, "staff7")
    code = app.extensions["gridmap"].grids.codes[6]

    def total(query):
        return staff.get(f"/api/grids/{code}/cases?{query}").get_json()["total"]

    assert total("since=2026-03-10&until=2026-03-10") == 1
    assert total("until=2026-03-09") == 0 and total("until=2026-03-10T08:59:59") == 0
    assert total("until=9999-12-31") == 1


def test_a_reopen_before_this_release_is_shown_as_a_new_round(app, client):
    """Reopens used to keep the last round's reply and rating and the first handling
    deadline; such stored cases are shown as reopens show them now."""
    at(app, TUESDAY_9)
    created = report(client, app).get_json()
    store = app.extensions["gridmap.cases"].store
    old = store.get(created["case_id"])
    props = dict(old["properties"], state="handling", reply="已清理", rating=2,
                 rating_comment="没扫干净", rework_count=1)
    props["history"] = props["history"] + [
        {"at": f"2026-03-1{d}T{t}:00+08:00", "action": a, "actor": u, "role": r, "note": n,
         "from": None, "to": None} for d, t, a, u, r, n in [
            (0, "09:30", "sign", "staff7", "grid_staff", None),
            (0, "10:00", "reply", "staff7", "grid_staff", "已清理"),
            (0, "11:00", "close", "other7", "grid_staff", None),
            (0, "12:00", "rate", None, "resident", "没扫干净"),
            (7, "09:00", "reopen", "disp", "dispatcher", "又堆积了")]]
    store.update(old["id"], dict(old, properties=props), expected_version=1)
    at(app, TUESDAY_9 + timedelta(days=7, hours=1))  # an hour after the reopen
    tracked = client.get(f"/api/track/{created['tracking_code']}").get_json()
    assert (tracked["reply"], tracked["rating"]) == (None, None)
    assert tracked["deadlines"]["handle"] == "2026-03-17T15:00:00+08:00"  # as a reopen now gives
    staff = as_user(app, "staff7").get(f"/api/cases/{old['id']}").get_json()
    assert staff["overdue"] == {"sign": False, "handle": False, "verify": False}
    assert "reply" not in staff and staff["deadlines"]["handle"] == tracked["deadlines"]["handle"]
    at(app, TUESDAY_9 + timedelta(days=8))
    assert as_user(app, "staff7").get(f"/api/cases/{old['id']}").get_json()["overdue"]["handle"]


def test_contact_details_only_for_the_grid_team_and_dispatchers(app, client):
    case_id = report(client, app, contact=PHONE, name="张居民").get_json()["case_id"]
    tracking = app.extensions["gridmap.cases"].store.get(case_id)["properties"]["tracking_code"]
    assert PHONE in as_user(app, "staff7").get(f"/api/cases/{case_id}").get_data(as_text=True)
    assert PHONE in as_user(app, "disp").get(f"/api/cases/{case_id}").get_data(as_text=True)
    public = client.get(f"/api/track/{tracking}").get_data(as_text=True)
    assert PHONE not in public and "张居民" not in public
    team = app.extensions["gridmap"].teams[app.extensions["gridmap"].grids.codes[6]]
    assert team.full_time.name not in public and team.head.name not in public
    assert client.get("/api/track/NOPE0-NOPE0").status_code == 404


@pytest.mark.parametrize("key", ["k" * 129, "bad\x01key"])
def test_bad_idempotency_key_headers_are_refused(app, client, key):
    lon, lat = spot(app, 6)
    r = client.post("/api/reports", json={"lon": lon, "lat": lat, "category": "06",
                                          "description": "x"}, headers={"Idempotency-Key": key})
    assert r.status_code == 400 and r.get_json()["field"] == "idempotency_key"
    assert count(app) == 0


def test_notes_and_ratings_are_checked_like_reports(app, client):
    case_id = report(client, app).get_json()["case_id"]
    staff = as_user(app, "staff7")
    for action in ("sign", "start"):
        act(staff, case_id, action=action)
    r = act(staff, case_id, action="reply", note="done\x07")
    assert r.status_code == 400 and r.get_json()["field"] == "note"
    act(staff, case_id, action="reply", note="done")
    act(as_user(app, "other7"), case_id, action="close")
    tracking = app.extensions["gridmap.cases"].store.get(case_id)["properties"]["tracking_code"]
    r = client.post(f"/api/track/{tracking}/rating", json={"rating": 5, "stars": 5})
    assert r.status_code == 400 and "stars" in r.get_json()["message"]
    assert app.extensions["gridmap.cases"].store.get(case_id)["properties"]["state"] == "closed"


def test_a_hot_spot_lists_only_the_nearest_few_duplicates(app, client):
    for i in range(8):
        report(client, app, description=f"同一处第{i}次")
    answer = report(client, app, description="又一次").get_json()
    assert len(answer["duplicates"]) == 5


def test_a_report_is_answered_only_once_it_is_on_disk(app, client, monkeypatch):
    import os
    import threading

    from gridmap.store import seqlog

    assert report(client, app).status_code == 201  # the segment exists: appends fdatasync
    release, answered, threads = threading.Event(), threading.Event(), []
    real = os.fdatasync

    def held_sync(fd):
        threads.append(threading.current_thread().name)
        assert release.wait(30)
        real(fd)

    monkeypatch.setattr(seqlog.os, "fdatasync", held_sync)
    result = {}

    def post():
        result["r"] = report(app.test_client(), app, index=3)
        answered.set()

    thread = threading.Thread(target=post)
    thread.start()
    assert not answered.wait(0.5) and threads  # the fsync runs; no answer yet
    release.set()
    thread.join(30)
    assert result["r"].status_code == 201 and count(app) == 2
    assert threads[0].startswith("gridmap-store-sync")  # beside the request, not in it


def test_a_failed_fsync_is_a_500_and_the_same_key_after_a_restart_gets_the_case(
        app, client, monkeypatch, tmp_path):
    import os

    from gridmap.store import seqlog

    assert report(client, app).status_code == 201
    real, failing = os.fdatasync, [True]

    def sync(fd):
        if failing[0]:
            raise OSError(5, "Input/output error")
        real(fd)

    monkeypatch.setattr(seqlog.os, "fdatasync", sync)
    lon, lat = spot(app, 2)
    body = {"lon": lon, "lat": lat, "category": "06", "description": "垃圾堆积"}
    r = client.post("/api/reports", json=body, headers={"Idempotency-Key": "disk-1"})
    assert r.status_code == 500 and r.get_json()["error"] == "store_error"
    assert "could not be written" in r.get_json()["message"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"  # a whole answer, headers and all
    failing[0] = False  # the disk is back, but this worker writes no more, and says so
    assert report(client, app, index=4).status_code == 500
    health = client.get("/api/health")
    assert health.status_code == 503 and health.get_json()["ok"] is False
    restarted = create_app({"DATA_DIR": str(tmp_path / "data"), "REPORT_IP_LIMIT": 1000})
    again = restarted.test_client().post("/api/reports", json=body,
                                         headers={"Idempotency-Key": "disk-1"})
    assert again.status_code == 200 and count(restarted) == 2


def test_a_transition_whose_fsync_fails_is_not_audited(app, monkeypatch):
    from gridmap.store import seqlog

    case_id = report(app.test_client(), app).get_json()["case_id"]
    staff = as_user(app, "staff7")
    def failing(fd):  # the case store's disk only: the audit log's file syncs as ever
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(seqlog, "datasync", failing)
    r = act(staff, case_id, action="sign")
    assert r.status_code == 500 and r.get_json()["error"] == "store_error"
    audit_log = app.extensions["gridmap"].data_dir / "audit.jsonl"
    # the audit trail never claims a write that may be lost
    assert not audit_log.exists() or case_id not in audit_log.read_text(encoding="utf-8")
