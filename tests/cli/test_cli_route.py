"""``gridmap route IN OUT``: every row of IN in OUT, in order and untouched,
plus grid_code and routing; CSV streamed in chunks; user errors exit 2."""

import contextlib
import csv
import importlib
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from shapely.ops import polylabel

from gridmap.cli import main
from gridmap.geo.datums import DATUMS, wgs84_to_bd09, wgs84_to_gcj02

GRIDS = Path(__file__).resolve().parents[2] / "geodata" / "grids.geojson"
route_module = importlib.import_module("gridmap.cli.route")  # gridmap.cli.route is the command


def run(*args, grids=GRIDS):
    """Invoke ``gridmap route --grids GRIDS *args`` in-process."""
    return CliRunner().invoke(main, ["route", "--grids", str(grids), *map(str, args)])


def write_csv(path, rows, **kwargs):
    kwargs.setdefault("lineterminator", "\n")
    with open(path, "w", encoding=kwargs.pop("encoding", "utf-8"), newline="") as f:
        csv.writer(f, **kwargs).writerows(rows)


def read_csv_rows(path, encoding="utf-8"):
    with open(path, encoding=encoding, newline="") as f:
        return list(csv.reader(f))


def txt(value):
    """A coordinate as CSV text (``repr`` of a numpy float is ``np.float64(...)``)."""
    return repr(float(value))


def interior_point(grid):
    """A point deep inside a grid, as 7-decimal text (how field apps export)."""
    p = polylabel(grid.geometry, tolerance=1e-7)
    return f"{p.x:.7f}", f"{p.y:.7f}"


def west_edge(grids):
    """The westmost vertex of all grids: nothing lies west of it."""
    xy = shapely.get_coordinates(grids.geometries)
    return xy[np.argmin(xy[:, 0])]


def shared_vertex(grids):
    seen = {}
    for g in grids:
        for xy in {tuple(c) for c in shapely.get_coordinates(g.geometry)}:
            seen.setdefault(xy, set()).add(g.code)
    xy, codes = min((item for item in seen.items() if len(item[1]) > 1), key=lambda kv: kv[0])
    return xy, min(codes)


# -- CSV --------------------------------------------------------------------------


def test_csv_keeps_every_row_and_value(tmp_path, demo_grids):
    g1, g2 = demo_grids.grids[0], demo_grids.grids[5]
    (lon1, lat1), (lon2, lat2) = interior_point(g1), interior_point(g2)
    header = ["id", "名称", "备注", "lon", "lat", "空", "code"]
    rows = [
        ["1", "张三", '他说"你好", 然后走了', lon1 + "000", lat1, "", "0012"],
        ["2", "  李四 ", "第一行\n第二行", lon2, lat2, "NA", "1.50"],
        ["3", "王五", 'a "quoted" word', lon1, lat1, "null", "-"],
    ]
    write_csv(tmp_path / "in.csv", [header, *rows])

    result = run(tmp_path / "in.csv", tmp_path / "out.csv")

    assert result.exit_code == 0, result.output
    out = read_csv_rows(tmp_path / "out.csv")
    assert out[0] == header + ["grid_code", "routing"]
    assert [r[:len(header)] for r in out[1:]] == rows
    assert [r[len(header):] for r in out[1:]] == [
        [g1.code, "inside"], [g2.code, "inside"], [g1.code, "inside"]]


def test_csv_lines_are_kept_byte_for_byte(tmp_path, demo_grids):
    lon, lat = interior_point(demo_grids.grids[2])
    text = f'名称,lon,lat\n"引号""测试""",{lon},{lat}\n"a,b",{lon},{lat}\n'
    (tmp_path / "in.csv").write_text(text, encoding="utf-8")

    assert run(tmp_path / "in.csv", tmp_path / "out.csv").exit_code == 0

    lines = (tmp_path / "out.csv").read_text(encoding="utf-8").split("\n")
    code = demo_grids.grids[2].code
    assert lines == ["名称,lon,lat,grid_code,routing",
                     f'"引号""测试""",{lon},{lat},{code},inside',
                     f'"a,b",{lon},{lat},{code},inside', ""]


def test_csv_with_crlf_and_carriage_returns_in_values(tmp_path, demo_grids):
    lon, lat = interior_point(demo_grids.grids[1])
    rows = [["note", "lon", "lat"], ["a\rb", lon, lat], ["c\r\nd", lon, lat], ["e", lon, lat]]
    write_csv(tmp_path / "in.csv", rows, lineterminator="\r\n")

    assert run(tmp_path / "in.csv", tmp_path / "out.csv").exit_code == 0

    out = read_csv_rows(tmp_path / "out.csv")
    assert [r[:3] for r in out] == rows
    assert len(out) == 4
    assert (tmp_path / "out.csv").read_bytes().startswith(b"note,lon,lat,grid_code,routing\r\n")


def test_csv_byte_order_mark_is_kept(tmp_path, demo_grids):
    lon, lat = interior_point(demo_grids.grids[3])
    write_csv(tmp_path / "in.csv", [["lon", "lat"], [lon, lat]], encoding="utf-8-sig")

    assert run(tmp_path / "in.csv", tmp_path / "out.csv").exit_code == 0

    raw = (tmp_path / "out.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbflon,lat,grid_code,routing\n")
    assert read_csv_rows(tmp_path / "out.csv", "utf-8-sig")[1] == [
        lon, lat, demo_grids.grids[3].code, "inside"]


def test_invalid_coordinates_are_marked_not_fatal(tmp_path, demo_grids):
    lon, lat = interior_point(demo_grids.grids[0])
    bad = [("abc", lat), ("", lat), (lon, ""), ("NaN", lat), ("nan", "nan"), ("200", lat),
           (lon, "-91"), ("inf", lat), ("1e400", lat), (lon + "°", lat), ("1" * 400, lat)]
    rows = [["lon", "lat", "i"], [lon, lat, "ok"]]
    rows += [[x, y, str(i)] for i, (x, y) in enumerate(bad)]
    write_csv(tmp_path / "in.csv", rows)

    result = run(tmp_path / "in.csv", tmp_path / "out.csv")

    assert result.exit_code == 0, result.output
    out = read_csv_rows(tmp_path / "out.csv")
    assert out[1][3:] == [demo_grids.grids[0].code, "inside"]
    assert [r[3:] for r in out[2:]] == [["", "invalid"]] * len(bad)
    assert [r[:3] for r in out] == rows
    assert f"invalid   {len(bad):>12,}" in result.stderr
    assert "2, 3, 4, 5, 6 …" in result.stderr


def test_chunks_give_the_same_answers_and_row_numbers(tmp_path, demo_grids, monkeypatch):
    lon, lat = interior_point(demo_grids.grids[4])
    rows = [["lon", "lat"]] + [[lon, lat] if i % 3 else ["x", lat] for i in range(10)]
    write_csv(tmp_path / "in.csv", rows)
    monkeypatch.setattr(route_module, "CHUNK_ROWS", 3)

    result = run(tmp_path / "in.csv", tmp_path / "out.csv")

    assert result.exit_code == 0, result.output
    out = read_csv_rows(tmp_path / "out.csv")
    assert len(out) == 11
    assert [r[3] for r in out[1:]] == ["inside" if i % 3 else "invalid" for i in range(10)]
    assert "1, 4, 7, 10" in result.stderr


def test_header_only_csv_gives_header_only_out(tmp_path):
    (tmp_path / "in.csv").write_text("id,lon,lat\n", encoding="utf-8")

    result = run(tmp_path / "in.csv", tmp_path / "out.csv")

    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == "id,lon,lat,grid_code,routing\n"


def test_named_coordinate_columns(tmp_path, demo_grids):
    lon, lat = interior_point(demo_grids.grids[6])
    write_csv(tmp_path / "in.csv", [["纬度", "经度"], [lat, lon]])

    result = run("--lon-col", "经度", "--lat-col", "纬度", tmp_path / "in.csv", tmp_path / "out.csv")

    assert result.exit_code == 0, result.output
    assert read_csv_rows(tmp_path / "out.csv")[1] == [lat, lon, demo_grids.grids[6].code, "inside"]


# -- routing answers ----------------------------------------------------------------


def test_outside_snapped_and_boundary_points(tmp_path, demo_grids):
    x, y = west_edge(demo_grids)
    (bx, by), owner = shared_vertex(demo_grids)
    rows = [["where", "lon", "lat"],
            ["19 m west", txt(x - 0.0002), txt(y)],
            ["970 m west", txt(x - 0.01), txt(y)],
            ["shared vertex", txt(bx), txt(by)]]
    write_csv(tmp_path / "in.csv", rows)

    result = run(tmp_path / "in.csv", tmp_path / "out.csv")

    assert result.exit_code == 0, result.output
    out = read_csv_rows(tmp_path / "out.csv")
    assert out[0][-2:] == ["grid_code", "routing"]
    corner = shapely.Point(x, y)
    assert out[1][4] == "snapped"
    assert out[1][3] in {g.code for g in demo_grids if g.geometry.covers(corner)}
    assert out[2][3:] == ["", "outside"]
    assert out[3][3:] == [owner, "boundary"]
    assert "swapped" not in result.stderr


def test_nearest_adds_nearest_grid_and_distance(tmp_path, demo_grids):
    x, y = west_edge(demo_grids)
    lon, lat = interior_point(demo_grids.grids[0])
    write_csv(tmp_path / "in.csv", [["lon", "lat"], [txt(x - 0.01), txt(y)], [lon, lat],
                                    ["x", "y"]])

    result = run("--nearest", tmp_path / "in.csv", tmp_path / "out.csv")

    assert result.exit_code == 0, result.output
    out = read_csv_rows(tmp_path / "out.csv")
    assert out[0] == ["lon", "lat", "grid_code", "routing", "nearest_grid_code", "distance_m"]
    far = out[1]
    assert far[2:4] == ["", "outside"]
    assert far[4] in demo_grids
    # Nothing lies west of the westmost vertex: the distance is the 0.01° gap.
    gap_m = 0.01 * 111_320 * math.cos(math.radians(y))
    assert 0.98 * gap_m < float(far[5]) <= gap_m * 1.002
    assert out[2][2:] == [demo_grids.grids[0].code, "inside", demo_grids.grids[0].code, "0.0"]
    assert out[3][2:] == ["", "invalid", "", ""]


def test_tolerance_option_changes_snapping(tmp_path, demo_grids):
    x, y = west_edge(demo_grids)
    write_csv(tmp_path / "in.csv", [["lon", "lat"], [txt(x - 0.0002), txt(y)]])

    assert run("--tolerance", "5", tmp_path / "in.csv", tmp_path / "out.csv").exit_code == 0
    assert read_csv_rows(tmp_path / "out.csv")[1][2:] == ["", "outside"]


def test_other_code_field(tmp_path, demo_grids):
    doc = json.loads(GRIDS.read_text(encoding="utf-8"))
    for feature in doc["features"]:
        props = feature["properties"]
        props["网格编码"] = "X" + props.pop("grid_code")
    grids = tmp_path / "grids.geojson"
    grids.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    lon, lat = interior_point(demo_grids.grids[8])
    write_csv(tmp_path / "in.csv", [["lon", "lat"], [lon, lat]])

    result = run("--code-field", "网格编码", tmp_path / "in.csv", tmp_path / "out.csv", grids=grids)

    assert result.exit_code == 0, result.output
    assert read_csv_rows(tmp_path / "out.csv")[1][2:] == ["X" + demo_grids.grids[8].code, "inside"]


def test_grids_without_crs_need_crs_option(tmp_path, demo_grids):
    import geopandas

    frame = geopandas.read_file(GRIDS)
    frame.to_crs(32649).to_file(tmp_path / "grids.shp", engine="pyogrio")
    (tmp_path / "grids.prj").unlink()
    lon, lat = interior_point(demo_grids.grids[9])
    write_csv(tmp_path / "in.csv", [["lon", "lat"], [lon, lat]])
    grids = tmp_path / "grids.shp"

    refused = run(tmp_path / "in.csv", tmp_path / "out.csv", grids=grids)
    result = run("--crs", "EPSG:32649", tmp_path / "in.csv", tmp_path / "out.csv", grids=grids)

    assert_unusable(refused, "declares no CRS")
    assert result.exit_code == 0, result.output
    assert read_csv_rows(tmp_path / "out.csv")[1][2:] == [demo_grids.grids[9].code, "inside"]


@pytest.mark.parametrize("datum, convert", [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_datum_of_input_points(tmp_path, demo_grids, demo_router, datum, convert):
    # A grid whose interior point, read as WGS 84 without conversion, lands elsewhere.
    for grid in demo_grids:
        lon, lat = map(float, interior_point(grid))
        shifted = convert(lon, lat)
        if demo_router.route_point(*shifted).code != grid.code:
            break
    else:
        pytest.fail(f"every {datum} shift stays in its grid: the test cannot tell")
    write_csv(tmp_path / "in.csv", [["lon", "lat"], [txt(shifted[0]), txt(shifted[1])]])

    result = run("--datum", datum.upper(), tmp_path / "in.csv", tmp_path / "out.csv")
    assert run(tmp_path / "in.csv", tmp_path / "plain.csv").exit_code == 0

    assert result.exit_code == 0, result.output
    assert read_csv_rows(tmp_path / "out.csv")[1][2:] == [grid.code, "inside"]
    assert read_csv_rows(tmp_path / "plain.csv")[1][2] != grid.code


def test_datum_choices_match_the_core():
    assert route_module.DATUMS == DATUMS


# -- GeoJSON -------------------------------------------------------------------------


def test_geojson_in_and_out(tmp_path, demo_grids):
    lon, lat = map(float, interior_point(demo_grids.grids[7]))
    x, y = west_edge(demo_grids)

    def point(coords):
        return {"type": "Point", "coordinates": coords}

    features = [
        {"type": "Feature", "id": "a1", "geometry": point([lon, lat, 250.0]),
         "properties": {"名称": "张三", "n": 3, "ratio": 0.1, "tags": ["x", '"y"'],
                        "meta": {"k": None}}},
        {"type": "Feature", "geometry": point([x - 0.01, y]), "properties": None},
        {"type": "Feature", "geometry": None, "properties": {"名称": "无坐标"}},
        {"type": "Feature", "geometry": point(["108.8", "29.5"]), "properties": {}},
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[lon, lat]] * 2},
         "properties": {"k": 1}},
        {"type": "Feature", "geometry": point([lat, lon]), "properties": {"k": 2}},
    ]
    doc = {"type": "FeatureCollection", "name": "上报点", "features": features}
    (tmp_path / "in.geojson").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    result = run(tmp_path / "in.geojson", tmp_path / "out.json")

    assert result.exit_code == 0, result.output
    out = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert out["type"] == "FeatureCollection" and out["name"] == "上报点"
    assert len(out["features"]) == len(features)
    for before, after in zip(features, out["features"]):
        assert {k: v for k, v in after.items() if k != "properties"} == {
            k: v for k, v in before.items() if k != "properties"}
        props = dict(after["properties"])
        added = [props.pop("grid_code"), props.pop("routing")]
        assert props == (before["properties"] or {})
        before["added"] = added
    assert [f["added"] for f in features] == [
        [demo_grids.grids[7].code, "inside"], [None, "outside"], [None, "invalid"],
        [None, "invalid"], [None, "invalid"], [None, "invalid"]]
    assert "hint: 1 个" in result.stderr and "lon and lat are swapped" in result.stderr


def test_geojson_nearest_writes_json_null_not_nan(tmp_path):
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": None, "properties": {}}]}
    (tmp_path / "in.geojson").write_text(json.dumps(doc), encoding="utf-8")

    assert run("--nearest", tmp_path / "in.geojson", tmp_path / "out.geojson").exit_code == 0

    text = (tmp_path / "out.geojson").read_text(encoding="utf-8")
    assert "NaN" not in text
    assert json.loads(text)["features"][0]["properties"] == {
        "grid_code": None, "routing": "invalid", "nearest_grid_code": None, "distance_m": None}


# -- errors --------------------------------------------------------------------------


def assert_unusable(result, *fragments):
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.stderr


def test_missing_coordinate_columns_are_named(tmp_path):
    write_csv(tmp_path / "in.csv", [["x", "y", "名称"], ["1", "2", "3"]])

    result = run(tmp_path / "in.csv", tmp_path / "out.csv")

    assert_unusable(result, "['lon', 'lat']", "columns found: ['x', 'y', '名称']")
    assert not (tmp_path / "out.csv").exists()


def test_semicolon_csv_gets_a_hint(tmp_path):
    (tmp_path / "in.csv").write_text("lon;lat\n1;2\n", encoding="utf-8")

    assert_unusable(run(tmp_path / "in.csv", tmp_path / "out.csv"), "comma-separated")


@pytest.mark.parametrize("name, content, fragment", [
    ("in.csv", None, "IN not found"),
    ("in.csv", b"", "IN is empty"),
    ("in.csv", "lon,lat,名称\n1,2,张三\n".encode("gbk"), "not UTF-8"),
    ("in.csv", b"lon,lat,grid_code\n1,2,3\n", "already has ['grid_code']"),
    ("in.txt", b"lon,lat\n", "must be a .csv, .geojson or .json file"),
    ("in.geojson", b"{not json", "not valid JSON"),
    ("in.geojson", b'{"type": "Feature"}', "must be a GeoJSON FeatureCollection"),
    ("in.geojson", b'{"type": "FeatureCollection", "features": [1]}', "feature 1 is not"),
    ("in.geojson", b'{"type": "FeatureCollection", "features": [], "crs": {"type": "name", '
                   b'"properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}}', "EPSG::3857"),
    ("in.geojson", b'{"type": "FeatureCollection", "features": [], "crs": "EPSG:3857"}',
     "declares CRS \"'EPSG:3857'\""),
    ("in.geojson", b'{"type": "FeatureCollection", "features": [], "crs": {"properties": "x"}}',
     "declares CRS"),
    # a spreadsheet's trailing comma on the first row: not taken as an index column
    ("in.csv", b"id,lon,lat\nA1,108.79158,29.52809,\nA2,108.79,29.52\n",
     "a row has more fields than the header (3)"),
    ("in.csv", b"id,lon,lat\nA1,108.79158,29.52809\nA2,108.79,29.52,x\n", "saw 4"),
])
def test_unusable_input(tmp_path, name, content, fragment):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    out = tmp_path / ("out" + Path(name).suffix)

    assert_unusable(run(tmp_path / name, out), fragment)
    assert not out.exists()


@pytest.mark.parametrize("out_name, fragment", [
    ("out.geojson", "IN is CSV, so OUT must be CSV too"),
    ("missing/out.csv", "OUT's folder does not exist"),
    ("in.csv", "OUT must not be IN"),
])
def test_unusable_output(tmp_path, out_name, fragment):
    write_csv(tmp_path / "in.csv", [["lon", "lat"], ["108.8", "29.52"]])

    assert_unusable(run(tmp_path / "in.csv", tmp_path / out_name), fragment)
    assert (tmp_path / "in.csv").read_bytes() == b"lon,lat\n108.8,29.52\n"


@pytest.mark.parametrize("grids_text, args, fragment", [
    (None, [], "grid file not found"),
    ("not a grid file", [], "cannot read grid file"),
    (GRIDS.read_text(encoding="utf-8"), ["--code-field", "编码"], "no code field '编码'"),
    (GRIDS.read_text(encoding="utf-8"), ["--tolerance", "nan"], "tolerance must be"),
    (GRIDS.read_text(encoding="utf-8"), ["--crs", "EPSG:nope"], "unknown CRS"),
])
def test_unusable_grids(tmp_path, grids_text, args, fragment):
    grids = tmp_path / "grids.geojson"
    if grids_text is not None:
        grids.write_text(grids_text, encoding="utf-8")
    write_csv(tmp_path / "in.csv", [["lon", "lat"], ["108.8", "29.52"]])

    result = run(*args, tmp_path / "in.csv", tmp_path / "out.csv", grids=grids)

    assert_unusable(result, fragment)
    assert not (tmp_path / "out.csv").exists()


def test_non_utf8_text_after_the_first_block_is_refused(tmp_path):
    text = "lon,lat,name\n" + "108.8,29.52,ok\n" * 2000
    (tmp_path / "in.csv").write_bytes(text.encode() + "108.8,29.52,张三\n".encode("gbk"))

    assert_unusable(run(tmp_path / "in.csv", tmp_path / "out.csv"), "not UTF-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_csv_column_options_are_refused_for_geojson(tmp_path):
    (tmp_path / "in.geojson").write_text('{"type": "FeatureCollection", "features": []}')

    result = run("--lat-col", "y", tmp_path / "in.geojson", tmp_path / "out.geojson")

    assert_unusable(result, "--lat-col apply to CSV only")


def test_unreadable_input_is_unusable(tmp_path):
    (tmp_path / "in.csv").mkdir()  # unreadable as a file, even for root

    assert_unusable(run(tmp_path / "in.csv", tmp_path / "out.csv"), "IN", "is a directory")


def test_negative_tolerance_is_refused(tmp_path):
    write_csv(tmp_path / "in.csv", [["lon", "lat"]])

    result = run("--tolerance", "-1", tmp_path / "in.csv", tmp_path / "out.csv")

    assert result.exit_code == 2 and "-1" in result.stderr


def test_failure_midway_leaves_old_out_untouched(tmp_path, monkeypatch):
    rows = [["lon", "lat"]] + [["108.8", "29.52"]] * 5 + [["108.8", "29.52", "extra"]]
    write_csv(tmp_path / "in.csv", rows)
    (tmp_path / "out.csv").write_text("old\n", encoding="utf-8")
    monkeypatch.setattr(route_module, "CHUNK_ROWS", 2)

    result = run(tmp_path / "in.csv", tmp_path / "out.csv")

    assert_unusable(result, "Expected 2 fields in line 7, saw 3")
    assert (tmp_path / "out.csv").read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


# -- real processes ------------------------------------------------------------------


def gridmap_command(*args):
    return [sys.executable, "-m", "gridmap.cli", "route", "--grids", str(GRIDS), *map(str, args)]


def run_measured(args, tmp_path):
    """Run a command; return (exit status, stderr text, peak memory in bytes).

    The peak is the child's VmHWM, polled from /proc: ``ru_maxrss`` would not
    do, as it keeps the parent's size from before ``exec``.
    """
    status_file, peak = None, 0
    with open(tmp_path / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
        status_file = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            with contextlib.suppress(OSError):
                hwm = re.search(r"^VmHWM:\s+(\d+) kB", status_file.read_text(), re.M)
                peak = max(peak, int(hwm.group(1)) * 1024 if hwm else 0)
            time.sleep(0.02)
    return proc.returncode, (tmp_path / "stderr.txt").read_text("utf-8"), peak


def test_subprocess_reports_user_errors_without_traceback(tmp_path):
    write_csv(tmp_path / "in.csv", [["经度", "纬度"], ["108.8", "29.52"]])

    proc = subprocess.run(gridmap_command(tmp_path / "in.csv", tmp_path / "out.csv"),
                          capture_output=True, text=True, timeout=60)

    assert proc.returncode == 2
    assert "columns found: ['经度', '纬度']" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc for peak memory")
def test_a_million_rows_stream_through(tmp_path, demo_router):
    n = 1_000_000
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = demo_router.grids.bounds
    lons = rng.uniform(x0 - 0.003, x1 + 0.003, n).round(7)
    lats = rng.uniform(y0 - 0.003, y1 + 0.003, n).round(7)
    lons[::997] = np.nan  # written as 坏值 ("bad value")
    lines = [f"{i},{x:.7f},{y:.7f}\n".replace("nan", "坏值")
             for i, x, y in zip(range(n), lons.tolist(), lats.tolist())]
    (tmp_path / "big.csv").write_text("id,lon,lat\n" + "".join(lines), encoding="utf-8")
    (tmp_path / "small.csv").write_text("id,lon,lat\n" + "".join(lines[:1000]), encoding="utf-8")

    status, _, small_peak = run_measured(
        gridmap_command(tmp_path / "small.csv", tmp_path / "small_out.csv"), tmp_path)
    assert status == 0
    started = time.perf_counter()
    status, stderr, big_peak = run_measured(
        gridmap_command(tmp_path / "big.csv", tmp_path / "big_out.csv"), tmp_path)
    seconds = time.perf_counter() - started

    assert status == 0, stderr
    out = pd.read_csv(tmp_path / "big_out.csv", usecols=["id", "lon", "grid_code", "routing"],
                      dtype={"id": np.int64, "lon": str, "grid_code": str, "routing": str},
                      keep_default_na=False)
    assert len(out) == n
    assert (out["id"].to_numpy() == np.arange(n)).all()
    assert (out["lon"].to_numpy()[::997] == "坏值").all()
    expected = demo_router.route_points(lons, lats)
    codes = expected.codes()
    assert (out["grid_code"].to_numpy() == np.where(codes == None, "", codes)).all()  # noqa: E711
    assert (out["routing"].to_numpy() == expected.status_names()).all()
    counts = pd.Series(expected.status_names()).value_counts()
    assert counts["invalid"] == len(lons[::997])
    for name, count in counts.items():
        assert f"{name:<9} {count:>12,}" in stderr
    # Streaming: a million rows cost little more memory than a thousand
    # (reading them as one frame adds about 140 MiB).
    assert big_peak - small_peak < 64 * 2**20, (big_peak, small_peak)
    print(f"\n1,000,000 rows in {seconds:.1f} s, peak {big_peak / 2**20:.0f} MiB "
          f"(1,000 rows: {small_peak / 2**20:.0f} MiB)")
