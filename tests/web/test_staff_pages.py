"""Staff pages through Flask: who may open a case page, the confirmation that forward
and cancel ask for, the notes and reasons the workflow needs, deadlines with the
working time left, nearby cases, the all-cases list and where sign-in leads."""

import html
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gridmap.cases.workflow import Actor
from gridmap.web import create_app

from signed_in_clients import signed_in

PASSWORD = "correct horse battery"
PHONE = "100-2718-2818"
CSRF = "s" * 43
TUESDAY_9 = datetime(2026, 3, 10, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def app(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path / "data"), "SIGNIN_IP_LIMIT": 1000})
    store = app.extensions["gridmap.accounts"]
    codes = app.extensions["gridmap"].grids.codes
    store.add_user("staff7", PASSWORD, ["grid_staff"], grid_codes=[codes[6]])
    store.add_user("other7", PASSWORD, ["grid_staff"], grid_codes=[codes[6]])
    store.add_user("staff8", PASSWORD, ["grid_staff"], grid_codes=[codes[7]])
    store.add_user("both", PASSWORD, ["grid_staff"], grid_codes=[codes[6], codes[7]])
    store.add_user("disp", PASSWORD, ["dispatcher"])
    store.add_user("plan", PASSWORD, ["planner"])
    store.add_user("adm", PASSWORD, ["admin"])
    app.extensions["gridmap.cases"].clock = lambda: TUESDAY_9
    return app


def as_user(app, username):
    return signed_in(app, username, CSRF)


def new_case(app, index=6, category="06", description="楼道堆放杂物", dx=0.0):
    point = app.extensions["gridmap"].grids.grids[index].geometry.representative_point()
    feature, _, _ = app.extensions["gridmap.cases"].report(
        {"lon": point.x + dx, "lat": point.y, "category": category,
         "description": description, "contact": PHONE})
    return feature


def stored(app, case_id):
    return app.extensions["gridmap.cases"].store.get(case_id)


def post(client, case_id, **form):
    return client.post(f"/case/{case_id}", data={"csrf_token": CSRF, **form})


def text(response):
    return response.get_data(as_text=True)


@pytest.mark.parametrize("user, status", [
    ("staff7", 200), ("other7", 200), ("both", 200), ("disp", 200),
    ("staff8", 403), ("plan", 403), ("adm", 403), (None, 401)])
def test_who_may_open_a_case_page(app, user, status):
    case = new_case(app)
    r = signed_in(app, user).get(f"/case/{case['id']}")
    assert r.status_code == status
    assert (PHONE in text(r)) == (status == 200)  # the grid's team and dispatchers only
    if status == 200:
        assert "楼道堆放杂物" in text(r) and "L.map(" in text(r)


def test_an_unknown_case_is_a_404(app):
    assert as_user(app, "staff7").get("/case/" + "0" * 32).status_code == 404
    r = post(as_user(app, "disp"), "0" * 32, action="sign")
    assert r.status_code == 404


def test_staff_of_another_grid_cannot_act_and_nothing_changes(app):
    case = new_case(app)
    r = post(as_user(app, "staff8"), case["id"], action="sign")
    assert r.status_code == 403 and stored(app, case["id"]) == case


def test_the_page_shows_the_case_in_the_pages_language(app):
    case = new_case(app)
    zh = text(as_user(app, "staff7").get(f"/case/{case['id']}"))
    assert "剩余 1 工作小时" in zh and "签收时限" in zh and "环境卫生" in zh
    assert 'data-action="sign"' in zh and 'data-action="close"' not in zh
    en = text(as_user(app, "staff7").get(f"/case/{case['id']}?lang=en"))
    assert "1 working hour left" in en and "Sign for by" in en and "剩余" not in en
    assert "(just now)" in en and "（" not in en  # English punctuation too
    queue = text(as_user(app, "staff7").get(f"/grid/{case['properties']['grid_code']}?lang=en"))
    assert "Sanitation" in queue and "1 working hour left" in queue and "剩余" not in queue


def test_an_overdue_deadline_says_by_how_much(app):
    case = new_case(app)
    app.extensions["gridmap.cases"].clock = lambda: TUESDAY_9 + timedelta(hours=3, minutes=30)
    page = text(as_user(app, "staff7").get(f"/case/{case['id']}"))
    # sign-for ended at 10:00; 12:00-14:00 is no working time (calendar.json)
    assert re.search(r'level-late">已超时 2(\.0)? 工作小时<', page), page
    card = text(as_user(app, "staff7").get(f"/grid/{case['properties']['grid_code']}"))
    assert "level-late" in card and "已超时" in card


def test_sign_start_reply_and_close_from_the_case_page(app):
    case = new_case(app)
    worker, checker = as_user(app, "staff7"), as_user(app, "other7")
    for action in ("sign", "start"):
        r = post(worker, case["id"], action=action)
        assert r.status_code == 302 and r.headers["Location"] == f"/case/{case['id']}"
    r = post(worker, case["id"], action="reply", note="已清理完毕，\r\n楼道畅通。")
    assert r.status_code == 302
    assert stored(app, case["id"])["properties"]["reply"] == "已清理完毕，\n楼道畅通。"
    page = text(checker.get(f"/case/{case['id']}"))
    assert "已清理完毕，\n楼道畅通。" in page and "#1 → 已回复" not in page
    assert 'data-action="close"' in page
    assert post(checker, case["id"], action="close").status_code == 302
    page = text(checker.get(f"/case/{case['id']}"))
    assert "#1 → 已结案" in page  # the outcome, once
    history = page.split('id="history"')[1]
    assert [a for a in re.findall(r'<li data-action="(\w+)"', history)] == [
        "report", "sign", "start", "reply", "close"]
    assert "staff7（网格员）" in history and "other7（网格员）" in history


@pytest.mark.parametrize("form, field", [
    ({"action": "reply"}, "note"),
    ({"action": "cancel", "reason": "duplicate"}, "note"),
    ({"action": "cancel", "note": "重复"}, "reason"),
    ({"action": "cancel", "note": "重复", "reason": "boring"}, "reason"),
    ({"action": "forward", "note": "不属本网格"}, "to_grid"),
    ({"action": "forward", "to_grid": "GRID8"}, "note"),
    ({"action": "forward", "note": "x", "to_grid": "500114005001999"}, "to_grid"),
])
def test_a_missing_reason_or_note_is_a_400_before_any_confirmation(app, form, field):
    case = new_case(app)
    worker = as_user(app, "staff7")
    post(worker, case["id"], action="sign")
    post(worker, case["id"], action="start")
    before = stored(app, case["id"])
    if form.get("to_grid") == "GRID8":
        form = dict(form, to_grid=app.extensions["gridmap"].grids.codes[7])
    for confirm in ({}, {"confirm": "yes"}):
        r = post(worker, case["id"], **form, **confirm)
        assert r.status_code == 400 and 'id="confirm-yes"' not in text(r)
        assert f'role="alert" id="error" data-field="{field}"' in text(r)
        assert stored(app, case["id"]) == before


def test_cancel_asks_for_confirmation_first(app):
    case = new_case(app)
    worker = as_user(app, "staff7")
    r = post(worker, case["id"], action="cancel", reason="duplicate", note="与 #0 重复")
    page = text(r)
    assert r.status_code == 200 and "确认撤销案件 #1？" in page and "重复上报" in page
    assert stored(app, case["id"]) == case  # nothing yet
    confirm = page.split('id="confirm"')[1].split("</form>")[0]
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', confirm))
    token = fields.pop("csrf_token")  # masked afresh in every answer; the post below takes it
    assert token != CSRF and fields == {"action": "cancel", "note": "与 #0 重复",
                                        "reason": "duplicate"}
    fields["csrf_token"] = token
    assert 'name="confirm" value="yes"' in confirm
    r = post(worker, case["id"], **{k: html.unescape(v) for k, v in fields.items()},
             confirm="yes")
    assert r.status_code == 302
    props = stored(app, case["id"])["properties"]
    assert props["state"] == "cancelled" and props["cancel_reason"] == "duplicate"
    assert props["history"][-1]["note"] == "与 #0 重复"


def test_forward_asks_for_confirmation_and_then_leaves_the_grid(app):
    case = new_case(app)
    codes = app.extensions["gridmap"].grids.codes
    worker = as_user(app, "staff7")
    r = post(worker, case["id"], action="forward", to_grid=codes[7], note="在隔壁网格")
    assert r.status_code == 200 and 'id="confirm-yes"' in text(r)
    assert "确认把案件 #1 转办至" in text(r)
    assert stored(app, case["id"]) == case
    r = post(worker, case["id"], action="forward", to_grid=codes[7], note="在隔壁网格",
             confirm="yes")
    # the case left the worker's grid: back to their queue, not to a page they may not see
    assert r.status_code == 302 and r.headers["Location"] == f"/grid/{codes[6]}"
    assert as_user(app, "staff7").get(f"/case/{case['id']}").status_code == 403
    page = text(as_user(app, "staff8").get(f"/case/{case['id']}"))
    history = page.split('id="history"')[1]
    assert "在隔壁网格" in history and "转办" in history and "staff7" in history


def test_nearby_cases_are_of_the_same_kind_close_by_and_visible_to_the_viewer(app):
    case = new_case(app)
    same = new_case(app, description="又有杂物", dx=0.001)  # about 100 m east
    other_kind = new_case(app, category="07", dx=0.0005)
    far = new_case(app, dx=0.004)  # about 400 m
    moved = new_case(app, description="转走的", dx=0.0005)
    app.extensions["gridmap.cases"].act(moved["id"], "forward", Actor("dispatcher", "disp"),
                                        note="转", to_grid=app.extensions["gridmap"].grids.codes[7])

    def listed(user):
        section = text(as_user(app, user).get(f"/case/{case['id']}")).split('id="nearby"')[1]
        return set(re.findall(r'href="/case/(\w+)"', section))

    assert listed("staff7") == {same["id"]}  # not the one now in a grid they cannot see
    assert listed("disp") == {same["id"], moved["id"]}
    assert other_kind["id"] not in listed("disp") and far["id"] not in listed("disp")


def test_queue_cards_link_to_case_pages_and_hold_no_forms(app):
    case = new_case(app, description="<b>粗体</b>" + "长" * 100)
    page = text(as_user(app, "staff7").get(f"/grid/{case['properties']['grid_code']}"))
    cards = page.split('id="queue"')[1]
    assert f'href="/case/{case["id"]}"' in cards and "<form" not in cards
    assert "&lt;b&gt;粗体&lt;/b&gt;" in cards and "<b>粗体" not in cards
    assert "长" * 50 in cards and "长" * 60 not in cards  # a short description
    assert '<details class="filters"' in page and "<details class=\"filters\" open" not in page


def test_the_all_cases_list(app):
    seven, eight = new_case(app, 6), new_case(app, 7)
    codes = app.extensions["gridmap"].grids.codes
    everything = text(as_user(app, "disp").get("/cases"))
    assert seven["id"] in everything and eight["id"] in everything
    only8 = text(as_user(app, "disp").get(f"/cases?grid={codes[7]}"))
    assert seven["id"] not in only8 and eight["id"] in only8
    mine = text(as_user(app, "staff7").get("/cases"))
    assert seven["id"] in mine and eight["id"] not in mine
    assert as_user(app, "staff7").get(f"/cases?grid={codes[7]}").status_code == 403
    assert as_user(app, "disp").get("/cases?grid=nowhere").status_code == 400
    assert as_user(app, "disp").get("/cases?state=lost").status_code == 400
    assert as_user(app, "plan").get("/cases").status_code == 403


@pytest.mark.parametrize("user, landing", [
    ("staff7", "/grid/{7}"), ("both", "/cases"), ("disp", "/dispatch"), ("adm", "/admin/users"),
    ("plan", "/planning")])
def test_sign_in_lands_on_each_roles_page_unless_next_says_otherwise(app, user, landing):
    codes = app.extensions["gridmap"].grids.codes

    def sign_in(**extra):
        client = app.test_client()
        page = text(client.get("/login"))
        assert 'name="next" value=""' in page  # the plain form leaves it to the landing
        with client.session_transaction() as s:
            token = s["csrf"]
        return client, client.post("/login", data={"username": user, "password": PASSWORD,
                                                   "csrf_token": token, **extra})

    client, r = sign_in(next="")
    assert r.status_code == 302 and r.headers["Location"] == landing.replace("{7}", codes[6])
    assert client.get(r.headers["Location"]).status_code == 200
    assert sign_in(next="/track")[1].headers["Location"] == "/track"
