"""The planner's editor page (/planning) through Flask: planners only (they land on it
after signing in), every text from the catalogs in Chinese and in English with no key
left untranslated, its script served; and the two API additions it uses: publishing
with a description and an effective date, and the difference overlay of two generations."""

import json
import re

import pytest
from shapely.geometry import shape

from gridmap.maps.assets import PLANNING_JS
from gridmap.web import create_app
from gridmap.web.planning_page import TEXTS

from signed_in_clients import signed_in

PASSWORD = "correct horse battery"
CSRF = "c" * 43
C = "500114005001"
TEXTS_JSON = re.compile(r'<script type="application/json" id="texts">(.*?)</script>', re.S)


@pytest.fixture
def app(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path / "data"), "TILES": "none"})
    accounts = app.extensions["gridmap.accounts"]
    accounts.add_user("plan", PASSWORD, ["planner"])
    accounts.add_user("disp", PASSWORD, ["dispatcher"])
    accounts.add_user("boss", PASSWORD, ["admin"])
    accounts.add_user("staff", PASSWORD, ["grid_staff"], grid_codes=[C + "013"])
    return app


def as_user(app, username):
    client = signed_in(app, username, CSRF)
    client.environ_base["HTTP_X_CSRF_TOKEN"] = CSRF
    return client


def split_13(app):
    """Grid 013 cut along a chord between two of its vertices: two parts, no codes."""
    grid = app.extensions["gridmap"].grids[C + "013"]
    ring = list(grid.geometry.exterior.coords)[:-1]
    parts = (ring[2:7], ring[6:] + ring[:3])
    return [{"type": "Feature", "properties": {"name": f"13-{k}"},
             "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in part + part[:1]]]}}
            for k, part in enumerate(parts)]


def draft_with_13_split(app, plan):
    features = [f for f in plan.get("/api/planning/generations/1").get_json()["features"]
                if f["properties"]["grid_code"] != C + "013"] + split_13(app)
    r = plan.post("/api/planning/draft", json={"type": "FeatureCollection", "features": features})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["generation"]


@pytest.mark.parametrize("user, status", [("plan", 200), ("disp", 403), ("boss", 403),
                                          ("staff", 403), (None, 401)])
def test_only_planners_may_open_the_editor(app, user, status):
    assert as_user(app, user).get("/planning").status_code == status


def test_a_planner_lands_on_the_editor_after_signing_in(app):
    client = app.test_client()
    client.get("/login")
    with client.session_transaction() as s:
        token = s["csrf"]
    r = client.post("/login", data={"username": "plan", "password": PASSWORD,
                                    "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"] == "/planning"
    page = client.get("/planning").get_data(as_text=True)
    assert 'id="nav-planning"' in page and "边界编辑" in page
    # other roles still land where they did
    other = app.test_client()
    other.get("/login")
    with other.session_transaction() as s:
        token = s["csrf"]
    r = other.post("/login", data={"username": "disp", "password": PASSWORD, "csrf_token": token})
    assert r.headers["Location"] == "/dispatch"


@pytest.mark.parametrize("lang, words", [
    ("zh", ["边界编辑", "移动顶点", "分割", "合并", "重画共享边", "新增网格", "撤销", "重做",
            "检查草稿", "预览影响", "发布", "回退", "上传为草稿", "放弃草稿"]),
    ("en", ["Boundary editor", "Move vertex", "Split", "Merge", "Redraw shared edge", "Add grid",
            "Undo", "Redo", "Check the draft", "Preview the effect", "Publish", "Roll back",
            "Upload as draft", "Discard draft"])])
def test_the_page_speaks_the_language_asked_with_no_key_left_untranslated(app, lang, words):
    page = as_user(app, "plan").get(f"/planning?lang={lang}").get_data(as_text=True)
    for word in words:
        assert word in page, word
    texts = json.loads(TEXTS_JSON.search(page).group(1))
    assert set(texts) == set(TEXTS)
    assert all(value for value in texts.values())
    assert not [key for key, value in texts.items() if value == key and key.startswith("pl_")]
    shell = TEXTS_JSON.sub("", page)
    assert not re.search(r"\bpl_[a-z_]+", shell), re.search(r"\bpl_[a-z_]+", shell)


def test_the_page_loads_its_script_and_the_map_of_the_active_grids(app):
    page = as_user(app, "plan").get("/planning").get_data(as_text=True)
    src = re.search(r'<script src="([^"]+/' + re.escape(PLANNING_JS) + ')"', page).group(1)
    r = app.test_client().get(src)
    assert r.status_code == 200 and b"gridmapPlanning" in r.data
    config = json.loads(re.search(r'id="planning-config">(.*?)</script>', page).group(1))
    assert config["active"] == 1 and config["api"] == "/api/planning"
    assert len(config["teams"]) >= 13 and C + "013" in config["names"]
    assert config["grids_layer"] in page  # the folium layer the script replaces


def test_planner_text_in_the_config_cannot_break_out_of_the_script(app, tmp_path):
    plan = as_user(app, "plan")
    features = plan.get("/api/planning/generations/1").get_json()["features"]
    features[0]["properties"]["name"] = "</script><img src=x onerror=alert(1)>"
    plan.post("/api/planning/draft", json={"type": "FeatureCollection", "features": features})
    assert plan.post("/api/planning/publish", json={}).status_code == 200
    page = plan.get("/planning").get_data(as_text=True)
    assert "<img src=x" not in page and "</script><img" not in page


def test_publish_takes_a_description_and_an_effective_date(app):
    plan = as_user(app, "plan")
    draft = draft_with_13_split(app, plan)
    r = plan.post("/api/planning/publish", json={"draft": draft["number"], "description": "拆分 013",
                                                 "effective_date": "2027-01-01"})
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["to"]["description"], r.get_json()["to"]["effective_date"]) == (
        "拆分 013", "2027-01-01")
    entry = plan.get("/api/planning/generations").get_json()["generations"][-1]
    assert (entry["description"], entry["effective_date"], entry["status"]) == (
        "拆分 013", "2027-01-01", "published")


@pytest.mark.parametrize("field, value", [("effective_date", "2027-13-45"),
                                          ("description", "x" * 5000), ("description", 7)])
def test_a_bad_description_or_date_refuses_the_publish_and_changes_nothing(app, field, value):
    plan = as_user(app, "plan")
    draft_with_13_split(app, plan)
    before = app.extensions["gridmap"].generations.manifest_path.read_bytes()
    r = plan.post("/api/planning/publish", json={field: value})
    assert r.status_code == 400 and r.get_json()["field"] == field
    assert app.extensions["gridmap"].generations.manifest_path.read_bytes() == before


def test_the_difference_shades_exactly_the_ground_that_changes_grid(app):
    plan = as_user(app, "plan")
    draft_with_13_split(app, plan)
    r = plan.get("/api/planning/difference")  # active -> draft
    assert r.status_code == 200
    doc = r.get_json()
    assert (doc["from"], doc["to"]) == (1, 2)
    pieces = doc["features"]
    assert pieces and {p["properties"]["from"] for p in pieces} == {C + "013"}
    grid = app.extensions["gridmap"].grids[C + "013"].geometry
    total = sum(shape(p["geometry"]).area for p in pieces)
    assert total == pytest.approx(grid.area, rel=1e-6)
    assert len({p["properties"]["to"] for p in pieces}) == 2
    same = plan.get("/api/planning/difference?from=1&to=1").get_json()
    assert same["features"] == []


@pytest.mark.parametrize("user, query, status", [
    ("disp", "", 403), ("plan", "?from=1&to=99", 404), ("plan", "?from=x", 400),
    ("plan", "", 400)])  # no draft to compare with
def test_a_bad_difference_request_is_a_4xx(app, user, query, status):
    r = as_user(app, user).get("/api/planning/difference" + query)
    assert r.status_code == status, r.get_json()
