"""The draft editor's API through Flask, as a signed-in planner: every operation,
undo and redo (kept in the data folder, so a new app sees them), a refused edit
(422, nothing changed), bad operations (400 naming the field) and the shared
vertices staying bit-identical in the stored draft."""

import json
from collections import Counter

import pytest
import shapely

from gridmap.geo import topology
from gridmap.web import create_app

from signed_in_clients import signed_in

PASSWORD = "correct horse battery"
CSRF = "c" * 43
C = "500114005001"
EDITS = "/api/planning/draft/edits"


def make_app(data):
    app = create_app({"DATA_DIR": str(data), "REPORT_IP_LIMIT": 1000})
    accounts = app.extensions["gridmap.accounts"]
    if accounts.get_user("plan") is None:
        accounts.add_user("plan", PASSWORD, ["planner"])
        accounts.add_user("disp", PASSWORD, ["dispatcher"])
    return app


@pytest.fixture
def data(tmp_path):
    return tmp_path / "data"


@pytest.fixture
def app(data):
    return make_app(data)


def as_user(app, username="plan"):
    client = signed_in(app, username, CSRF)
    client.environ_base["HTTP_X_CSRF_TOKEN"] = CSRF
    return client


@pytest.fixture
def planner(app):
    return as_user(app)


def stored(app):
    """Every file of the generations folder, by name (to show nothing changed)."""
    folder = app.extensions["gridmap"].generations.folder
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


def coverage(body):
    return {f["properties"]["grid_code"]: shapely.from_geojson(json.dumps(f["geometry"]))
            for f in body["features"]["features"]}


def active(app):
    grids = app.extensions["gridmap"].grids
    return {code: grids[code].geometry for code in grids.codes}


def shared_inner_vertex(cov):
    union = shapely.union_all(list(cov.values()))
    counts = Counter(p for g in cov.values() for p in topology._vertices(g))
    return next(p for p, n in sorted(counts.items()) if n >= 3
                and not shapely.dwithin(union.boundary, shapely.Point(p), 1e-9))


def test_the_first_edit_starts_a_draft_and_moves_a_shared_vertex_everywhere(app, planner):
    assert planner.get("/api/planning/draft").status_code == 404
    cov = active(app)
    v = shared_inner_vertex(cov)
    to = [v[0] + 0.0001, v[1] - 0.00005]
    r = planner.post(EDITS, json={"op": "move_vertex", "at": [v[0] + 0.000005, v[1]], "to": to})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["draft"] == 2 and body["can_undo"] and not body["can_redo"] and body["edits"] == 1
    assert body["issues"]["ok"], body["issues"]["issues"]
    after = coverage(body)
    owners = [k for k, g in cov.items() if v in topology._vertices(g)]
    assert len(owners) >= 3
    moved = [k for k, g in after.items() if tuple(to) in topology._vertices(g)]
    assert len(moved) == len(owners)  # in every grid that had it, bit for bit
    assert topology.is_shared_exactly(after)
    assert abs(sum(g.area for g in after.values()) - sum(g.area for g in cov.values())) < 1e-15
    # changed grids got new codes, the others kept theirs
    kept = set(after) & set(cov)
    assert len(kept) == len(cov) - len(owners)
    draft = planner.get("/api/planning/draft").get_json()
    assert draft["can_undo"] is True and draft["can_redo"] is False
    assert draft["generation"]["author"] == "plan"


def test_undo_and_redo_survive_a_restart(app, planner, data):
    cov = active(app)
    v = shared_inner_vertex(cov)
    first = planner.post(EDITS, json={"op": "move_vertex", "at": list(v),
                                      "to": [v[0] + 0.0001, v[1]]}).get_json()
    unchanged = sorted(set(coverage(first)) & set(cov))[0]  # a moved grid has a new code
    second = planner.post(EDITS, json={"op": "set_props", "grid": unchanged,
                                       "name": "新名字", "name_en": "New name"}).get_json()
    assert second["edits"] == 2
    other = as_user(make_app(data))  # another process: the stack is in the data folder
    r = other.post("/api/planning/draft/undo")
    assert r.status_code == 200
    assert r.get_json()["features"] == first["features"] and r.get_json()["edits"] == 1
    r = planner.post("/api/planning/draft/undo").get_json()
    assert coverage(r) == active(app) and r["can_undo"] is False and r["can_redo"] is True
    assert sorted(coverage(r)) == sorted(cov)  # every code back
    r = planner.post("/api/planning/draft/undo")
    assert r.status_code == 409 and r.get_json()["error"] == "nothing_to_undo"
    r = planner.post("/api/planning/draft/redo").get_json()
    assert r["features"] == first["features"]
    r = other.post("/api/planning/draft/redo").get_json()
    names = {f["properties"]["grid_code"]: f["properties"]["name"]
             for f in r["features"]["features"]}
    assert names[unchanged] == "新名字" and r["can_redo"] is False
    r = planner.post("/api/planning/draft/redo")
    assert r.status_code == 409 and r.get_json()["error"] == "nothing_to_redo"


def test_a_new_edit_after_undo_drops_the_redo_states(planner):
    for name in ("一", "二"):
        planner.post(EDITS, json={"op": "set_props", "grid": C + "002", "name": name})
    planner.post("/api/planning/draft/undo")
    r = planner.post(EDITS, json={"op": "set_props", "grid": C + "002", "name": "三"}).get_json()
    assert r["can_redo"] is False and r["edits"] == 2
    assert planner.post("/api/planning/draft/redo").status_code == 409


def test_discarding_or_publishing_the_draft_clears_the_stack(app, planner):
    planner.post(EDITS, json={"op": "set_props", "grid": C + "003", "name": "x"})
    assert planner.delete("/api/planning/draft").status_code == 200
    assert planner.post("/api/planning/draft/undo").status_code == 409
    assert not (app.extensions["gridmap"].generations.folder / "draft-edits").exists()
    r = planner.post(EDITS, json={"op": "set_props", "grid": C + "003", "name": "y"}).get_json()
    assert r["edits"] == 1
    r = planner.post("/api/planning/publish", json={"draft": r["draft"]})
    assert r.status_code == 200, r.get_json()
    assert planner.post("/api/planning/draft/undo").status_code == 409


def test_split_merge_redraw_add_remove_through_the_api(app, planner):
    cov = active(app)
    code = C + "006"
    g = cov[code]
    minx, miny, maxx, maxy = g.bounds
    y = g.representative_point().y
    r = planner.post(EDITS, json={"op": "split", "grid": code,
                                  "line": [[minx - 0.001, y], [maxx + 0.001, y]]})
    assert r.status_code == 200, r.get_json()
    after = coverage(r.get_json())
    assert code not in after and len(after) == len(cov) + 1
    new = sorted(set(after) - set(cov))
    assert len(new) == 2 and all(c.startswith(C) for c in new)  # codes given as for drafts
    assert topology.is_shared_exactly(after)
    r = planner.post(EDITS, json={"op": "merge", "grids": new}).get_json()
    merged = coverage(r)
    assert len(merged) == len(cov) and topology.is_shared_exactly(merged)
    assert set(merged) == set(cov)  # the area of 006 again: its code again
    assert shapely.symmetric_difference(merged[code], g).area < 1e-15
    only = code
    # remove: the area goes to the neighbour with the longest border
    r = planner.post(EDITS, json={"op": "remove", "grid": only})
    assert r.status_code == 200 and len(coverage(r.get_json())) == len(cov) - 1
    # add outside the grids (the checks then report it is outside the outline)
    union = shapely.union_all(list(cov.values()))
    x0, y0, x1, y1 = union.bounds
    ring = [[x0, y1], [x0 + 0.002, y1], [x0 + 0.002, y1 + 0.002], [x0, y1 + 0.002]]
    r = planner.post(EDITS, json={"op": "add", "polygon": ring})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert len(coverage(body)) == len(cov) and not body["issues"]["ok"]
    assert "outside_outline" in body["issues"]["counts"]
    assert body["edits"] == 4


def test_redraw_a_stretch_of_border(app, planner):
    cov = active(app)
    metric = topology.Metric.of(cov)
    a, b = next((a, b) for a in sorted(cov) for b in sorted(cov) if a < b and
                topology._shared_length(metric, cov[a], cov[b]) > 200)
    border = shapely.line_merge(shapely.intersection(cov[a].boundary, cov[b].boundary))
    s, e = border.coords[0], border.coords[-1]
    mid = border.interpolate(0.5, normalized=True)
    for dx in (0.0002, -0.0002):
        r = planner.post(EDITS, json={"op": "redraw", "grids": [a, b],
                                      "line": [list(s), [mid.x + dx, mid.y + dx], list(e)]})
        if r.status_code == 200:
            break
    assert r.status_code == 200, r.get_json()
    after = coverage(r.get_json())
    assert a not in after and b not in after  # both areas changed: new codes
    assert abs(sum(g.area for g in after.values()) - sum(g.area for g in cov.values())) < 1e-15
    assert topology.is_shared_exactly(after)


def test_a_refused_edit_is_422_and_changes_nothing(app, planner):
    planner.post(EDITS, json={"op": "set_props", "grid": C + "001", "name": "x"})
    before = stored(app)
    cov = active(app)
    v = shared_inner_vertex(cov)
    r = planner.post(EDITS, json={"op": "move_vertex", "at": list(v),
                                  "to": [v[0] + 0.02, v[1] + 0.02]})
    assert r.status_code == 422
    body = r.get_json()
    assert body["error"] == "topology_refused" and body["reason"] in (
        "overlap", "invalid_result", "area_changed")
    assert body["message_id"].startswith("error.topology.")
    r = planner.post(EDITS, json={"op": "merge", "grids": [C + "001", C + "013"]})
    assert r.status_code == 422 and r.get_json()["reason"] == "not_neighbours"
    assert stored(app) == before


@pytest.mark.parametrize("body, field", [
    ({"op": "paint"}, "op"),
    ({}, "op"),
    ({"op": "move_vertex", "at": [108.8, 29.5]}, "to"),
    ({"op": "move_vertex", "at": "x", "to": [108.8, 29.5]}, "at"),
    ({"op": "move_vertex", "at": [108.8, 29.5], "to": [1e999, 29.5]}, "to"),
    ({"op": "move_vertex", "at": [1, 2], "to": [108.8, 29.5]}, "at"),  # no vertex there
    ({"op": "split", "grid": C + "999", "line": [[108.8, 29.5], [108.81, 29.5]]}, "grid"),
    ({"op": "split", "grid": C + "001", "line": [[108.8, 29.5]]}, "line"),
    ({"op": "merge", "grids": [C + "001"]}, "grids"),
    ({"op": "merge", "grids": [C + "001", C + "001"]}, "grids"),
    ({"op": "redraw", "grids": [C + "001", C + "002"], "line": "x"}, "line"),
    ({"op": "add", "polygon": [[108.8, 29.5], [108.81, 29.5]]}, "polygon"),
    ({"op": "remove"}, "grid"),
    ({"op": "remove", "grid": 5}, "grid"),
    ({"op": "set_props", "grid": C + "001", "name": "x" * 81}, "name"),
    ({"op": "set_props", "grid": C + "001"}, "name"),
    ({"op": "set_props", "grid": C + "001", "name": "a", "team": "b"}, "body"),
    ({"op": "fix", "problem": "gap"}, "problem"),
])
def test_bad_operations_are_400_naming_the_field(app, planner, body, field):
    planner.post(EDITS, json={"op": "set_props", "grid": C + "001", "name": "x"})
    before = stored(app)
    r = planner.post(EDITS, json=body)
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["field"] == field
    assert stored(app) == before


def test_fix_a_gap_through_the_api(app, planner):
    """A draft with a hole punched in one grid: the gap merges back into it."""
    cov = active(app)
    code = C + "007"
    g = cov[code]
    p = g.representative_point()
    hole = shapely.box(p.x - 0.0002, p.y - 0.0002, p.x + 0.0002, p.y + 0.0002)
    features = [{"type": "Feature", "properties": {"grid_code": c},
                 "geometry": json.loads(shapely.to_geojson(gg.difference(hole) if c == code
                                                           else gg))}
                for c, gg in cov.items()]
    r = planner.post("/api/planning/draft", json={"type": "FeatureCollection",
                                                  "features": features, "complete": True})
    assert r.status_code == 201
    report = planner.get("/api/planning/draft").get_json()["check"]
    gap = next(i for i in report["issues"] if i["kind"] == "gap")
    r = planner.post(EDITS, json={"op": "fix", "problem": gap})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["issues"]["ok"], body["issues"]["issues"]
    assert code in coverage(body)  # the same area as before the hole: its code again
    r = planner.post(EDITS, json={"op": "fix", "problem": dict(gap, kind="bad_code")})
    assert r.status_code == 422 and r.get_json()["reason"] == "not_fixable"


def test_only_planners_may_edit(app):
    for path in (EDITS, "/api/planning/draft/undo", "/api/planning/draft/redo"):
        assert app.test_client().post(path, json={}).status_code == 401
        assert as_user(app, "disp").post(path, json={}).status_code == 403


def test_the_snapping_tolerance_comes_from_the_configuration(tmp_path):
    """A vertex 1.5 m from ``at`` is found with EDIT_SNAP_M 2, not with 1."""
    for snap, status in ((1.0, 400), (2.0, 200)):
        app = create_app({"DATA_DIR": str(tmp_path / f"d{snap}"), "EDIT_SNAP_M": snap})
        app.extensions["gridmap.accounts"].add_user("plan", PASSWORD, ["planner"])
        v = shared_inner_vertex(active(app))
        r = as_user(app).post(EDITS, json={"op": "move_vertex", "at": [v[0], v[1] + 1.5 / 111195],
                                           "to": [v[0] + 0.0001, v[1]]})
        assert r.status_code == status, r.get_json()


def test_slivers_from_an_unshared_vertex_are_fixed_and_the_draft_publishes(app, planner):
    """A file where one grid's copy of a shared vertex is 0.3 m off (as after a
    careless edit elsewhere): a sliver gap and a sliver overlap. Publishing is
    refused; one fix per problem; then it publishes and routes."""
    cov = active(app)
    v = shared_inner_vertex(cov)
    code = next(k for k, g in sorted(cov.items()) if v in topology._vertices(g))
    off = (v[0] + 0.3 / 111195 / 0.87, v[1] + 0.1 / 111195)

    def shifted(g):
        return shapely.Polygon([off if tuple(c) == v else c for c in g.exterior.coords])

    features = [{"type": "Feature", "properties": {"grid_code": c},
                 "geometry": json.loads(shapely.to_geojson(shifted(g) if c == code else g))}
                for c, g in cov.items()]
    r = planner.post("/api/planning/draft", json={"type": "FeatureCollection",
                                                  "features": features, "complete": True})
    assert r.status_code == 201
    draft = r.get_json()["generation"]["number"]
    r = planner.post("/api/planning/publish", json={"draft": draft})
    assert r.status_code == 422
    kinds = Counter(i["kind"] for i in r.get_json()["issues"]
                    if i["severity"] == "error")
    assert set(kinds) <= {"gap", "overlap", "sliver_gap", "sliver_overlap"} and kinds
    for _ in range(sum(kinds.values())):
        report = planner.get("/api/planning/draft").get_json()["check"]
        problem = next(i for i in report["issues"] if i["severity"] == "error")
        r = planner.post(EDITS, json={"op": "fix", "problem": problem})
        assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["issues"]["ok"], body["issues"]["issues"]
    assert topology.is_shared_exactly(coverage(body))
    r = planner.post("/api/planning/publish", json={"draft": body["draft"]})
    assert r.status_code == 200, r.get_json()
    p = shapely.Polygon(list(coverage(body).values())[0]).representative_point()
    r = app.test_client().get(f"/api/route?lon={p.x}&lat={p.y}")
    assert r.status_code == 200 and r.get_json()["generation"] == body["draft"]


def test_set_props_may_give_a_code_never_used(planner):
    r = planner.post(EDITS, json={"op": "set_props", "grid": C + "005",
                                  "grid_code": C + "099"}).get_json()
    codes = set(coverage(r))
    assert C + "099" not in codes and C + "005" in codes  # same area: it keeps its code
    cov = coverage(r)
    code = C + "006"
    g = cov[code]
    minx, miny, maxx, maxy = g.bounds
    y = g.representative_point().y
    r = planner.post(EDITS, json={"op": "split", "grid": code,
                                  "line": [[minx - 0.001, y], [maxx + 0.001, y]]}).get_json()
    part = sorted(set(coverage(r)) - set(cov))[0]
    r = planner.post(EDITS, json={"op": "set_props", "grid": part, "grid_code": C + "099"})
    assert r.status_code == 200 and C + "099" in coverage(r.get_json())
    for value, status in ((C + "001", 400), ("12", 400), (C + "001" + "0", 400)):
        r = planner.post(EDITS, json={"op": "set_props", "grid": C + "099", "grid_code": value})
        assert r.status_code == status and r.get_json()["field"] == "grid_code"


def test_a_stack_that_no_longer_matches_the_draft_starts_afresh(app, planner):
    """As after a crash between storing the draft and the index: the draft changed
    behind the stack's back (here straight through the store), so nothing can be
    undone into another draft's past."""
    for name in ("一", "二"):
        planner.post(EDITS, json={"op": "set_props", "grid": C + "002", "name": name})
    store = app.extensions["gridmap"].generations
    features = store.features(store.draft().number)
    features[0] = dict(features[0], properties=dict(features[0]["properties"], name="外"))
    store.make_draft(features, "cli", complete=True)
    body = planner.get("/api/planning/draft").get_json()
    assert body["can_undo"] is False and body["edits"] == 0
    r = planner.post(EDITS, json={"op": "set_props", "grid": C + "003", "name": "三"}).get_json()
    assert r["edits"] == 1
    r = planner.post("/api/planning/draft/undo").get_json()
    names = {f["properties"]["grid_code"]: f["properties"]["name"]
             for f in r["features"]["features"]}
    assert names[features[0]["properties"]["grid_code"]] == "外" and names[C + "002"] == "二"


def test_undo_goes_back_at_most_max_undo_edits(planner, monkeypatch):
    from gridmap import planning_edits

    monkeypatch.setattr(planning_edits, "MAX_UNDO", 3)
    for k in range(5):
        r = planner.post(EDITS, json={"op": "set_props", "grid": C + "002", "name": str(k)})
    assert r.get_json()["edits"] == 3
    for _ in range(3):
        assert planner.post("/api/planning/draft/undo").status_code == 200
    r = planner.post("/api/planning/draft/undo")
    assert r.status_code == 409
    names = {f["properties"]["grid_code"]: f["properties"]["name"]
             for f in planner.get("/api/planning/draft").get_json()["features"]}
    assert names[C + "002"] == "1"


def test_a_split_drawn_across_a_grid_passes_the_checks_previews_and_publishes(app, planner):
    # a line drawn straight across grid 013, through the middle of its edges
    g = active(app)[C + "013"]
    x0, _, x1, _ = g.bounds
    y = g.centroid.y
    r = planner.post(EDITS, json={"op": "split", "grid": C + "013",
                                  "line": [[x0 - 0.001, y], [x1 + 0.001, y]]})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["issues"]["issues"] == []
    preview = planner.get("/api/planning/preview")
    assert preview.status_code == 200 and preview.get_json()["impact"] is not None
    r = planner.post("/api/planning/publish", json={"draft": r.get_json()["draft"]})
    assert r.status_code == 200, r.get_json()
    assert app.extensions["gridmap"].generation == 2


def test_a_draft_no_worker_could_route_by_is_refused_at_publish(app, planner, monkeypatch):
    # a draft whose cut ends between two corners of a slanted outer edge (as the editor
    # made it before cuts there ended at a corner): on the edge to within rounding only,
    # a hair to the outline. The fix merges the hair away; GEOS then fails to union
    # the grids when a router is built, so no worker could route by them.
    g = active(app)[C + "013"]
    x0, _, x1, _ = g.bounds
    y = g.centroid.y
    monkeypatch.setattr(topology, "_is_outer", lambda *args: False)
    cov = topology.split(active(app), C + "013", [(x0 - 0.001, y), (x1 + 0.001, y)], 2.0)
    monkeypatch.undo()
    features = [{"type": "Feature", "properties": {"grid_code": k} if k[0] != "n" else {},
                 "geometry": json.loads(shapely.to_geojson(h))} for k, h in cov.items()]
    r = planner.post("/api/planning/draft", json={"type": "FeatureCollection",
                                                   "features": features, "complete": True})
    assert r.status_code == 201, r.get_json()
    (hair,) = r.get_json()["check"]["issues"]
    assert hair["kind"] == "sliver_gap" and hair["area_m2"] < 1e-3
    r = planner.post(EDITS, json={"op": "fix", "problem": hair})
    assert r.status_code == 200 and r.get_json()["issues"]["ok"]
    draft = r.get_json()["draft"]
    before = stored(app)
    preview = planner.get("/api/planning/preview")
    assert preview.status_code == 200 and preview.get_json()["impact"] is None
    r = planner.post("/api/planning/publish", json={"draft": draft})
    assert r.status_code == 422 and r.get_json()["message_id"] == "error.generations.unroutable"
    assert "TopologyException" in r.get_json()["message"]
    assert stored(app) == before and app.extensions["gridmap"].generation == 1


def draft_teams(client):
    """The draft's ``team_from`` as the page reads it (``GET /generations``)."""
    doc = client.get("/api/planning/generations").get_json()
    return next(g for g in doc["generations"] if g["number"] == doc["draft"])["team_from"]


def test_team_choices_for_new_grids_survive_edits_undo_redo_and_a_restart(app, planner, data):
    """A split's larger part takes the old team by default; the planner makes it vacant
    and gives the other part another team. Later edits (a name elsewhere, the cut's
    inner vertex moved), undo and redo (also back to before the choice), a merge undone
    and a new app keep the choices."""
    g = active(app)[C + "013"]
    x0, _, x1, _ = g.bounds
    c = g.centroid
    r = planner.post(EDITS, json={"op": "split", "grid": C + "013", "line": [
        [x0 - 0.001, c.y], [c.x, c.y + 0.0002], [x1 + 0.001, c.y]]})
    assert r.status_code == 200, r.get_json()
    cov = coverage(r.get_json())
    parts = sorted(set(cov) - set(active(app)))
    default = draft_teams(planner)
    assert list(default.values()) == [C + "013"]  # the larger part takes 013's team
    (larger,) = default
    (smaller,) = set(parts) - {larger}
    planner.post(EDITS, json={"op": "set_props", "grid": C + "002", "name": "别处"})
    assert draft_teams(planner) == default

    r = planner.put("/api/planning/draft/teams", json={"teams": {larger: None,
                                                                 smaller: C + "012"}})
    assert r.status_code == 200, r.get_json()
    chosen = {smaller: C + "012"}  # the larger part vacant
    assert draft_teams(planner) == chosen
    for step in ("undo", "redo"):  # to the split, made before the choice, and back
        assert planner.post(f"/api/planning/draft/{step}").status_code == 200
        assert draft_teams(planner) == chosen, step
    inner = min(set(topology._vertices(cov[parts[0]])) & set(topology._vertices(cov[parts[1]])),
                key=lambda p: shapely.Point(p).distance(shapely.Point(c.x, c.y + 0.0002)))
    r = planner.post(EDITS, json={"op": "move_vertex", "at": list(inner),
                                  "to": [inner[0] + 0.0001, inner[1]]})
    assert r.status_code == 200, r.get_json()
    assert set(parts) <= set(coverage(r.get_json()))  # new areas keep their new codes
    assert draft_teams(planner) == chosen
    for step in ("undo", "undo", "redo", "redo"):
        assert planner.post(f"/api/planning/draft/{step}").status_code == 200
        assert draft_teams(planner) == chosen, step

    # another choice, then the two parts merged (013 again, no new grids) and that undone
    planner.put("/api/planning/draft/teams", json={"teams": {smaller: C + "011"}})
    chosen = {smaller: C + "011"}
    r = planner.post(EDITS, json={"op": "merge", "grids": parts}).get_json()
    assert C + "013" in coverage(r) and draft_teams(planner) == {}
    planner.post("/api/planning/draft/undo")
    assert draft_teams(planner) == chosen

    other = as_user(make_app(data))  # another process, a reloaded page
    assert draft_teams(other) == chosen
    teams = other.get("/api/planning/preview").get_json()["teams"]
    assert {t["code"]: t["team_from"] for t in teams} == {larger: None, smaller: C + "011"}


def test_a_team_choice_follows_a_new_grid_to_the_code_the_planner_gives_it(app, planner):
    g = active(app)[C + "013"]
    x0, _, x1, _ = g.bounds
    r = planner.post(EDITS, json={"op": "split", "grid": C + "013",
                                  "line": [[x0 - 0.001, g.centroid.y], [x1 + 0.001, g.centroid.y]]})
    (larger,) = draft_teams(planner)
    (smaller,) = set(coverage(r.get_json())) - set(active(app)) - {larger}
    planner.put("/api/planning/draft/teams", json={"teams": {smaller: C + "012"}})
    r = planner.post(EDITS, json={"op": "set_props", "grid": smaller, "grid_code": C + "099"})
    assert r.status_code == 200 and C + "099" in coverage(r.get_json())
    assert draft_teams(planner) == {larger: C + "013", C + "099": C + "012"}
    planner.post("/api/planning/draft/undo")
    assert draft_teams(planner) == {larger: C + "013", smaller: C + "012"}
    planner.post("/api/planning/draft/redo")
    assert draft_teams(planner) == {larger: C + "013", C + "099": C + "012"}
