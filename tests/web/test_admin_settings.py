"""Admins change categories, time limits and the working calendar while the
service runs: checked before writing, written atomically, audited, and seen by
every worker process on its next request. Existing cases keep their deadlines."""

import html
import json
import logging
import re
import urllib.request
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from gridmap.auth.accounts import AccountStore
from gridmap.web import create_app

from signed_in_clients import signed_in

PASSWORD = "correct horse battery"
CSRF = "s" * 43
TZ = ZoneInfo("Asia/Shanghai")
FRIDAY_9 = datetime(2026, 3, 13, 9, 0, tzinfo=TZ)  # an ordinary working Friday
FRIDAY_16 = datetime(2026, 3, 13, 16, 0, tzinfo=TZ)
SETTINGS_ACTIONS = {"category_add", "category_change", "calendar_change"}


def make_app(data_dir, clock=FRIDAY_9):
    app = create_app({"DATA_DIR": str(data_dir), "REPORT_IP_LIMIT": 10_000})
    app.extensions["gridmap.cases"].clock = lambda: clock
    return app


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path / "data")
    store = app.extensions["gridmap.accounts"]
    store.add_user("root", PASSWORD, ["admin"])
    store.add_user("disp", PASSWORD, ["dispatcher"])
    return app


def as_user(app, username="root"):
    return signed_in(app, username, CSRF)


def data_file(app, name):
    return app.extensions["gridmap"].data_dir / name


def report(client, app, category="06"):
    spot = app.extensions["gridmap"].grids.grids[6].geometry.representative_point()
    r = client.post("/api/reports", json={"lon": spot.x, "lat": spot.y, "category": category,
                                          "description": "垃圾堆积"})
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.get_json()


def category_form(app, base="06", **changes):
    """The fields of category ``base`` as the page fills them in, with ``changes`` (None: left out)."""
    category = app.extensions["gridmap"].categories[base]
    form = {"csrf_token": CSRF, "name": category.name, "name_en": category.name_en,
            "sign_hours": f"{category.sign_hours:g}", "handle_hours": f"{category.handle_hours:g}",
            "verify_hours": f"{category.verify_hours:g}"}
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def calendar_form(app, **changes):
    """The calendar form exactly as the page fills it in, with ``changes``."""
    page = as_user(app).get("/admin/calendar").get_data(as_text=True)
    form = {"csrf_token": CSRF,
            "working_days": re.findall(r'name="working_days" value="(\w+)" checked', page)}
    for name in ("working_hours", "holidays", "workdays", "years"):
        text = re.search(rf'<textarea name="{name}"[^>]*>(.*?)</textarea>', page, re.S)[1]
        form[name] = html.unescape(text)
    form.update(changes)
    return form


def audit_entries(app):
    path = data_file(app, "audit.jsonl")
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def alert(response):
    return re.search(r'role="alert">(.*?)</p>', response.get_data(as_text=True), re.S)[1]


# -- limits and deadlines ---------------------------------------------------------------------

def test_new_limits_apply_to_new_reports_and_existing_cases_keep_their_deadlines(app):
    client = app.test_client()
    before = report(client, app)
    assert before["deadlines"] == {"sign": "2026-03-13T10:00:00+08:00",
                                   "handle": "2026-03-13T16:00:00+08:00"}
    r = as_user(app).post("/admin/categories/06", data=category_form(
        app, sign_hours="0.5", handle_hours="2", verify_hours="1.25"))
    assert r.status_code == 302 and r.headers["Location"] == "/admin/categories"
    after = report(client, app)
    assert after["deadlines"] == {"sign": "2026-03-13T09:30:00+08:00",
                                  "handle": "2026-03-13T11:30:00+08:00"}
    tracked = client.get(f"/api/track/{before['tracking_code']}").get_json()
    assert tracked["deadlines"] == before["deadlines"]
    doc = json.loads(data_file(app, "categories.json").read_text(encoding="utf-8"))
    assert "note" in doc  # keys the page does not edit are kept
    entry = next(c for c in doc["categories"] if c["code"] == "06")
    assert entry["limits_hours"] == {"sign": 0.5, "handle": 2, "verify": 1.25}
    assert len(doc["categories"]) == 15
    last = audit_entries(app)[-1]
    assert (last["action"], last["actor"], last["target"]) == ("category_change", "root", "06")
    assert last["detail"]["limits_hours"] == {"sign": 0.5, "handle": 2.0, "verify": 1.25}
    assert last["detail"]["old_limits_hours"] == {"sign": 1.0, "handle": 4.0, "verify": 8.0}
    page = as_user(app).get("/admin/categories").get_data(as_text=True)
    row = re.search(r'<tr data-code="06".*?</tr>', page, re.S)[0]
    assert 'value="0.5"' in row and 'value="2"' in row and 'value="1.25"' in row
    assert "已有案件保留上报时定下的时限" in page and "类别不能删除" in page


def test_a_second_worker_on_the_same_data_folder_sees_changes_on_its_next_request(app, tmp_path):
    other = make_app(tmp_path / "data")  # another gunicorn worker, in effect
    resident = other.test_client()
    assert report(resident, other)["deadlines"]["handle"] == "2026-03-13T16:00:00+08:00"
    admin = as_user(app)
    assert admin.post("/admin/categories/06", data=category_form(
        app, handle_hours="1")).status_code == 302
    assert admin.post("/admin/categories", data=category_form(
        app, code="15", name="噪声扰民", name_en="Noise", sign_hours="2", handle_hours="2.5")
    ).status_code == 302
    assert report(resident, other)["deadlines"]["handle"] == "2026-03-13T11:00:00+08:00"
    assert report(resident, other, "15")["deadlines"] == {"sign": "2026-03-13T11:00:00+08:00",
                                                          "handle": "2026-03-13T15:30:00+08:00"}
    assert '<option value="15">' in resident.get("/report").get_data(as_text=True).replace(
        ' selected', '')
    services = resident.get("/open311/v2/services.json").get_json()
    assert [s["service_code"] for s in services][-2:] == ["15", "99"]  # kept in code order


def test_a_saturday_made_a_workday_moves_the_deadline_of_new_reports(tmp_path):
    app = make_app(tmp_path / "data", clock=FRIDAY_16)
    app.extensions["gridmap.accounts"].add_user("root", PASSWORD, ["admin"])
    client = app.test_client()
    before = report(client, app)  # 1 h to sign, 5 h to handle: over the weekend
    assert before["deadlines"] == {"sign": "2026-03-13T17:00:00+08:00",
                                   "handle": "2026-03-16T12:00:00+08:00"}
    form = calendar_form(app)
    form["workdays"] += "\n2026-03-14"
    r = as_user(app).post("/admin/calendar", data=form)
    assert r.status_code == 302, alert(r)
    assert report(client, app)["deadlines"]["handle"] == "2026-03-14T12:00:00+08:00"
    assert client.get(f"/api/track/{before['tracking_code']}").get_json()["deadlines"] == \
        before["deadlines"]
    last = audit_entries(app)[-1]
    assert last["action"] == "calendar_change" and last["detail"]["workdays_added"] == ["2026-03-14"]
    assert "holidays_added" not in last["detail"]
    assert "2026-03-14" in calendar_form(app)["workdays"].split()


def test_saving_the_calendar_form_unchanged_keeps_the_calendar(app):
    path = data_file(app, "calendar.json")
    before = json.loads(path.read_text(encoding="utf-8"))
    assert as_user(app).post("/admin/calendar", data=calendar_form(app)).status_code == 302
    after = json.loads(path.read_text(encoding="utf-8"))
    assert after == before  # note, years and their sources survive the round trip


def test_working_days_and_periods_can_be_changed(app):
    form = calendar_form(app, working_days=["mon", "tue", "wed", "thu"],
                         working_hours="13:30 - 18:00\r\n09:00-12:00")
    assert as_user(app).post("/admin/calendar", data=form).status_code == 302
    doc = json.loads(data_file(app, "calendar.json").read_text(encoding="utf-8"))
    assert doc["working_days"] == ["mon", "tue", "wed", "thu"]
    assert doc["working_hours"] == [["09:00", "12:00"], ["13:30", "18:00"]]
    # Friday is off now: the clock starts Monday 09:00; 1 h to sign, 5 h to handle
    assert report(app.test_client(), app)["deadlines"] == {"sign": "2026-03-16T10:00:00+08:00",
                                                           "handle": "2026-03-16T15:30:00+08:00"}


def test_a_working_saturday_clashes_with_saturday_make_up_days(app):
    path = data_file(app, "calendar.json")
    before = path.read_bytes()
    form = calendar_form(app, working_days=["mon", "tue", "wed", "thu", "fri", "sat"])
    r = as_user(app).post("/admin/calendar", data=form)
    assert r.status_code == 400 and "workdays" in alert(r) and "2026-02-14" in alert(r)
    assert path.read_bytes() == before
    assert 'value="sat" checked' in r.get_data(as_text=True)  # the form keeps what was sent


# -- refusals ---------------------------------------------------------------------------------

BAD_CATEGORY_CHANGES = [
    ({"sign_hours": "0"}, "sign_hours"), ({"handle_hours": "-1"}, "handle_hours"),
    ({"verify_hours": "abc"}, "verify_hours"), ({"sign_hours": ""}, "sign_hours"),
    ({"sign_hours": "nan"}, "sign_hours"), ({"handle_hours": "inf"}, "handle_hours"),
    ({"handle_hours": "1e3"}, "handle_hours"), ({"handle_hours": "１"}, "handle_hours"),
    ({"handle_hours": "2000.5"}, "handle_hours"), ({"sign_hours": "0.0000001"}, "sign_hours"),
    ({"verify_hours": None}, "verify_hours"), ({"name": ""}, "name"), ({"name": "   "}, "name"),
    ({"name": "长" * 33}, "name"), ({"name": "环境\x00卫生"}, "name"),
    ({"name": "环境\u200b卫生"}, "name"), ({"name_en": ""}, "name_en"),
    ({"name_en": "x" * 33}, "name_en"), ({"name_en": None}, "name_en"),
]


@pytest.mark.parametrize("changes, field", BAD_CATEGORY_CHANGES)
def test_a_bad_category_change_is_a_400_naming_the_field_and_changes_nothing(app, changes, field):
    path = data_file(app, "categories.json")
    before = path.read_bytes()
    r = as_user(app).post("/admin/categories/06", data=category_form(app, **changes))
    assert r.status_code == 400
    assert field in alert(r)
    assert path.read_bytes() == before
    assert not SETTINGS_ACTIONS & {e["action"] for e in audit_entries(app)}
    assert app.extensions["gridmap"].categories["06"].handle_hours == 4


@pytest.mark.parametrize("changes, field", BAD_CATEGORY_CHANGES[:3] + [
    ({"code": "1"}, "code"), ({"code": "001"}, "code"), ({"code": "ab"}, "code"),
    ({"code": "１５"}, "code"), ({"code": ""}, "code"), ({"code": "06"}, "code"),
    ({"code": "99"}, "code"), ({"code": None}, "code"),
])
def test_a_bad_new_category_is_a_400_naming_the_field_and_changes_nothing(app, changes, field):
    path = data_file(app, "categories.json")
    before = path.read_bytes()
    form = category_form(app, **{"code": "15", "name": "噪声扰民", "name_en": "Noise", **changes})
    r = as_user(app).post("/admin/categories", data=form)
    assert r.status_code == 400
    assert field in alert(r)
    assert path.read_bytes() == before
    assert not SETTINGS_ACTIONS & {e["action"] for e in audit_entries(app)}
    assert list(app.extensions["gridmap"].categories)[-1] == "99"


def test_an_unknown_category_is_a_404_and_changes_nothing(app):
    path = data_file(app, "categories.json")
    before = path.read_bytes()
    r = as_user(app).post("/admin/categories/42", data=category_form(app))
    assert r.status_code == 404 and path.read_bytes() == before


@pytest.mark.parametrize("changes, field", [
    ({"working_days": []}, "working_days"), ({"working_days": ["mon", "xyz"]}, "working_days"),
    ({"working_days": ["mon", "mon"]}, "working_days"), ({"working_hours": ""}, "working_hours"),
    ({"working_hours": "08:30"}, "working_hours"), ({"working_hours": "8-12"}, "working_hours"),
    ({"working_hours": "12:00-08:30"}, "working_hours"),
    ({"working_hours": "08:00-12:00\n11:00-13:00"}, "working_hours"),
    ({"working_hours": "25:00-26:00"}, "working_hours"),
    ({"holidays": "2026-02-30"}, "holidays"), ({"holidays": "2026/01/01"}, "holidays"),
    ({"holidays": "2026-01-01\n2026-01-01"}, "holidays"), ({"holidays": "2030-01-01"}, "years"),
    ({"workdays": "2026-03-16"}, "workdays"), ({"workdays": "2026-01-01"}, "workdays"),
    ({"workdays": "2026-1-4"}, "workdays"),
    ({"years": "20xx source"}, "years"), ({"years": "2026 a\n2026 b\n2027 c"}, "years"),
    ({"years": "2026 only"}, "years"),  # the 2027 dates are no longer covered
    ({"years": "2026 a\n2027 b\n0999 typo"}, "years"),  # would be written as "999"
])
def test_a_bad_calendar_is_a_400_naming_the_field_and_changes_nothing(app, changes, field):
    path = data_file(app, "calendar.json")
    before = path.read_bytes()
    form = calendar_form(app, **changes)
    if field == "workdays" and changes["workdays"] == "2026-01-01":
        form["holidays"] = "2026-01-01"
    r = as_user(app).post("/admin/calendar", data=form)
    assert r.status_code == 400
    assert field in alert(r)
    assert path.read_bytes() == before
    assert not SETTINGS_ACTIONS & {e["action"] for e in audit_entries(app)}
    # the form comes back with what was sent, to correct it
    page = r.get_data(as_text=True)
    assert all(line in page for line in form.get("holidays", "").splitlines()[:3])


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_settings_changes_need_the_csrf_token(app, token):
    files = {name: data_file(app, name).read_bytes() for name in ("categories.json", "calendar.json")}
    client = as_user(app)
    posts = [("/admin/categories/06", category_form(app, handle_hours="1")),
             ("/admin/categories", category_form(app, code="15", name="噪声", name_en="Noise")),
             ("/admin/calendar", calendar_form(app, working_days=["mon"]))]
    for url, form in posts:
        form = {k: v for k, v in form.items() if k != "csrf_token"}
        if token is not None:
            form["csrf_token"] = token
        r = client.post(url, data=form)
        assert r.status_code == 403 and "CSRF" in r.get_data(as_text=True), url
    assert {name: data_file(app, name).read_bytes() for name in files} == files
    assert not SETTINGS_ACTIONS & {e["action"] for e in audit_entries(app)}


def test_non_admins_are_refused(app):
    path = data_file(app, "categories.json")
    before = path.read_bytes()
    for client, status in ((as_user(app, "disp"), 403), (app.test_client(), 401)):
        assert client.get("/admin/categories").status_code == status
        with client.session_transaction() as s:
            s["csrf"] = CSRF
        r = client.post("/admin/categories/06", data=category_form(app, handle_hours="1"))
        assert r.status_code == status
    assert path.read_bytes() == before


# -- retired categories, and one removed by hand ------------------------------------------------

def act(app, case_id, **body):
    return as_user(app, "disp").post(f"/api/cases/{case_id}/actions", json=body,
                                     headers={"X-CSRF-Token": CSRF})


def offered(app):
    """The category codes the report page offers (its own client: the page sets a cookie)."""
    page = app.test_client().get("/report").get_data(as_text=True)
    return re.findall(r'<option value="(\d\d)"', page)


def test_a_retired_category_is_no_longer_offered_and_its_cases_go_on(app):
    client = app.test_client()
    case = report(client, app)
    spot = app.extensions["gridmap"].grids.grids[6].geometry.representative_point()
    body = {"lon": spot.x, "lat": spot.y, "category": "06", "description": "井盖松动"}
    form = {"service_code": "06", "lat": repr(spot.y), "long": repr(spot.x), "description": "垃圾"}
    first = client.post("/api/reports", json=body, headers={"Idempotency-Key": "phone-1"})
    first311 = client.post("/open311/v2/requests.json", data=form,
                           headers={"Idempotency-Key": "phone-2"})
    assert (first.status_code, first311.status_code) == (201, 201)
    assert "06" in offered(app)
    r = as_user(app).post("/admin/categories/06", data=category_form(app, retired="on"))
    assert r.status_code == 302
    doc = json.loads(data_file(app, "categories.json").read_text(encoding="utf-8"))
    entries = {c["code"]: c for c in doc["categories"]}
    assert entries["06"]["retired"] is True and "retired" not in entries["07"]
    last = audit_entries(app)[-1]
    assert (last["detail"]["retired"], last["detail"]["old_retired"]) == (True, False)
    # residents can no longer pick it: not on the page, refused by the API and by Open311
    assert "06" not in offered(app) and "07" in offered(app)
    spot = app.extensions["gridmap"].grids.grids[6].geometry.representative_point()
    refused = client.post("/api/reports", json={"lon": spot.x, "lat": spot.y, "category": "06",
                                                "description": "垃圾堆积"})
    assert refused.status_code == 400 and refused.get_json()["field"] == "category"
    assert "is retired" in refused.get_json()["message"]
    in_chinese = app.test_client().post("/api/reports?lang=zh", json={"lon": spot.x, "lat": spot.y,
                                                            "category": "06", "description": "垃圾堆积"})
    assert "已停用" in in_chinese.get_json()["message"]
    services = client.get("/open311/v2/services.json").get_json()
    assert "06" not in [s["service_code"] for s in services] and len(services) == 14
    posted = client.post("/open311/v2/requests.json", data={
        "service_code": "06", "lat": repr(spot.y), "long": repr(spot.x), "description": "垃圾"})
    error, = posted.get_json()
    assert posted.status_code == 400 and "service_code 06 (Sanitation) is retired" in error[
        "description"]
    # a phone repeating a report whose answer it lost still gets its first case
    again = client.post("/api/reports", json=body, headers={"Idempotency-Key": "phone-1"})
    assert again.status_code == 200 and again.get_json()["case_id"] == first.get_json()["case_id"]
    again311 = client.post("/open311/v2/requests.json", data=form,
                           headers={"Idempotency-Key": "phone-2"})
    assert again311.status_code == 200
    assert again311.get_json()[0]["service_request_id"] == first311.get_json()[0][
        "service_request_id"]
    assert client.post("/api/reports", json=body, headers={
        "Idempotency-Key": "phone-3"}).status_code == 400
    assert app.extensions["gridmap.cases"].store.count() == 3
    # its case goes on with the category's names and limits
    tracked = client.get(f"/api/track/{case['tracking_code']}").get_json()
    assert tracked["category"]["name"] == "环境卫生"
    codes = app.extensions["gridmap"].grids.codes
    moved = act(app, case["case_id"], action="forward", note="属第8网格", to_grid=codes[7])
    assert moved.status_code == 200 and moved.get_json()["grid_code"] == codes[7]
    page = as_user(app).get("/admin/categories").get_data(as_text=True)
    row = re.search(r'<tr data-code="06".*?</tr>', page, re.S)[0]
    assert 'class="retired"' in row and 'name="retired"' in row and "checked" in row
    assert "可以停用" in page
    # restored: offered again
    assert as_user(app).post("/admin/categories/06", data=category_form(app)).status_code == 302
    assert "06" in offered(app)
    assert report(client, app)["deadlines"]["handle"] == "2026-03-13T16:00:00+08:00"


def test_retiring_the_last_category_in_use_is_refused_and_changes_nothing(app):
    path = data_file(app, "categories.json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    for entry in doc["categories"]:
        entry["retired"] = entry["code"] != "06"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    assert offered(app) == ["06"]
    before = path.read_bytes()
    r = as_user(app).post("/admin/categories/06", data=category_form(app, retired="on"))
    assert r.status_code == 400 and "没有在用的类别" in r.get_data(as_text=True)
    assert path.read_bytes() == before and offered(app) == ["06"]


@pytest.mark.parametrize("retired", [1, "yes", None])
def test_a_retired_flag_that_is_not_true_or_false_is_a_bad_file(app, caplog, retired):
    path = data_file(app, "categories.json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["categories"][0]["retired"] = retired
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert len(offered(app)) == 15  # the last good values stay
    assert any(r.levelno == logging.ERROR and "categories.json" in r.getMessage()
               and "retired must be true or false" in r.getMessage() for r in caplog.records)


def test_a_category_removed_by_hand_still_shows_on_its_cases(app):
    client = app.test_client()
    case, other, done = report(client, app), report(client, app), report(client, app)
    for action in ("sign", "start", "reply"):
        assert act(app, done["case_id"], action=action, note="已清理").status_code == 200
    app.extensions["gridmap.accounts"].add_user("disp2", PASSWORD, ["dispatcher"])
    closed = as_user(app, "disp2").post(f"/api/cases/{done['case_id']}/actions",
                                        json={"action": "close"}, headers={"X-CSRF-Token": CSRF})
    assert closed.status_code == 200
    path = data_file(app, "categories.json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["categories"] = [c for c in doc["categories"] if c["code"] != "06"]
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    disp = as_user(app, "disp")
    tracked = client.get(f"/track/{case['tracking_code']}")
    assert tracked.status_code == 200 and "类别 06（已删除）" in tracked.get_data(as_text=True)
    assert client.get(f"/api/track/{case['tracking_code']}").get_json()["category"] == {
        "code": "06", "name": "类别 06（已删除）", "name_en": "category 06 (removed)"}
    assert disp.get(f"/api/cases/{case['case_id']}").status_code == 200
    queue = disp.get(f"/grid/{case['grid']['code']}")
    assert queue.status_code == 200 and "类别 06（已删除）" in queue.get_data(as_text=True)
    for fmt in ("json", "xml"):
        assert client.get(f"/open311/v2/requests/{case['case_id']}.{fmt}").status_code == 200
    one = client.get(f"/open311/v2/requests/{case['case_id']}.json").get_json()[0]
    assert one["service_code"] == "06" and one["service_notice"] is None
    # its cases can still be picked out by the code
    grid = case["grid"]["code"]
    assert disp.get(f"/api/grids/{grid}/cases?category=06").get_json()["total"] == 3
    assert len(client.get("/open311/v2/requests.json?service_code=06").get_json()) == 3
    # what needs the category's limits is refused, naming the fix; nothing changes
    codes = app.extensions["gridmap"].grids.codes
    r = act(app, case["case_id"], action="forward", note="属第8网格", to_grid=codes[7])
    assert r.status_code == 409 and "categories.json" in r.get_json()["message"]
    assert disp.get(f"/api/cases/{case['case_id']}").get_json()["version"] == 1
    for action in ("sign", "start", "reply"):
        r = act(app, case["case_id"], action=action, note="已处理")
    assert r.status_code == 409 and disp.get(f"/api/cases/{case['case_id']}").get_json()[
        "state"] == "handling"
    r = act(app, done["case_id"], action="reopen", note="又堆积了")
    assert r.status_code == 409 and disp.get(f"/api/cases/{done['case_id']}").get_json()[
        "state"] == "closed"
    # the rest goes on
    r = act(app, other["case_id"], action="cancel", note="重复上报", reason="duplicate")
    assert r.status_code == 200 and r.get_json()["state"] == "cancelled"
    # put back from the page: the admin is told that cases already use the code
    admin = as_user(app)
    r = admin.post("/admin/categories", data=dict(category_form(app, "07"), code="06"),
                   follow_redirects=True)
    assert r.status_code == 200 and "已有 3 件案件使用代码 06" in r.get_data(as_text=True)
    assert "件案件使用代码" not in admin.post("/admin/categories", data=dict(
        category_form(app, "07"), code="15"), follow_redirects=True).get_data(as_text=True)
    assert client.get(f"/api/track/{case['tracking_code']}").get_json()["category"]["name"] == \
        "市政设施"


# -- files broken by hand ---------------------------------------------------------------------

@pytest.mark.parametrize("content", [
    "{not json", '{"categories": []}', '{"categories": 5}',
    '{"categories": [{"code": "06", "name": "x", "limits_hours": {"sign": -1, "handle": 1, '
    '"verify": 1}}]}',
])
def test_a_categories_file_broken_by_hand_keeps_the_last_good_values(app, caplog, content):
    client = app.test_client()
    assert report(client, app)["deadlines"]["handle"] == "2026-03-13T16:00:00+08:00"
    path = data_file(app, "categories.json")
    good = path.read_text(encoding="utf-8")
    path.write_text(content, encoding="utf-8")
    caplog.set_level(logging.INFO, logger="gridmap.datafolder")
    for _ in range(3):
        services = client.get("/open311/v2/services.json")
        assert services.status_code == 200 and len(services.get_json()) == 15
        assert report(client, app)["deadlines"]["handle"] == "2026-03-13T16:00:00+08:00"
    errors = [r for r in caplog.records if r.name == "gridmap.datafolder" and r.levelno == logging.ERROR]
    assert len(errors) == 1 and "categories.json" in errors[0].getMessage()  # once, not per request
    # repaired by hand: picked up on the next request
    path.write_text(good.replace('"handle": 4,', '"handle": 1,'), encoding="utf-8")
    assert report(client, app)["deadlines"]["handle"] == "2026-03-13T11:00:00+08:00"


def test_saving_from_the_page_repairs_a_broken_file_from_the_last_good_values(app):
    path = data_file(app, "categories.json")
    path.write_text("{not json", encoding="utf-8")
    assert app.test_client().get("/api/health").status_code == 200
    r = as_user(app).post("/admin/categories/06", data=category_form(app, handle_hours="1"))
    assert r.status_code == 302
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert len(doc["categories"]) == 15
    assert next(c for c in doc["categories"] if c["code"] == "06")["limits_hours"]["handle"] == 1


def test_a_calendar_file_broken_by_hand_keeps_the_last_good_calendar(app, caplog):
    client = app.test_client()
    path = data_file(app, "calendar.json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(dict(doc, working_days=["someday"])), encoding="utf-8")
    assert report(client, app)["deadlines"]["handle"] == "2026-03-13T16:00:00+08:00"
    assert any(r.levelno == logging.ERROR and "calendar.json" in r.getMessage()
               and "working_days" in r.getMessage() for r in caplog.records)
    assert as_user(app).get("/admin/calendar").status_code == 200
    path.unlink()  # a deleted file too
    assert report(client, app)["deadlines"]["handle"] == "2026-03-13T16:00:00+08:00"


# -- in a real browser, against gunicorn with two workers --------------------------------------

@pytest.mark.browser
def test_an_admin_edits_a_limit_in_the_browser(browser, start_server, tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("settings") / "data", workers=2)
    AccountStore(server.data_dir / "accounts.sqlite3").add_user("chief", PASSWORD, ["admin"])
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: m.type == "error" and "Content Security Policy" in m.text
            and problems.append(m.text))
    page.goto(server.url + "/login?next=/admin/categories")
    page.fill("input[name=username]", "chief")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#category-list")
    page.click("#nav-calendar")
    page.wait_for_selector("#calendar-form")
    page.click("#nav-categories")
    row = page.locator('#category-list tr[data-code="06"]')
    assert row.locator("input[name=handle_hours]").input_value() == "4"
    row.locator("input[name=handle_hours]").fill("2.5")
    row.locator("button[type=submit]").click()
    page.wait_for_selector(".flash")
    row = page.locator('#category-list tr[data-code="06"]')
    assert row.locator("input[name=handle_hours]").input_value() == "2.5"
    assert "已有案件保留" in page.inner_text("#applies-to-new")
    # a bad value is refused on the page, naming the field; the good one stays
    row.locator("input[name=sign_hours]").fill("0")
    row.locator("button[type=submit]").click()
    assert "sign_hours" in page.inner_text("[role=alert]")
    page.goto(server.url + "/admin/categories")
    assert page.locator('tr[data-code="06"] input[name=sign_hours]').input_value() == "1"
    # each request may reach either worker: all of them use the new limit
    for _ in range(12):
        with urllib.request.urlopen(server.url + "/open311/v2/services.json") as r:
            notice = next(s["description"] for s in json.load(r) if s["service_code"] == "06")
        assert "3.5 个工作小时内处置" in notice, notice
    # retiring a category: ticked and saved on the page, gone from the residents' report page
    page.goto(server.url + "/admin/categories")
    page.locator('tr[data-code="07"] input[name=retired]').check()
    page.locator('tr[data-code="07"] button[type=submit]').click()
    page.wait_for_selector(".flash")
    assert page.locator('tr[data-code="07"] input[name=retired]').is_checked()
    assert "retired" in page.locator('tr[data-code="07"]').get_attribute("class")
    page.goto(server.url + "/report")
    options = page.locator("select[name=category] option").evaluate_all(
        "options => options.map(o => o.value)")
    assert "06" in options and "07" not in options and options[0] == "" and len(options) == 15
    assert problems == []
