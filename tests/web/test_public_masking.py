"""Numbers typed into a description are masked wherever the public reads it (Open311,
tracking), shown whole to the grid's staff and dispatchers; the report form says so."""

import re

import pytest

from gridmap.web import create_app

from signed_in_clients import signed_in

PASSWORD = "correct horse battery"
#: what a resident might type, and the digits that must not come out
NUMBERS = ["13800138000", "+86 139-0013-9000", "023-61234567", "（０２３）６１２３４５６８",
           "１３７００１３７０００", "50011419900101123X"]
DESCRIPTION = "小区门口路灯坏了，2026-12-04 发现。电话 " + "，".join(NUMBERS) + "。3栋502室"


def digits(text):
    return re.sub(r"\D", "", text.translate(str.maketrans("０１２３４５６７８９", "0123456789")))


SECRETS = [digits(n)[-7:] for n in NUMBERS]  # any 7 digits in a row of each number


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    app = create_app({"DATA_DIR": str(tmp_path_factory.mktemp("masking") / "data")})
    grid = app.extensions["gridmap"].grids.grids[6]
    spot = grid.geometry.representative_point()
    client = app.test_client()
    r = client.post("/api/reports", json={"lon": spot.x, "lat": spot.y, "category": "06",
                                          "description": DESCRIPTION})
    assert r.status_code == 201
    o311 = client.post("/open311/v2/requests.json", data={
        "service_code": "06", "lat": str(spot.y), "long": str(spot.x),
        "description": "井盖丢了 请回电 13800138001", "address_string": "渝州路 0236-1234567"})
    assert o311.status_code == 201, o311.get_data(as_text=True)
    app.extensions["gridmap.accounts"].add_user("staff7", PASSWORD, ["grid_staff"], [grid.code])
    app.extensions["gridmap.accounts"].add_user("dispatch", PASSWORD, ["dispatcher"])
    return app, r.get_json(), o311.get_json()[0]


def public_answers(app, case, o311):
    client = app.test_client()
    code, case_id = case["tracking_code"], case["case_id"]
    for path in (f"/api/track/{code}", f"/track/{code}", f"/track/{code}?lang=en",
                 "/open311/v2/requests.json", "/open311/v2/requests.xml",
                 f"/open311/v2/requests/{case_id}.json", f"/open311/v2/requests/{case_id}.xml",
                 f"/open311/v2/requests/{o311['service_request_id']}.json"):
        r = client.get(path)
        assert r.status_code == 200, path
        yield path, r.get_data(as_text=True)


def test_the_public_never_reads_the_numbers(reported):
    app, case, o311 = reported
    for path, body in public_answers(app, case, o311):
        found = [s for s in SECRETS + ["3800138001", "2361234567"] if s in digits(body)]
        assert not found, (path, found)
        assert "小区门口路灯坏了" in body or "井盖丢了" in body, path  # the text itself is there
    body = app.test_client().get(f"/api/track/{case['tracking_code']}").get_json()["description"]
    assert "2026-12-04" in body and "3栋502室" in body and "***********" in body


@pytest.mark.parametrize("user", ["staff7", "dispatch"])
def test_staff_read_the_description_as_written(reported, user):
    app, case, _ = reported
    client = signed_in(app, user)
    assert client.get(f"/api/cases/{case['case_id']}").get_json()["description"] == DESCRIPTION
    # the case page in whole (queue cards show the first characters, unmasked too)
    assert DESCRIPTION in client.get(f"/case/{case['case_id']}").get_data(as_text=True)
    code = app.extensions["gridmap"].grids.grids[6].code
    assert DESCRIPTION[:40] in client.get(f"/grid/{code}").get_data(as_text=True)


@pytest.mark.parametrize("lang, public, contact", [
    ("zh", "描述会公开显示", "仅负责网格的工作人员和调度员可见"),
    ("en", "The description is public", "seen only by the responsible grid's team and the dispatchers"),
])
def test_the_report_form_says_what_is_public_and_who_sees_the_contact(client, lang, public,
                                                                      contact):
    page = client.get(f"/report?lang={lang}").get_data(as_text=True)
    assert public in page and contact.replace("'", "&#39;") in page
    assert 'aria-describedby="description-public"' in page
