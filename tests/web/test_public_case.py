"""The public view of a case (``/public/case/<case_id>``), where a duplicate hint leads:
what Open311 publishes about the case, and nothing more."""

import io
import re
import sys
from pathlib import Path

import pytest

from gridmap.cases.workflow import Actor

sys.path.insert(0, str(Path(__file__).parents[1] / "photos"))
from photomaker import noise_jpeg  # noqa: E402

PHONE, ID_NUMBER, NAME = "13812345678", "500114199001011234", "王秀英"


@pytest.fixture
def worked_case(app):
    """A report with a contact, a name, numbers in its description and two photos (the
    second made public), signed, started and replied to by the grid's staff."""
    cmty = app.extensions["gridmap"]
    grid = cmty.grids.grids[2]
    spot = grid.geometry.representative_point()
    answer = app.test_client().post("/api/reports", content_type="multipart/form-data", data={
        "lon": str(spot.x), "lat": str(spot.y), "category": "06", "contact": PHONE,
        "name": NAME, "description": f"垃圾堆积，回电 {PHONE}，身份证 {ID_NUMBER}",
        "photos": [(io.BytesIO(noise_jpeg(1)), "a.jpg"), (io.BytesIO(noise_jpeg(2)), "b.jpg")]})
    assert answer.status_code == 201, answer.get_json()
    answer = answer.get_json()
    svc = app.extensions["gridmap.cases"]
    private, public = (p["id"] for p in answer["photos"])
    svc.set_photo_public(answer["case_id"], public, True)
    worker = Actor("grid_staff", "worker3", frozenset({grid.code}))
    steps = (("sign", None), ("start", None), ("reply", "已清运，回电 13900001111"))
    for action, note in steps:
        svc.act(answer["case_id"], action, worker, note=note)
    return {**answer, "grid": grid, "private": private, "public": public,
            "team": cmty.teams[grid.code]}


def page_text(response):
    """The page's HTML with its map script and tags taken out: what a reader sees."""
    html = response.get_data(as_text=True)
    return re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>", " ", html, flags=re.S))


def test_the_public_view_shows_what_open311_publishes(app, client, worked_case):
    response = client.get(f"/public/case/{worked_case['case_id']}")
    assert response.status_code == 200
    html, text = response.get_data(as_text=True), page_text(response)
    published = client.get(f"/open311/v2/requests/{worked_case['case_id']}.json").get_json()[0]
    assert published["description"] in text  # masked alike
    assert "***********" in text and "环境卫生" in text and "已回复" in text
    assert worked_case["grid"].name in text and published["agency_responsible"].startswith(
        worked_case["grid"].name)
    for stamp in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert published[stamp][:16].replace("T", " ") in text, stamp
    assert published["media_url"].endswith(f"/{worked_case['public']}.jpg")
    assert f"/photos/{worked_case['case_id']}/{worked_case['public']}.thumb.jpg" in html
    lon, lat = published["long"], published["lat"]
    assert f"{lat}, {lon}" in html or (str(lat) in html and str(lon) in html)  # on the map


def test_the_public_view_shows_no_contact_reporter_code_reply_or_staff(app, client, worked_case):
    response = client.get(f"/public/case/{worked_case['case_id']}?lang=en")
    html = response.get_data(as_text=True)
    team = worked_case["team"]
    staff = [m.name for _, _, _, m in team.slots() if m] + [h.name for h in team.helpers]
    for secret in (PHONE, ID_NUMBER, NAME, worked_case["tracking_code"], worked_case["private"],
                   "13900001111", "已清运", "worker3", "full_time", "Full-time", *staff):
        assert secret not in html, secret
    assert "Sanitation" in html and worked_case["grid"].name_en in html  # one language
    assert response.headers["Content-Security-Policy"]


def test_the_public_view_of_an_unknown_case_is_a_404(client):
    assert client.get("/public/case/0123456789abcdef0123456789abcdef").status_code == 404
    assert client.get("/public/case/..%2Fetc").status_code == 404


def test_a_duplicate_hint_names_the_earlier_cases_public_view(app, worked_case):
    spot = worked_case["grid"].geometry.representative_point()
    again = app.test_client().post("/api/reports", json={
        "lon": spot.x, "lat": spot.y, "category": "06", "description": "还有垃圾"}).get_json()
    assert again["duplicates"] == [{"case_id": worked_case["case_id"],
                                    "case_no": worked_case["case_no"], "state": "replied",
                                    "reported_at": worked_case["reported_at"]}]
