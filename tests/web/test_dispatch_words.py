"""Words in the description through the console's API: the same cases as a plain
substring test over what residents wrote, on every layer; and on real gunicorn
workers, a report is found by its words at once through whichever worker answers."""

import json
import random
import urllib.request

import pytest

from gridmap.web import create_app

from signed_in_clients import signed_in

PASSWORD = "correct horse battery"
TEXTS = ("路灯不亮，晚上很黑", "垃圾桶满溢 Lamp-POST broken", "井盖缺失！行人易踩空", "lamp ok",
         "3栋楼下漏水（严重）", "STRASSE 灯", "电梯故障多日无人维修", "路灯 灯不亮")


def matches(text, query):
    return all(w in text.casefold() for w in query.casefold().split())


@pytest.fixture
def app(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path / "data"), "TILES": "none"})
    app.extensions["gridmap.accounts"].add_user("disp", PASSWORD, ["dispatcher"])
    return app


def report(svc, grids, rng, text):
    spot = rng.choice(grids).geometry.representative_point()
    return svc.report({"lon": spot.x, "lat": spot.y, "category": "06", "description": text})[0]


def test_the_word_filter_finds_what_a_substring_test_finds_on_every_layer(app):
    rng = random.Random(5)
    svc, grids = app.extensions["gridmap.cases"], app.extensions["gridmap"].grids.grids
    texts = [rng.choice(TEXTS) + rng.choice(("", " 3号", "，急")) for _ in range(30)]
    for text in texts:
        report(svc, grids, rng, text)
    client = signed_in(app, "disp")
    x0, y0, x1, y1 = app.extensions["gridmap"].grids.bounds
    area = {"bbox": f"{x0},{y0},{x1},{y1}", "zoom": "14"}
    for query in ("路灯", "灯", "路灯不", "lamp", "LAMP-post", "strasse 灯", "不亮 路灯", "（严重）",
                  "，急", "3", "黑 井盖", "无此词"):
        expected = sum(matches(t, query) for t in texts)
        listed = client.get("/api/dispatch/cases", query_string={"q": query, "per_page": 200})
        assert listed.status_code == 200
        body = listed.get_json()
        assert body["total"] == len(body["cases"]) == expected, query
        heat = client.get("/api/dispatch/heat", query_string={"q": query, **area}).get_json()
        assert heat["total"] == sum(c[2] for c in heat["cells"]) == expected, query
    # a report written after the queries is found by the same words at once
    report(svc, grids, rng, "新的路灯问题")
    assert client.get("/api/dispatch/cases", query_string={"q": "路灯"}).get_json()["total"] == (
        sum(matches(t, "路灯") for t in texts) + 1)


def test_a_new_report_is_found_by_its_words_through_every_worker(start_server, tmp_path_factory):
    data = tmp_path_factory.mktemp("words") / "data"
    server = start_server(data, workers=2)
    app = create_app({"DATA_DIR": str(data)})  # the same folder, its session key and users
    accounts = app.extensions["gridmap.accounts"]
    accounts.add_user("disp", PASSWORD, ["dispatcher"])
    cookie = app.session_interface.get_signing_serializer(app).dumps(
        {"sid": accounts.create_session("disp")})
    spot = app.extensions["gridmap"].grids.grids[3].geometry.representative_point()

    def total(words):
        req = urllib.request.Request(
            f"{server.url}/api/dispatch/cases?" + urllib.parse.urlencode({"q": words}),
            headers={"Cookie": f"{app.config['SESSION_COOKIE_NAME']}={cookie}"})
        with urllib.request.urlopen(req, timeout=10) as r:  # a new connection each time
            return json.loads(r.read())["total"]

    assert {total("窨井盖") for _ in range(10)} == {0}  # both workers have answered
    for i in range(4):
        req = urllib.request.Request(
            f"{server.url}/api/reports", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"lon": spot.x, "lat": spot.y, "category": "07",
                             "description": f"第{i}处窨井盖松动 Manhole"}).encode())
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 201
        assert {total("窨井盖 manhole") for _ in range(6)} == {i + 1}
        assert {total(f"第{i}处") for _ in range(4)} == {1}
