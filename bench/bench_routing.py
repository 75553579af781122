"""Routing benchmark: gridmap's Router against geopandas.sjoin(predicate="covered_by").

Not a test. Run ``.venv/bin/python bench/bench_routing.py [--points N]``.

For each grid set (the 13 demo grids; a synthetic 5,000-grid Voronoi
partition) it routes the same N random points with both, checks that every
point gets the same grid, and prints points/second and the ratio. 1 % of
the points sit exactly on grid vertices (most of them shared), where
sjoin returns several rows: those are resolved by gridmap's documented rule
(lowest grid code) before comparing. The Router runs with tolerance 0 so
that both answer the same question (sjoin has no snapping). Finally the
in-process latency of one ``route_point`` call.
"""

import argparse
import gc
import statistics
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from gridmap.geo.grids import Grid, GridSet
from gridmap.geo.routing import Router

ROOT = Path(__file__).resolve().parents[1]


def demo_grids():
    return GridSet.load(ROOT / "geodata" / "grids.geojson")


def voronoi_grids(n, seed=1):
    """``n`` Voronoi cells over a 0.3° × 0.3° box near Qianjiang (district scale)."""
    rng = np.random.default_rng(seed)
    box = shapely.box(108.65, 29.40, 108.95, 29.70)
    pts = shapely.multipoints(np.column_stack([rng.uniform(108.65, 108.95, n),
                                               rng.uniform(29.40, 29.70, n)]))
    cells = shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=box))
    cells = shapely.set_precision(shapely.intersection(cells, box), 1e-7)
    return GridSet(Grid(f"500114{i // 999:03d}{i // 999:03d}{i % 999 + 1:03d}", f"G{i}", c)
                   for i, c in enumerate(cells))


def sample_points(grids, n, seed=2):
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = grids.bounds
    lons, lats = rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)
    vertices = shapely.get_coordinates(grids.geometries)
    pick = rng.choice(len(vertices), n // 100)
    lons[: n // 100], lats[: n // 100] = vertices[pick, 0], vertices[pick, 1]
    return lons, lats


def run_sjoin(frame, lons, lats):
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lons, lats), crs=4326)
    joined = gpd.sjoin(points, frame, how="left", predicate="covered_by")
    # several rows for a point on a shared boundary: keep the lowest code
    joined = joined.sort_values("grid_code", kind="stable", na_position="last")
    first = joined[~joined.index.duplicated(keep="first")]
    return first["grid_code"].reindex(points.index).to_numpy(dtype=object)


def best_of(fn, repeat):
    times, result = [], None
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def bench_set(name, grids, n, repeat):
    t = time.perf_counter()
    router = Router(grids, tolerance_m=0.0)
    build = time.perf_counter() - t
    frame = gpd.GeoDataFrame({"grid_code": list(grids.codes)}, geometry=list(grids.geometries),
                             crs=4326)
    lons, lats = sample_points(grids, n)
    t_gm, ours = best_of(lambda: router.route_points(lons, lats).codes(), repeat)
    t_sj, theirs = best_of(lambda: run_sjoin(frame, lons, lats), repeat)
    theirs = np.array([c if isinstance(c, str) else None for c in theirs], dtype=object)
    mismatches = int(np.sum(ours != theirs))
    print(f"{name}: {len(grids)} grids, {n:,} points "
          f"(index build {build:.2f} s, {router.exact_fraction:.2%} of cells exact)")
    print(f"  gridmap route_points  {n / t_gm / 1e6:8.2f} M points/s  ({t_gm * 1e3:.0f} ms)")
    print(f"  geopandas.sjoin       {n / t_sj / 1e6:8.2f} M points/s  ({t_sj * 1e3:.0f} ms)")
    print(f"  ratio gridmap/sjoin   {t_sj / t_gm:8.1f}x   mismatches: {mismatches}")
    return router, mismatches


def bench_route_point(router, grids, n=200_000):
    lons, lats = sample_points(grids, n, seed=3)
    inside = router.route_points(lons, lats).status == 0
    pairs = list(zip(lons[inside].tolist(), lats[inside].tolist()))
    route = router.route_point
    per_call = []
    for _ in range(5):
        t = time.perf_counter()
        for lon, lat in pairs:
            route(lon, lat)
        per_call.append((time.perf_counter() - t) / len(pairs) * 1e6)
    slow = [(x, y) for x, y in zip(lons.tolist(), lats.tolist())][: n // 100][:2000]
    t = time.perf_counter()
    for lon, lat in slow:
        route(lon, lat)
    slow_us = (time.perf_counter() - t) / len(slow) * 1e6
    print(f"  route_point: {statistics.median(per_call):.2f} µs per call (median of 5 runs over "
          f"{len(pairs):,} points inside); on grid vertices (exact path) {slow_us:.1f} µs")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--grids", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    demo = demo_grids()
    router, bad_demo = bench_set("demo", demo, args.points, args.repeat)
    bench_route_point(router, demo)
    synthetic = voronoi_grids(args.grids)
    router, bad_syn = bench_set("synthetic", synthetic, args.points, args.repeat)
    bench_route_point(router, synthetic)
    if bad_demo or bad_syn:
        raise SystemExit("answers differ from geopandas.sjoin")


if __name__ == "__main__":
    main()
