"""What a page's script says, in a real Chromium: in the page's language, from the
catalog, not the browser's own words (a refused location, too many photos)."""

import re

import pytest

from gridmap import i18n

CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef]")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_report_pages_script_speaks_the_pages_language(live_server, browser, lang, tmp_path):
    # an English browser, so that its own messages would show on the Chinese page
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US",
                                  has_touch=True, permissions=[])
    page = context.new_page()
    page.goto(f"{live_server.url}/report?lang={lang}")
    page.click("#locate")  # the location is refused (no permission granted)
    where = page.locator("#where")
    where.filter(has_text=i18n.gettext(lang, "location_refused")).wait_for(timeout=20000)
    photos = []
    for i in range(4):
        photos.append(tmp_path / f"p{i}.png")
        photos[-1].write_bytes(b"\x89PNG\r\n\x1a\n")
    page.set_input_files("#photos", [str(p) for p in photos])
    assert page.inner_text("#error") == i18n.gettext(lang, "too_many_photos")
    page.fill("textarea[name=description]", "x")
    page.click("#submit")  # no point chosen
    assert page.inner_text("#error") == i18n.gettext(lang, "no_location")
    shown = page.inner_text("body")
    if lang == "en":
        assert not CJK.findall(shown.replace("中文", "")), shown
    else:
        assert "English" in shown and "denied" not in shown.lower()
    context.close()
