"""The loop of issue #12 as its users meet it, every step on a 390 × 844 touch phone
(zh-CN) in a real Chromium against real gunicorn, with a screenshot of each step:

1. a resident reports with a photo (a phone JPEG with GPS in its EXIF);
2. the grid worker opens the queue, opens the case, signs, starts and replies with
   an after-photo;
3. a dispatcher reads the reply on the case page and closes the case;
4. the resident rates it with the stars.

Every photo served back carries no EXIF (no GPS, no maker) and no XMP.
Screenshots go to ``$GRIDMAP_SCREENSHOTS/phone-loop`` when that is set, else to the
test's temporary folder.
"""

import io
import os
import sys
from pathlib import Path

import pytest
from PIL import Image

from gridmap.auth.accounts import AccountStore
from gridmap.geo.grids import GridSet

from test_case_loop_browser import PASSWORD, overflow, phone_for, press, watch

sys.path.insert(0, str(Path(__file__).parents[1] / "photos"))
from photomaker import noise_jpeg, phone_jpeg  # noqa: E402

pytestmark = pytest.mark.browser


def served_photos(page):
    """The bytes of every photo the page shows, full size and thumbnail, fetched as that
    page's user, full sizes first."""
    urls = [*page.locator("ul.photos a[href]").evaluate_all("as => as.map(a => a.href)"),
            *page.locator("ul.photos img[src]").evaluate_all("is => is.map(i => i.src)")]
    answers = [page.request.get(url) for url in urls]
    assert all(a.status == 200 for a in answers), [a.status for a in answers]
    return [a.body() for a in answers]


def assert_clean(data):
    """A JPEG with no EXIF (GPS, maker, orientation), no XMP and no comment."""
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    assert not image.getexif() and "exif" not in image.info and "xmp" not in image.info
    for marker in (b"Exif\x00", b"PhoneMaker", b"http://ns.adobe.com/xap", b"home of the reporter"):
        assert marker not in data


def test_report_work_close_and_rate_on_phones(browser, live_server, tmp_path, grid_on_screen):
    grid = GridSet.load(live_server.data_dir / "grids.geojson").grids[8]
    accounts = AccountStore(live_server.data_dir / "accounts.sqlite3")
    accounts.add_user("worker9", PASSWORD, ["grid_staff"], grid_codes=[grid.code])
    accounts.add_user("dispatch9", PASSWORD, ["dispatcher"])
    shots = Path(os.environ.get("GRIDMAP_SCREENSHOTS") or tmp_path) / "phone-loop"
    shots.mkdir(parents=True, exist_ok=True)
    (tmp_path / "street.jpg").write_bytes(street := phone_jpeg())
    (tmp_path / "after.jpg").write_bytes(noise_jpeg(9, (160, 120)))
    assert b"PhoneMaker" in street and Image.open(io.BytesIO(street)).getexif().get_ifd(0x8825)
    problems = []

    # 1. the resident reports with a photo
    resident = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True,
                                   is_mobile=True, locale="zh-CN").new_page()
    watch(resident, problems)
    resident.goto(live_server.url + "/report")
    resident.wait_for_selector("path.leaflet-interactive")
    resident.select_option("select[name=category]", "06")
    resident.fill("textarea[name=description]", "小区北门路灯不亮，晚上很黑")
    resident.touchscreen.tap(*grid_on_screen(resident, grid.geometry))
    resident.wait_for_selector(f"#point-grid:has-text('{grid.name}')")  # before anything is sent
    resident.set_input_files("#photos", str(tmp_path / "street.jpg"))
    resident.wait_for_selector("#previews img[src]")
    assert overflow(resident) <= 390
    resident.screenshot(path=str(shots / "1-resident-reports.png"), full_page=True)
    resident.tap("#submit")
    resident.wait_for_selector("#result:not([hidden]), #error:not([hidden])")
    assert resident.is_hidden("#error"), resident.inner_text("#error")
    code = resident.inner_text("#result-code")
    assert grid.code in resident.inner_text("#result-grid")
    resident.screenshot(path=str(shots / "1-resident-reported.png"), full_page=True)

    # 2. the grid worker: queue, case, sign, start, reply with an after-photo
    worker = phone_for(browser, live_server.url, "worker9", problems)
    assert worker.url == f"{live_server.url}/grid/{grid.code}"  # staff land on their queue
    card = worker.locator("#queue .case-card", has_text="北门路灯")
    assert "市政设施" in card.inner_text() or "路灯" in card.inner_text()
    assert overflow(worker) <= 390
    worker.screenshot(path=str(shots / "2-worker-queue.png"), full_page=True)
    card.tap()
    worker.wait_for_selector("path.leaflet-interactive")  # location and grid boundary
    assert worker.locator("#photos ul.photos img").count() == 1  # the resident's photo
    worker.screenshot(path=str(shots / "2-worker-case.png"), full_page=True)
    press(worker, "sign")
    press(worker, "start")
    worker.screenshot(path=str(shots / "2-worker-started.png"), full_page=True)
    form = worker.locator('#actions form:has(button[data-action="reply"])')
    form.locator("input[name=photos]").set_input_files(str(tmp_path / "after.jpg"))
    press(worker, "reply", note="已更换灯泡，晚上复查亮灯。")
    assert worker.inner_text("#state") == "已回复"
    stages = worker.locator("#photos ul.photos li")
    assert [stages.nth(i).get_attribute("data-stage") for i in range(stages.count())] == [
        "report", "reply"]
    for data in served_photos(worker):
        assert_clean(data)
    assert overflow(worker) <= 390
    worker.screenshot(path=str(shots / "2-worker-replied.png"), full_page=True)

    # 3. the dispatcher reads the reply on the case page and closes the case
    dispatcher = phone_for(browser, live_server.url, "dispatch9", problems)
    dispatcher.goto(worker.url)
    assert "已更换灯泡，晚上复查亮灯。" in dispatcher.inner_text("#reply")
    assert "worker9" in dispatcher.inner_text("#history")
    dispatcher.screenshot(path=str(shots / "3-dispatcher-reads-reply.png"), full_page=True)
    press(dispatcher, "close")
    assert dispatcher.inner_text("#state") == "已结案"
    assert overflow(dispatcher) <= 390
    dispatcher.screenshot(path=str(shots / "3-dispatcher-closed.png"), full_page=True)

    # 4. the resident rates it with the stars, and sees the photos, none with EXIF
    resident.goto(f"{live_server.url}/track/{code}")
    assert "已更换灯泡" in resident.inner_text("#reply")
    photos = served_photos(resident)
    assert len(photos) == 4  # the reporter sees both, full size and thumbnail
    for data in photos:
        assert_clean(data)
    assert Image.open(io.BytesIO(photos[0])).size == (200, 300)  # turned upright first
    resident.tap("label[for=star-5]")
    resident.fill("textarea[name=comment]", "修得很快，\n谢谢网格员！")
    resident.screenshot(path=str(shots / "4-resident-rates.png"), full_page=True)
    resident.tap("#rate-form button[type=submit]")
    resident.wait_for_selector("#state:has-text('已评价')")
    assert "★★★★★" in resident.inner_text("#case")
    resident.screenshot(path=str(shots / "4-resident-rated.png"), full_page=True)
    assert problems == []
