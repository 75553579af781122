"""Signing in and out, and an admin page, in a real Chromium (CSP enforced)."""

import pytest

from gridmap.auth.accounts import AccountStore

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"


def test_staff_sign_in_admin_page_and_sign_out(browser, live_server):
    AccountStore(live_server.data_dir / "accounts.sqlite3").add_user(
        "root1", PASSWORD, ["admin"], display_name="管理员甲")
    page = browser.new_page()
    problems = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: m.type == "error" and "Content Security Policy" in m.text
            and problems.append(m.text))
    page.goto(live_server.url + "/admin/users")
    assert "401" in page.inner_text("h2")
    page.click("#signin-needed")
    page.fill("input[name=username]", "root1")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit]")
    assert "用户名或密码错误" in page.inner_text("[role=alert]")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#user-list")
    assert page.url.endswith("/admin/users")
    assert page.inner_text("#signed-in-as") == "管理员甲"
    assert "root1" in page.inner_text("#user-list")
    page.click("#signout")
    page.wait_for_selector("#signin-link")
    page.goto(live_server.url + "/admin/users")
    assert "401" in page.inner_text("h2")
    assert problems == []
