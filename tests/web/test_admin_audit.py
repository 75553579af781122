"""The audit log page reads like a log: every action in words in the page's language,
accounts and case numbers linked, times in the working calendar's zone, filters by
person, action, target and dates, paged."""

import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from gridmap.audit import ACTIONS, AUDIT_FILE, AuditLog
from gridmap.i18n import LANGS, messages

from signed_in_clients import admin_site, signed_in

PASSWORD = "correct horse battery"
CSRF = "a" * 43
CJK = re.compile(r"[\u4e00-\u9fff]")
#: 2026-03-13 23:30 in Shanghai, 15:30 UTC
LATE_FRIDAY = datetime(2026, 3, 13, 23, 30, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
#: a typical detail of each action, as the code writes it
DETAILS = {
    "signin": {"known_device": True}, "signin_failed": {"locked": True},
    "user_add": {"roles": ["grid_staff"], "grid_codes": ["500114005001001"]},
    "roles_change": {"roles": ["admin", "planner"], "grid_codes": [], "old_roles": ["planner"],
                     "old_grid_codes": []},
    "user_rename": {"display_name": "王小五", "old_display_name": "王五"},
    "token_create": {"username": "worker7", "name": "巡查 App"},
    "token_revoke": {"username": "worker7", "name": "巡查 App"},
    "case_transition": {"action": "sign", "state": "signed", "grid_code": "500114005001001"},
    "case_forward": {"action": "forward", "state": "reported", "grid_code": "500114005001002"},
    "case_photo": {"photo": "0" * 64, "public": True, "grid_code": "500114005001001"},
    "category_add": {"name": "噪声扰民"}, "category_change": {"name": "环境卫生"},
    "calendar_change": {"working_days": ["mon"]},
}
TARGETS = {"user_add": "worker7", "user_disable": "worker7", "user_enable": "worker7",
           "password_reset": "worker7", "roles_change": "worker7", "user_rename": "worker7",
           "token_create": "0123456789abcdef", "token_revoke": "0123456789abcdef",
           "category_add": "06", "category_change": "06", "boundary_publish": "gen-3"}


@pytest.fixture
def app(tmp_path):
    return admin_site(tmp_path / "data", PASSWORD, REPORT_IP_LIMIT=10_000)


@pytest.fixture
def admin(app):
    return signed_in(app, "root", CSRF)


def log_of(app, clock=None):
    path = app.extensions["gridmap"].data_dir / AUDIT_FILE
    return AuditLog(path, clock=clock) if clock else AuditLog(path)


def entries(response):
    """(actor, sentence as text) of each entry shown, newest first."""
    page = response.get_data(as_text=True)
    return [(actor, re.sub(r"<[^>]+>", "", says).strip()) for actor, says in re.findall(
        r'<li data-action="[^"]*" data-actor="([^"]*)">.*?<p class="says">(.*?)</p>', page, re.S)]


def test_every_action_the_code_writes_has_a_label_and_a_sentence_in_both_languages():
    for lang in LANGS:
        for action in ACTIONS:
            assert messages(lang).get(f"audit_action.{action}"), (lang, action)
            assert messages(lang).get(f"audit_says.{action}"), (lang, action)


@pytest.mark.parametrize("lang", LANGS)
def test_every_action_reads_in_words_in_the_pages_language(app, admin, lang):
    case = report(app)
    log = log_of(app)
    for action in ACTIONS:
        target = case["case_id"] if action.startswith("case_") else TARGETS.get(action)
        log.record(action, "root", role="admin", target=target, detail=DETAILS.get(action))
        log.record(action, "root", target=None, detail=None)  # an entry with nothing more
    r = admin.get(f"/admin/audit?lang={lang}")
    assert r.status_code == 200
    shown = entries(r)
    assert len(shown) == 2 * len(ACTIONS)
    for _, says in shown:
        assert not re.search(r"\b(%s)\b" % "|".join(ACTIONS), says), says  # no raw codes
        assert "{" not in says and "None" not in says, says
        if lang == "en":  # names stay as they are; the words are English
            assert not CJK.search(re.sub(r"王小?五|巡查 App|第\d网格（[^）]*）", "", says)), says
    page = r.get_data(as_text=True)
    filter_labels = re.findall(r'<option value="(\w+)"[^>]*>([^<]*)</option>',
                               page.split('name="action"')[1].split("</select>")[0])
    assert [code for code, _ in filter_labels] == list(ACTIONS)
    assert all(label and label != code for code, label in filter_labels)
    full = [s for _, s in shown[1::2]][::-1]  # the entries with detail, oldest first
    assert len(full) == len(ACTIONS)
    if lang == "zh":
        assert "将 worker7 的角色改为 规划员、管理员，所属网格 无" in full[ACTIONS.index("roles_change")]
        assert full[ACTIONS.index("case_transition")] == f"案件 #{case['case_no']}：签收"
        assert full[ACTIONS.index("case_forward")] == (
            f"将案件 #{case['case_no']} 转办到 第2网格（城东上街）")
        assert full[ACTIONS.index("token_create")] == "为 worker7 创建了 API 令牌 0123456789abcdef（巡查 App）"
    else:
        assert full[ACTIONS.index("user_rename")] == "renamed worker7 from 王五 to 王小五"
        assert full[ACTIONS.index("case_photo")] == f"made a photo of case #{case['case_no']} public"


def report(app):
    spot = app.extensions["gridmap"].grids.grids[0].geometry.representative_point()
    r = app.test_client().post("/api/reports", json={"lon": spot.x, "lat": spot.y,
                                                     "category": "06", "description": "垃圾堆积"})
    assert r.status_code == 201
    return r.get_json()


def test_case_numbers_and_accounts_are_linked(app, admin):
    case = report(app)
    dispatcher = signed_in(app, "worker7", CSRF)
    r = dispatcher.post(f"/case/{case['case_id']}", data={"csrf_token": CSRF, "action": "sign"})
    assert r.status_code == 302
    admin.post("/admin/users/worker7", data={"csrf_token": CSRF, "roles": "planner"})
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert f'案件 <a href="/case/{case["case_id"]}">#{case["case_no"]}</a>：签收' in page
    assert '将 <a href="/admin/users/worker7">worker7</a> 的角色改为 规划员' in page
    assert '<a class="who" href="/admin/audit?actor=worker7">王五 (worker7)</a>' in page


def test_times_are_local_to_the_working_calendar(app, admin):
    log_of(app, clock=lambda: LATE_FRIDAY).record("signout", "worker7")
    assert '<time datetime="2026-03-13T23:30:00+08:00">2026-03-13 23:30:00</time>' in (
        admin.get("/admin/audit").get_data(as_text=True))
    path = app.extensions["gridmap"].data_dir / "calendar.json"
    doc = json.loads(path.read_text("utf-8"))
    path.write_text(json.dumps(dict(doc, timezone="Asia/Tokyo")), "utf-8")  # another community
    assert '<time datetime="2026-03-14T00:30:00+09:00">2026-03-14 00:30:00</time>' in (
        admin.get("/admin/audit").get_data(as_text=True))


def test_filters_by_person_action_target_and_local_dates(app, admin):
    log_of(app, clock=lambda: LATE_FRIDAY).record("signin", "worker7")  # Friday, 23:30 local
    log_of(app, clock=lambda: LATE_FRIDAY + 3600).record("signout", "worker7")  # Saturday 00:30
    log_of(app, clock=lambda: LATE_FRIDAY + 7200).record("user_disable", "root", target="worker7")
    got = {query: [s for _, s in entries(admin.get("/admin/audit?" + query))] for query in (
        "actor=worker7", "action=signout", "since=2026-03-14", "until=2026-03-13",
        "since=2026-03-13&until=2026-03-13", "target=worker7", "actor=worker7&action=user_disable",
        "actor=&action=&since=&until=")}
    assert got == {
        "actor=worker7": ["退出登录", "登录"],
        "action=signout": ["退出登录"],
        "since=2026-03-14": ["停用了 worker7", "退出登录"],
        "until=2026-03-13": ["登录"],  # 15:30 UTC is still Friday here
        "since=2026-03-13&until=2026-03-13": ["登录"],
        "target=worker7": ["停用了 worker7"],
        "actor=worker7&action=user_disable": [],
        "actor=&action=&since=&until=": ["停用了 worker7", "退出登录", "登录"],
    }
    page = admin.get("/admin/audit?actor=worker7&action=signout").get_data(as_text=True)
    assert '<option value="worker7" selected>王五 (worker7)</option>' in page
    assert '<option value="signout" selected>退出登录</option>' in page
    assert 'id="clear-filters"' in page


@pytest.mark.parametrize("query, field", [
    ("action=drop_tables", "操作"), ("since=2026-13-01", "起始日期"), ("until=yesterday", "截止日期"),
    ("page=0", "页码"), ("page=x", "页码"), ("page=%EF%BC%92", "页码")])
def test_a_bad_filter_is_a_400_naming_it(app, admin, query, field):
    r = admin.get("/admin/audit?" + query)
    assert r.status_code == 400
    assert f"筛选条件“{field}”无效" in r.get_data(as_text=True)


def test_pages_of_fifty_lose_no_entry_and_keep_the_filters(app, admin):
    log = log_of(app, clock=lambda: LATE_FRIDAY)  # all at the same millisecond
    for i in range(120):
        log.record("token_revoke", "root", target=f"{i:016x}", detail={"username": "worker7",
                                                                        "name": f"t{i}"})
    log.record("signin", "worker7")
    seen, page, url = [], 1, "/admin/audit?action=token_revoke"
    while url:
        r = admin.get(url)
        shown = [s for _, s in entries(r)]
        assert len(shown) == (50 if page < 3 else 20)
        seen += shown
        more = re.search(r'<a rel="next" href="([^"]+)"', r.get_data(as_text=True))
        url = more and more[1].replace("&amp;", "&")
        if url:
            assert "action=token_revoke" in url and f"page={page + 1}" in url
        page += 1
    assert page == 4
    assert seen == [f"吊销了 worker7 的 API 令牌 {i:016x}（t{i}）" for i in range(119, -1, -1)]


def test_a_phone_gets_cards_not_a_wide_table(app, admin):
    log_of(app).record("signin", "worker7")
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert '<ol class="log" id="audit-list">' in page and "<table" not in page
