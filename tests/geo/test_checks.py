"""Tests for gridmap.geo.checks (and the metric helpers it measures with)."""

import json
import math

import geopandas
import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from gridmap.errors import BadCoordinate, BadInput
from gridmap.geo.checks import SEVERITY, check_grids
from gridmap.geo.metric import local_metric_crs, to_metric, utm_epsg

X, Y, D = 108.800, 29.520, 0.001  # origin and cell size (about 97 m x 111 m)
GEOD = pyproj.Geod(ellps="WGS84")


def cell(i0, j0, i1, j1):
    """A box in cell units from (X, Y)."""
    return shapely.box(X + i0 * D, Y + j0 * D, X + i1 * D, Y + j1 * D)


def code(seq):
    return f"500114005001{seq:03d}"


def frame(codes, geoms, field="grid_code"):
    return geopandas.GeoDataFrame({field: codes}, geometry=list(geoms), crs=4326)


def geodesic_area(geom):
    return abs(GEOD.geometry_area_perimeter(geom)[0])


def of_kind(report, kind):
    return [i for i in report.issues if i.kind == kind]


def covers_location(geom, issue):
    return shapely.Point(issue.location).distance(geom) <= 1e-12


# A layer with every kind of problem, each in its own place (rows 0..9):
BOWTIE = shapely.Polygon([(X + 3 * D, Y), (X + 4 * D, Y + D), (X + 4 * D, Y), (X + 3 * D, Y + D)])
MESSY = [
    (code(1), cell(0, 1, 1, 2.5)),        # 0 A: sticks out of the outline above
    (code(2), cell(1, 1, 2.5, 2)),        # 1 B: overlaps C by half a cell
    (code(3), cell(2, 1, 3, 2)),          # 2 C
    (code(3), cell(3, 1, 4, 2)),          # 3 D: repeats C's code
    (code(5), cell(4, 1.00002, 5, 2)),    # 4 E: sliver gap below it
    (None, cell(0, 0, 1.00002, 1)),       # 5 F: no code, sliver overlap with G
    ("50011400500100X", cell(1, 0, 2, 1)),  # 6 G: bad code
    (code(8), cell(2.5, 0, 3, 1)),        # 7 H: a half-cell gap to its left
    (code(9), BOWTIE),                    # 8 I: self-intersecting
    (code(10), cell(4, 0, 5, 1)),         # 9 J
]
OUTLINE = cell(0, 0, 5, 2)


@pytest.fixture
def messy():
    return frame([c for c, _ in MESSY], [g for _, g in MESSY])


def test_clean_tiling_has_no_issues():
    grids = frame([code(1), code(2), code(3), code(4)],
                  [cell(0, 1, 1, 2), cell(1, 1, 2, 2), cell(0, 0, 1, 1), cell(1, 0, 2, 1)])
    report = check_grids(grids, outline=cell(0, 0, 2, 2))
    assert report.issues == []
    assert report.ok
    assert report.to_dict()["ok"] is True
    assert report.grid_count == 4
    assert "no problems" in report.format_text()


def test_every_problem_is_reported_at_once(messy):
    report = check_grids(messy, outline=OUTLINE)
    assert not report.ok
    counts = report.counts()
    assert counts == {
        "invalid_geometry": 1, "missing_code": 1, "bad_code": 1, "duplicate_code": 1,
        "overlap": 1, "sliver_overlap": 1, "gap": 3, "sliver_gap": 1, "outside_outline": 1,
        "unshared_vertex": counts["unshared_vertex"],
    }
    assert counts["unshared_vertex"] > 0
    assert all(i.severity == SEVERITY[i.kind] for i in report.issues)
    assert {i.severity for i in report.errors} == {"error"}


def test_bowtie_reported_with_reason_and_crossing_point(messy):
    (issue,) = of_kind(check_grids(messy, outline=OUTLINE), "invalid_geometry")
    assert issue.grid_codes == [code(9)] and issue.rows == [8]
    assert issue.reason.startswith("Self-intersection")
    assert issue.location == pytest.approx([X + 3.5 * D, Y + 0.5 * D], abs=1e-12)


def test_overlap_area_in_square_metres(messy):
    (issue,) = of_kind(check_grids(messy, outline=OUTLINE), "overlap")
    expected = cell(2, 1, 2.5, 2)
    assert issue.grid_codes == [code(2), code(3)] and issue.rows == [1, 2]
    assert issue.area_m2 == pytest.approx(geodesic_area(expected), rel=0.01)
    assert covers_location(expected, issue)


def test_sliver_overlap_is_an_error_with_both_grids(messy):
    (issue,) = of_kind(check_grids(messy, outline=OUTLINE), "sliver_overlap")
    expected = cell(1, 0, 1.00002, 1)
    assert issue.severity == "error"
    assert issue.grid_codes == [None, "50011400500100X"] and issue.rows == [5, 6]
    assert issue.area_m2 == pytest.approx(geodesic_area(expected), rel=0.01)
    assert 0 < issue.area_m2 < 1
    assert covers_location(expected, issue)


def test_gaps_with_area_location_and_neighbours(messy):
    gaps = of_kind(check_grids(messy, outline=OUTLINE), "gap")
    half_cell = cell(2, 0, 2.5, 1)
    (big,) = [g for g in gaps if covers_location(half_cell, g)]
    assert big.area_m2 == pytest.approx(geodesic_area(half_cell), rel=0.01)
    assert set(big.rows) == {1, 2, 6, 7}  # B and C above, G and H beside
    # the bowtie leaves two triangles uncovered, above and below its crossing
    triangles = [shapely.Polygon([(X + 3 * D, Y), (X + 4 * D, Y), (X + 3.5 * D, Y + 0.5 * D)]),
                 shapely.Polygon([(X + 3 * D, Y + D), (X + 4 * D, Y + D), (X + 3.5 * D, Y + 0.5 * D)])]
    for triangle in triangles:
        (gap,) = [g for g in gaps if covers_location(triangle, g)]
        assert gap.area_m2 == pytest.approx(geodesic_area(triangle), rel=0.01)
        assert 8 in gap.rows


def test_sliver_gap_reported_not_hidden(messy):
    (issue,) = of_kind(check_grids(messy, outline=OUTLINE), "sliver_gap")
    expected = cell(4, 1, 5, 1.00002)
    assert issue.severity == "error"
    assert {4, 9} <= set(issue.rows)  # E above, J below
    assert code(5) in issue.grid_codes and code(10) in issue.grid_codes
    assert issue.area_m2 == pytest.approx(geodesic_area(expected), rel=0.01)
    assert covers_location(expected, issue)


def test_part_outside_outline(messy):
    (issue,) = of_kind(check_grids(messy, outline=OUTLINE), "outside_outline")
    expected = cell(0, 2, 1, 2.5)
    assert issue.grid_codes == [code(1)] and issue.rows == [0]
    assert issue.area_m2 == pytest.approx(geodesic_area(expected), rel=0.01)
    assert covers_location(expected, issue)


def geometry_of(issue):
    return None if issue.geometry is None else shapely.from_geojson(json.dumps(issue.geometry))


def test_area_problems_carry_their_own_geometry(messy):
    """What the editor draws: the overlap, gap or part outside itself (GeoJSON, lon/lat),
    the ring an invalid grid breaks on; problems at a point (codes, vertices) have none."""
    report = check_grids(messy, outline=OUTLINE)
    expected = {"overlap": cell(2, 1, 2.5, 2), "sliver_overlap": cell(1, 0, 1.00002, 1),
                "sliver_gap": cell(4, 1, 5, 1.00002), "outside_outline": cell(0, 2, 1, 2.5)}
    for kind, area in expected.items():
        (issue,) = of_kind(report, kind)
        assert issue.geometry["type"] == "Polygon", kind
        assert shapely.symmetric_difference(geometry_of(issue), area).area < 1e-15, kind
    gaps = of_kind(report, "gap")
    assert all(covers_location(geometry_of(g), g) for g in gaps)
    assert any(shapely.equals(geometry_of(g), cell(2, 0, 2.5, 1)) for g in gaps)
    (bowtie,) = of_kind(report, "invalid_geometry")
    assert bowtie.geometry["type"] == "LineString"
    assert shapely.equals(geometry_of(bowtie), BOWTIE.exterior)
    for issue in report.issues:
        if issue.kind in ("missing_code", "bad_code", "duplicate_code", "unshared_vertex"):
            assert issue.geometry is None and issue.location is not None
    body = json.loads(json.dumps(report.to_dict()))
    assert [i["geometry"] for i in body["issues"]] == [i.geometry for i in report.issues]


def test_an_invalid_hole_is_drawn_as_that_ring():
    hole = [(X + D, Y + D), (X + 2 * D, Y + 2 * D), (X + 2 * D, Y + D), (X + D, Y + 2 * D)]
    grid = shapely.Polygon(cell(0, 0, 3, 3).exterior.coords, [hole])
    (issue,) = of_kind(check_grids(frame([code(1)], [grid])), "invalid_geometry")
    assert shapely.equals(geometry_of(issue), shapely.LineString(hole + hole[:1]))
    line = shapely.LineString([(X, Y), (X + D, Y + D)])
    (issue,) = check_grids(frame([code(1)], [line])).issues
    assert issue.kind == "not_polygon" and shapely.equals(geometry_of(issue), line)


def test_code_issues(messy):
    report = check_grids(messy, outline=OUTLINE)
    (dup,) = of_kind(report, "duplicate_code")
    assert dup.rows == [2, 3] and dup.grid_codes == [code(3), code(3)]
    assert covers_location(cell(2, 1, 3, 2), dup)
    (missing,) = of_kind(report, "missing_code")
    assert missing.rows == [5] and missing.grid_codes == [None]
    assert covers_location(cell(0, 0, 1, 1), missing)
    (bad,) = of_kind(report, "bad_code")
    assert bad.rows == [6] and bad.grid_codes == ["50011400500100X"]
    assert "50011400500100X" in bad.message.render("en")
    assert covers_location(cell(1, 0, 2, 1), bad)


def test_unshared_vertices_are_warnings_at_the_vertex(messy):
    warnings = of_kind(check_grids(messy, outline=OUTLINE), "unshared_vertex")
    assert all(w.severity == "warning" for w in warnings)
    found = {(tuple(w.rows), tuple(round(v, 9) for v in w.location)) for w in warnings}
    # B's corner on C's top edge, and E's raised corner on D's right edge
    assert ((1, 2), (round(X + 2.5 * D, 9), round(Y + 2 * D, 9))) in found
    assert ((4, 3), (round(X + 4 * D, 9), round(Y + 1.00002 * D, 9))) in found


def test_t_junction_alone_is_only_a_warning():
    # the right column is split in two, the left cell is whole: a T-junction
    grids = frame([code(1), code(2), code(3)],
                  [cell(0, 0, 1, 2), cell(1, 1, 2, 2), cell(1, 0, 2, 1)])
    report = check_grids(grids)
    assert report.ok
    # the corner both right cells share lies on the left cell's edge
    assert {i.kind for i in report.issues} == {"unshared_vertex"}
    assert sorted(tuple(i.rows) for i in report.issues) == [(1, 0), (2, 0)]
    for issue in report.issues:
        assert issue.location == pytest.approx([X + D, Y + D], abs=1e-12)


def test_without_outline_holes_are_gaps_and_nothing_is_outside():
    ring = [cell(i, j, i + 1, j + 1) for j in range(3) for i in range(3) if (i, j) != (1, 1)]
    report = check_grids(frame([code(k) for k in range(1, 9)], ring))
    (gap,) = report.issues
    assert gap.kind == "gap"
    assert gap.area_m2 == pytest.approx(geodesic_area(cell(1, 1, 2, 2)), rel=0.01)
    assert sorted(gap.rows) == list(range(8))
    assert covers_location(cell(1, 1, 2, 2), gap)


def test_sliver_threshold_is_configurable(messy):
    none_small = check_grids(messy, outline=OUTLINE, sliver_area_m2=0)
    assert "sliver_overlap" not in none_small.counts()
    assert none_small.counts()["overlap"] == 2
    all_small = check_grids(messy, outline=OUTLINE, sliver_area_m2=1e6)
    assert "overlap" not in all_small.counts() and "gap" not in all_small.counts()
    assert all_small.counts()["sliver_gap"] == 4


def test_code_pattern_is_configurable_and_ascii_only():
    grids = frame(["500114005001001", "500114004001002", "500114005001００3"],
                  [cell(0, 0, 1, 1), cell(1, 0, 2, 1), cell(2, 0, 3, 1)])
    assert [i.rows for i in check_grids(grids).issues] == [[2]]  # full-width digits
    strict = check_grids(grids, code_pattern=r"^500114005001\d{3}$")
    assert sorted(i.rows[0] for i in of_kind(strict, "bad_code")) == [1, 2]


def test_code_must_match_in_full():
    grids = frame(["500114005001001\n", "X500114005001002", "500114005001003"],
                  [cell(0, 0, 1, 1), cell(1, 0, 2, 1), cell(2, 0, 3, 1)])
    assert [i.rows for i in check_grids(grids).issues] == [[0], [1]]  # a trailing newline too
    unanchored = check_grids(grids, code_pattern=r"500114005\d{6}")
    assert [i.rows for i in unanchored.issues] == [[0], [1]]


def test_numeric_codes_are_read_as_text():
    grids = frame([500114005001001, 500114005001002], [cell(0, 0, 1, 1), cell(1, 0, 2, 1)])
    assert check_grids(grids).issues == []


def test_missing_code_field_still_checks_geometry():
    grids = frame([code(1), code(2)], [cell(0, 0, 1, 1), cell(0.5, 0, 2, 1)], field="code")
    report = check_grids(grids)
    assert report.counts() == {"missing_code_field": 1, "overlap": 1, "unshared_vertex": 4}
    assert "code" in of_kind(report, "missing_code_field")[0].message.render("en")
    assert of_kind(report, "overlap")[0].grid_codes == [None, None]
    assert check_grids(grids, code_field="code").counts() == {"overlap": 1, "unshared_vertex": 4}


def test_null_empty_and_non_polygon_geometries_do_not_stop_other_checks():
    grids = frame([code(1), code(2), code(3), code(4), code(5)],
                  [cell(0, 0, 1, 1), None, shapely.Polygon(),
                   shapely.LineString([(X, Y), (X + D, Y + D)]), cell(0.5, 0, 2, 1)])
    report = check_grids(grids)
    empties = of_kind(report, "empty_geometry")
    assert [(i.rows, i.reason) for i in empties] == [([1], "null"), ([2], "empty")]
    (line,) = of_kind(report, "not_polygon")
    assert line.rows == [3] and line.reason == "LineString"
    (overlap,) = of_kind(report, "overlap")
    assert overlap.grid_codes == [code(1), code(5)]


def test_no_usable_geometry_leaves_the_whole_outline_a_gap():
    grids = frame([code(1)], [None])
    report = check_grids(grids, outline=cell(0, 0, 1, 1))
    assert [i.kind for i in report.issues] == ["empty_geometry", "gap"]
    assert report.issues[1].area_m2 == pytest.approx(geodesic_area(cell(0, 0, 1, 1)), rel=0.01)


def test_invalid_geometry_still_takes_part_in_overlaps():
    grids = frame([code(1), code(2)], [BOWTIE, cell(3, 0, 3.5, 1)])
    report = check_grids(grids)
    (overlap,) = of_kind(report, "overlap")
    left_triangle = shapely.Polygon([(X + 3 * D, Y), (X + 3.5 * D, Y + 0.5 * D), (X + 3 * D, Y + D)])
    assert overlap.area_m2 == pytest.approx(geodesic_area(left_triangle), rel=0.01)


def test_outline_as_geodataframe_in_another_crs():
    grids = frame([code(1), code(2)], [cell(0, 0, 1, 1), cell(1, 0, 2, 1)])
    around = cell(-0.5, -0.5, 2.5, 1.5)
    outline = geopandas.GeoDataFrame(geometry=[around], crs=4326).to_crs(32649)
    (gap,) = check_grids(grids, outline=outline).issues
    assert gap.kind == "gap" and gap.rows == [0, 1]
    expected = geodesic_area(around) - geodesic_area(cell(0, 0, 2, 1))
    assert gap.area_m2 == pytest.approx(expected, rel=0.01)


def test_outline_edge_off_by_float_noise_is_still_reported():
    grids = frame([code(1), code(2)], [cell(0, 0, 1, 1), cell(1, 0, 2, 1)])
    outline = shapely.box(X, Y + 1e-12, X + 2 * D, Y + D)
    report = check_grids(grids, outline=outline)
    assert [(i.kind, i.rows) for i in report.issues] == [
        ("outside_outline", [0]), ("outside_outline", [1])]
    assert all(i.area_m2 < 0.001 for i in report.issues)
    assert "< 0.001 m²" in report.format_text()


def test_hair_thin_sliver_along_a_parallel_measures_near_zero():
    # the middle corner sits 1e-13 degrees (about 10 nm) above the outline's
    # edge: about 1e-6 m² of gap. Projecting only the three corners would
    # add the parallel's curvature in UTM, about 0.04 m².
    lifted = shapely.Polygon([(X, Y), (X + D, Y + 1e-13), (X + D, Y + D), (X, Y + D)])
    right = shapely.Polygon([(X + D, Y + 1e-13), (X + 2 * D, Y), (X + 2 * D, Y + D), (X + D, Y + D)])
    report = check_grids(frame([code(1), code(2)], [lifted, right]), outline=cell(0, 0, 2, 1))
    (sliver,) = report.issues
    assert sliver.kind == "sliver_gap"
    assert 0 < sliver.area_m2 < 1e-4


def test_report_is_json_ready_and_readable(messy):
    report = check_grids(messy, outline=OUTLINE)
    body = json.loads(json.dumps(report.to_dict()))
    assert body["ok"] is False
    assert body["error_count"] == len(report.errors) == 11
    assert body["warning_count"] == len(report.warnings)
    assert len(body["issues"]) == len(report.issues)
    first = body["issues"][0]
    assert set(first) >= {"kind", "severity", "grid_codes", "message", "location", "area_m2", "reason"}
    text = report.format_text()
    for issue in report.issues:
        assert issue.kind in text
    assert "500114005001003 (#2)" in text  # repeated codes are told apart


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "big"])
def test_bad_sliver_area_is_refused(messy, bad):
    with pytest.raises(BadInput, match="sliver_area_m2"):
        check_grids(messy, sliver_area_m2=bad)


def test_bad_code_pattern_is_refused(messy):
    with pytest.raises(BadInput, match="regular expression"):
        check_grids(messy, code_pattern="500114(")


def test_by_default_a_code_is_15_digits_of_the_county():
    codes = ["500114005001001", "50011400500100", "5001140050010011", "500115005001004",
             "500114abc001005"]
    grids = frame(codes, [cell(i, 0, i + 1, 1) for i in range(len(codes))])
    assert sorted(i.rows[0] for i in of_kind(check_grids(grids), "bad_code")) == [1, 2, 3, 4]


def test_voronoi_partition_is_clean():
    rng = np.random.default_rng(7)
    box = cell(0, 0, 30, 30)
    points = shapely.multipoints(rng.uniform([X, Y], [X + 30 * D, Y + 30 * D], size=(400, 2)))
    cells = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(points, extend_to=box)), box)
    grids = frame([f"500114005{i:06d}" for i in range(len(cells))], cells)
    assert check_grids(grids, outline=box).issues == []
    # dropping one cell leaves exactly that cell as a gap
    report = check_grids(grids.drop(index=123), outline=box)
    (gap,) = report.issues
    assert gap.area_m2 == pytest.approx(geodesic_area(cells[123]), rel=0.01)


@settings(max_examples=25, deadline=None)
@given(xs=st.lists(st.integers(1, 19), min_size=1, max_size=5, unique=True),
       ys=st.lists(st.integers(1, 19), min_size=1, max_size=5, unique=True),
       data=st.data())
def test_rectangle_tilings_are_clean_and_a_removed_one_is_a_gap(xs, ys, data):
    xs, ys = [0, *sorted(xs), 20], [0, *sorted(ys), 20]
    rects = [cell(x0 / 10, y0 / 10, x1 / 10, y1 / 10)
             for x0, x1 in zip(xs, xs[1:]) for y0, y1 in zip(ys, ys[1:])]
    outline = cell(0, 0, 2, 2)
    grids = frame([code(k) for k in range(len(rects))], rects)
    assert check_grids(grids, outline=outline).issues == []
    drop = data.draw(st.integers(0, len(rects) - 1))
    (gap,) = check_grids(grids.drop(index=drop), outline=outline).issues
    assert gap.kind == ("gap" if geodesic_area(rects[drop]) >= 1 else "sliver_gap")
    assert gap.area_m2 == pytest.approx(geodesic_area(rects[drop]), rel=0.01)


# -- gridmap.geo.metric, the projection the areas above are measured in --

@pytest.mark.parametrize(("lon", "lat", "epsg"), [
    (108.8, 29.52, 32649), (108.0, 29.5, 32649), (107.99, 29.5, 32648),
    (-70.6, -33.4, 32719), (-180.0, 0.0, 32601), (180.0, 10.0, 32660),
])
def test_utm_zone(lon, lat, epsg):
    assert utm_epsg(lon, lat) == epsg
    assert local_metric_crs(lon, lat).to_epsg() == epsg


@pytest.mark.parametrize(("lon", "lat"), [(181, 0), (0, -91), (float("nan"), 0), ("x", 0)])
def test_metric_crs_refuses_bad_coordinates(lon, lat):
    with pytest.raises(BadCoordinate):
        local_metric_crs(lon, lat)


def test_to_metric_matches_geodesic_distance_and_takes_arrays():
    line = shapely.LineString([(108.80, 29.52), (108.81, 29.53)])
    crs = local_metric_crs(108.8, 29.52)
    geod_length = GEOD.geometry_length(line)
    projected = to_metric(np.array([line, line]), crs)
    assert projected.shape == (2,)
    assert shapely.length(projected[0]) == pytest.approx(geod_length, rel=1e-3)
    assert not math.isclose(shapely.length(line), geod_length)  # degrees are not metres
