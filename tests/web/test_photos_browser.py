"""Photos in a real Chromium against real gunicorn: a resident attaches a photo on
the phone-sized report page (preview, multipart), sees it on the tracking page;
the grid worker sees it on the case page, replies with an after-photo and makes
it public."""

import sys
from pathlib import Path

import pytest

from gridmap.auth.accounts import AccountStore
from gridmap.geo.grids import GridSet

from test_case_loop_browser import PASSWORD, press, sign_in, watch

sys.path.insert(0, str(Path(__file__).parents[1] / "photos"))
from photomaker import noise_jpeg, phone_jpeg  # noqa: E402

pytestmark = pytest.mark.browser


def loaded(img):
    """Whether the image ``img`` (a locator) loads and decodes (lazy ones once scrolled to)."""
    img.scroll_into_view_if_needed()
    return img.evaluate("img => img.decode().then(() => img.naturalWidth > 0, () => false)")


def test_a_resident_reports_with_a_photo_and_staff_reply_with_one(browser, live_server, tmp_path,
                                                                   grid_on_screen):
    grid = GridSet.load(live_server.data_dir / "grids.geojson").grids[5]
    AccountStore(live_server.data_dir / "accounts.sqlite3").add_user(
        "photos6", PASSWORD, ["grid_staff"], grid_codes=[grid.code])
    problems = []
    (tmp_path / "street.jpg").write_bytes(phone_jpeg())
    (tmp_path / "after.jpg").write_bytes(noise_jpeg(7, (120, 90)))

    phone = browser.new_page(viewport={"width": 390, "height": 844})
    watch(phone, problems)
    phone.goto(live_server.url + "/report")
    phone.wait_for_selector("path.leaflet-interactive")
    phone.select_option("select[name=category]", "06")
    phone.fill("textarea[name=description]", "路灯不亮")
    phone.mouse.click(*grid_on_screen(phone, grid.geometry))
    phone.set_input_files("#photos", str(tmp_path / "street.jpg"))
    assert loaded(phone.locator("#previews img[src]"))  # the preview, before anything is sent
    phone.screenshot(path=str(tmp_path / "report-with-photo.png"), full_page=True)
    phone.click("#submit")
    phone.wait_for_selector("#result:not([hidden]), #error:not([hidden])")
    assert phone.is_hidden("#error"), phone.inner_text("#error")
    code = phone.inner_text("#result-code")

    phone.goto(f"{live_server.url}/track/{code}")
    thumb = phone.locator("ul.photos img")
    assert thumb.count() == 1 and loaded(thumb)
    assert thumb.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [200, 300]  # upright
    phone.screenshot(path=str(tmp_path / "tracked.png"))

    worker = sign_in(browser, live_server.url, "photos6")
    watch(worker, problems)
    worker.goto(f"{live_server.url}/grid/{grid.code}")
    case_id = worker.locator("#queue li.case-card").first.get_attribute("data-case-id")
    worker.goto(f"{live_server.url}/case/{case_id}")
    assert loaded(worker.locator("#photos ul.photos img"))  # the resident's, to staff
    press(worker, "sign")
    press(worker, "start")
    form = worker.locator('#actions form:has(button[data-action="reply"])')
    form.locator("input[name=photos]").set_input_files(str(tmp_path / "after.jpg"))
    press(worker, "reply", note="已更换灯泡")
    photos = worker.locator("#photos ul.photos li")
    assert [photos.nth(i).get_attribute("data-stage") for i in range(photos.count())] == [
        "report", "reply"]
    assert loaded(photos.nth(1).locator("img"))
    photos.nth(1).locator("form.photo-public button").click()  # the after-photo: public
    worker.wait_for_selector(".flash")
    assert "照片已公开" in worker.inner_text(".flash")
    worker.screenshot(path=str(tmp_path / "replied.png"), full_page=True)

    phone.goto(f"{live_server.url}/track/{code}")
    assert phone.locator("ul.photos img").count() == 2
    after = photos.nth(1).get_attribute("data-photo-id")
    public = phone.request.get(f"{live_server.url}/photos/{case_id}/{after}.jpg")
    assert public.status == 200  # anyone, now that it is public
    assert problems == []
