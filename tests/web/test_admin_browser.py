"""An admin on a 390 × 844 phone (touch, zh-CN) edits an account's roles and grids,
resets its password (the password shown then signs in), and reads the audit log filtered
by that account, in a real Chromium against a real server. Screenshots of each step are
kept in the test's folder."""

import re

import pytest

from gridmap.auth.accounts import AccountStore
from gridmap.geo.grids import GridSet

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"


def phone(browser, problems):
    page = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True,
                               is_mobile=True, locale="zh-CN").new_page()
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    return page


def sign_in(page, url, username, password):
    page.goto(url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.tap("#login-form button[type=submit]")
    page.wait_for_selector("#signed-in-as")


def width(page):
    return page.evaluate("document.documentElement.scrollWidth")


def test_an_admin_edits_resets_and_reads_the_log_on_a_phone(browser, live_server, tmp_path):
    accounts = AccountStore(live_server.data_dir / "accounts.sqlite3")
    accounts.add_user("root9", PASSWORD, ["admin"], display_name="管理员")
    accounts.add_user("worker9", PASSWORD, ["dispatcher"], display_name="赵六")
    grids = GridSet.load(live_server.data_dir / "grids.geojson").grids
    shots, problems = tmp_path / "screens", []
    admin = phone(browser, problems)

    sign_in(admin, live_server.url, "root9", PASSWORD)
    assert admin.url.endswith("/admin/users")  # admins land on the accounts
    assert width(admin) <= 390
    admin.screenshot(path=str(shots / "1-users.png"), full_page=True)
    admin.tap('#user-list li[data-username="worker9"] a')
    admin.wait_for_selector("#edit-user")
    admin.uncheck('input[name=roles][value=dispatcher]')
    admin.check('input[name=roles][value=grid_staff]')
    admin.select_option("select[name=grid_codes]", [grids[2].code, grids[3].code])
    admin.tap("#save-user")
    flash = admin.inner_text("[role=status]")
    assert flash == (f"已将 worker9 的角色改为 网格员；所属网格改为 {grids[2].name}、{grids[3].name}。")
    assert width(admin) <= 390
    admin.screenshot(path=str(shots / "2-roles-and-grids-saved.png"), full_page=True)

    admin.tap("#reset-password")
    admin.wait_for_selector("#confirm")
    assert "确认为 worker9 生成新密码？" in admin.inner_text("#confirm")
    admin.screenshot(path=str(shots / "3-reset-asks-first.png"))
    admin.tap("#confirm-yes")
    password = admin.inner_text("#new-password").strip()
    assert re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){3}", password)
    assert password not in admin.url
    assert width(admin) <= 390
    admin.screenshot(path=str(shots / "4-new-password-shown-once.png"))

    worker = phone(browser, problems)
    sign_in(worker, live_server.url, "worker9", password)
    assert worker.url.endswith("/cases")  # grid staff of two grids land on their cases
    worker.close()

    with admin.expect_navigation():  # back to the user's page, the password gone
        admin.tap("#password-done")
    assert "/admin/users/worker9" in admin.url and password not in admin.content()
    admin.goto(live_server.url + "/admin/audit")
    admin.select_option("select[name=actor]", "worker9")
    admin.tap("#audit-filters button[type=submit]")
    admin.wait_for_url(re.compile(r".*actor=worker9.*"))
    assert [li.inner_text().splitlines()[-1] for li in admin.locator("#audit-list li").all()] == [
        "登录"]
    assert width(admin) <= 390
    admin.screenshot(path=str(shots / "5-audit-by-worker.png"), full_page=True)
    admin.goto(live_server.url + "/admin/audit?target=worker9")
    said = admin.inner_text("#audit-list")
    assert "重设了 worker9 的密码" in said and "将 worker9 的角色改为 网格员" in said
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", said)
    assert width(admin) <= 390
    admin.screenshot(path=str(shots / "6-audit-on-worker.png"), full_page=True)
    assert problems == []
