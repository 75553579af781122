"""GET /api/route: grids, outside answers, and 400s that name the bad value."""

import pytest

from gridmap.geo.datums import wgs84_to_gcj02


def test_a_point_inside_returns_grid_and_team(client):
    r = client.get("/api/route?lon=108.7999&lat=29.5232")
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "inside"
    assert body["grid"]["code"] == "500114005001007"
    assert body["grid"]["name"].startswith("第7网格")
    team = body["grid"]["team"]
    assert team["head"] and team["full_time"] and len(team["helpers"]) >= 2
    assert "100-0000" not in r.get_data(as_text=True)  # no phone numbers in public answers


def test_a_vacant_slot_is_null(client):
    body = client.get("/api/grids").get_json()
    assert len(body) == 13
    nine = next(g for g in body if g["code"].endswith("009"))
    assert nine["team"]["part_time"] is None


def test_gcj02_input_is_converted(client):
    lon, lat = wgs84_to_gcj02(108.7999, 29.5232)
    body = client.get(f"/api/route?lon={lon}&lat={lat}&datum=gcj02").get_json()
    assert body["grid"]["code"] == "500114005001007"
    assert body["query"]["datum"] == "gcj02"


def test_outside_answer_has_nearest_and_distance(client):
    r = client.get("/api/route?lon=108.70&lat=29.52")
    body = r.get_json()
    assert r.status_code == 200
    assert body["status"] == "outside" and body["grid"] is None and body["grid_code"] is None
    assert body["nearest"]["code"].endswith("005") and body["distance_m"] > 8000


def test_a_shared_vertex_is_flagged_boundary(client, app):
    grids = app.extensions["gridmap"].grids
    a, b = grids.grids[6].geometry, grids.grids[7].geometry
    lon, lat = next(c for c in a.exterior.coords if c in set(b.exterior.coords))
    body = client.get(f"/api/route?lon={lon!r}&lat={lat!r}").get_json()
    assert body["status"] == "boundary"
    assert body["grid_code"] == min(body["candidates"]) and len(body["candidates"]) >= 2


@pytest.mark.parametrize("query, field, words", [
    ("lat=29.5", "lon", "missing"),
    ("lon=108.8", "lat", "missing"),
    ("lon=&lat=29.5", "lon", "missing"),
    ("lon=abc&lat=29.5", "lon", "'abc'"),
    ("lon=108.8&lat=nan", "lat", "nan"),
    ("lon=inf&lat=29.5", "lon", "inf"),
    ("lon=1e400&lat=29.5", "lon", "inf"),
    ("lon=190&lat=29.5", "lon", "190"),
    ("lon=108.8&lat=-91", "lat", "-91"),
    ("lon=29.52&lat=108.8", "lat", "swap"),
    ("lon=108.8&lat=29.5&datum=utm", "datum", "utm"),
])
def test_bad_input_is_a_400_naming_the_field(client, query, field, words):
    r = client.get(f"/api/route?{query}")
    assert r.status_code == 400
    body = r.get_json()
    assert body["field"] == field
    assert words in body["message"]


def test_unknown_api_paths_and_methods_answer_json(client):
    r = client.get("/api/nope")
    assert r.status_code == 404 and r.get_json()["error"] == "not_found"
    r = client.post("/api/route")
    assert r.status_code == 405 and "message" in r.get_json()


def test_html_pages_get_html_errors(client):
    r = client.get("/nope")
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert "404" in r.get_data(as_text=True)


def test_assets_are_served_locally_and_only_whitelisted(client):
    version = client.application.extensions["gridmap.assets"].version
    assert client.get(f"/assets/{version}/leaflet/dist/leaflet.js").status_code == 200
    assert client.get(f"/assets/{version}/leaflet/package.json").status_code == 404
    assert client.get("/assets/leaflet/package.json").status_code == 404
    assert client.get("/assets/../setup.cfg").status_code == 404
