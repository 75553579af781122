"""The planning API through Flask: planners only; drafts, previews, publishing (with
open cases moved and shown so), rolling back, routing by any generation, and bad
input answered with a 4xx naming it while nothing stored changes."""

import io
import json

import pytest
from shapely.geometry import shape

from gridmap.web import create_app

from signed_in_clients import signed_in

PASSWORD = "correct horse battery"
CSRF = "c" * 43
C = "500114005001"


def split_13(app):
    """Grid 013 cut along a chord between two of its vertices: two parts, no codes."""
    grid = app.extensions["gridmap"].grids[C + "013"]
    ring = list(grid.geometry.exterior.coords)[:-1]
    parts = (ring[2:7], ring[6:] + ring[:3])
    return [{"type": "Feature", "properties": {"name": f"13-{k}"},
             "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in part + part[:1]]]}}
            for k, part in enumerate(parts)]


@pytest.fixture
def app(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path / "data"), "REPORT_IP_LIMIT": 1000})
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


def manifest(app):
    return (app.extensions["gridmap"].generations.manifest_path).read_bytes()


ENDPOINTS = [("get", "/api/planning/generations", None), ("get", "/api/planning/generations/1", None),
             ("get", "/api/planning/draft", None), ("post", "/api/planning/draft", {}),
             ("delete", "/api/planning/draft", None), ("put", "/api/planning/draft/teams", {}),
             ("get", "/api/planning/preview", None), ("post", "/api/planning/publish", {}),
             ("post", "/api/planning/rollback", {"generation": 1})]


@pytest.mark.parametrize("method, path, body", ENDPOINTS)
def test_only_planners_may_call_the_planning_api(app, method, path, body):
    before = manifest(app)
    kwargs = {} if body is None else {"json": body}
    assert getattr(app.test_client(), method)(path, **kwargs).status_code == 401
    for user in ("disp", "boss", "staff"):
        r = getattr(as_user(app, user), method)(path, **kwargs)
        assert r.status_code == 403 and r.get_json()["error"] == "forbidden"
    assert getattr(as_user(app, "plan"), method)(path, **kwargs).status_code < 500
    if method == "get":
        assert manifest(app) == before


def test_a_token_of_a_planner_works_without_csrf(app):
    _, secret = app.extensions["gridmap.accounts"].create_token("plan", "qgis")
    r = app.test_client().get("/api/planning/generations",
                              headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 200 and r.get_json()["active"] == 1


@pytest.mark.parametrize("body, field", [
    ({"type": "Feature"}, "features"),
    ({"type": "FeatureCollection", "features": "x"}, "features"),
    ({"type": "FeatureCollection", "features": [1]}, "features"),
    ({"type": "FeatureCollection", "features": []}, "features"),
    ({"type": "FeatureCollection", "features": [], "colour": 1}, "body"),
    ({"type": "FeatureCollection", "features": [{"properties": {}, "geometry": None}],
      "effective_date": "tomorrow"}, "effective_date"),
    ({"type": "FeatureCollection", "features": [{"properties": {}, "geometry": None}],
      "teams": ["x"]}, "teams"),
    ({"type": "FeatureCollection", "features": [{"properties": {}, "geometry": None}],
      "complete": "maybe"}, "complete"),
])
def test_a_bad_draft_is_a_4xx_naming_the_problem_and_nothing_is_stored(app, body, field):
    before = manifest(app)
    r = as_user(app, "plan").post("/api/planning/draft", json=body)
    assert 400 <= r.status_code < 500 and r.get_json()["field"] == field
    assert manifest(app) == before


@pytest.mark.parametrize("method, path, body, status, field", [
    ("post", "/api/planning/publish", {}, 409, None),
    ("post", "/api/planning/publish", {"move_cases": "yes"}, 400, "move_cases"),
    ("post", "/api/planning/rollback", {}, 400, "generation"),
    ("post", "/api/planning/rollback", {"generation": "one"}, 400, "generation"),
    ("post", "/api/planning/rollback", {"generation": 9}, 404, "generation"),
    ("post", "/api/planning/rollback", {"generation": 1}, 409, "generation"),
    ("get", "/api/planning/preview?from=x", None, 400, "from"),
    ("get", "/api/planning/preview?to=1&workload_share=-1", None, 400, "workload_share"),
    ("get", "/api/planning/preview", None, 400, "b"),
    ("get", "/api/planning/generations/7", None, 404, "generation"),
    ("get", "/api/planning/draft", None, 404, None),
    ("delete", "/api/planning/draft", None, 404, None),
    ("put", "/api/planning/draft/teams", {"teams": {}}, 409, None),
    ("get", "/api/route?lon=108.8&lat=29.52&generation=x", None, 400, "generation"),
    ("get", "/api/route?lon=108.8&lat=29.52&generation=4", None, 404, "generation"),
])
def test_bad_requests_are_4xx_and_change_nothing(app, method, path, body, status, field):
    before = manifest(app)
    kwargs = {} if body is None else {"json": body}
    r = getattr(as_user(app, "plan"), method)(path, **kwargs)
    assert r.status_code == status, r.get_json()
    assert r.get_json().get("field") == field
    assert manifest(app) == before


def report_at(client, point, **fields):
    body = {"lon": point.x, "lat": point.y, "category": "06", "description": "垃圾堆积", **fields}
    r = client.post("/api/reports", json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["case_id"]


def test_publish_moves_open_cases_if_asked_and_routes_by_the_new_grids_at_once(app):
    parts = split_13(app)
    spots = [shape(p["geometry"]).representative_point() for p in parts]
    public, plan, disp = app.test_client(), as_user(app, "plan"), as_user(app, "disp")
    open_ids = [report_at(public, s) for s in spots]
    closed = report_at(public, spots[0])
    r = disp.post(f"/api/cases/{closed}/actions",
                  json={"action": "cancel", "reason": "duplicate", "note": "重复"})
    assert r.status_code == 200
    cases = app.extensions["gridmap.cases"]
    assert [cases.get(i)["properties"]["generation"] for i in open_ids] == [1, 1]

    r = plan.post("/api/planning/draft", json={"type": "FeatureCollection", "features": parts,
                                                "description": "拆分第13网格",
                                                "effective_date": "2027-01-01"})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["generation"]["number"] == 2 and body["check"]["ok"]
    new_codes = body["generation"]["new_codes"]
    assert new_codes == [C + "014", C + "015"]

    preview = plan.get("/api/planning/preview").get_json()
    moves = preview["impact"]["moves"]
    assert sorted(m["case_id"] for m in moves) == sorted(open_ids)  # not the cancelled one
    rows = {(t["from"], t["to"]): (t["all"], t["open"]) for t in preview["impact"]["transitions"]}
    assert sum(a for a, _ in rows.values()) == 3 and sum(o for _, o in rows.values()) == 2
    assert preview["impact"]["areas"][C + "013"]["change_pct"] == -100.0
    assert preview["impact"]["areas"][C + "001"]["change_pct"] == 0.0

    r = plan.post("/api/planning/publish", json={"draft": 2, "move_cases": True})
    assert r.status_code == 200, r.get_json()
    assert sorted(r.get_json()["moved"]) == sorted(open_ids)
    community = app.extensions["gridmap"]
    assert community.generation == 2 and C + "013" not in community.grids

    for case_id in open_ids:
        props = cases.get(case_id)["properties"]
        event = props["history"][-1]
        assert event["action"] == "regrid" and event["from_grid"] == C + "013"
        assert event["to_grid"] == props["grid_code"] and event["generation"] == 2
        queue = disp.get(f"/api/grids/{props['grid_code']}/cases").get_json()
        assert case_id in [c["case_id"] for c in queue["cases"]]
        for lang, text in (("zh", "按新边界移交"), ("en", "Moved by new boundaries")):
            page = disp.get(f"/case/{case_id}?lang={lang}").get_data(as_text=True)
            assert text in page and ("第 2 版网格边界" if lang == "zh" else
                                     "grid boundaries generation 2") in page
    assert cases.get(closed)["properties"]["grid_code"] == C + "013"  # closed: keeps its grid
    assert disp.get(f"/case/{closed}").status_code == 200  # its retired grid still shows

    new = report_at(public, spots[1])
    props = cases.get(new)["properties"]
    assert props["generation"] == 2 and props["grid_code"] in new_codes
    now = public.get(f"/api/route?lon={spots[1].x}&lat={spots[1].y}").get_json()
    then = public.get(f"/api/route?lon={spots[1].x}&lat={spots[1].y}&generation=1").get_json()
    assert now["generation"] == 2 and now["grid_code"] in new_codes
    assert then["generation"] == 1 and then["grid_code"] == C + "013"

    audit = app.extensions["gridmap.audit"].read(action="boundary_publish")
    assert audit[0]["actor"] == "plan" and audit[0]["target"] == "2"
    assert audit[0]["detail"]["retired_codes"] == [C + "013"]

    r = plan.post("/api/planning/rollback", json={"generation": 1})
    assert r.status_code == 200 and community.generation == 1
    back = public.get(f"/api/route?lon={spots[1].x}&lat={spots[1].y}").get_json()
    assert back["grid_code"] == C + "013" and back["generation"] == 1
    assert app.extensions["gridmap.audit"].read(action="boundary_rollback")[0]["target"] == "1"
    page = as_user(app, "boss").get("/admin/audit?lang=en").get_data(as_text=True)
    assert "rolled grid boundaries back to generation 1" in page
    assert "published grid boundaries generation 2" in page


def test_publish_without_moving_leaves_cases_where_they_are(app):
    parts = split_13(app)
    case_id = report_at(app.test_client(), shape(parts[0]["geometry"]).representative_point())
    plan = as_user(app, "plan")
    plan.post("/api/planning/draft", json={"type": "FeatureCollection", "features": parts})
    assert plan.post("/api/planning/publish", json={}).get_json()["moved"] == []
    props = app.extensions["gridmap.cases"].get(case_id)["properties"]
    assert props["grid_code"] == C + "013" and props["history"][-1]["action"] == "report"


def test_a_draft_with_problems_is_refused_with_every_problem_listed(app):
    plan = as_user(app, "plan")
    features = json.loads(plan.get("/api/planning/generations/1").get_data())["features"]
    features[0]["geometry"]["coordinates"][0][1] = [108.7990, 29.5330]
    features[5]["geometry"]["coordinates"][0].insert(1, [108.75, 29.40])
    r = plan.post("/api/planning/draft", json={"type": "FeatureCollection", "features": features})
    assert r.status_code == 201 and not r.get_json()["check"]["ok"]
    problems = [i for i in r.get_json()["check"]["issues"] if i["severity"] == "error"]
    before = manifest(app)
    r = plan.post("/api/planning/publish", json={"draft": 2})
    assert r.status_code == 422
    answer = r.get_json()
    assert answer["message_id"] == "error.generations.publish_refused"
    assert len(answer["issues"]) == len(r.get_json()["issues"]) >= len(problems) >= 3
    for issue in problems:
        assert issue["params"] == next(i["params"] for i in answer["issues"]
                                       if i["kind"] == issue["kind"]
                                       and i["location"] == issue["location"])
    assert manifest(app) == before and app.extensions["gridmap"].generation == 1


def test_a_boundary_file_can_be_uploaded_as_the_draft_and_teams_chosen(app):
    plan = as_user(app, "plan")
    doc = json.dumps({"type": "FeatureCollection", "features": split_13(app)}).encode()
    r = plan.post("/api/planning/draft", data={"file": (io.BytesIO(doc), "split.geojson"),
                                               "description": "上传"},
                  content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["generation"]["description"] == "上传"
    r = plan.post("/api/planning/draft", data={"file": (io.BytesIO(b"x"), "split.txt")},
                  content_type="multipart/form-data")
    assert r.status_code == 422 and r.get_json()["field"] == "file"
    r = plan.put("/api/planning/draft/teams", json={"teams": {C + "014": C + "012",
                                                              C + "015": None}})
    assert r.status_code == 200
    assert r.get_json()["generation"]["team_from"] == {C + "014": C + "012"}
    preview = plan.get("/api/planning/preview").get_json()
    assert preview["teams"] == [{"code": C + "014", "team_from": C + "012"},
                                {"code": C + "015", "team_from": None}]
    plan.post("/api/planning/publish", json={})
    teams = app.extensions["gridmap"].teams
    assert teams[C + "014"].head == teams[C + "012"].head  # the team taken
    assert all(m is None for *_, m in teams[C + "015"].slots())  # vacant, and shown so
    grids = app.test_client().get("/api/grids").get_json()
    assert next(g for g in grids if g["code"] == C + "015")["team"]["head"] is None
    r = plan.delete("/api/planning/draft")
    assert r.status_code == 404


def test_unreadable_geometries_are_reported_by_the_checks_not_a_500(app):
    plan = as_user(app, "plan")
    features = [{"type": "Feature", "properties": {}, "geometry": "x"},
                {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon",
                                                                   "coordinates": "abc"}},
                {"type": "Feature", "properties": {}, "geometry": {"type": "Point",
                                                                   "coordinates": [108.8, 29.52]}}]
    r = plan.post("/api/planning/draft", json={"type": "FeatureCollection", "features": features})
    assert r.status_code == 201
    kinds = [i["kind"] for i in r.get_json()["check"]["issues"]]
    assert kinds.count("empty_geometry") == 2 and "not_polygon" in kinds
    preview = plan.get("/api/planning/preview").get_json()
    assert preview["impact"] is None and not preview["check"]["ok"]
    assert plan.post("/api/planning/publish", json={}).status_code == 422


def test_grid_staff_follow_their_team_and_keep_the_cases_left_in_a_retired_grid(app):
    parts = split_13(app)
    spots = [shape(p["geometry"]).representative_point() for p in parts]
    public, plan, staff = app.test_client(), as_user(app, "plan"), as_user(app, "staff")
    left = report_at(public, spots[0])  # open in 013; the planner will not move it
    accounts = app.extensions["gridmap.accounts"]
    accounts.add_user("other", PASSWORD, ["grid_staff"], grid_codes=[C + "001"])
    r = plan.post("/api/planning/draft", json={"type": "FeatureCollection", "features": parts})
    team_from = r.get_json()["generation"]["team_from"]
    assert set(team_from.values()) == {C + "013"}  # one part takes the team, one is vacant
    (took,) = team_from

    r = plan.post("/api/planning/publish", json={"draft": 2, "move_cases": False})
    assert r.status_code == 200 and r.get_json()["moved"] == []
    # the team of 013 now works the part that took it, and keeps 013 for the case left there
    assert accounts.get_user("staff").grid_codes == {C + "013", took}
    assert accounts.get_user("other").grid_codes == {C + "001"}  # untouched
    logged = app.extensions["gridmap.audit"].read(action="roles_change")
    assert [(e["actor"], e["target"]) for e in logged] == [("plan", "staff")]
    assert logged[0]["detail"]["old_grid_codes"] == [C + "013"]
    assert logged[0]["detail"]["grid_codes"] == [C + "013", took]
    assert logged[0]["detail"]["generation"] == 2

    spot = next(s for s, p in zip(spots, parts)
                if shape(p["geometry"]).equals(app.extensions["gridmap"].grids[took].geometry))
    new = report_at(public, spot)
    page = staff.get(f"/grid/{took}").get_data(as_text=True)
    assert staff.get(f"/grid/{took}").status_code == 200 and f"/case/{new}" in page
    retired = staff.get(f"/grid/{C}013")
    text = retired.get_data(as_text=True)
    assert retired.status_code == 200 and f"/case/{left}" in text and f"/case/{new}" not in text
    assert "此网格已不在现行的第 2 版网格边界中" in text and "13-0" not in text
    assert "第13网格" in text  # named as it was when it was active
    english = staff.get(f"/grid/{C}013?lang=en").get_data(as_text=True)
    assert "not part of the active grid boundaries (generation 2)" in english
    assert as_user(app, "other").get(f"/grid/{C}013").status_code == 403
    assert staff.get(f"/grid/{C}099").status_code == 404  # never a grid

    # a rollback needs nothing undone: 013 is active again and still theirs
    assert plan.post("/api/planning/rollback", json={"generation": 1}).status_code == 200
    assert "此网格已不在" not in staff.get(f"/grid/{C}013").get_data(as_text=True)
