"""Open311 GeoReport v2, through Flask and through a client nobody here wrote
(``georeport`` against real gunicorn): discovery, services, requests created by
the spec's form fields and routed to a grid, the GET filters, errors in the
spec's format, no reporter contact or name in any output, and fuzzing that
never gets a 5xx, malformed XML or a stored change from a refused request.

A request's ``service_request_id`` is its case id (32 hex characters). The
tracking code is the resident's secret (it rates the case at
``/api/track/<code>/rating``): a POST hands it once to its client as the
``token``, ``tokens/{token}`` resolves it, and no listing or detail ever shows
it, nor takes it as a ``service_request_id``."""

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gridmap.cases.workflow import OPEN_STATES, STATES, Actor
from gridmap.config import ROOT, load_config
from gridmap.errors import ConfigError
from gridmap.web import create_app, open311

BASE = "/open311/v2"
PHONE = "139-7531-8642"
FIRST, LAST = "Zebulonia", "Quaxterfield"
EMAIL = "zq.unique-4711@example.org"
DEVICE, ACCOUNT = "device-8c1f2e9", "acct-5d7e31"
PERSONAL = (PHONE, PHONE.replace("-", ""), FIRST, LAST, EMAIL, DEVICE, ACCOUNT)
TRACKING = re.compile(r"[0-9A-Z]{5}-[0-9A-Z]{5}")
CASE_ID = re.compile(r"[0-9a-f]{32}")
CATEGORY_CODES = [c["code"] for c in json.loads(
    (ROOT / "geodata" / "categories.json").read_text(encoding="utf-8"))["categories"]]
REQUEST_FIELDS = {"service_request_id", "status", "status_notes", "service_name", "service_code",
                  "description", "agency_responsible", "service_notice", "requested_datetime",
                  "updated_datetime", "expected_datetime", "address", "address_id", "zipcode",
                  "lat", "long", "media_url"}
ANSWER_FIELDS = {"service_request_id", "token", "service_notice", "account_id"}


@pytest.fixture
def app(tmp_path):
    return create_app({"DATA_DIR": str(tmp_path / "data"), "REPORT_IP_LIMIT": 10_000})


@pytest.fixture
def keyed_app(tmp_path):
    return create_app({"DATA_DIR": str(tmp_path / "keyed"), "REPORT_IP_LIMIT": 10_000,
                       "OPEN311_API_KEYS": " k-one , k-two "})


def spot(app, index):
    point = app.extensions["gridmap"].grids.grids[index].geometry.representative_point()
    return point.x, point.y


def form(app, index=4, **fields):
    """The spec's form fields for a report inside grid ``index``; ``None`` drops a field."""
    lon, lat = spot(app, index)
    data = {"service_code": "06", "lat": repr(lat), "long": repr(lon), "description": "垃圾堆积",
            **fields}
    return {k: v for k, v in data.items() if v is not None}


def post(client, data, fmt="json", **kwargs):
    return client.post(f"{BASE}/requests.{fmt}", data=data, **kwargs)


def count(app):
    return app.extensions["gridmap.cases"].store.count()


def svc(app):
    return app.extensions["gridmap.cases"]


def strict_xml(response):
    """Parse the body as the spec's XML, failing on anything malformed."""
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert response.data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(response.data)


def strict_json(response):
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    return json.loads(response.data.decode("utf-8"))


def parsed(response, fmt):
    return strict_xml(response) if fmt == "xml" else strict_json(response)


def xml_items(root, item):
    """``[{tag: text}]`` for the repeated ``item`` children of ``root``."""
    assert all(child.tag == item for child in root), [child.tag for child in root]
    return [{field.tag: field.text for field in child} for child in root]


def assert_error(response, status, fmt, *words):
    """The spec's error list: one ``{code, description}`` naming ``words``."""
    assert response.status_code == status, response.get_data(as_text=True)
    if fmt == "xml":
        root = strict_xml(response)
        assert root.tag == "errors"
        errors = [{"code": int(e["code"]), "description": e["description"]}
                  for e in xml_items(root, "error")]
    else:
        errors = strict_json(response)
    assert len(errors) == 1 and errors[0]["code"] == status and set(errors[0]) == {
        "code", "description"}
    for word in words:
        assert word in errors[0]["description"], (word, errors[0]["description"])


def new_case(app, index=4, category="06", when=None, state="reported", description="垃圾堆积"):
    """A case reported through the core (at ``when``) and driven to ``state``."""
    service = svc(app)
    lon, lat = spot(app, index)
    clock = service.clock
    if when is not None:
        service.clock = lambda: when
    try:
        feature, _, _ = service.report({"lon": lon, "lat": lat, "category": category,
                                        "description": description, "contact": PHONE,
                                        "name": f"{FIRST} {LAST}"})
    finally:
        service.clock = clock
    return drive(app, feature, state)


def drive(app, feature, state):
    """``feature`` driven from reported to ``state`` by its grid's staff (and rated 5)."""
    service = svc(app)
    staff = Actor("grid_staff", "staff1", frozenset({feature["properties"]["grid_code"]}))
    boss = Actor("dispatcher", "disp1")
    steps = {"signed": ["sign"], "handling": ["sign", "start"],
             "replied": ["sign", "start", "reply"], "closed": ["sign", "start", "reply", "close"],
             "rated": ["sign", "start", "reply", "close", "rate"], "cancelled": ["cancel"]}
    for action in steps.get(state, []):
        actor = {"close": boss, "rate": Actor("resident")}.get(action, staff)
        params = {"rate": {"rating": 5}, "cancel": {"reason": "duplicate"}}.get(action, {})
        feature = service.act(feature["id"], action, actor, note="已处理", **params)
    assert feature["properties"]["state"] == state
    return feature


def code_of(feature):
    """The case's tracking code: the resident's secret, never a service_request_id."""
    return feature["properties"]["tracking_code"]


def code_forms(code):
    """Every way a tracking code could be spelled out in a body."""
    bare = code.replace("-", "")
    return {code, code.lower(), bare, bare.lower()}


def answer_of(response, fmt):
    """The one ``{service_request_id, token, ...}`` a POST answers."""
    items = strict_json(response) if fmt == "json" else xml_items(strict_xml(response),
                                                                  "request")
    answer, = items
    return answer


# -- discovery and services -------------------------------------------------------

@pytest.mark.parametrize("path", ["/open311/v2/discovery", "/open311/discovery"])
def test_discovery_points_at_this_endpoint_in_both_formats(client, path):
    body = strict_json(client.get(f"{path}.json"))
    endpoint, = body["endpoints"]
    assert endpoint["url"] == "/open311/v2"  # no PUBLIC_URL: on whatever host was asked
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    assert datetime.fromisoformat(body["changeset"]).tzinfo is not None
    root = strict_xml(client.get(f"{path}.xml"))
    assert root.tag == "discovery"
    assert root.findtext("endpoints/endpoint/url") == endpoint["url"]
    formats = root.findall("endpoints/endpoint/formats/format")
    assert [f.text for f in formats] == endpoint["formats"]


@pytest.mark.parametrize("settings, headers, url", [
    ({}, {}, "/open311/v2"),
    ({"PUBLIC_URL": "https://grid.example.cn/"}, {}, "https://grid.example.cn/open311/v2"),
    ({"PUBLIC_URL": "https://example.cn/gm", "PROXY_HOPS": 1},
     {"X-Forwarded-Host": "grid.example.cn"}, "https://example.cn/gm/open311/v2"),
    ({}, {"X-Forwarded-Host": "grid.example.cn"}, "/open311/v2"),  # no proxy to trust
    # two proxies: both append to X-Forwarded-For, the outer one sets -Host and -Proto
    ({"PROXY_HOPS": 2}, {"X-Forwarded-Host": "grid.example.cn"}, "https://grid.example.cn/open311/v2"),
    ({"PROXY_HOPS": 1}, {"X-Forwarded-Host": "evil.example, grid.example.cn:8443"},
     "https://grid.example.cn:8443/open311/v2"),
    ({"PROXY_HOPS": 1}, {}, "/open311/v2"),
    ({"PROXY_HOPS": 1}, {"X-Forwarded-Host": "evil.example/x?"}, "/open311/v2"),
    ({"PROXY_HOPS": 1}, {"X-Forwarded-Host": "<b>evil</b>"}, "/open311/v2"),
])
def test_discovery_never_names_the_host_a_client_sent(tmp_path, settings, headers, url):
    app = create_app({"DATA_DIR": str(tmp_path / "d"), **settings})
    for fmt in ("json", "xml"):
        r = app.test_client().get(f"/open311/v2/discovery.{fmt}", headers={
            "Host": "attacker.example", "X-Forwarded-For": "203.0.113.5, 10.0.0.2",
            "X-Forwarded-Proto": "https", **headers})
        body = r.get_data(as_text=True)
        assert "attacker" not in body and "evil" not in body
        found = (strict_json(r)["endpoints"][0]["url"] if fmt == "json"
                 else strict_xml(r).findtext("endpoints/endpoint/url"))
        assert found == url


@pytest.mark.parametrize("value", ["grid.example.cn", "ftp://grid.example.cn", "https://u:p@x.cn",
                                   "https://x.cn/?a=1", "https://x.cn/#top", "https://x.cn:99999",
                                   "https://x .cn", "https://evil.cn\\@x.cn", "https://"])
def test_a_bad_public_url_stops_startup_naming_it(tmp_path, value):
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        create_app({"DATA_DIR": str(tmp_path / "d"), "PUBLIC_URL": value})


def test_a_hostile_host_header_over_a_real_socket(open311_server):
    import socket
    host, port = open311_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET /open311/v2/discovery.json HTTP/1.1\r\nHost: attacker.example\r\n"
                  b"X-Forwarded-Host: attacker.example\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200") and b"attacker" not in data.partition(b"\r\n\r\n")[2]


def test_services_are_the_categories_as_a_bare_array_and_as_xml(client):
    services = strict_json(client.get(f"{BASE}/services.json"))
    assert isinstance(services, list)
    assert [s["service_code"] for s in services] == CATEGORY_CODES
    sanitation = services[CATEGORY_CODES.index("06")]
    assert sanitation["service_name"] == "环境卫生 / Sanitation"
    assert sanitation["metadata"] is False and sanitation["type"] == "realtime"
    assert "1" in sanitation["description"] and "5" in sanitation["description"]  # 1 h + 4 h
    root = strict_xml(client.get(f"{BASE}/services.xml"))
    assert root.tag == "services"
    items = xml_items(root, "service")
    assert [s["service_code"] for s in items] == CATEGORY_CODES
    assert items[CATEGORY_CODES.index("06")]["metadata"] == "false"
    assert items[CATEGORY_CODES.index("06")]["service_name"] == sanitation["service_name"]


def test_a_service_definition_has_no_attributes_and_unknown_codes_are_404(client):
    assert strict_json(client.get(f"{BASE}/services/06.json")) == {"service_code": "06",
                                                                    "attributes": []}
    root = strict_xml(client.get(f"{BASE}/services/06.xml"))
    assert root.tag == "service_definition" and root.findtext("service_code") == "06"
    assert list(root.find("attributes")) == []
    for fmt in ("json", "xml"):
        assert_error(client.get(f"{BASE}/services/77.{fmt}"), 404, fmt, "77")


# -- POST by form fields ----------------------------------------------------------

def test_a_post_by_the_specs_form_fields_creates_a_routed_case(app, client):
    grid = app.extensions["gridmap"].grids.grids[4]
    r = post(client, form(app, 4, phone=PHONE, first_name=FIRST, last_name=LAST, email=EMAIL,
                          device_id=DEVICE, account_id=ACCOUNT, jurisdiction_id="ludong",
                          address_string="正阳路 1 号", media_url="https://example.org/p.jpg",
                          description="垃圾堆积\r\n第二行"))
    assert r.status_code == 201
    answer = answer_of(r, "json")
    assert set(answer) == ANSWER_FIELDS
    assert CASE_ID.fullmatch(answer["service_request_id"]) and answer["account_id"] is None
    assert TRACKING.fullmatch(answer["token"])  # the tracking code, handed to its creator
    assert "环境卫生" in answer["service_notice"]
    case = svc(app).store.get(answer["service_request_id"])
    assert case["id"] == answer["service_request_id"] and code_of(case) == answer["token"]
    props = case["properties"]
    assert props["grid_code"] == grid.code and props["category"] == "06"
    assert props["reporter"]["contact"] == PHONE and props["reporter"]["name"] == f"{FIRST} {LAST}"
    assert props["description"] == ("垃圾堆积\n第二行\n地址 / address: 正阳路 1 号\n"
                                    "图片 / media: https://example.org/p.jpg")
    tracked = client.get(f"/api/track/{answer['token']}").get_json()
    assert tracked["grid"]["code"] == grid.code
    r = post(client, form(app, 7, first_name="三", last_name="张"), fmt="xml")
    assert r.status_code == 201
    root = strict_xml(r)
    assert root.tag == "service_requests"
    created = answer_of(r, "xml")
    assert set(created) == ANSWER_FIELDS and created["account_id"] is None
    case = svc(app).store.get(created["service_request_id"])
    assert code_of(case) == created["token"] and TRACKING.fullmatch(created["token"])
    assert case["properties"]["grid_code"] == app.extensions["gridmap"].grids.grids[7].code
    assert case["properties"]["reporter"]["name"] == "张三"


def test_a_repeated_idempotency_key_returns_the_first_request(app, client):
    headers = {"Idempotency-Key": "o311-retry-1"}
    first = post(client, form(app), headers=headers)
    again = post(client, form(app), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert strict_json(first) == strict_json(again) and count(app) == 1


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("fields, word", [
    ({"service_code": None}, "service_code"),
    ({"service_code": "zz"}, "service_code"),
    ({"lat": None, "long": None}, "lat"),
    ({"lat": "abc"}, "lat"),
    ({"lat": "95"}, "lat"),
    ({"long": "nan"}, "long"),
    ({"long": "1e999"}, "long"),
    ({"long": "١٠٨"}, "long"),
    ({"lat": None, "long": None, "address_string": "正阳路 1 号"}, "geocod"),
    ({"lat": None, "long": None, "address_id": "4711"}, "geocod"),
    ({"description": None}, "description"),
    ({"description": "   "}, "description"),
    ({"description": "x" * 4001}, "description"),
    ({"description": "bell\x07"}, "description"),
    ({"phone": "call me maybe"}, "phone"),
    ({"first_name": "x" * 33}, "first_name"),
    ({"first_name": "x" * 20, "last_name": "y" * 20}, "first_name"),
    ({"media_url": "javascript:alert(1)"}, "media_url"),
])
def test_bad_fields_are_400_naming_the_field_and_store_nothing(app, client, fields, word, fmt):
    assert_error(post(client, form(app, **fields), fmt=fmt), 400, fmt, word)
    assert count(app) == 0


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_description_too_long_with_its_address_names_both(app, client, fmt):
    r = post(client, form(app, description="x" * 3990, address_string="y" * 200), fmt=fmt)
    assert_error(r, 400, fmt, "description + address_string", "got 4205",
                 "description alone: 3990")
    r = post(client, form(app, description="x" * 3990, address_string="y" * 200,
                          media_url="https://example.org/p.jpg"), fmt=fmt)
    assert_error(r, 400, fmt, "description + address_string + media_url")
    assert count(app) == 0
    r = post(client, form(app, description="x" * 3700, address_string="y" * 200), fmt=fmt)
    assert r.status_code == 201  # 3,915 together: within the limit


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_point_outside_the_service_area_names_the_nearest_grid(app, client, fmt):
    r = post(client, form(app, lat="29.0", long="108.0"), fmt=fmt)
    nearest = app.extensions["gridmap"].router.route_point(108.0, 29.0).nearest
    assert_error(r, 400, fmt, nearest.code, " m from the nearest grid")
    in_chinese = client.post(f"/open311/v2/requests.{fmt}?lang=zh", data=form(app, lat="29.0", long="108.0"))
    assert_error(in_chinese, 400, fmt, nearest.name, nearest.code, " 米")
    assert count(app) == 0


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_needs_a_configured_api_key_in_the_form_or_query(keyed_app, fmt):
    client = keyed_app.test_client()
    assert_error(post(client, form(keyed_app), fmt=fmt), 403, fmt, "api_key")
    assert_error(post(client, form(keyed_app, api_key="k-three"), fmt=fmt), 403, fmt, "api_key")
    assert_error(post(client, form(keyed_app, api_key="k-one "), fmt=fmt), 403, fmt)
    assert count(keyed_app) == 0
    assert post(client, form(keyed_app, api_key="k-two"), fmt=fmt).status_code == 201
    r = client.post(f"{BASE}/requests.{fmt}?api_key=k-one", data=form(keyed_app))
    assert r.status_code == 201 and count(keyed_app) == 2
    assert client.get(f"{BASE}/services.{fmt}").status_code == 200  # reading needs no key
    assert "api_key" in strict_json(client.get(f"{BASE}/discovery.json"))["key_service"]


def test_the_api_key_setting_is_read_from_the_environment():
    environ = {"GRIDMAP_OPEN311_API_KEYS": "a,b"}
    assert load_config(environ=environ)["OPEN311_API_KEYS"] == "a,b"
    assert load_config(environ={})["OPEN311_API_KEYS"] == ""


def test_posts_share_the_anonymous_rate_limit(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path / "data"), "REPORT_IP_LIMIT": 2})
    client = app.test_client()
    assert [post(client, form(app)).status_code for _ in range(2)] == [201, 201]
    r = post(client, form(app), fmt="xml")
    assert_error(r, 429, "xml", "too many")
    assert int(r.headers["Retry-After"]) > 0 and count(app) == 2


def test_post_is_csrf_exempt_even_with_a_session_cookie(app, client):
    with client.session_transaction() as s:
        s["csrf"] = "c" * 43
    assert post(client, form(app)).status_code == 201


def test_huge_bodies_and_unknown_routes_answer_in_the_specs_format(app, client):
    assert_error(post(client, form(app, description="x" * 300_000)), 400, "json", "Too Large")
    assert_error(client.get(f"{BASE}/nothing.xml"), 404, "xml")
    assert_error(client.get(f"{BASE}/services.html"), 404, "json")
    assert_error(client.delete(f"{BASE}/requests.json"), 400, "json", "DELETE")
    assert_error(client.put(f"{BASE}/services.xml"), 400, "xml")
    assert count(app) == 0


# -- reading requests ---------------------------------------------------------------

@pytest.mark.parametrize("state", STATES)
def test_a_request_maps_every_field_in_json_and_xml(app, client, state):
    feature = new_case(app, index=2, state=state)
    props, case_id = feature["properties"], feature["id"]
    grid = app.extensions["gridmap"].grids[props["grid_code"]]
    one, = strict_json(client.get(f"{BASE}/requests/{case_id}.json"))
    assert set(one) == REQUEST_FIELDS  # no token: the tracking code is never in a request
    assert one["service_request_id"] == case_id and one["service_code"] == "06"
    assert one["status"] == ("open" if state in OPEN_STATES else "closed")
    zh = {"reported": "待签收", "signed": "已签收", "handling": "处置中", "replied": "已回复",
          "closed": "已结案", "rated": "已评价", "cancelled": "已撤销"}[state]
    assert one["status_notes"] == f"{zh} / {state}"
    assert one["agency_responsible"] == f"{grid.name} ({grid.code})"
    assert one["expected_datetime"] == props["deadlines"]["handle"]
    assert one["requested_datetime"] == props["reported_at"]
    assert one["updated_datetime"] == props["history"][-1]["at"]
    for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert datetime.fromisoformat(one[name]).tzinfo is not None
    assert [one["long"], one["lat"]] == feature["geometry"]["coordinates"]
    assert one["address"] is None and one["media_url"] is None
    root = strict_xml(client.get(f"{BASE}/requests/{case_id}.xml"))
    assert root.tag == "service_requests"
    xml_one, = xml_items(root, "request")
    assert xml_one == {k: None if v is None else str(v) for k, v in one.items()}


def test_requests_are_found_by_case_id_only(app, client):
    feature = new_case(app)
    case_id = feature["id"]
    assert CASE_ID.fullmatch(case_id)
    for spelled in (case_id, case_id.upper()):
        one, = strict_json(client.get(f"{BASE}/requests/{spelled}.json"))
        assert one["service_request_id"] == case_id
    for fmt in ("json", "xml"):
        assert_error(client.get(f"{BASE}/requests/{'0' * 32}.{fmt}"), 404, fmt)  # well formed
        assert_error(client.get(f"{BASE}/requests/{case_id[:31]}.{fmt}"), 404, fmt)
        assert_error(client.get(f"{BASE}/requests/{case_id}0.{fmt}"), 404, fmt)
        assert_error(client.get(f"{BASE}/requests/ZZZZZ-ZZZZZ.{fmt}"), 404, fmt)
        assert_error(client.get(f"{BASE}/requests/{'Y' * 300}.{fmt}"), 404, fmt)
        assert_error(client.get(f"{BASE}/requests/%20.{fmt}"), 404, fmt)
        assert_error(client.get(f"{BASE}/tokens/%20.{fmt}"), 404, fmt)


def test_a_tracking_code_is_no_service_request_id(app, client):
    feature = new_case(app)
    case_id, code = feature["id"], code_of(feature)
    for fmt in ("json", "xml"):
        for guess in sorted(code_forms(code)) + [f" {code} "]:
            r = client.get(f"{BASE}/requests/{quote(guess)}.{fmt}")
            assert_error(r, 404, fmt)
        # as a filter it is skipped, and does not fall back to listing everything
        assert listed(client, fmt, service_request_id=code) == []
        assert listed(client, fmt, service_request_id=code.lower(), status="open") == []
        assert listed(client, fmt, service_request_id=f"{code},{case_id}") == [case_id]
        # and a case id is no token
        assert_error(client.get(f"{BASE}/tokens/{case_id}.{fmt}"), 404, fmt)
    assert client.get(f"/api/track/{case_id}").status_code == 404


def test_a_token_resolves_to_the_request_it_names(app, client):
    feature = new_case(app)
    case_id, code = feature["id"], code_of(feature)
    assert strict_json(client.get(f"{BASE}/tokens/{code}.json")) == [
        {"service_request_id": case_id, "token": code}]
    root = strict_xml(client.get(f"{BASE}/tokens/{code.lower()}.xml"))
    assert xml_items(root, "request") == [{"service_request_id": case_id, "token": code}]
    for fmt in ("json", "xml"):
        assert_error(client.get(f"{BASE}/tokens/NOPE0-NOPE0.{fmt}"), 404, fmt)
        assert_error(client.get(f"{BASE}/tokens/00000-00000.{fmt}"), 404, fmt)  # well formed


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_the_post_answers_token_resolves_and_tracks_and_rates_the_case(app, client, fmt):
    grid = app.extensions["gridmap"].grids.grids[5]
    r = post(client, form(app, 5, phone=PHONE), fmt=fmt)
    assert r.status_code == 201
    answer = answer_of(r, fmt)
    case_id, token = answer["service_request_id"], answer["token"]
    assert CASE_ID.fullmatch(case_id) and TRACKING.fullmatch(token)
    assert strict_json(client.get(f"{BASE}/tokens/{token}.json")) == [
        {"service_request_id": case_id, "token": token}]
    resolved = xml_items(strict_xml(client.get(f"{BASE}/tokens/{token}.xml")), "request")
    assert resolved == [{"service_request_id": case_id, "token": token}]
    one, = strict_json(client.get(f"{BASE}/requests/{case_id}.json"))
    assert one["service_request_id"] == case_id and one["status"] == "open"
    tracked = client.get(f"/api/track/{token}")
    assert tracked.status_code == 200
    body = tracked.get_json()
    assert body["tracking_code"] == token and body["grid"]["code"] == grid.code
    assert body["description"] == one["description"]
    # the token is what rates the case once it is closed; the public case id rates nothing
    drive(app, svc(app).store.get(case_id), "closed")
    assert client.post(f"/api/track/{case_id}/rating", json={"rating": 1}).status_code == 404
    rated = client.post(f"/api/track/{token}/rating", json={"rating": 5})
    assert rated.status_code == 200, rated.get_data(as_text=True)
    assert svc(app).store.get(case_id)["properties"]["state"] == "rated"
    one, = strict_json(client.get(f"{BASE}/requests/{case_id}.json"))
    assert one["status"] == "closed" and one["status_notes"] == "已评价 / rated"


@pytest.fixture
def dated(app):
    """Cases at known times: a (1 day ago, 06, open), b (10 days, 07, closed),
    c (100 days, 06, open), d (2 days, 07, cancelled); by case id."""
    now = svc(app).clock().replace(microsecond=0)
    cases = {"a": new_case(app, 1, "06", now - timedelta(days=1)),
             "b": new_case(app, 2, "07", now - timedelta(days=10), "closed"),
             "c": new_case(app, 3, "06", now - timedelta(days=100)),
             "d": new_case(app, 4, "07", now - timedelta(days=2), "cancelled")}
    return now, {name: f["id"] for name, f in cases.items()}


def listed(client, fmt="json", **query):
    r = client.get(f"{BASE}/requests.{fmt}", query_string=query)
    assert r.status_code == 200, r.get_data(as_text=True)
    if fmt == "xml":
        return [i["service_request_id"] for i in xml_items(strict_xml(r), "request")]
    return [i["service_request_id"] for i in strict_json(r)]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_requests_default_to_the_last_90_days_newest_first(client, dated, fmt):
    _, c = dated
    assert listed(client, fmt) == [c["a"], c["d"], c["b"]]


def test_requests_filter_by_service_code_and_status(client, dated):
    _, c = dated
    assert listed(client, service_code="06") == [c["a"]]
    assert listed(client, service_code="06,07") == [c["a"], c["d"], c["b"]]
    assert listed(client, service_code=["06", "07"]) == [c["a"], c["d"], c["b"]]
    assert listed(client, status="open") == [c["a"]]
    assert listed(client, status="closed") == [c["d"], c["b"]]
    assert listed(client, status="closed", service_code="07") == [c["d"], c["b"]]
    assert listed(client, status="open,closed") == [c["a"], c["d"], c["b"]]


def test_requests_filter_by_dates(client, dated):
    now, c = dated
    iso = lambda t: t.isoformat()  # noqa: E731
    assert listed(client, start_date=iso(now - timedelta(days=120)),
                  end_date=iso(now - timedelta(days=90))) == [c["c"]]
    assert listed(client, start_date=iso(now - timedelta(days=5))) == [c["a"], c["d"]]
    assert listed(client, end_date=iso(now - timedelta(days=5))) == [c["b"]]
    ten = (now - timedelta(days=10)).date().isoformat()  # whole days, end day included
    assert listed(client, start_date=ten, end_date=ten) == [c["b"]]
    zulu = (now - timedelta(days=3)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert listed(client, start_date=zulu) == [c["a"], c["d"]]
    # a time without an offset is the community's local time (b is exactly 10 days old)
    local = (now - timedelta(days=10)).replace(tzinfo=None).isoformat()
    assert listed(client, start_date=local) == [c["a"], c["d"], c["b"]]
    later = (now - timedelta(days=10, seconds=-1)).replace(tzinfo=None).isoformat()
    assert listed(client, start_date=later) == [c["a"], c["d"]]


def test_service_request_ids_override_every_other_filter(app, client, dated):
    _, c = dated
    code_b = code_of(svc(app).store.get(c["b"]))  # a tracking code is skipped, as unknown
    ids = f"{c['c']},{c['a'].upper()}, ZZZZZ-ZZZZZ,{code_b},{'0' * 32},{c['c']}"
    assert listed(client, service_request_id=ids, status="closed",
                  start_date="2000-01-01") == [c["c"], c["a"]]
    assert listed(client, "xml", service_request_id=[c["d"], c["b"]]) == [c["d"], c["b"]]


def test_at_most_max_requests_are_returned(client, dated, monkeypatch):
    _, c = dated
    monkeypatch.setattr(open311, "MAX_REQUESTS", 2)
    assert listed(client) == [c["a"], c["d"]]


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("query, word", [
    ({"status": "pending"}, "status"),
    ({"service_code": "06,zz"}, "service_code"),
    ({"start_date": "2026-13-01"}, "start_date"),
    ({"end_date": "yesterday"}, "end_date"),
    ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-04-02T00:00:00Z"}, "90 days"),
    ({"start_date": "2026-02-01", "end_date": "2026-01-01"}, "start_date"),
    ({"end_date": "9999-12-31"}, "end_date"),
    ({"end_date": "0001-01-01"}, "end_date"),
    ({"service_request_id": ",".join(["0" * 32] * 1001)}, "service_request_id"),
    ({"service_request_id": ",".join(["ABCDE-ABCDE"] * 1001)}, "service_request_id"),
])
def test_bad_filters_are_400_naming_them(client, query, word, fmt):
    assert_error(client.get(f"{BASE}/requests.{fmt}", query_string=query), 400, fmt, word)


# -- privacy and XML safety ----------------------------------------------------------

def test_no_reporter_contact_or_name_in_any_output(app, client):
    personal = dict(phone=PHONE, first_name=FIRST, last_name=LAST, email=EMAIL,
                    device_id=DEVICE, account_id=ACCOUNT)
    answers = [post(client, form(app, 3, **personal), fmt=fmt) for fmt in ("json", "xml")]
    created = [answer_of(answers[0], "json"), answer_of(answers[1], "xml")]
    ids, tokens = [a["service_request_id"] for a in created], [a["token"] for a in created]
    stored = [svc(app).store.get(case_id)["properties"]["reporter"] for case_id in ids]
    assert stored == [{"contact": PHONE, "name": f"{FIRST} {LAST}", "hide_name": False}] * 2
    new_case(app, 3, state="rated")  # also planted through the core, and driven to the end
    responses = list(answers)
    for fmt in ("json", "xml"):
        for path in ["discovery", "services", "services/06", "requests",
                     *(f"requests/{case_id}" for case_id in ids),
                     *(f"tokens/{token}" for token in tokens)]:
            responses.append(client.get(f"{BASE}/{path}.{fmt}"))
        responses.append(client.get(f"{BASE}/requests.{fmt}", query_string={
            "service_request_id": ",".join(ids)}))
    assert all(r.status_code in (200, 201) for r in responses)
    assert sum(r.get_data(as_text=True).count(ids[0]) for r in responses) >= 6
    for r in responses:
        text = r.get_data(as_text=True)
        for secret in PERSONAL:
            assert secret not in text, (secret, r.request.path)


def test_no_tracking_code_in_any_listing_detail_or_service(app, client):
    """Tracking codes rate cases, and GET requests lists every recent case to anyone:
    no body a reader gets without already holding a code may carry one."""
    now = svc(app).clock()
    planted = [new_case(app, 1, "06"),
               new_case(app, 2, "07", now - timedelta(days=3), "closed"),  # ratable right now
               new_case(app, 3, "06", now - timedelta(days=20), "rated"),
               new_case(app, 4, "07", now - timedelta(days=40), "cancelled"),
               new_case(app, 5, "06", state="replied", description="回复 ]]> & <x>")]
    answers = [answer_of(post(client, form(app, 6, phone=PHONE)), "json"),
               answer_of(post(client, form(app, 7, service_code="07"), fmt="xml"), "xml")]
    planted += [svc(app).by_tracking(a["token"]) for a in answers]
    ids, codes = [f["id"] for f in planted], [code_of(f) for f in planted]
    assert [a["service_request_id"] for a in answers] == ids[-2:]
    assert all(map(CASE_ID.fullmatch, ids)) and all(map(TRACKING.fullmatch, codes))
    assert len(set(ids)) == len(set(codes)) == len(planted)
    month_ago = (now - timedelta(days=30)).date().isoformat()
    queries = [{}, {"status": "open"}, {"status": "closed"}, {"service_code": "06,07"},
               {"service_code": "07", "status": "closed"}, {"start_date": month_ago},
               {"end_date": now.date().isoformat()}, {"service_request_id": ",".join(ids)},
               {"service_request_id": ",".join(ids + codes)}, {"jurisdiction_id": "ludong"}]
    paths = ["discovery", "services", *(f"services/{code}" for code in CATEGORY_CODES),
             *(f"requests/{case_id}" for case_id in ids)]
    responses = []
    for fmt in ("json", "xml"):
        for query in queries:
            responses.append(client.get(f"{BASE}/requests.{fmt}", query_string=query))
        responses += [client.get(f"{BASE}/{path}.{fmt}") for path in paths]
        responses.append(client.get(f"/open311/discovery.{fmt}"))
        assert sorted(listed(client, fmt)) == sorted(ids)  # every case is in the listing
        assert listed(client, fmt, service_request_id=",".join(ids)) == ids
    for r in responses:
        assert r.status_code == 200, (r.request.url, r.get_data(as_text=True))
        parsed(r, "xml" if r.request.path.endswith(".xml") else "json")
        raw = r.data
        for code in codes:
            for spelled in code_forms(code):
                assert spelled.encode() not in raw, (code, r.request.url)
        assert not TRACKING.search(raw.decode("utf-8")), r.request.url
    assert all(any(case_id.encode() in r.data for r in responses) for case_id in ids)


def test_xml_unsafe_text_is_escaped_and_illegal_characters_replaced(app, client):
    nasty = "a ]]> & <b>x</b> \ufffe\uffff end"
    case_id = new_case(app, description=nasty)["id"]
    safe = "a ]]> & <b>x</b> \ufffd\ufffd end"
    xml_one, = xml_items(strict_xml(client.get(f"{BASE}/requests/{case_id}.xml")), "request")
    assert xml_one["description"] == safe
    assert strict_json(client.get(f"{BASE}/requests/{case_id}.json"))[0]["description"] == safe
    r = post(client, form(app, description="<![CDATA[ ]]> & < \"'"), fmt="xml")
    created, = xml_items(strict_xml(r), "request")
    xml_one, = xml_items(strict_xml(client.get(
        f"{BASE}/requests/{created['service_request_id']}.xml")), "request")
    assert xml_one["description"] == "<![CDATA[ ]]> & < \"'"


def test_to_xml_survives_every_character_xml_cannot_carry():
    text = "".join(map(chr, range(0x20))) + "\x7f\ud800\udfff\ufffe\uffff]]>&<"
    root = ET.fromstring(open311.to_xml("errors", open311.clean([{"code": 1,
                                                                  "description": text}])))
    controls = "".join(c if c in "\t\n" else "\n" if c == "\r" else "\ufffd"
                       for c in map(chr, range(0x20)))  # a parser reads CR as LF
    assert root.findtext("error/description") == controls + "\x7f" + "\ufffd" * 4 + "]]>&<"


def test_invalid_utf8_in_a_form_is_no_server_error(app, client):
    r = client.post(f"{BASE}/requests.json", content_type="application/x-www-form-urlencoded",
                    data=b"service_code=06&lat=%ED%A0%80&long=%FF&description=%C3%28")
    assert_error(r, 400, "json", "lat")
    assert count(app) == 0


# -- fuzzing ------------------------------------------------------------------------

POST_FIELDS = ("api_key", "service_code", "lat", "long", "address_string", "address_id",
               "description", "email", "first_name", "last_name", "phone", "device_id",
               "account_id", "media_url", "jurisdiction_id", "attribute[WHISPAWN]")
NASTY = st.sampled_from([
    "", " ", "]]>", "&", "<", "<![CDATA[x]]>", "\x00", "\x0b", "\x1f", "\x7f", "\ufffe", "\uffff",
    "nan", "inf", "-0", "1e999", "0x1A", "١٢٣", "1_0", "29.5", "108.8", "06", "07", "99",
    "<b>&amp;</b>", "%00", "\r\n", "x" * 5000, "y" * 300_000, "&#0;", "\u202e", "😀"])
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


def fuzzed_forms(app):
    """A valid report form (any grid, any service) with up to three fields replaced by
    nasty, random or other valid values, and up to two required ones dropped."""
    points = [spot(app, i) for i in range(len(app.extensions["gridmap"].grids.grids))]
    valid = {"phone": st.sampled_from(["139-0000-0000", "+86 (23) 5555"]),
             "first_name": st.sampled_from(["三", "Ada"]), "last_name": st.just("张"),
             "media_url": st.just("https://example.org/x.jpg"), "api_key": st.just("k"),
             "address_string": st.just("正阳路 1 号"), "lat": st.just("29.0"),
             "long": st.just("108.0")}
    values = {name: st.one_of(NASTY, TEXT, valid.get(name, NASTY)) for name in POST_FIELDS}
    base = st.builds(lambda point, code, description: {
        "service_code": code, "lat": repr(point[1]), "long": repr(point[0]),
        "description": description},
        st.sampled_from(points), st.sampled_from(CATEGORY_CODES),
        st.sampled_from(["路灯不亮", "a ]]> & <b>", "&amp; <![CDATA[ x ]]>"]))
    changes = st.lists(st.sampled_from(POST_FIELDS), max_size=3, unique=True).flatmap(
        lambda names: st.fixed_dictionaries({name: values[name] for name in names}))
    drops = st.sets(st.sampled_from(["service_code", "lat", "long", "description"]), max_size=2)
    return st.builds(lambda form, change, drop: {k: v for k, v in {**form, **change}.items()
                                                 if k not in drop}, base, changes, drops)


def test_fuzzed_posts_never_fail_the_server_nor_store_refused_requests(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path / "data"), "REPORT_IP_LIMIT": 100_000})
    client = app.test_client()
    seen = {"created": 0, "refused": 0}

    @settings(max_examples=220, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(fields=fuzzed_forms(app), fmt=st.sampled_from(["json", "xml"]))
    def run(fields, fmt):
        before = count(app)
        r = post(client, fields, fmt=fmt)
        event(f"POST {r.status_code}")
        assert r.status_code < 500, r.get_data(as_text=True)
        body = parsed(r, fmt)
        if r.status_code == 201:
            seen["created"] += 1
            assert count(app) == before + 1
            answer, = body if fmt == "json" else xml_items(body, "request")
            assert set(answer) == ANSWER_FIELDS
            case_id, token = answer["service_request_id"], answer["token"]
            assert CASE_ID.fullmatch(case_id) and TRACKING.fullmatch(token)
            case = svc(app).store.get(case_id)
            assert code_of(case) == token
            back = client.get(f"{BASE}/requests/{case_id}.xml")
            assert token.encode() not in back.data
            back, = xml_items(strict_xml(back), "request")
            stored = case["properties"]["description"]
            assert back["description"] == open311.clean(stored).replace("\r", "\n")
        else:
            seen["refused"] += 1
            assert r.status_code == 400, r.status_code
            assert count(app) == before
            errors = body if fmt == "json" else xml_items(body, "error")
            assert str(errors[0]["code"]) == "400"

    run()
    assert seen["created"] >= 20 and seen["refused"] >= 20, seen


def test_fuzzed_raw_bodies_never_fail_the_server(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path / "data"), "REPORT_IP_LIMIT": 100_000})
    client = app.test_client()

    @settings(max_examples=40, deadline=None)
    @given(body=st.binary(max_size=3000),
           content_type=st.sampled_from(["application/x-www-form-urlencoded", "text/plain",
                                         "multipart/form-data; boundary=x", "application/json",
                                         "application/xml", ""]),
           fmt=st.sampled_from(["json", "xml"]))
    def run(body, content_type, fmt):
        r = client.post(f"{BASE}/requests.{fmt}", data=body, content_type=content_type)
        assert r.status_code == 400, (r.status_code, r.get_data(as_text=True))
        parsed(r, fmt)
        assert count(app) == 0

    run()


DATES = st.one_of(
    NASTY, TEXT, st.dates().map(str),
    st.datetimes(timezones=st.one_of(st.none(), st.sampled_from(
        [timezone(timedelta(hours=h)) for h in (-12, 0, 8, 14)]))).map(lambda t: t.isoformat()),
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1)).map(
        lambda t: t.isoformat() + "Z"))


def test_fuzzed_reads_never_fail_the_server_nor_change_anything(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path / "data")})
    client = app.test_client()
    feature = new_case(app)
    known, token = feature["id"], code_of(feature)
    ids = st.sampled_from([known, token, known.upper(), token.lower(), f"{token},{known}"])
    query = st.fixed_dictionaries({}, optional={
        "service_request_id": st.one_of(ids, TEXT, NASTY),
        "service_code": st.one_of(st.sampled_from(CATEGORY_CODES + ["06,07"]), TEXT, NASTY),
        "status": st.one_of(st.sampled_from(["open", "closed", "open,closed"]), TEXT),
        "start_date": DATES, "end_date": DATES, "jurisdiction_id": TEXT})
    segment = st.one_of(st.sampled_from([known, token, token.lower()]),
                        TEXT.filter(lambda s: s not in ("", ".", "..")), NASTY)

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(kind=st.sampled_from(["requests", "requests/", "tokens/", "services/"]),
           query=query, segment=segment, fmt=st.sampled_from(["json", "xml"]))
    def run(kind, query, segment, fmt):
        path = (f"{BASE}/requests.{fmt}" if kind == "requests" else
                f"{BASE}/{kind}{quote(segment[:2000], safe='')}.{fmt}")
        r = client.get(path, query_string=query)
        event(f"GET {kind} {r.status_code}")
        allowed = (200, 400) if kind == "requests" else (200, 404)
        assert r.status_code in allowed, (path, query, r.status_code, r.get_data(as_text=True))
        parsed(r, fmt)
        assert count(app) == 1
        # the tracking code comes back only to one who sent it (tokens/, or an echo in an error)
        if token.lower() not in (path + json.dumps(query)).lower():
            assert token.encode() not in r.data, (path, query)

    run()


# -- a client nobody here wrote, against real gunicorn ------------------------------

@pytest.fixture(scope="module")
def open311_server(start_server, tmp_path_factory):
    return start_server(tmp_path_factory.mktemp("open311") / "data",
                        GRIDMAP_OPEN311_API_KEYS="live-key", GRIDMAP_REPORT_IP_LIMIT="1000")


def test_the_georeport_client_reads_what_a_form_post_created(open311_server, demo_grids):
    from georeport import GeoReport

    base = open311_server.url + BASE
    as_json = GeoReport(base, jurisdiction="ludong.example", api_key="live-key")
    as_xml = GeoReport(base, jurisdiction="ludong.example", output_format="xml")
    assert [s["service_code"] for s in as_json.get_service_list()] == CATEGORY_CODES
    assert [s["service_code"] for s in as_xml.get_service_list()] == CATEGORY_CODES
    assert as_json.get_service_definition("07") == {"service_code": "07", "attributes": []}
    assert as_xml.get_service_definition("07")["service_code"] == "07"

    # georeport cannot POST (its README says so): the spec's form fields with plain requests
    grid = demo_grids.grids[5]
    point = grid.geometry.representative_point()
    fields = {"service_code": "07", "lat": repr(point.y), "long": repr(point.x),
              "description": "路灯不亮 ]]> & <", "phone": PHONE, "first_name": FIRST,
              "last_name": LAST, "email": EMAIL}
    refused = requests.post(base + "/requests.xml", data=fields, timeout=10)
    assert refused.status_code == 403
    assert ET.fromstring(refused.content).findtext("error/code") == "403"
    r = requests.post(base + "/requests.json", data={**fields, "api_key": as_json.api_key},
                      timeout=10)
    assert r.status_code == 201 and r.headers["Content-Type"] == "application/json; charset=utf-8"
    answer, = r.json()
    assert set(answer) == ANSWER_FIELDS
    code, token = answer["service_request_id"], answer["token"]
    assert CASE_ID.fullmatch(code) and TRACKING.fullmatch(token)
    tracked = requests.get(f"{open311_server.url}/api/track/{token}", timeout=10).json()
    assert tracked["grid"]["code"] == grid.code
    resolved = requests.get(f"{base}/tokens/{token}.xml", timeout=10)
    assert resolved.status_code == 200
    assert ET.fromstring(resolved.content).findtext("request/service_request_id") == code

    one = as_json.get_service_request(code)
    assert one["service_code"] == "07" and one["status"] == "open"
    assert one["agency_responsible"] == f"{grid.name} ({grid.code})"
    assert one["description"] == "路灯不亮 ]]> & <"
    assert (one["long"], one["lat"]) == pytest.approx((point.x, point.y), abs=1e-6)
    one_xml = as_xml.get_service_request(code)
    assert one_xml["service_request_id"] == code and one_xml["description"] == one["description"]
    assert one_xml["expected_datetime"] == one["expected_datetime"]
    assert code in [i["service_request_id"] for i in as_json.get_service_requests(
        service_code="07", status="open")]
    listed_xml = as_xml.get_service_requests(service_request_id=code)
    assert listed_xml["service_request_id"] == code  # xmltodict: one request is a dict
    for unknown in ("ZZZZZ-ZZZZZ", "0" * 32, token):  # a tracking code is no request id
        with pytest.raises(requests.HTTPError) as missing:
            as_json.get_service_request(unknown)
        assert missing.value.response.status_code == 404
        assert missing.value.response.json()[0]["code"] == 404
    assert as_json.get_service_requests(service_request_id=token) == []

    raw = requests.get(base + "/requests.xml", timeout=10)
    assert raw.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert ET.fromstring(raw.content).tag == "service_requests"
    listed_json = as_json.get_service_requests()
    assert code in [i["service_request_id"] for i in listed_json]
    read = json.dumps([one, one_xml, listed_xml, listed_json], ensure_ascii=False) + raw.text
    assert token not in read and token.lower() not in read
    seen = read + r.text + resolved.text
    for secret in PERSONAL:
        assert secret not in seen
