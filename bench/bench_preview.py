"""Impact preview benchmark: gridmap.geo.impact against geopandas.sjoin + pandas.

Not a test. Run ``.venv/bin/python bench/bench_preview.py [--cases N]``.

N cases (default 1,000,000) spread evenly over the demo grids' bounding box,
a fifth of them open; the change merges grids 011 and 012 into a new grid.
gridmap routes every case under both generations with ``Router.route_points``
and counts with numpy (routers built beforehand, as a running service keeps
them); the peer joins the same points to both grid sets with
``geopandas.sjoin(predicate="covered_by")`` (lowest code on shared edges) and
counts the from → to table with pandas. Both run with tolerance 0 (sjoin has
no snapping), the tables are checked equal, and the ratio printed.
"""

import argparse
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.geo.grids import Grid, GridSet
from gridmap.geo.impact import impact
from gridmap.geo.routing import Router
from gridmap.store.base import CasePoints

ROOT = Path(__file__).resolve().parents[1]
OPEN = ("reported", "signed", "handling", "replied")


def change():
    old = GridSet.load(ROOT / "geodata" / "grids.geojson")
    a, b = old.codes[10], old.codes[11]
    union = shapely.union(old[a].geometry, old[b].geometry)
    new = GridSet([g for g in old if g.code not in (a, b)]
                  + [Grid("500114005001014", "merged", union)])
    return old, new


def cases(grids, n, seed=3):
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = grids.bounds
    lon, lat = rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)
    state = np.where(rng.random(n) < 0.2, "handling", "closed").astype(object)
    ids = np.array([f"c{i}" for i in range(n)], dtype=object)
    return CasePoints(ids, np.arange(1, n + 1), lon, lat,
                      np.full(n, grids.codes[0], dtype=object), state)


def owner(frame, points):
    joined = gpd.sjoin(points, frame, how="left", predicate="covered_by")
    return joined.groupby(level=0)["grid_code"].min().reindex(points.index)


def peer(old, new, pts):
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(pts.lon, pts.lat), crs=4326)
    before, after = owner(old.to_frame(), points), owner(new.to_frame(), points)
    table = pd.DataFrame({"from": before.fillna("-"), "to": after.fillna("-"),
                          "open": np.isin(pts.state, OPEN)})
    return table.groupby(["from", "to"]).agg(all=("open", "size"), open=("open", "sum"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1_000_000)
    n = parser.parse_args().cases
    old, new = change()
    pts = cases(old, n)
    routers = Router(old, tolerance_m=0), Router(new, tolerance_m=0)

    t = time.perf_counter()
    ours = impact(*routers, pts, OPEN)
    ours_s = time.perf_counter() - t
    t = time.perf_counter()
    theirs = peer(old, new, pts)
    peer_s = time.perf_counter() - t

    got = {(r["from"] or "-", r["to"] or "-"): (r["all"], r["open"]) for r in ours["transitions"]}
    want = {k: (int(v["all"]), int(v["open"])) for k, v in theirs.iterrows()}
    assert got == want, "the from → to tables differ"
    print(f"{n:,} cases, {ours['moves_total']:,} open cases would move")
    print(f"gridmap impact()         {ours_s:7.3f} s")
    print(f"geopandas.sjoin + pandas {peer_s:7.3f} s")
    print(f"ratio {peer_s / ours_s:.1f}x (identical from → to tables)")


if __name__ == "__main__":
    main()
