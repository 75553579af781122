"""The whole "你盯我办" loop in a real Chromium against real gunicorn: a resident
reports on a phone-sized page, the grid team works the case from its queue page,
another team member verifies, the resident reads the reply and rates it."""

import json
import urllib.request

import pytest

from gridmap.auth.accounts import AccountStore
from gridmap.geo.grids import GridSet

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"
PHONE = "100-7777-0007"


def watch(page, problems):
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: m.type == "error" and "Content Security Policy" in m.text
            and problems.append(m.text))


def sign_in(browser, url, username):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#signed-in-as")
    return page


def press(page, action, note=None):
    """Take ``action`` on the case page open in ``page`` and wait for its outcome."""
    form = page.locator(f'#actions form:has(button[data-action="{action}"])')
    if note:
        form.locator("textarea[name=note]").fill(note)
    form.locator(f'button[data-action="{action}"]').click()
    page.wait_for_selector(".flash")


def test_report_work_verify_and_rate(browser, live_server, tmp_path, grid_on_screen):
    grids = GridSet.load(live_server.data_dir / "grids.geojson")
    grid = grids.grids[6]
    accounts = AccountStore(live_server.data_dir / "accounts.sqlite3")
    for name in ("worker7", "checker7"):
        accounts.add_user(name, PASSWORD, ["grid_staff"], grid_codes=[grid.code])
    problems = []

    phone = browser.new_page(viewport={"width": 390, "height": 844})
    watch(phone, problems)
    phone.goto(live_server.url + "/report")
    phone.wait_for_selector("path.leaflet-interactive")
    assert phone.input_value("select[name=category]") == ""  # 请选择: nothing preselected
    phone.fill("textarea[name=description]", "小区门口垃圾堆积三天未清运")
    phone.fill("input[name=contact]", PHONE)
    phone.click("#submit")
    assert "尚未选择位置" in phone.inner_text("#error")
    phone.mouse.click(*grid_on_screen(phone, grid.geometry))
    phone.click("#submit")
    assert "请选择类别" in phone.inner_text("#error")  # refused before anything is sent
    phone.select_option("select[name=category]", "06")
    phone.click("#submit")
    phone.wait_for_selector("#result:not([hidden])")
    code = phone.inner_text("#result-code")
    assert grid.code in phone.inner_text("#result-grid")
    assert "专职网格员" in phone.inner_text("#result-handler")
    phone.screenshot(path=str(tmp_path / "reported.png"))

    neighbour = browser.new_page(viewport={"width": 390, "height": 844})  # the same spot again
    watch(neighbour, problems)
    neighbour.goto(live_server.url + "/report")
    neighbour.wait_for_selector("path.leaflet-interactive")
    neighbour.select_option("select[name=category]", "06")
    neighbour.fill("textarea[name=description]", "门口垃圾还在")
    neighbour.mouse.click(*grid_on_screen(neighbour, grid.geometry))
    neighbour.click("#submit")
    neighbour.wait_for_selector("#result-duplicates:not([hidden])")
    assert "#1" in neighbour.inner_text("#result-duplicates")  # by case number, never a code
    assert code not in neighbour.content()
    neighbour.screenshot(path=str(tmp_path / "duplicate.png"))

    worker = sign_in(browser, live_server.url, "worker7")
    watch(worker, problems)
    worker.goto(f"{live_server.url}/grid/{grid.code}")
    worker.locator("#queue .case-card", has_text="垃圾堆积三天").click()  # the first case
    assert PHONE in worker.inner_text("#reporter")  # the grid team sees the contact
    case_url = worker.url
    press(worker, "sign")
    press(worker, "start")
    press(worker, "reply", note="已联系物业清运完毕")
    assert worker.locator('button[data-action="close"]').count() == 0  # not the handler's

    checker = sign_in(browser, live_server.url, "checker7")
    checker.goto(case_url)
    press(checker, "close")
    assert checker.get_attribute("#case", "data-state") == "closed"

    phone.goto(f"{live_server.url}/track/{code}")
    assert "已联系物业清运完毕" in phone.inner_text("#reply")
    page_text = phone.inner_text("body")
    assert PHONE not in page_text and "worker7" not in page_text
    phone.fill("textarea[name=comment]", "及时，\n谢谢！")
    phone.click("#rate-form button[type=submit]")
    assert "请点击星星评分" in phone.inner_text("#error")  # no stars: nothing sent
    phone.click("label[for=star-4]")
    assert phone.locator("input[name=rating]:checked").get_attribute("value") == "4"
    phone.screenshot(path=str(tmp_path / "stars.png"))
    phone.click("#rate-form button[type=submit]")
    phone.wait_for_selector("#state:has-text('已评价')")  # no string eval: the page's CSP forbids it
    assert "★★★★" in phone.inner_text("#case") and "★★★★★" not in phone.inner_text("#case")
    assert problems == []


def post_report(url, spot, description, category="07"):
    body = json.dumps({"lon": spot.x, "lat": spot.y, "category": category,
                       "description": description, "contact": PHONE}).encode()
    request = urllib.request.Request(url + "/api/reports", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)


def phone_for(browser, url, username, problems, **context):
    """A 390 × 844 touch phone (zh-CN) signed in as ``username``, on the page it lands on."""
    phone = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True,
                                is_mobile=True, locale="zh-CN", **context).new_page()
    watch(phone, problems)
    phone.goto(url + "/login")
    phone.fill("input[name=username]", username)
    phone.fill("input[name=password]", PASSWORD)
    phone.tap("#login-form button[type=submit]")
    phone.wait_for_selector("#signed-in-as")
    return phone


def overflow(page):
    return page.evaluate("document.documentElement.scrollWidth")


def test_a_worker_and_a_dispatcher_work_a_case_on_their_phones(browser, live_server, tmp_path):
    grids = GridSet.load(live_server.data_dir / "grids.geojson")
    grid = grids.grids[4]
    spot = grid.geometry.representative_point()
    accounts = AccountStore(live_server.data_dir / "accounts.sqlite3")
    accounts.add_user("worker5", PASSWORD, ["grid_staff"], grid_codes=[grid.code])
    accounts.add_user("dispatch5", PASSWORD, ["dispatcher"])
    earlier = post_report(live_server.url, spot, "路灯坏了一个月")
    case = post_report(live_server.url, spot, "小区东门路灯不亮，晚上很黑，老人出门不方便。" * 3)
    shots = tmp_path / "screens"
    problems = []

    worker = phone_for(browser, live_server.url, "worker5", problems,
                       geolocation={"latitude": spot.y + 0.002, "longitude": spot.x},
                       permissions=["geolocation"])
    assert worker.url == f"{live_server.url}/grid/{grid.code}"  # staff land on their queue
    card = worker.locator(f'.case-card[data-case-id="{case["case_id"]}"]')
    card.locator(".distance:not([hidden])").wait_for()  # the phone shares its location
    assert "约 2" in card.inner_text() and "市政设施" in card.inner_text()
    assert worker.locator("#queue form").count() == 0  # actions live on the case page
    assert not worker.locator("#filters").evaluate("d => d.open")  # filters fold away
    assert overflow(worker) <= 390
    worker.screenshot(path=str(shots / "1-worker-queue.png"), full_page=True)

    card.tap()
    worker.wait_for_selector("path.leaflet-interactive")  # the grid's boundary on the map
    assert worker.url.endswith(f"/case/{case['case_id']}")
    assert PHONE in worker.inner_text("#reporter")
    assert f"#{earlier['case_no']}" in worker.inner_text("#nearby")
    assert "剩余" in worker.inner_text("#deadlines")
    assert overflow(worker) <= 390
    worker.screenshot(path=str(shots / "2-worker-case.png"), full_page=True)
    press(worker, "sign")
    press(worker, "start")
    worker.screenshot(path=str(shots / "3-worker-started.png"), full_page=True)
    press(worker, "reply", note="已更换灯泡，\n晚上已复查亮灯。")
    assert worker.inner_text("#state") == "已回复"
    assert worker.locator('button[data-action="close"]').count() == 0  # never the handler
    worker.screenshot(path=str(shots / "4-worker-replied.png"), full_page=True)

    dispatcher = phone_for(browser, live_server.url, "dispatch5", problems)
    assert dispatcher.url == f"{live_server.url}/dispatch"  # dispatchers land on the console
    dispatcher.wait_for_selector("#cases tbody a")
    assert overflow(dispatcher) <= 390
    dispatcher.screenshot(path=str(shots / "5-dispatcher-console.png"), full_page=True)
    dispatcher.locator("#nav-cases").tap()  # the cards, phone first
    dispatcher.wait_for_selector(".case-card")
    assert overflow(dispatcher) <= 390
    dispatcher.screenshot(path=str(shots / "5-dispatcher-cases.png"), full_page=True)
    dispatcher.locator(f'.case-card[data-case-id="{case["case_id"]}"]').tap()
    dispatcher.wait_for_selector("#reply")
    assert "已更换灯泡，\n晚上已复查亮灯。" in dispatcher.inner_text("#reply")
    history = dispatcher.inner_text("#history")
    assert "worker5" in history and "已更换灯泡" in history
    dispatcher.screenshot(path=str(shots / "6-dispatcher-reads-reply.png"), full_page=True)
    press(dispatcher, "close")
    assert dispatcher.get_attribute("#case", "data-state") == "closed"
    assert dispatcher.inner_text("#state") == "已结案"
    dispatcher.screenshot(path=str(shots / "7-dispatcher-closed.png"), full_page=True)

    dispatcher.locator("#nearby a", has_text=f"#{earlier['case_no']}").tap()  # the older case
    dispatcher.locator("#actions summary", has_text="撤销").tap()
    cancel = dispatcher.locator('#actions form:has(button[data-action="cancel"])')
    cancel.locator("select[name=reason]").select_option("duplicate")
    cancel.locator("textarea[name=note]").fill(f"与 #{case['case_no']} 同一处")
    cancel.locator('button[data-action="cancel"]').tap()
    dispatcher.wait_for_selector("#confirm")  # asked first: nothing changed yet
    assert dispatcher.get_attribute("#case", "data-state") == "reported"
    assert f"确认撤销案件 #{earlier['case_no']}？" in dispatcher.inner_text("#confirm")
    dispatcher.screenshot(path=str(shots / "8-dispatcher-confirms-cancel.png"), full_page=True)
    dispatcher.tap("#confirm-yes")
    dispatcher.wait_for_selector(".flash")
    assert dispatcher.inner_text("#state") == "已撤销"
    assert problems == []
