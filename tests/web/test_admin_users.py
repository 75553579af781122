"""Admins edit accounts on the web: display name, roles and grids; disable and enable;
reset a password (shown once). Changes are checked, audited and confirmed; disable and
reset ask first; one's own account is never disabled or reset here; the last enabled
admin keeps the role."""

import json
import logging
import re

import pytest


from signed_in_clients import admin_site, signed_in

PASSWORD = "correct horse battery"
CSRF = "c" * 43
GENERATED = re.compile(r"[a-z2-9]{4}(-[a-z2-9]{4}){3}")


@pytest.fixture
def app(tmp_path):
    return admin_site(tmp_path / "data", PASSWORD, SIGNIN_MAX_FAILURES=3)


@pytest.fixture
def admin(app):
    return signed_in(app, "root", CSRF)


def codes(app):
    return list(app.extensions["gridmap"].grids.codes)


def accounts(app):
    return app.extensions["gridmap.accounts"]


def audit(app):
    path = app.extensions["gridmap"].data_dir / "audit.jsonl"
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()] if path.exists() else []


def text_of(response, role):
    return [re.sub(r"<[^>]+>", "", m) for m in
            re.findall(rf'role="{role}"[^>]*>(.*?)</p>', response.get_data(as_text=True), re.S)]


def sign_in(app, username, password, client=None):
    client = client or app.test_client()
    client.get("/login")
    with client.session_transaction() as s:
        token = s["csrf"]
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token})


# -- editing ---------------------------------------------------------------------------------

def test_roles_grids_and_name_are_saved_audited_and_confirmed(app, admin):
    first, second = codes(app)[:2]
    sid = accounts(app).create_session("worker7")
    page = admin.get("/admin/users/worker7").get_data(as_text=True)
    assert 'value="王五"' in page and 'value="dispatcher" checked' in page
    assert f'<option value="{first}">第1网格（正阳北片） 001</option>' in page  # grids by name
    r = admin.post("/admin/users/worker7", data={
        "csrf_token": CSRF, "display_name": "王小五", "roles": ["grid_staff"],
        "grid_codes": [first, second]})
    assert r.status_code == 302 and r.headers["Location"] == "/admin/users/worker7"
    shown = admin.get(r.headers["Location"])
    assert text_of(shown, "status") == [
        "已将 worker7 的角色改为 网格员；所属网格改为 第1网格（正阳北片）、第2网格（城东上街）；"
        "姓名改为 王小五。"]
    user = accounts(app).get_user("worker7")
    assert (user.roles, user.grid_codes, user.display_name) == (
        {"grid_staff"}, {first, second}, "王小五")
    assert accounts(app).user_for_session(sid).roles == {"grid_staff"}  # on their next request
    entries = [(e["action"], e["actor"], e["target"], e["detail"]) for e in audit(app)]
    assert entries == [
        ("roles_change", "root", "worker7", {"roles": ["grid_staff"], "grid_codes": [first, second],
                                             "old_roles": ["dispatcher"], "old_grid_codes": []}),
        ("user_rename", "root", "worker7", {"display_name": "王小五", "old_display_name": "王五"})]
    r = admin.post("/admin/users/worker7?lang=en", data={
        "csrf_token": CSRF, "display_name": "王小五", "roles": ["grid_staff"],
        "grid_codes": [first, second]})
    assert text_of(admin.get(r.headers["Location"]), "status") == ["Nothing changed for worker7."]
    assert len(audit(app)) == 2


@pytest.mark.parametrize("form, field, status", [
    ({"roles": ["grid_staff"]}, "grid_codes", 400),  # grid staff need a grid
    ({"roles": ["planner"], "grid_codes": "FIRST"}, "grid_codes", 400),  # only grid staff have grids
    ({"roles": ["grid_staff"], "grid_codes": "500114005001999"}, "grid_codes", 400),  # no such grid
    ({}, "roles", 400),
    ({"roles": ["owner"]}, "roles", 400),
    ({"roles": ["planner"], "display_name": "名" * 65}, "display_name", 400),
    ({"roles": ["planner"], "display_name": "a\nb"}, "display_name", 400),
])
def test_a_bad_edit_names_the_field_and_changes_nothing(app, admin, form, field, status):
    form = {k: (codes(app)[0] if v == "FIRST" else v) for k, v in form.items()}
    before = accounts(app).get_user("worker7")
    r = admin.post("/admin/users/worker7", data={"csrf_token": CSRF, **form})
    assert r.status_code == status
    page = r.get_data(as_text=True)
    assert f'id="error" data-field="{field}"' in page
    assert ' class="field-error"' in page or 'roles field-error' in page
    assert accounts(app).get_user("worker7") == before and audit(app) == []


def test_the_form_comes_back_as_sent_after_a_refusal(app, admin):
    r = admin.post("/admin/users/worker7", data={"csrf_token": CSRF, "display_name": "新名字",
                                                 "roles": ["grid_staff", "planner"]})
    page = r.get_data(as_text=True)
    assert 'value="新名字"' in page and 'value="planner" checked' in page
    assert 'value="dispatcher" checked' not in page
    assert "网格员须至少指定一个网格" in text_of(r, "alert")[0]


def test_forms_need_the_csrf_token_and_unknown_accounts_are_404(app, admin):
    for path, form in (("/admin/users/worker7", {"roles": "planner"}),
                       ("/admin/users/worker7/disable", {"confirm": "yes"}),
                       ("/admin/users/worker7/reset-password", {"confirm": "yes"})):
        assert admin.post(path, data=form).status_code == 403
    assert accounts(app).get_user("worker7").enabled and audit(app) == []
    assert accounts(app).verify_password("worker7", PASSWORD) is not None
    assert admin.get("/admin/users/ghost").status_code == 404
    for path in ("/admin/users/ghost", "/admin/users/ghost/disable",
                 "/admin/users/ghost/reset-password"):
        assert admin.post(path, data={"csrf_token": CSRF, "roles": "planner",
                                      "confirm": "yes"}).status_code == 404
    assert audit(app) == []


def test_the_last_enabled_admin_keeps_the_role(app, admin):
    r = admin.post("/admin/users/root", data={"csrf_token": CSRF, "roles": ["dispatcher"]})
    assert r.status_code == 409
    assert text_of(r, "alert") == ["root 是最后一个启用的管理员账号：不能停用，也不能取消其管理员角色。"
                                   "请先给另一个账号管理员角色。"]
    assert accounts(app).get_user("root").roles == {"admin"} and audit(app) == []
    accounts(app).add_user("boss", PASSWORD, ["admin"])
    r = admin.post("/admin/users/root", data={"csrf_token": CSRF, "roles": ["dispatcher"]})
    assert r.status_code == 302 and accounts(app).get_user("root").roles == {"dispatcher"}
    assert admin.get("/admin/users").status_code == 403  # no longer an admin


def test_adding_a_user_leads_to_its_page(app, admin):
    r = admin.post("/admin/users", data={"csrf_token": CSRF, "username": "worker8",
                                         "password": PASSWORD, "roles": "grid_staff",
                                         "grid_codes": codes(app)[2]})
    assert r.status_code == 302 and r.headers["Location"] == "/admin/users/worker8"
    assert text_of(admin.get(r.headers["Location"]), "status") == ["已添加用户 worker8。"]
    r = admin.post("/admin/users", data={"csrf_token": CSRF, "username": "worker9",
                                         "password": PASSWORD, "roles": "grid_staff",
                                         "grid_codes": "500114005001999"})
    assert r.status_code == 400 and accounts(app).get_user("worker9") is None


# -- one's own account -----------------------------------------------------------------------

def test_ones_own_account_is_neither_offered_nor_done(app, admin):
    page = admin.get("/admin/users/root").get_data(as_text=True)
    assert 'id="self-note"' in page
    assert 'id="disable-user"' not in page and 'id="reset-password"' not in page
    other = admin.get("/admin/users/worker7").get_data(as_text=True)
    assert 'id="disable-user"' in other and 'id="reset-password"' in other
    for path, words in (("/admin/users/root/disable", "不能停用自己的账号"),
                        ("/admin/users/root/reset-password", "不能在这里重设自己的密码")):
        r = admin.post(path, data={"csrf_token": CSRF, "confirm": "yes"})
        assert r.status_code == 409 and words in text_of(r, "alert")[0]
    assert accounts(app).get_user("root").enabled
    assert accounts(app).verify_password("root", PASSWORD) is not None and audit(app) == []
    assert admin.get("/admin/users").status_code == 200  # still signed in


# -- disable and enable ----------------------------------------------------------------------

def test_disabling_asks_first_then_ends_sessions_and_tokens(app, admin):
    sid = accounts(app).create_session("worker7")
    _, secret = accounts(app).create_token("worker7", "phone app")
    r = admin.post("/admin/users/worker7/disable", data={"csrf_token": CSRF})
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "确认停用 worker7？" in page and "1 个 API 令牌将被吊销" in page
    assert re.search(r'<form method="post" action="/admin/users/worker7/disable">.*?'
                     r'name="confirm" value="yes"', page, re.S)
    assert accounts(app).get_user("worker7").enabled and audit(app) == []
    r = admin.post("/admin/users/worker7/disable", data={"csrf_token": CSRF, "confirm": "yes"})
    assert r.status_code == 302 and r.headers["Location"] == "/admin/users/worker7"
    shown = admin.get("/admin/users/worker7")
    assert text_of(shown, "status") == ["已停用 worker7：其登录会话已结束，API 令牌已吊销。"]
    assert 'id="enable-user"' in shown.get_data(as_text=True)
    assert not accounts(app).get_user("worker7").enabled
    assert accounts(app).user_for_session(sid) is None and accounts(app).user_for_token(secret) is None
    r = admin.post("/admin/users/worker7/enable", data={"csrf_token": CSRF})  # no question
    assert r.status_code == 302 and accounts(app).get_user("worker7").enabled
    assert "已启用 worker7" in text_of(admin.get("/admin/users/worker7"), "status")[0]
    assert [(e["action"], e["target"]) for e in audit(app)] == [
        ("user_disable", "worker7"), ("user_enable", "worker7")]


# -- password reset --------------------------------------------------------------------------

def test_a_reset_asks_first_then_shows_a_new_password_once(app, admin, caplog):
    caplog.set_level(logging.DEBUG)
    worker = app.test_client()
    assert sign_in(app, "worker7", PASSWORD, worker).status_code == 302
    assert worker.get("/cases").status_code == 200
    _, secret = accounts(app).create_token("worker7", "phone app")
    r = admin.post("/admin/users/worker7/reset-password", data={"csrf_token": CSRF})
    assert r.status_code == 200 and "确认为 worker7 生成新密码？" in r.get_data(as_text=True)
    assert "1 个 API 令牌不受影响" in r.get_data(as_text=True)
    assert accounts(app).verify_password("worker7", PASSWORD) is not None
    assert [e["action"] for e in audit(app)] == ["signin"]  # (the worker's)
    r = admin.post("/admin/users/worker7/reset-password",
                   data={"csrf_token": CSRF, "confirm": "yes"})
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    page = r.get_data(as_text=True)
    password = re.search(r'id="new-password">([^<]*)<', page)[1]
    assert GENERATED.fullmatch(password) and page.count(password) == 1
    assert "已为 worker7 重设密码，其登录会话已结束" in page
    assert worker.get("/cases").status_code == 401  # their session ended
    assert accounts(app).user_for_token(secret).username == "worker7"  # tokens keep working
    assert sign_in(app, "worker7", PASSWORD).status_code == 401
    assert sign_in(app, "worker7", password).status_code == 302
    assert [(e["action"], e["actor"], e["target"], e["detail"]) for e in audit(app)
            if e["action"] != "signin_failed" and e["action"] != "signin"] == [
        ("password_reset", "root", "worker7", None)]
    data_dir = app.extensions["gridmap"].data_dir
    assert password not in (data_dir / "audit.jsonl").read_text("utf-8")
    assert password not in caplog.text
    again = admin.post("/admin/users/worker7/reset-password",
                       data={"csrf_token": CSRF, "confirm": "yes"}).get_data(as_text=True)
    assert password not in again  # a new one each time, never the last one again


def test_a_reset_lifts_the_sign_in_lock_of_the_account(app, admin):
    for _ in range(3):  # SIGNIN_MAX_FAILURES: someone locked the account for unknown devices
        assert sign_in(app, "worker7", "not the password").status_code == 401
    assert sign_in(app, "worker7", PASSWORD).status_code == 429
    page = admin.post("/admin/users/worker7/reset-password",
                      data={"csrf_token": CSRF, "confirm": "yes"}).get_data(as_text=True)
    password = re.search(r'id="new-password">([^<]*)<', page)[1]
    assert sign_in(app, "worker7", password).status_code == 302


def test_pages_speak_english_when_asked(app, admin):
    page = admin.get("/admin/users/worker7?lang=en").get_data(as_text=True)
    assert "Reset password" in page and "重设密码" not in page and "网格员" not in page
    r = admin.post("/admin/users/worker7/disable?lang=en", data={"csrf_token": CSRF})
    assert "Disable worker7?" in r.get_data(as_text=True)
