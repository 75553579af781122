"""Tests for ``gridmap grids check``: real files in tmp_path, click's CliRunner."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import geopandas
import pytest
import shapely
from click.testing import CliRunner

from gridmap.cli import main
from gridmap.geo.checks import check_grids
from gridmap.geo.gridfile import read_grid_file

ROOT = Path(__file__).resolve().parents[2]
X, Y, D = 108.800, 29.520, 0.001


def cell(i0, j0, i1, j1):
    return shapely.box(X + i0 * D, Y + j0 * D, X + i1 * D, Y + j1 * D)


def code(seq):
    return f"500114005001{seq:03d}"


CLEAN = [(code(1), cell(0, 1, 1, 2)), (code(2), cell(1, 1, 2, 2)),
         (code(3), cell(0, 0, 1, 1)), (code(4), cell(1, 0, 2, 1))]
MESSY = [
    (code(1), cell(0, 1, 1, 2.5)),          # sticks out of the outline
    (code(2), cell(1, 1, 2.5, 2)),          # overlaps the next one
    (code(3), cell(2, 1, 3, 2)),
    (code(3), cell(3, 1, 4, 2)),            # repeated code
    (code(5), cell(4, 1.00002, 5, 2)),      # sliver gap below
    ("", cell(0, 0, 1.00002, 1)),           # no code; sliver overlap
    ("5001140050010X1", cell(1, 0, 2, 1)),  # bad code
    (code(8), cell(2.5, 0, 3, 1)),          # gap to its left
    (code(9), shapely.Polygon([(X + 3 * D, Y), (X + 4 * D, Y + D), (X + 4 * D, Y), (X + 3 * D, Y + D)])),
    (code(10), cell(4, 0, 5, 1)),
]
MESSY_ERRORS = {"invalid_geometry": 1, "missing_code": 1, "bad_code": 1, "duplicate_code": 1,
                "overlap": 1, "sliver_overlap": 1, "gap": 3, "sliver_gap": 1, "outside_outline": 1}


def layer(rows, crs=4326):
    gdf = geopandas.GeoDataFrame({"grid_code": [c for c, _ in rows]},
                                 geometry=[g for _, g in rows], crs=4326)
    return gdf.to_crs(crs)


def write(gdf, folder, kind, keep_prj=True):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "geojson":
        path = folder / "grids.geojson"
        gdf.to_file(path, driver="GeoJSON")
    elif kind == "gpkg":
        path = folder / "grids.gpkg"
        gdf.to_file(path, driver="GPKG")
    else:
        gdf.to_file(folder / "grids.shp")
        path = folder / "grids.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for part in folder.glob("grids.*"):
                if part.suffix not in (".zip", ".prj") or keep_prj:
                    zf.write(part, part.name)
    return path


def run(*args):
    result = CliRunner().invoke(main, ["grids", "check", *map(str, args)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture
def outline_file(tmp_path):
    path = tmp_path / "outline.geojson"
    geopandas.GeoDataFrame(geometry=[cell(0, 0, 5, 2)], crs=4326).to_file(path, driver="GeoJSON")
    return path


@pytest.mark.parametrize("kind", ["geojson", "gpkg", "zip"])
def test_clean_tiling_exits_0(tmp_path, kind):
    result = run(write(layer(CLEAN), tmp_path, kind))
    assert result.exit_code == 0, result.output
    assert "4 grids, no problems found" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize("kind", ["geojson", "gpkg", "zip"])
def test_every_error_reported_exits_1(tmp_path, outline_file, kind):
    path = write(layer(MESSY), tmp_path / kind, kind)
    result = run(path, "--outline", outline_file, "--json")
    assert result.exit_code == 1, result.stderr
    body = json.loads(result.stdout)
    assert body["ok"] is False and body["grid_count"] == 10
    counts = dict(body["counts"])
    assert counts.pop("unshared_vertex") > 0
    assert counts == MESSY_ERRORS
    by_kind = {}
    for issue in body["issues"]:
        by_kind.setdefault(issue["kind"], []).append(issue)
    assert by_kind["overlap"][0]["grid_codes"] == [code(2), code(3)]
    assert by_kind["sliver_overlap"][0]["grid_codes"] == [None, "5001140050010X1"]
    assert by_kind["duplicate_code"][0]["rows"] == [2, 3]
    assert by_kind["missing_code"][0]["rows"] == [5]
    assert by_kind["bad_code"][0]["grid_codes"] == ["5001140050010X1"]
    assert by_kind["outside_outline"][0]["grid_codes"] == [code(1)]
    assert by_kind["invalid_geometry"][0]["location"] == pytest.approx([X + 3.5 * D, Y + 0.5 * D])
    overlap_box = cell(2, 1, 2.5, 2)
    assert overlap_box.covers(shapely.Point(by_kind["overlap"][0]["location"]))


def test_same_report_from_every_format(tmp_path, outline_file):
    def issues(kind):
        result = run(write(layer(MESSY), tmp_path / kind, kind), "--outline", outline_file, "--json")
        return json.loads(result.stdout)["issues"]

    def summary(issues):
        return [(i["kind"], i["rows"], i["grid_codes"]) for i in issues]

    geojson, gpkg, zipped = issues("geojson"), issues("gpkg"), issues("zip")
    assert summary(geojson) == summary(gpkg) == summary(zipped)
    for a, b, c in zip(geojson, gpkg, zipped):
        if a["area_m2"] is not None:
            assert a["area_m2"] == pytest.approx(b["area_m2"], rel=1e-3)
            assert a["area_m2"] == pytest.approx(c["area_m2"], rel=1e-3)


def test_json_matches_the_library_report(tmp_path, outline_file):
    path = write(layer(MESSY), tmp_path, "gpkg")
    result = run(path, "--outline", outline_file, "--json")
    body = json.loads(result.stdout)
    expected = check_grids(read_grid_file(path), outline=read_grid_file(outline_file)).to_dict()
    assert body["file"] == str(path) and body["outline"] == str(outline_file)
    assert {k: v for k, v in body.items() if k not in ("file", "outline")} == \
        json.loads(json.dumps(expected))


def test_text_report_names_codes_and_places(tmp_path, outline_file):
    result = run(write(layer(MESSY), tmp_path, "geojson"), "--outline", outline_file)
    assert result.exit_code == 1
    assert "10 grids: 11 errors" in result.stdout
    assert f"grids {code(2)} and {code(3)} (#2) overlap" in result.stdout
    assert "108.80350000, 29.52050000" in result.stdout  # the bowtie's crossing


@pytest.mark.parametrize("epsg", [32649, 4547])
def test_projected_file_is_checked_in_wgs84(tmp_path, epsg):
    path = write(layer(CLEAN, crs=epsg), tmp_path, "gpkg")
    outline = tmp_path / "outline.gpkg"
    # the outline has a vertex wherever a grid corner touches it, so the
    # shared edges survive the round trip through metres
    ring = [(0, 0), (1, 0), (2, 0), (2, 1), (2, 2), (2, 3), (0, 3), (0, 2), (0, 1)]
    shape = shapely.Polygon([(X + i * D, Y + j * D) for i, j in ring])
    geopandas.GeoDataFrame(geometry=[shape], crs=4326).to_crs(epsg).to_file(outline)
    body = json.loads(run(path, "--outline", outline, "--json").stdout)
    (gap,) = body["issues"]
    assert gap["kind"] == "gap"
    assert cell(0, 2, 2, 3).covers(shapely.Point(gap["location"]))  # lon/lat, not metres
    assert gap["area_m2"] == pytest.approx(21_500, rel=0.01)


def test_shapefile_without_prj_needs_crs(tmp_path):
    path = write(layer(CLEAN, crs=32649), tmp_path, "zip", keep_prj=False)
    refused = run(path)
    assert refused.exit_code == 2
    assert "--crs" in refused.stderr and "grids.zip" in refused.stderr
    assert refused.stdout == ""
    accepted = run(path, "--crs", "EPSG:32649")
    assert accepted.exit_code == 0, accepted.stderr


def test_crs_contradicting_the_file_exits_2(tmp_path):
    result = run(write(layer(CLEAN, crs=32649), tmp_path, "gpkg"), "--crs", "EPSG:4547")
    assert result.exit_code == 2
    assert "EPSG:32649" in result.stderr and "EPSG:4547" in result.stderr


@pytest.mark.parametrize("args", [
    ["missing.geojson"],
    ["garbage.geojson"],
    ["clean.geojson", "--crs", "EPSG:not-a-crs"],
    ["clean.geojson", "--outline", "missing-outline.geojson"],
])
def test_unusable_input_exits_2(tmp_path, args):
    (tmp_path / "garbage.geojson").write_text("{not json")
    layer(CLEAN).to_file(tmp_path / "clean.geojson", driver="GeoJSON")
    args = [str(tmp_path / a) if a.endswith(".geojson") else a for a in args]
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith("gridmap grids check: ")
    assert Path(args[-1]).name in result.stderr or "crs" in result.stderr.lower()


def test_unusable_input_with_json_prints_the_error_body(tmp_path):
    result = run(tmp_path / "missing.geojson", "--json")
    assert result.exit_code == 2
    body = json.loads(result.stdout)
    assert body["error"] == "invalid_boundary" and "missing.geojson" in body["message"]


def test_negative_sliver_area_is_a_usage_error(tmp_path):
    result = run(write(layer(CLEAN), tmp_path, "geojson"), "--sliver-area", "-1")
    assert result.exit_code == 2
    assert "sliver-area" in result.stderr


def test_sliver_area_option(tmp_path, outline_file):
    path = write(layer(MESSY), tmp_path, "geojson")
    body = json.loads(run(path, "--outline", outline_file, "--json", "--sliver-area", "0").stdout)
    assert "sliver_gap" not in body["counts"] and body["counts"]["gap"] == 4


def test_code_field_and_pattern_options(tmp_path):
    gdf = layer(CLEAN).rename(columns={"grid_code": "wgbm"})
    path = write(gdf, tmp_path, "geojson")
    missing = json.loads(run(path, "--json").stdout)
    assert missing["counts"] == {"missing_code_field": 1}
    assert run(path, "--code-field", "wgbm").exit_code == 0
    strict = run(path, "--code-field", "wgbm", "--code-pattern", r"^500114004\d{6}$", "--json")
    assert strict.exit_code == 1
    assert json.loads(strict.stdout)["counts"] == {"bad_code": 4}


def test_warnings_alone_exit_0(tmp_path):
    t_junction = [(code(1), cell(0, 0, 1, 2)), (code(2), cell(1, 1, 2, 2)), (code(3), cell(1, 0, 2, 1))]
    result = run(write(layer(t_junction), tmp_path, "geojson"))
    assert result.exit_code == 0
    assert "0 errors, 2 warnings" in result.stdout


def test_python_dash_m_entry_point(tmp_path):
    path = write(layer(MESSY), tmp_path, "geojson")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "gridmap.cli", "grids", "check", str(path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "bad_code" in done.stdout
