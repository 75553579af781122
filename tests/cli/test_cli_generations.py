"""``gridmap grids draft/diff/publish/rollback/export/list``: the commands that change
data print what they would do and change nothing without ``--commit``."""

import json
from pathlib import Path

import geopandas
import pytest
import shapely
from click.testing import CliRunner

from gridmap.cli import main

C = "500114005001"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    assert run("list", folder).exit_code == 0  # creates the data folder: generation 1
    return folder


def run(command, data, *args):
    return CliRunner().invoke(main, ["grids", command, *map(str, args), "--data-dir", str(data)])


def split_file(tmp_path, suffix=".geojson"):
    """Grid 013 split along a chord between two of its vertices, written as ``suffix``;
    a GeoPackage in a projected CRS (CGCS2000 / 3-degree Gauss-Kruger CM 108E)."""
    doc = json.loads((ROOT / "geodata" / "grids.geojson").read_text(encoding="utf-8"))
    ring = doc["features"][12]["geometry"]["coordinates"][0][:-1]
    parts = [shapely.Polygon(ring[2:7]), shapely.Polygon(ring[6:] + ring[:3])]
    frame = geopandas.GeoDataFrame({"name": ["东", "西"]}, geometry=parts, crs=4326)
    path = tmp_path / f"split{suffix}"
    if suffix == ".gpkg":
        frame.to_crs(4545).to_file(path, driver="GPKG")
    else:
        frame.to_file(path, driver="GeoJSON")
    return path


def state(data):
    folder = data / "generations"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_draft_without_commit_prints_the_plan_and_stores_nothing(data, tmp_path):
    before = state(data)
    r = run("draft", data, split_file(tmp_path))
    assert r.exit_code == 0, r.output
    assert f"new {C}014" in r.output and f"new {C}015" in r.output
    assert f"replaced {C}013" in r.output and "carried over: 12" in r.output
    assert "nothing stored: add --commit" in r.output
    assert state(data) == before


def test_the_whole_cycle_with_commit(data, tmp_path):
    r = run("draft", data, split_file(tmp_path, ".gpkg"), "--commit", "--description", "拆分",
            "--team", f"{C}014={C}013", "--team", f"{C}015=vacant")
    assert r.exit_code == 0, r.output
    assert "draft saved as generation 2" in r.output and "no problems found" in r.output
    draft = json.loads((data / "generations" / "manifest.json").read_text())["generations"][1]
    assert draft["team_from"] == {f"{C}014": f"{C}013"} and draft["description"] == "拆分"

    r = run("diff", data, "1", "draft")
    assert r.exit_code == 0 and f"{C}013 -100.00 %" in r.output and f"{C}014 new" in r.output

    before = state(data)
    r = run("publish", data)
    assert r.exit_code == 0 and "would publish generation 2" in r.output
    assert "nothing done: add --commit" in r.output and state(data) == before
    r = run("publish", data, "--commit", "--move-cases")
    assert r.exit_code == 0 and "published generation 2 (was 1)" in r.output, r.output
    audit = [json.loads(line) for line in (data / "audit.jsonl").read_text().splitlines()]
    assert audit[-1]["action"] == "boundary_publish" and audit[-1]["actor"].startswith("cli:")

    r = run("export", data)
    exported = json.loads(r.output)
    assert exported["generation"]["number"] == 2 and len(exported["features"]) == 14
    out = tmp_path / "gen1.geojson"
    assert run("export", data, "1", "-o", out).exit_code == 0
    assert len(json.loads(out.read_text())["features"]) == 13

    before = state(data)
    r = run("rollback", data, "1")
    assert r.exit_code == 0 and "would make generation 1 active (now 2)" in r.output
    assert state(data) == before
    r = run("rollback", data, "1", "--commit")
    assert r.exit_code == 0 and "generation 1 is active (was 2)" in r.output
    listing = run("list", data).output.splitlines()
    assert listing[0].startswith("*    1") and listing[1].startswith("     2")


def test_refusals_exit_non_zero_and_change_nothing(data, tmp_path):
    before = state(data)
    r = run("publish", data)
    assert r.exit_code == 2 and "no draft" in r.output
    for args in (("rollback", "1"), ("rollback", "5", "--commit"), ("export", "9"),
                 ("diff", "1", "x")):
        r = run(*args[:1], data, *args[1:])
        assert r.exit_code == 2, (args, r.output)
    assert run("draft", data, tmp_path / "missing.geojson").exit_code == 2
    r = run("draft", data, split_file(tmp_path), "--effective-date", "soon", "--commit")
    assert r.exit_code == 2 and "YYYY-MM-DD" in r.output
    assert state(data) == before


def test_publish_without_commit_says_it_would_refuse_a_bad_draft(data, tmp_path):
    doc = json.loads((ROOT / "geodata" / "grids.geojson").read_text(encoding="utf-8"))
    grid = doc["features"][12]
    grid["geometry"]["coordinates"][0].insert(3, [108.82, 29.50])  # far outside the outline
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [grid]}))
    assert run("draft", data, path, "--commit").exit_code == 0
    r = run("publish", data)
    assert r.exit_code == 1 and "would refuse" in r.output and "outside" in r.output
    r = run("publish", data, "--commit")
    assert r.exit_code == 2 and "fails the grid checks" in r.output


def test_move_cases_lists_the_moves_and_moves_only_with_commit(data, tmp_path):
    from gridmap.web import create_app

    app = create_app({"DATA_DIR": str(data), "REPORT_IP_LIMIT": 1000})
    grid = app.extensions["gridmap"].grids[C + "013"].geometry
    spot = grid.representative_point()
    client = app.test_client()
    ids = [client.post("/api/reports", json={"lon": spot.x, "lat": spot.y, "category": "06",
                                             "description": f"路灯不亮 {n}"}).get_json()["case_id"]
           for n in range(2)]
    assert run("draft", data, split_file(tmp_path), "--commit").exit_code == 0
    assert run("publish", data, "--commit").exit_code == 0  # the cases stay in 013

    cases = app.extensions["gridmap.cases"]
    r = run("move-cases", data)
    assert r.exit_code == 0, r.output
    to = client.get(f"/api/route?lon={spot.x}&lat={spot.y}").get_json()["grid_code"]
    assert to in (C + "014", C + "015")
    assert "open cases it would move: 2" in r.output and f"{C}013 → {to}: 2" in r.output
    assert "nothing done: add --commit" in r.output
    assert [cases.get(i)["properties"]["grid_code"] for i in ids] == [C + "013"] * 2

    r = run("move-cases", data, "--commit")
    assert r.exit_code == 0 and "open cases moved: 2" in r.output, r.output
    for case_id in ids:
        props = cases.get(case_id)["properties"]
        assert props["grid_code"] == to and props["history"][-1]["action"] == "regrid"
    assert "open cases it would move: 0" in run("move-cases", data).output
    assert "open cases moved: 0" in run("move-cases", data, "--commit").output
