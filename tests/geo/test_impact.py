"""The impact preview: counts from the batch router agree with shapely case by case
(this test's own slow reference), moves list only open cases, areas and workload."""

import numpy as np
import pytest
import shapely

from gridmap.geo.grids import Grid, GridSet
from gridmap.geo.impact import area_changes, impact
from gridmap.geo.routing import Router
from gridmap.store.base import CasePoints

OPEN = ("reported", "signed", "handling", "replied")


def merged(grids, a, b, code):
    """``grids`` with grids ``a`` and ``b`` merged into one new grid ``code``."""
    union = shapely.union(grids[a].geometry, grids[b].geometry)
    kept = [g for g in grids if g.code not in (a, b)]
    return GridSet(kept + [Grid(code=code, name="merged", geometry=union)])


@pytest.fixture(scope="module")
def change(demo_grids):
    a, b = demo_grids.codes[10], demo_grids.codes[11]
    new = merged(demo_grids, a, b, "500114005001014")
    # no snapping: the reference below is plain "covers" (routing.py's rules 1-2)
    return Router(demo_grids, tolerance_m=0), Router(new, tolerance_m=0, max_cells=1 << 18), a, b


def points(grids, n, seed=1):
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = grids.bounds
    lon, lat = rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)
    states = rng.choice(["reported", "handling", "closed", "cancelled", "rated"], n)
    codes = Router(grids, tolerance_m=0).route_points(lon, lat).codes()
    return CasePoints(np.array([f"c{i}" for i in range(n)], dtype=object), np.arange(1, n + 1),
                      lon, lat, codes, states.astype(object))


def reference_owner(grids, lon, lat):
    """The lowest code covering the point, else None (the routing rule, without snapping)."""
    point = shapely.Point(lon, lat)
    owners = [g.code for g in grids if g.geometry.covers(point)]
    return min(owners) if owners else None


def test_transitions_and_moves_agree_with_shapely_point_by_point(demo_grids, change):
    old_router, new_router, a, b = change
    cases = points(demo_grids, 3000)
    found = impact(old_router, new_router, cases, OPEN)
    inside = [i for i in range(3000) if cases.grid_code[i] is not None]
    new_grids = new_router.grids
    expected = {}
    for i in range(3000):
        old = reference_owner(demo_grids, cases.lon[i], cases.lat[i])
        new = reference_owner(new_grids, cases.lon[i], cases.lat[i])
        key = (old, new)
        row = expected.setdefault(key, [0, 0])
        row[0] += 1
        row[1] += cases.state[i] in OPEN
    got = {(t["from"], t["to"]): [t["all"], t["open"]] for t in found["transitions"]}
    assert (None, None) in got  # the bounding box holds places outside every grid
    assert got == expected
    moving = sorted(m["case_id"] for m in found["moves"])
    assert moving == sorted(cases.ids[i] for i in inside if cases.state[i] in OPEN
                            and cases.grid_code[i] in (a, b))
    assert found["moves_total"] == len(moving)
    assert all(m["to"] == "500114005001014" for m in found["moves"])
    assert found["cases"] == 3000 and found["open"] == int(np.isin(cases.state, OPEN).sum())


def test_moves_compare_the_recorded_grid_or_the_old_routing(demo_grids, change):
    old_router, new_router, *_ = change
    cases = points(demo_grids, 500)
    recorded = cases._replace(grid_code=np.array([demo_grids.codes[0]] * 500, dtype=object))
    now = impact(old_router, new_router, recorded, OPEN, current=True)
    assert now["moves_total"] == sum(
        1 for i in range(500) if cases.state[i] in OPEN and cases.grid_code[i] is not None
        and new_router.route_point(cases.lon[i], cases.lat[i]).code != demo_grids.codes[0])
    then = impact(old_router, new_router, recorded, OPEN, current=False)
    assert then["moves_total"] == impact(old_router, new_router, cases, OPEN)["moves_total"]
    assert len(impact(old_router, new_router, recorded, OPEN, listed=3)["moves"]) == 3


def test_area_changes_in_percent(demo_grids, change):
    _, new_router, a, b = change
    areas = area_changes(demo_grids, new_router.grids)
    assert areas[a]["change_pct"] == -100.0 and areas[b]["new_m2"] is None
    merged_area = areas["500114005001014"]
    assert merged_area["change_pct"] is None and merged_area["old_m2"] is None
    assert merged_area["new_m2"] == pytest.approx(areas[a]["old_m2"] + areas[b]["old_m2"],
                                                  rel=1e-6)
    assert all(areas[c]["change_pct"] == 0.0 for c in demo_grids.codes if c not in (a, b))
    bigger = GridSet([Grid(g.code, g.name, shapely.affinity.scale(g.geometry, 1.1, 1.0))
                      if g.code == a else g for g in demo_grids])
    assert area_changes(demo_grids, bigger)[a]["change_pct"] == pytest.approx(10.0, abs=1e-3)


def test_workload_is_marked_beyond_the_share_of_the_mean(demo_grids, change):
    old_router, new_router, *_ = change
    cases = points(demo_grids, 2000)
    found = impact(old_router, new_router, cases, OPEN, workload_share=0.3)
    rows = {w["code"]: w for w in found["workload"]}
    assert [w["code"] for w in found["workload"]] == list(new_router.grids.codes)
    mean = np.mean([w["open"] for w in found["workload"]])
    assert found["workload_mean"] == pytest.approx(mean, abs=1e-3)
    for w in rows.values():
        assert w["ratio"] == pytest.approx(w["open"] / mean, abs=1e-3)
        assert w["marked"] == (abs(w["open"] / mean - 1) > 0.3)
    assert rows["500114005001014"]["marked"]  # two grids' cases in one
    empty = cases._replace(state=np.array(["closed"] * 2000, dtype=object))
    assert all(w["ratio"] is None and not w["marked"]
               for w in impact(old_router, new_router, empty, OPEN)["workload"])


def test_no_cases_is_an_empty_preview(demo_grids, change):
    old_router, new_router, *_ = change
    found = impact(old_router, new_router, CasePoints.from_rows([]), OPEN)
    assert found["transitions"] == [] and found["moves"] == [] and found["cases"] == 0
