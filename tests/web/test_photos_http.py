"""Photos (随手拍) through the real server (``gridmap serve``): multipart reports and
replies, who may fetch which photo, metadata gone from the served bytes, bad files
refused with nothing stored, the body limit of the upload routes, Open311 media_url."""

import io
import os
import re
import sys
from pathlib import Path

import pytest
import requests
from PIL import Image

from gridmap.store.geojsonseq import GeoJSONSeqStore
from gridmap.web import create_app

from live_signin import sign_in

sys.path.insert(0, str(Path(__file__).parents[1] / "photos"))
from photomaker import (encode, halves, jpeg_segments, noise_jpeg,  # noqa: E402
                        phone_jpeg, png_header_only)

PASSWORD = "correct horse battery"
PUBLIC_URL = "https://grid.example.cn"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def site(start_server, tmp_path_factory):
    """A live server with staff of grid 7, staff of grid 8 and a dispatcher (API tokens)."""
    data_dir = tmp_path_factory.mktemp("photos") / "data"
    app = create_app({"DATA_DIR": str(data_dir)})
    accounts = app.extensions["gridmap.accounts"]
    codes = app.extensions["gridmap"].grids.codes
    tokens = {}
    for name, roles, grids in (("staff7", ["grid_staff"], [codes[6]]),
                               ("staff8", ["grid_staff"], [codes[7]]),
                               ("disp", ["dispatcher"], [])):
        accounts.add_user(name, PASSWORD, roles, grid_codes=grids)
        tokens[name] = {"Authorization": f"Bearer {accounts.create_token(name, 'test')[1]}"}
    point = app.extensions["gridmap"].grids.grids[6].geometry.representative_point()
    server = start_server(data_dir, GRIDMAP_REPORT_IP_LIMIT="100000", GRIDMAP_PUBLIC_URL=PUBLIC_URL)
    return {"url": server.url, "data_dir": data_dir, "tokens": tokens,
            "fields": {"lon": str(point.x), "lat": str(point.y), "category": "06",
                       "description": "井盖缺失"}}


def post_report(site, photos, headers=None, **fields):
    files = [("photos", (f"p{i}.jpg", data, "image/jpeg")) for i, data in enumerate(photos)]
    return requests.post(site["url"] + "/api/reports", data={**site["fields"], **fields},
                         files=files, headers=headers, timeout=60)


def stored(site):
    """(cases stored, photo files on disk)."""
    with GeoJSONSeqStore(site["data_dir"] / "cases") as store:
        cases = store.count()
    return cases, sorted(p.name for p in (site["data_dir"] / "photos").glob("??/*"))


def metadata_segments(jpeg):
    """Markers of APPn (but JFIF's APP0) and COM segments: EXIF, XMP, ICC, IPTC, comments."""
    return [hex(m) for _, m in jpeg_segments(jpeg) if 0xE1 <= m <= 0xEF or m == 0xFE]


def test_a_report_with_photos_is_stored_and_served_to_its_reporter_without_exif(site):
    gps_jpeg = phone_jpeg()
    assert metadata_segments(gps_jpeg) and b"PhoneMaker" in gps_jpeg  # the upload has them
    png = encode(halves(64, 48), "PNG")
    r = post_report(site, [gps_jpeg, png], headers={"Idempotency-Key": "photo-key-1"},
                    hide_name="true")
    assert r.status_code == 201, r.text
    answer = r.json()
    photos = answer["photos"]
    assert [(p["stage"], p["public"]) for p in photos] == [("report", False)] * 2
    assert (photos[0]["width"], photos[0]["height"]) == (200, 300)  # turned upright
    code, case_id = answer["tracking_code"], answer["case_id"]

    base = f"{site['url']}/track/{code}/photos/{photos[0]['id']}"
    full = requests.get(base + ".jpg", timeout=10)
    thumb = requests.get(base + ".thumb.jpg", timeout=10)
    for got in (full, thumb):
        assert got.status_code == 200
        assert got.headers["Content-Type"] == "image/jpeg"
        assert got.headers["X-Content-Type-Options"] == "nosniff"
        assert got.headers["Cache-Control"] == "private, no-store"
        assert metadata_segments(got.content) == []
        assert b"PhoneMaker" not in got.content and b"GPS" not in got.content
        assert b"reporter" not in got.content  # the JPEG comment
    with Image.open(io.BytesIO(full.content)) as img:
        assert img.size == (200, 300) and not img.getexif()
        assert img.getpixel((100, 20))[0] > 200  # red on top: the orientation was applied

    # the reporter's JSON and page show both; the same key and photos replay the case
    assert [p["id"] for p in requests.get(f"{site['url']}/api/track/{code}", timeout=10)
            .json()["photos"]] == [p["id"] for p in photos]
    page = requests.get(f"{site['url']}/track/{code}", timeout=10).text
    for p in photos:
        assert f'href="/track/{code}/photos/{p["id"]}.jpg"' in page
        assert f'src="/track/{code}/photos/{p["id"]}.thumb.jpg"' in page
    before = stored(site)
    again = post_report(site, [gps_jpeg, png], headers={"Idempotency-Key": "photo-key-1"},
                        hide_name="true")
    assert (again.status_code, again.json()["case_id"]) == (200, case_id)
    other = post_report(site, [gps_jpeg], headers={"Idempotency-Key": "photo-key-1"},
                        hide_name="true")
    assert other.status_code == 409 and other.json()["field"] == "idempotency_key"
    assert stored(site) == before


def test_photo_urls_by_code_staff_of_the_grid_and_public_flag(site):
    r = post_report(site, [noise_jpeg(1), noise_jpeg(2)])
    assert r.status_code == 201, r.text
    case_id, code = r.json()["case_id"], r.json()["tracking_code"]
    first, second = (p["id"] for p in r.json()["photos"])
    other = post_report(site, [noise_jpeg(3)]).json()
    url, tokens = site["url"], site["tokens"]
    photo = f"{url}/photos/{case_id}/{first}.jpg"

    def get(target, who=None):
        return requests.get(target, headers=tokens.get(who), timeout=10)

    assert get(photo).status_code == 401  # the public: not without the code
    assert get(photo, "staff8").status_code == 403  # another grid's staff
    for who in ("staff7", "disp"):
        got = get(photo, who)
        assert got.status_code == 200 and got.headers["Cache-Control"] == "private, no-store"
    assert get(f"{url}/photos/{case_id}/{first}.thumb.jpg", "staff7").status_code == 200
    # unknown, foreign and made-up names are 404s, never a path
    assert get(f"{url}/photos/{case_id}/{other['photos'][0]['id']}.jpg", "disp").status_code == 404
    assert get(f"{url}/track/{code}/photos/{other['photos'][0]['id']}.jpg").status_code == 404
    assert get(f"{url}/track/{code}/photos/{first}.png").status_code == 404
    assert get(f"{url}/track/{code}/photos/..%2f..%2fsecret_key").status_code == 404
    assert get(f"{url}/track/AAAAA-AAAAA/photos/{first}.jpg").status_code == 404
    assert get(f"{url}/photos/{'0' * 32}/{first}.jpg", "disp").status_code == 404
    assert get(f"{url}/photos/{case_id}/{'0' * 64}.jpg", "disp").status_code == 404

    # nothing public yet: Open311 names no photo
    open311 = f"{url}/open311/v2/requests/{case_id}.json"
    assert get(open311).json()[0]["media_url"] is None
    # only staff of the case's grid may make one public
    mark = f"{url}/api/cases/{case_id}/photos/{second}"
    assert requests.post(mark, json={"public": True}, headers=tokens["staff8"],
                         timeout=10).status_code == 403
    assert requests.post(mark, json={"public": "yes"}, headers=tokens["staff7"],
                         timeout=10).status_code == 400
    assert requests.post(f"{url}/api/cases/{case_id}/photos/{'0' * 64}", json={"public": True},
                         headers=tokens["staff7"], timeout=10).status_code == 404
    made = requests.post(mark, json={"public": True}, headers=tokens["staff7"], timeout=10)
    assert made.status_code == 200
    assert [p["public"] for p in made.json()["photos"]] == [False, True]
    public = get(f"{url}/photos/{case_id}/{second}.jpg")
    assert public.status_code == 200 and "immutable" in public.headers["Cache-Control"]
    assert get(photo).status_code == 401  # the other one stays private
    assert get(open311).json()[0]["media_url"] == f"{PUBLIC_URL}/photos/{case_id}/{second}.jpg"
    xml = get(f"{url}/open311/v2/requests/{case_id}.xml").text
    assert f"<media_url>{PUBLIC_URL}/photos/{case_id}/{second}.jpg</media_url>" in xml
    assert requests.post(mark, json={"public": False}, headers=tokens["disp"],
                         timeout=10).status_code == 200
    assert get(f"{url}/photos/{case_id}/{second}.jpg").status_code == 401
    assert get(open311).json()[0]["media_url"] is None


def truncated_jpeg():
    data = encode(Image.effect_noise((400, 300), 60).convert("RGB"), quality=90)
    return data[:len(data) // 2]


@pytest.mark.parametrize("upload, status, error", [
    (b"just some text, named .jpg\n", 400, "not_an_image"),
    (png_header_only(50_000, 50_000), 413, "photo_too_many_pixels"),
    (b"\xff\xd8\xff\xe0" + os.urandom(20 * MB), 413, "photo_too_large"),
    (None, 400, "damaged_photo"),  # a truncated JPEG
    (encode(halves(32, 32), "GIF"), 415, "unsupported_photo_type"),
], ids=["text", "bomb", "20MB", "truncated", "gif"])
def test_a_bad_file_is_a_4xx_naming_it_and_nothing_is_stored(site, upload, status, error):
    before = stored(site)
    upload = truncated_jpeg() if upload is None else upload
    r = post_report(site, [noise_jpeg(10), upload])  # a good photo first: not kept either
    assert (r.status_code, r.json()["error"], r.json()["field"]) == (status, error, "photos[1]")
    assert stored(site) == before


def test_four_photos_or_a_body_over_the_upload_limit_are_refused(site):
    before = stored(site)
    r = post_report(site, [noise_jpeg(20 + i) for i in range(4)])
    assert (r.status_code, r.json()["field"]) == (400, "photos")
    # three 10 MB photos pass the body limit (and are then refused one by one) ...
    big = b"\xff\xd8\xff\xe0" + b"\0" * (10 * MB - 4)
    r = post_report(site, [big, big, big])
    assert (r.status_code, r.json()["error"]) == (400, "damaged_photo")
    # ... more does not get through; nor does a JSON report much above 256 KiB
    r = post_report(site, [big, big, big, big])
    assert r.status_code == 413
    r = requests.post(site["url"] + "/api/reports", timeout=10,
                      json={**site["fields"], "description": "x" * 300_000})
    assert r.status_code == 413
    assert stored(site) == before


def test_staff_reply_with_photos_by_api_and_by_the_queue_form(site):
    url, tokens = site["url"], site["tokens"]

    def act(case_id, files=(), **fields):
        if not files:
            return requests.post(f"{url}/api/cases/{case_id}/actions", json=fields, timeout=10,
                                 headers=tokens["staff7"])
        return requests.post(f"{url}/api/cases/{case_id}/actions", data=fields, timeout=30,
                             files=[("photos", ("a.jpg", f, "image/jpeg")) for f in files],
                             headers=tokens["staff7"])

    fields = dict(site["fields"], lon=float(site["fields"]["lon"]),
                  lat=float(site["fields"]["lat"]))
    cases = [requests.post(f"{url}/api/reports", json=fields, timeout=10).json()
             for _ in range(2)]
    for case in cases:
        for action in ("sign", "start"):
            assert act(case["case_id"], action=action).status_code == 200
    refused = act(cases[0]["case_id"], [noise_jpeg(30)], action="start")
    assert refused.status_code == 400 and refused.json()["field"] == "photos"
    replied = act(cases[0]["case_id"], [noise_jpeg(31), noise_jpeg(32)], action="reply",
                  note="已清理")
    assert replied.status_code == 200, replied.text
    assert [p["stage"] for p in replied.json()["photos"]] == ["reply", "reply"]
    # the reporter sees the after-photos
    tracked = requests.get(f"{url}/api/track/{cases[0]['tracking_code']}", timeout=10).json()
    assert [p["stage"] for p in tracked["photos"]] == ["reply", "reply"]

    # the case page's reply form, as a browser posts it (session, CSRF token, multipart)
    _, session = sign_in(url, "staff7", PASSWORD)
    page_url = f"{url}/case/{cases[1]['case_id']}"
    page = session.get(page_url, timeout=10).text
    assert 'enctype="multipart/form-data"' in page and 'name="photos"' in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = session.post(page_url, data={"csrf_token": csrf, "action": "reply", "note": "修好了"},
                        files=[("photos", ("after.jpg", noise_jpeg(33), "image/jpeg"))],
                        allow_redirects=False, timeout=30)
    assert form.status_code == 302, form.text
    case = requests.get(f"{url}/api/cases/{cases[1]['case_id']}", headers=tokens["staff7"],
                        timeout=10).json()
    assert case["state"] == "replied" and [p["stage"] for p in case["photos"]] == ["reply"]
    page = session.get(page_url, timeout=10).text
    photo_id = case["photos"][0]["id"]
    assert f'src="/photos/{case["case_id"]}/{photo_id}.thumb.jpg"' in page
    # ... and its form to make a photo public (a bad value re-renders the page with a 400)
    toggle = f"{page_url}/photos/{photo_id}"
    bad = session.post(toggle, data={"csrf_token": csrf, "public": "maybe"}, timeout=10)
    assert bad.status_code == 400 and 'id="error"' in bad.text
    made = session.post(toggle, data={"csrf_token": csrf, "public": "1"}, allow_redirects=False,
                        timeout=10)
    assert made.status_code == 302 and made.headers["Location"].endswith(
        f"/case/{case['case_id']}")
    assert requests.get(f"{url}/photos/{case['case_id']}/{photo_id}.jpg",
                        timeout=10).status_code == 200


def test_multipart_fields_are_checked_like_json_ones(site):
    before = stored(site)
    url = site["url"] + "/api/reports"
    photo = [("photos", ("a.jpg", noise_jpeg(40), "image/jpeg"))]
    cases = [  # (fields, files, field named)
        ([*site["fields"].items(), ("lon", "108.8")], photo, "lon"),  # sent twice
        ({**site["fields"], "lon": "east"}, photo, "lon"),
        ({**site["fields"], "hide_name": "perhaps"}, photo, "hide_name"),
        ({**site["fields"], "colour": "red"}, photo, "colour"),
        (site["fields"], [("photo", ("a.jpg", noise_jpeg(40), "image/jpeg"))], "photo"),
    ]
    for fields, files, field in cases:
        r = requests.post(url, data=fields, files=files, timeout=10)
        assert (r.status_code, r.json()["field"]) == (400, field), r.text
    # with a session cookie (a browser that opened /report), the CSRF token is needed
    session = requests.Session()
    page = session.get(site["url"] + "/report", timeout=10).text
    token = re.search(r'const csrf = "([^"]+)"', page).group(1)
    r = session.post(url, data=site["fields"], files=photo, timeout=10)
    assert r.status_code == 403 and r.json()["error"] == "csrf_failed"
    assert stored(site) == before
    r = session.post(url, data=site["fields"], files=photo, headers={"X-CSRF-Token": token},
                     timeout=10)
    assert r.status_code == 201 and r.json()["photos"][0]["stage"] == "report"
