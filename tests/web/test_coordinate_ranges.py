"""Every coordinate of every datum, through the Flask app: GET /api/route, POST
/api/reports and Open311 POST never answer 5xx. A point in range whose conversion
to WGS 84 stays in range is routed (200; a report 201 or 422 outside the service
area); any other is a 400 ``bad_coordinate`` naming the coordinate at fault.

The extremes (±180, ±90), the values just inside and just outside them, and BD-09
points near the poles and the antimeridian (whose conversion leaves the range) are
drawn often; the rest of the range uniformly.
"""

import math

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gridmap.geo.datums import to_wgs84
from gridmap.web import create_app

LIMITS = {"lon": 180.0, "lat": 90.0}
SETTINGS = settings(max_examples=250, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def edges(limit):
    """The extremes, just inside and just outside them, and BD-09's shift away."""
    values = []
    for end in (-limit, limit):
        inward = -math.copysign(1.0, end)
        values += [end, math.nextafter(end, 0.0), end + inward * 1e-7, end + inward * 0.005,
                   end + inward * 0.01, math.nextafter(end, math.copysign(math.inf, end)),
                   end - inward * 1e-7]
    return values + [0.0, -0.0]


def coordinate(name):
    limit = LIMITS[name]
    return st.one_of(st.sampled_from(edges(limit)), st.floats(-limit, limit),
                     st.floats(-limit - 0.02, -limit + 0.02), st.floats(limit - 0.02, limit + 0.02),
                     st.floats(-limit - 5, limit + 5))


DATUMS = st.sampled_from(["wgs84", "gcj02", "bd09"])


def at_fault(lon, lat, datum, order=("lon", "lat")):
    """The coordinate a 400 must name, or None for a point that can be routed."""
    for name in order:
        value = {"lon": lon, "lat": lat}[name]
        if not -LIMITS[name] <= value <= LIMITS[name]:
            return name
    for name, value in zip(("lon", "lat"), to_wgs84(lon, lat, datum)):
        if not -LIMITS[name] <= value <= LIMITS[name]:
            return name
    return None


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    return create_app({"DATA_DIR": str(tmp_path_factory.mktemp("ranges") / "data"),
                       "REPORT_IP_LIMIT": 1_000_000})


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


def assert_names(r, field, words=()):
    assert r.status_code == 400, (r.status_code, r.get_data(as_text=True)[:300])
    body = r.get_json()
    assert body["error"] == "bad_coordinate" and body["field"] == field, body
    for word in words:
        assert word in body["message"], (word, body["message"])


@SETTINGS
@given(lon=coordinate("lon"), lat=coordinate("lat"), datum=DATUMS)
@example(lon=-180.0, lat=-90.0, datum="bd09")
@example(lon=0.0, lat=-89.99, datum="bd09")
@example(lon=180.0, lat=90.0, datum="bd09")
@example(lon=-159.6, lat=-7.7, datum="wgs84")  # where the grids' UTM zone has no projection
def test_route_answers_every_point_of_every_datum_or_names_the_coordinate(
        client, lon, lat, datum):
    r = client.get(f"/api/route?lon={lon!r}&lat={lat!r}&datum={datum}")
    assert r.status_code < 500, (r.status_code, r.get_data(as_text=True)[:300])
    field = at_fault(lon, lat, datum)
    if field:
        assert_names(r, field, [field])
        return
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    body = r.get_json()
    assert body["query"] == {"lon": lon, "lat": lat, "datum": datum}
    if body["grid"] is None:
        assert body["status"] == "outside" and body["nearest"]["code"]
        assert math.isfinite(body["distance_m"]) and body["distance_m"] > 0


@SETTINGS
@given(lon=coordinate("lon"), lat=coordinate("lat"), datum=DATUMS)
@example(lon=-180.0, lat=-90.0, datum="bd09")
@example(lon=0.0, lat=-89.995, datum="bd09")
@example(lon=-159.6, lat=-7.7, datum="wgs84")
def test_a_report_anywhere_in_any_datum_is_routed_or_names_the_coordinate(
        app, client, lon, lat, datum):
    before = app.extensions["gridmap.cases"].store.count()
    r = client.post("/api/reports", json={"lon": lon, "lat": lat, "datum": datum,
                                          "category": "06", "description": "垃圾堆积"})
    assert r.status_code < 500, (r.status_code, r.get_data(as_text=True)[:300])
    field = at_fault(lon, lat, datum)
    if field:
        assert_names(r, field)
    else:
        assert r.status_code in (201, 422), r.get_data(as_text=True)[:300]
        assert r.status_code == 201 or r.get_json()["error"] == "outside_service_area"
    assert app.extensions["gridmap.cases"].store.count() == before + (r.status_code == 201)


@SETTINGS
@given(lon=coordinate("lon"), lat=coordinate("lat"))
@example(lon=-180.0, lat=-90.0)
@example(lon=-159.6, lat=-7.7)
def test_an_open311_request_anywhere_is_routed_or_names_the_coordinate(client, lon, lat):
    r = client.post("/open311/v2/requests.json", data={
        "service_code": "06", "long": repr(lon), "lat": repr(lat), "description": "垃圾堆积"})
    assert r.status_code < 500, (r.status_code, r.get_data(as_text=True)[:300])
    field = at_fault(lat=lat, lon=lon, datum="wgs84", order=("lat", "lon"))  # lat first here
    field = {"lon": "long", "lat": "lat"}.get(field)
    if field:
        assert r.status_code == 400
        assert field in r.get_json()[0]["description"]
    elif r.status_code != 201:  # the spec's errors are 400s: outside the service area
        assert r.status_code == 400, r.get_data(as_text=True)[:300]
        assert "outside the service area" in r.get_json()[0]["description"]
