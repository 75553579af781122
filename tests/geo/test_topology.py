"""Topology-keeping edits (gridmap.geo.topology): shared vertices stay shared
bit for bit, the coverage stays whole, and refused edits change nothing.

Property tests run random sequences of vertex moves, splits and merges on the
shipped 13 grids and on a random rectangular grid."""

import copy
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon, box

from gridmap.errors import BadInput, TopologyRefused
from gridmap.geo import topology as T

ROOT = Path(__file__).resolve().parents[2]
TOL = 2.0
M = 1 / 111_195  # about one metre of latitude in degrees


def shipped():
    doc = json.loads((ROOT / "geodata" / "grids.geojson").read_text(encoding="utf-8"))
    return {f["properties"]["grid_code"]: shapely.from_geojson(json.dumps(f["geometry"]))
            for f in doc["features"]}


def lattice(nx, ny, seed, cell=0.002, jitter=0.3):
    """An nx × ny grid of quadrilaterals with jittered inner vertices, shared exactly."""
    rng = np.random.default_rng(seed)
    xs = 108.79 + np.arange(nx + 1) * cell
    ys = 29.51 + np.arange(ny + 1) * cell
    pts = {}
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            inner = 0 < i < nx and 0 < j < ny
            dx, dy = (rng.uniform(-jitter, jitter, 2) * cell) if inner else (0.0, 0.0)
            pts[i, j] = (float(x + dx), float(y + dy))
    return {f"g{i}-{j}": Polygon([pts[i, j], pts[i + 1, j], pts[i + 1, j + 1], pts[i, j + 1]])
            for i in range(nx) for j in range(ny)}


def total(cov):
    return sum(g.area for g in cov.values())


def assert_whole(cov, original):
    """Valid polygons, no overlaps, no gaps, the same covered area, vertices shared."""
    geoms = list(cov.values())
    assert all(g.geom_type == "Polygon" and g.is_valid for g in geoms)
    whole = total(original)
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    overlap = sum(shapely.intersection(geoms[i], geoms[j]).area
                  for i, j in zip(left, right) if i < j)
    assert overlap <= 1e-12 * whole
    union = shapely.union_all(geoms)
    assert abs(total(cov) - whole) <= 1e-9 * whole
    assert abs(union.area - whole) <= 1e-9 * whole  # no gaps: the union is all of it
    assert shapely.symmetric_difference(union, shapely.union_all(list(original.values()))).area \
        <= 1e-9 * whole
    assert T.is_shared_exactly(cov)


def inner_vertices(cov):
    union = shapely.union_all(list(cov.values()))
    counts = Counter(p for g in cov.values() for p in T._vertices(g))
    return sorted(p for p, n in counts.items()
                  if n >= 2 and not shapely.dwithin(union.boundary, Point(p), 1e-9))


def neighbours(cov):
    metric = T.Metric.of(cov)
    keys = sorted(cov)
    return [(a, b) for a in keys for b in keys
            if a < b and shapely.intersects(cov[a], cov[b])
            and T._shared_length(metric, cov[a], cov[b]) > 0]


def apply(cov, op):
    kind = op[0]
    if kind == "move":
        vs = inner_vertices(cov)
        v = vs[int(op[1] * len(vs)) % len(vs)]
        return T.move_vertex(cov, v, (v[0] + op[2] * M, v[1] + op[3] * M), TOL)
    if kind == "split":
        keys = sorted(cov)
        key = keys[int(op[1] * len(keys)) % len(keys)]
        ring = cov[key].exterior
        a, b = ring.interpolate(op[2], normalized=True), ring.interpolate(op[3], normalized=True)
        mid = cov[key].representative_point()
        return T.split(cov, key, [(a.x, a.y), (mid.x, mid.y), (b.x, b.y)], TOL)
    pairs = neighbours(cov)
    a, b = pairs[int(op[1] * len(pairs)) % len(pairs)]
    return T.merge(cov, a, b)


unit = st.floats(0, 0.999)
ops = st.lists(st.one_of(
    st.tuples(st.just("move"), unit, st.floats(-60, 60), st.floats(-60, 60)),
    st.tuples(st.just("split"), unit, unit, unit),
    st.tuples(st.just("merge"), unit)), min_size=1, max_size=6)
FAST = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def run(cov, sequence):
    original, done = cov, 0
    for op in sequence:
        if len(cov) < 2 and op[0] == "merge":
            continue
        before = copy.copy(cov)
        try:
            cov = apply(cov, op)
            done += 1
        except TopologyRefused:
            assert cov == before  # refused: nothing changed
        assert_whole(cov, original)
    return done


@FAST
@given(ops)
def test_random_edits_keep_the_shipped_grids_whole(sequence):
    run(shipped(), sequence)


@FAST
@given(st.integers(0, 1000), ops)
def test_random_edits_keep_a_random_grid_whole(seed, sequence):
    run(lattice(4, 3, seed), sequence)


def test_the_random_sequences_do_edit():
    """The property tests are not all refusals."""
    cov = lattice(4, 3, 7)
    assert run(cov, [("move", 0.3, 20, -15), ("split", 0.4, 0.1, 0.6), ("merge", 0.2),
                     ("move", 0.7, -10, 10)]) == 4


# -- moving a vertex -------------------------------------------------------------

def test_a_shared_vertex_moves_in_every_grid_that_has_it():
    cov = lattice(3, 3, 1)
    v = inner_vertices(cov)[0]
    owners = [k for k, g in cov.items() if v in T._vertices(g)]
    assert len(owners) == 4
    to = (v[0] + 5 * M, v[1] - 3 * M)
    out = T.move_vertex(cov, (v[0] + 1 * M, v[1]), to, TOL)  # found within 2 m
    for k in owners:
        assert to in T._vertices(out[k]) and v not in T._vertices(out[k])
    assert_whole(out, cov)


def notch(k=0.001 / 3):
    """Three grids: a below, b and c above it with a notch of the outline between."""
    x = [108.8 + i * k for i in range(7)]
    y = [29.51 + i * k for i in range(3)]
    a = Polygon([(x[0], y[0]), (x[6], y[0]), (x[6], y[1]), (x[4], y[1]), (x[2], y[1]),
                 (x[0], y[1])])
    b = Polygon([(x[0], y[1]), (x[2], y[1]), (x[2], y[2]), (x[0], y[2])])
    c = Polygon([(x[4], y[1]), (x[6], y[1]), (x[6], y[2]), (x[4], y[2])])
    return {"a": a, "b": b, "c": c}, x, y


def test_the_target_snaps_exactly_to_a_vertex_within_the_tolerance():
    cov, x, y = notch()
    corner = (x[2], y[2])  # b's, on the outline
    aim = (x[4] - 1.2 * M, y[1] + 0.8 * M)  # 1.4 m from the corner a and c share
    out = T.move_vertex(cov, corner, aim, TOL)
    assert (x[4], y[1]) in T._vertices(out["b"])  # their very coordinates
    assert aim not in T._vertices(out["b"])
    assert out["c"] is cov["c"] and out["a"] is cov["a"]
    assert shapely.intersection(out["b"], out["c"]).area == 0
    assert T.is_shared_exactly(out)
    # onto c's top corner: the notch would be closed into a hole
    with pytest.raises(TopologyRefused) as err:
        T.move_vertex(cov, corner, (x[4] - 1.2 * M, y[2] + 0.8 * M), TOL)
    assert err.value.reason == "opens_gap"
    # 3 m away, nothing snaps: the point is taken as given
    aim = (x[4] - 3 * M, y[1] + 3 * M)
    assert aim in T._vertices(T.move_vertex(cov, corner, aim, TOL)["b"])


def test_the_target_snaps_onto_an_edge_and_into_every_grid_that_has_it():
    cov, x, y = notch()
    # b's outline corner (x2, y2) to 1 m above a's outline edge inside the notch
    aim = ((x[2] + x[4]) / 2, y[1] + 1 * M)
    out = T.move_vertex(cov, (x[2], y[2]), aim, TOL)
    snapped = [p for p in T._vertices(out["b"]) if p[1] == y[1] and x[2] < p[0] < x[4]]
    assert len(snapped) == 1 and snapped[0] in T._vertices(out["a"])  # inserted into a
    assert T.is_shared_exactly(out)


def test_an_interior_move_that_would_fold_grids_is_refused():
    cov = lattice(3, 3, 4, jitter=0.0)
    v = inner_vertices(cov)[0]
    with pytest.raises(TopologyRefused) as err:
        T.move_vertex(cov, v, (v[0] + 0.005, v[1] + 0.005), TOL)
    assert err.value.reason in ("overlap", "invalid_result", "area_changed")
    assert err.value.status == 422


def test_no_vertex_near_is_bad_input():
    cov = lattice(2, 2, 5)
    v = inner_vertices(cov)[0]
    with pytest.raises(BadInput) as err:
        T.move_vertex(cov, (v[0] + 10 * M, v[1]), (v[0], v[1] + 0.0001), TOL)
    assert err.value.field == "at"


def test_an_outline_vertex_moves_and_changes_the_outline():
    cov = lattice(2, 2, 6, jitter=0.0)
    corner = cov["g0-0"].exterior.coords[0]
    out = T.move_vertex(cov, corner, (corner[0] - 20 * M, corner[1] - 20 * M), TOL)
    assert total(out) > total(cov)
    assert T.is_shared_exactly(out)


def test_a_vertex_on_a_neighbours_edge_is_inserted_there():
    """Moving an outline vertex onto a neighbour's edge inserts it into that edge."""
    left = box(0, 0, 0.001, 0.002)
    right = Polygon([(0.001, 0), (0.002, 0), (0.002, 0.002), (0.001, 0.002)])
    top = Polygon([(0, 0.002), (0.002, 0.002), (0.002, 0.003), (0, 0.003)])
    cov = {"l": left, "r": right, "t": top}
    # top's edge along y=0.002 has no vertex at x=0.001; the split point is inserted
    out = T._node(cov, ["l", "r"])
    assert (0.001, 0.002) in T._vertices(out["t"])
    assert T.is_shared_exactly(out)


# -- split, merge, redraw, add, remove --------------------------------------------

def test_split_gives_two_provisional_parts_sharing_the_cut():
    cov = lattice(2, 2, 8, jitter=0.0)
    g = cov["g0-0"]
    minx, miny, maxx, maxy = g.bounds
    y = (miny + maxy) / 2
    out = T.split(cov, "g0-0", [(minx - 0.0005, y), (maxx + 0.0005, y)], TOL)
    assert "g0-0" not in out and {"new:1", "new:2"} <= set(out)
    cut = {(minx, y), (maxx, y)}
    assert cut <= T._vertices(out["new:1"]) and cut <= T._vertices(out["new:2"])
    assert (maxx, y) in T._vertices(out["g1-0"])  # the new vertex is in the neighbour too
    assert_whole(out, cov)


def test_split_line_ending_inside_is_refused():
    cov = lattice(2, 2, 9, jitter=0.0)
    minx, miny, maxx, maxy = cov["g0-0"].bounds
    y = (miny + maxy) / 2
    with pytest.raises(TopologyRefused) as err:
        T.split(cov, "g0-0", [(minx - 0.0005, y), ((minx + maxx) / 2, y)], TOL)
    assert err.value.reason == "line_end_inside"
    with pytest.raises(TopologyRefused):
        T.split(cov, "g0-0", [(maxx + 0.001, y), (maxx + 0.002, y)], TOL)


def test_split_ends_within_tolerance_snap_to_the_border():
    cov = lattice(2, 2, 10, jitter=0.0)
    minx, miny, maxx, maxy = cov["g0-0"].bounds
    y = (miny + maxy) / 2
    out = T.split(cov, "g0-0", [(minx + 1 * M, y), (maxx - 1.5 * M, y)], TOL)
    assert_whole(out, cov)


def test_a_cut_ending_between_corners_of_a_slanted_outer_edge_ends_at_the_nearer_corner():
    # the shipped grid 013's east edges are on the outline and slanted: a point between
    # their corners would lie on them only to within rounding, a sliver to the outline
    cov = shipped()
    code = "500114005001013"
    g = cov[code]
    x0, y0, x1, y1 = g.bounds
    y = g.centroid.y
    corners = set(T._vertices(g))
    out = T.split(cov, code, [(x0 - 0.001, y), (x1 + 0.001, y)], TOL)
    assert_whole(out, cov)
    east = max((p for k in ("new:1", "new:2") for p in T._vertices(out[k])), key=lambda p: p[0])
    assert east in corners  # no new point on the outer edge
    west_end = min((p for p in T._vertices(out["new:1"]) & T._vertices(out["new:2"])),
                   key=lambda p: p[0])
    assert west_end not in corners  # the west edge is shared: the cut ends where drawn
    assert any(west_end in T._vertices(h) for k, h in out.items() if not k.startswith("new:"))
    whole = shapely.union_all([out["new:1"], out["new:2"]])
    assert T._vertices(whole) - corners == {west_end}  # nothing new on the outer edges
    assert T._exactly_on(((0.0, 0.0), (3.0, 3.0)), (1.0, 1.0))
    assert not T._exactly_on(((0.0, 0.0), (3.0, 1.0)), (1.0, 1 / 3))


def test_merge_needs_neighbours():
    cov = lattice(3, 1, 11)
    out = T.merge(cov, "g0-0", "g1-0")
    assert set(out) == {"g0-0", "g2-0"}
    assert_whole(out, cov)
    with pytest.raises(TopologyRefused) as err:
        T.merge(cov, "g0-0", "g2-0")
    assert err.value.reason == "not_neighbours"
    with pytest.raises(BadInput):
        T.merge(cov, "g0-0", "nope")


def test_redraw_moves_area_between_two_grids_only():
    cov = lattice(2, 1, 12, jitter=0.0)
    x = cov["g0-0"].bounds[2]
    lo, hi = cov["g0-0"].bounds[1], cov["g0-0"].bounds[3]
    line = [(x, lo), (x + 0.0005, (lo + hi) / 2), (x, hi)]
    out = T.redraw(cov, "g0-0", "g1-0", line, TOL)
    gained = out["g0-0"].area - cov["g0-0"].area
    assert gained > 0 and abs(gained + out["g1-0"].area - cov["g1-0"].area) < 1e-15
    assert_whole(out, cov)
    with pytest.raises(TopologyRefused):  # an end not on the shared border
        T.redraw(cov, "g0-0", "g1-0", [(x - 0.0008, lo + 0.0005), (x, hi)], TOL)
    with pytest.raises(TopologyRefused):  # the line leaves the two grids
        T.redraw(cov, "g0-0", "g1-0", [(x, lo), (x, lo - 0.001), (x, hi)], TOL)


def test_add_cuts_the_new_grid_by_the_existing_ones():
    cov = lattice(2, 1, 13, jitter=0.0)
    minx, miny, maxx, maxy = shapely.union_all(list(cov.values())).bounds
    out = T.add(cov, [(minx, maxy - 0.001), (maxx, maxy - 0.001), (maxx, maxy + 0.001),
                      (minx, maxy + 0.001), (minx, maxy - 0.001)], TOL)
    new = out["new:1"]
    assert abs(new.area - (maxx - minx) * 0.001) < 1e-12
    assert not any(shapely.intersection(new, g).area > 0 for k, g in out.items() if k != "new:1")
    assert T.is_shared_exactly(out)
    with pytest.raises(TopologyRefused) as err:  # wholly inside existing grids
        T.add(cov, [(minx + 0.0002, miny + 0.0002), (minx + 0.0004, miny + 0.0002),
                    (minx + 0.0004, miny + 0.0004)], TOL)
    assert err.value.reason == "nothing_left"


def test_remove_gives_the_area_to_the_longest_border():
    cov = {"a": box(0, 0, 0.002, 0.001), "b": box(0.002, 0, 0.003, 0.001),
           "c": box(0, 0.001, 0.003, 0.002)}
    out = T.remove(cov, "a")  # borders: b 0.001, c 0.002: c takes it
    assert set(out) == {"b", "c"} and abs(out["c"].area - 0.000005) < 1e-15
    assert T.is_shared_exactly(out)
    tie = {"a": box(0, 0, 0.001, 0.001), "b": box(0.001, 0, 0.002, 0.001),
           "c": box(-0.001, 0, 0, 0.001)}
    with pytest.raises(TopologyRefused) as err:
        T.remove(tie, "a")
    assert err.value.reason == "ambiguous"


# -- fixes -------------------------------------------------------------------------

def test_a_gap_merges_into_the_neighbour_with_the_longest_border():
    cov = {"a": box(0, 0, 0.002, 0.001), "b": box(0.0021, 0.0002, 0.003, 0.001),
           "d": box(0.0021, 0, 0.003, 0.0002)}
    outline = box(0, 0, 0.003, 0.001)
    out = T.fix(cov, {"kind": "sliver_gap", "location": [0.00205, 0.0005]}, outline=outline)
    # the strip borders a along 0.001, b along 0.0008, d along 0.0002: a takes it
    assert abs(out["a"].area - 0.0021 * 0.001) < 1e-15
    assert out["b"] is cov["b"] and out["d"] is cov["d"]
    assert abs(shapely.union_all(list(out.values())).area - outline.area) < 1e-15
    assert (0.0021, 0.0002) in T._vertices(out["a"])
    assert T.is_shared_exactly(out)


def test_fixes_refuse_what_is_not_unambiguous():
    cov = {"a": box(0, 0, 0.001, 0.001), "b": box(0.0011, 0, 0.0021, 0.001)}
    outline = box(0, 0, 0.0021, 0.001)
    with pytest.raises(TopologyRefused) as err:
        T.fix(cov, {"kind": "gap", "location": [0.00105, 0.0005]}, outline=outline)
    assert err.value.reason == "ambiguous"
    with pytest.raises(TopologyRefused) as err:
        T.fix(cov, {"kind": "invalid_geometry", "location": [0.00105, 0.0005]}, outline=outline)
    assert err.value.reason == "not_fixable"
    square = {"a": box(0, 0, 0.002, 0.002), "b": box(0.001, 0.001, 0.003, 0.003)}
    with pytest.raises(TopologyRefused) as err:  # a compact overlap needs the planner
        T.fix(square, {"kind": "overlap", "location": [0.0015, 0.0015],
                       "grid_codes": ["a", "b"]})
    assert err.value.reason == "not_fixable"
    with pytest.raises(TopologyRefused) as err:
        T.fix(cov, {"kind": "gap", "location": [0.5, 0.5]}, outline=outline)
    assert err.value.reason == "problem_not_found"


def test_a_sliver_overlap_goes_to_one_grid():
    a = Polygon([(0, 0), (0.00201, 0), (0.002, 0.001), (0, 0.001)])
    cov = {"a": a, "b": box(0.002, 0, 0.003, 0.001)}
    with pytest.raises(TopologyRefused) as err:  # a straight strip: both sides tie
        T.fix({"a": box(0, 0, 0.00201, 0.001), "b": cov["b"]},
              {"kind": "sliver_overlap", "location": [0.002005, 0.0005], "grid_codes": ["a", "b"]})
    assert err.value.reason == "ambiguous"
    out = T.fix(cov, {"kind": "sliver_overlap", "location": [0.002003, 0.0001],
                      "grid_codes": ["a", "b"]})
    # cut from both, the wedge borders b along its slanted side, a along its straight
    # side: the slanted one is longer, so b takes it back and a loses it
    assert abs(out["b"].area - cov["b"].area) < 1e-18
    assert abs(out["a"].area - 0.002 * 0.001) < 1e-18
    assert shapely.intersection(out["a"], out["b"]).area == 0
    assert abs(total(out) - shapely.union_all(list(cov.values())).area) < 1e-15
    assert T.is_shared_exactly(out)


def test_the_sharing_check_can_fail():
    cov = lattice(2, 1, 14, jitter=0.0)
    v = cov["g0-0"].exterior.coords[1]
    near = (v[0] + 1e-12, v[1])  # within 0.1 mm but not the same bits
    bent = {"g0-0": cov["g0-0"], "g1-0": Polygon([near if c == v else c
                                                  for c in cov["g1-0"].exterior.coords])}
    assert T.is_shared_exactly(cov) and not T.is_shared_exactly(bent)
    x0, y0, x1, y1 = cov["g0-0"].bounds
    t = {"a": box(x0, y0, x1, y1), "b": box(x1, y0, x1 + 0.001, (y0 + y1) / 2),
         "c": box(x1, (y0 + y1) / 2, x1 + 0.001, y1)}
    assert not T.is_shared_exactly(t)  # a T-junction: a lacks the vertex b and c share


def outline_vertices(cov):
    union = shapely.union_all(list(cov.values()))
    return sorted({p for g in cov.values() for p in T._vertices(g)
                   if shapely.dwithin(union.boundary, Point(p), 1e-9)})


@FAST
@given(st.lists(st.tuples(unit, st.floats(-80, 80), st.floats(-80, 80)), min_size=1, max_size=5))
def test_outline_moves_keep_grids_valid_apart_and_shared(moves):
    """A vertex on the outline may move (the outline changes), never into an overlap,
    an invalid grid or a hole."""
    cov = shipped()
    for pick, dx, dy in moves:
        vs = outline_vertices(cov)
        v = vs[int(pick * len(vs)) % len(vs)]
        try:
            cov = T.move_vertex(cov, v, (v[0] + dx * M, v[1] + dy * M), TOL)
        except TopologyRefused:
            pass
        geoms = list(cov.values())
        assert all(g.is_valid for g in geoms)
        union = shapely.union_all(geoms)
        assert abs(union.area - total(cov)) <= 1e-9 * total(cov)  # no overlaps
        assert union.geom_type == "Polygon" and not union.interiors  # no holes
        assert T.is_shared_exactly(cov)
