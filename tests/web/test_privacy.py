"""A reporter's contact and name reach only the grid's team and dispatchers.

A unique phone number and name are planted in a case; then every GET route
of the app (walked from the URL map, so a new route is covered too) is called
as every role, in JSON and XML where both exist, and every answer, the app's
log and the audit log are searched for them."""

import logging

import pytest

from gridmap.web import create_app

from signed_in_clients import signed_in

PASSWORD = "correct horse battery"
PHONE = "100-3141-5926"
NAME = "隐私测试居民"
HIDDEN = "不愿具名居民"
ROLES = (None, "staff_a", "staff_b", "dispatcher", "planner", "admin")
#: (role, endpoint) pairs that may show the contact
MAY_SEE = {(r, e) for r in ("staff_a", "dispatcher")
           for e in ("cases_api.get_case", "cases_api.grid_queue", "staff_pages.case_page",
                     "dispatch.cases", "dispatch.cases_csv")}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    app = create_app({"DATA_DIR": str(tmp_path_factory.mktemp("privacy") / "data")})
    grids = app.extensions["gridmap"].grids
    store = app.extensions["gridmap.accounts"]
    store.add_user("staff_a", PASSWORD, ["grid_staff"], grid_codes=[grids.codes[6]])
    store.add_user("staff_b", PASSWORD, ["grid_staff"], grid_codes=[grids.codes[7]])
    for role in ("dispatcher", "planner", "admin"):
        store.add_user(role, PASSWORD, [role])
    spot = grids.grids[6].geometry.representative_point()
    service = app.extensions["gridmap.cases"]
    case, _, _ = service.report({"lon": spot.x, "lat": spot.y, "category": "06",
                                 "description": "隐私测试", "contact": PHONE, "name": NAME})
    hidden, _, _ = service.report({"lon": spot.x, "lat": spot.y, "category": "07",
                                   "description": "匿名", "name": HIDDEN, "hide_name": True})
    return app, case, hidden


def client_as(app, role):
    return signed_in(app, role)


def get_routes(app, case):
    """(endpoint, url) for every GET route, with arguments that reach the planted case."""
    from flask import url_for

    props = case["properties"]
    values = {"filename": "leaflet/dist/leaflet.js", "username": "staff_a",
              "version": app.extensions["gridmap.assets"].version,
              "case_id": case["id"], "service_code": "06", "service_request_id": case["id"],
              "token": props["tracking_code"], "name": f"{'0' * 64}.jpg", "number": 1}
    urls = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "GET" not in rule.methods:
                continue
            args = dict(values)
            args["code"] = (props["tracking_code"] if "track" in rule.endpoint
                            else props["grid_code"])
            for fmt in (("json", "xml") if "fmt" in rule.arguments else (None,)):
                if fmt:
                    args["fmt"] = fmt
                urls.append((rule.endpoint, url_for(rule.endpoint, **{
                    k: args[k] for k in rule.arguments})))
    return urls


def test_every_get_route_as_every_role(planted, caplog):
    app, case, hidden = planted
    caplog.set_level(logging.DEBUG)
    routes = get_routes(app, case)
    assert len({e for e, _ in routes}) >= 20
    seen = set()
    for role in ROLES:
        client = client_as(app, role)
        for endpoint, url in routes:
            query = {"lon": "108.8", "lat": "29.52"} if endpoint == "api.route" else {}
            text = client.get(url, query_string=query).get_data(as_text=True)
            assert HIDDEN not in text, (role, url)
            if PHONE in text:
                assert (role, endpoint) in MAY_SEE, (role, url)
                assert NAME in text
                seen.add((role, endpoint))
            else:
                assert NAME not in text, (role, url)
    assert seen == MAY_SEE  # the allowed ones really do see it
    staff = client_as(app, "staff_a")
    with staff.session_transaction() as s:
        s["csrf"] = "x" * 43
    r = staff.post(f"/api/cases/{case['id']}/actions", json={"action": "sign"},
                   headers={"X-CSRF-Token": "x" * 43})
    assert r.status_code == 200
    audit = (app.extensions["gridmap"].data_dir / "audit.jsonl").read_text(encoding="utf-8")
    assert case["id"] in audit
    for secret in (PHONE, NAME, HIDDEN):
        assert secret not in caplog.text and secret not in audit


def test_transition_answers_keep_the_contact_from_other_roles(planted):
    app, case, _ = planted
    headers = {"X-CSRF-Token": "x" * 43}
    for role in ("staff_b", "planner", "admin"):
        client = client_as(app, role)
        with client.session_transaction() as s:
            s["csrf"] = "x" * 43
        r = client.post(f"/api/cases/{case['id']}/actions", json={"action": "sign"},
                        headers=headers)
        assert r.status_code == 403 and PHONE not in r.get_data(as_text=True)


def test_nothing_reaches_the_server_log(start_server, tmp_path_factory):
    import requests

    server = start_server(tmp_path_factory.mktemp("privacy-live") / "data")
    from gridmap.geo.grids import GridSet

    grid = GridSet.load(server.data_dir / "grids.geojson").grids[6]
    spot = grid.geometry.representative_point()
    r = requests.post(server.url + "/api/reports", json={
        "lon": spot.x, "lat": spot.y, "category": "06", "description": "日志测试",
        "contact": PHONE, "name": NAME}, timeout=10)
    assert r.status_code == 201
    code = r.json()["tracking_code"]
    for path in (f"/api/track/{code}", f"/track/{code}", "/open311/v2/requests.json"):
        assert requests.get(server.url + path, timeout=10).status_code == 200
    server.stop()
    log = server.log.read_text(encoding="utf-8")
    assert "/api/reports" in log  # the access log is there
    assert PHONE not in log and NAME not in log
