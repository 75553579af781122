"""CaseIndex.near(): the cell hashes never change the answer of a plain scan."""

import json
import math
import random

import pytest
from contract import make_feature

from gridmap.store import index as index_mod
from gridmap.store.features import haversine_m
from gridmap.store.index import CaseIndex, Entry


def entry(name, lon, lat, category="road", state="reported", case_no=1):
    feature = make_feature(name, lon=lon, lat=lat, category=category, state=state,
                           case_no=case_no, version=1)
    return Entry.from_record(feature, json.dumps(feature))


def brute_force(entries, lon, lat, radius_m, categories=None, states=None):
    found = [(haversine_m(lon, lat, e.lon, e.lat), e.case_no, e.id) for e in entries
             if (categories is None or e.category in categories)
             and (states is None or e.state in states)]
    return [i for d, _, i in sorted(found) if d <= radius_m]


def test_near_across_cell_borders():
    fine = index_mod.FINE_CELL_DEG
    lon0, lat0 = 40 * fine + 108.0, 60 * fine + 29.0  # near a corner of four fine cells
    lon0, lat0 = math.floor(lon0 / fine) * fine, math.floor(lat0 / fine) * fine
    index = CaseIndex()
    metres_per_deg = 111_195.08
    offsets = [(-0.3, 0.2), (0.2, 0.3), (-0.2, -0.3), (0.3, -0.2), (0.0, 0.9), (1.1, 0.0)]
    for n, (dx, dy) in enumerate(offsets, 1):  # in units of 30 m, each side of the borders
        index.add(entry(f"p{n}", lon0 + dx * 30 / (metres_per_deg * math.cos(math.radians(lat0))),
                        lat0 + dy * 30 / metres_per_deg, case_no=n))
    ids = [e.id for e in index.near(lon0, lat0, 30)]
    assert ids == brute_force(index.by_id.values(), lon0, lat0, 30)
    assert set(ids) == {"p1", "p2", "p3", "p4", "p5"}  # p6 is 33 m away
    # a centre in another cell than its matches
    assert [e.id for e in index.near(lon0 + 0.3 * fine, lat0 + 0.3 * fine, 12)] == \
        brute_force(index.by_id.values(), lon0 + 0.3 * fine, lat0 + 0.3 * fine, 12)


@pytest.mark.parametrize("radius_m", [0, 1, 30, 50, 120, 800, 2500, 40_000])
def test_near_matches_a_plain_scan(radius_m):
    rng = random.Random(radius_m)
    index = CaseIndex()
    lon0, lat0 = 108.7757, 29.5311
    for n in range(1500):
        span = 0.003 if n % 2 else 0.05  # dense in the middle, sparse around
        index.add(entry(f"c{n}", lon0 + rng.uniform(-span, span), lat0 + rng.uniform(-span, span),
                        category=rng.choice(["road", "waste"]),
                        state=rng.choice(["reported", "closed"]), case_no=n + 1))
    entries = list(index.by_id.values())
    for _ in range(40):
        lon, lat = lon0 + rng.uniform(-0.004, 0.004), lat0 + rng.uniform(-0.004, 0.004)
        assert [e.id for e in index.near(lon, lat, radius_m)] == \
            brute_force(entries, lon, lat, radius_m)
        assert [e.id for e in index.near(lon, lat, radius_m, {"road"}, {"reported"})] == \
            brute_force(entries, lon, lat, radius_m, {"road"}, {"reported"})


def test_near_follows_moves_and_the_edges_of_the_map():
    index = CaseIndex()
    index.add(entry("a", 108.0, 29.0))
    moved = entry("a", 108.01, 29.0)
    moved.version = 2
    index.add(moved)
    assert [e.id for e in index.near(108.0, 29.0, 100)] == []
    assert [e.id for e in index.near(108.01, 29.0, 100)] == ["a"]
    index.add(entry("east", 179.9999, 0.0, case_no=2))
    index.add(entry("west", -179.9999, 0.0, case_no=3))
    assert [e.id for e in index.near(179.9999, 0.0, 100)] == ["east", "west"]
    index.add(entry("pole", 10.0, 89.999, case_no=4))
    assert [e.id for e in index.near(-170.0, 89.999, 300)] == ["pole"]


def test_near_follows_a_change_of_category_and_unknown_categories():
    index = CaseIndex()
    index.add(entry("a", 108.0, 29.0, category="road"))
    index.add(entry("b", 108.0001, 29.0, category="waste", case_no=2))
    changed = entry("a", 108.0, 29.0, category="waste")
    changed.version = 2
    index.add(changed)
    assert [e.id for e in index.near(108.0, 29.0, 100, {"road"})] == []
    assert [e.id for e in index.near(108.0, 29.0, 100, {"waste"})] == ["a", "b"]
    assert [e.id for e in index.near(108.0, 29.0, 100, {"road", "waste", "noise"})] == ["a", "b"]
    assert [e.id for e in index.near(108.0, 29.0, 100, {"noise"})] == []
    assert [e.id for e in index.near(108.0, 29.0, 100)] == ["a", "b"]
    assert index._categories == {"waste": 2}


def test_wide_searches_without_categories_use_the_coarse_cells():
    index = CaseIndex()
    for n in range(40):  # 40 categories: a fine lookup per category would be too many
        index.add(entry(f"c{n}", 108.0 + n * 0.001, 29.0, category=f"k{n}", case_no=n + 1))
    index.add(entry("far", 109.5, 29.0, category="k0", case_no=99))

    class CountingStates(set):  # counts the candidates whose state is tested
        tested = 0

        def __contains__(self, state):
            CountingStates.tested += 1
            return super().__contains__(state)

    assert len(index.near(108.0, 29.0, 5000, states=CountingStates({"reported"}))) == 40
    assert CountingStates.tested == 40  # "far" (146 km off) was never a candidate: no full scan
    assert [e.id for e in index.near(108.0, 29.0, 50, ["k0", "k0"])] == ["c0"]  # listed once
