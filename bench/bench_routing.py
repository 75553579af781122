"""Routing benchmark: gridmap's Router against geopandas.sjoin(predicate="covered_by").

Not a test. Run ``.venv/bin/python bench/bench_routing.py [--points N]``.

For each grid set (the 13 demo grids; a synthetic 5,000-grid Voronoi
partition) it routes the same N random points with both, checks that every
point gets the same grid, and prints points/second and the ratio. 1 % of
the points sit exactly on grid vertices (most of them shared), where
sjoin returns several rows: those are resolved by gridmap's documented rule
(lowest grid code) before comparing. The Router runs with tolerance 0 so
that both answer the same question (sjoin has no snapping). Then the
in-process latency of one ``route_point`` call.

Finally the service's own question: the demo grids with the default 50 m
tolerance, N points spread evenly over the community's bounding box (about
6 % of them fall in the tolerance band outside the grids). geopandas answers
it with ``sjoin`` (covered_by), then ``sjoin_nearest`` within 50 m in the
same UTM zone for the points no grid covers; every point's grid, snapped or
not, and every snapped distance must be the same. The ratio is printed
against ``sjoin`` alone (the harder figure) and against both steps.
"""

import argparse
import gc
import statistics
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridmap.geo.grids import Grid, GridSet
from gridmap.geo.metric import metric_crs_for
from gridmap.geo.routing import SNAPPED, Router

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


def lowest_code(joined, index, column="grid_code"):
    """One row per point: several rows (a shared boundary, equally near grids)
    are resolved by gridmap's rule, the lowest code."""
    joined = joined.sort_values(column, kind="stable", na_position="last")
    return joined[~joined.index.duplicated(keep="first")].reindex(index)


def run_sjoin(frame, lons, lats):
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lons, lats), crs=4326)
    joined = gpd.sjoin(points, frame, how="left", predicate="covered_by")
    return lowest_code(joined, points.index)["grid_code"].to_numpy(dtype=object)


def run_sjoin_snapping(frame, frame_metric, lons, lats, tolerance_m):
    """``sjoin``, then ``sjoin_nearest`` within the tolerance (metres, UTM) for
    the points no grid covers: the owner code of every point (None: far
    outside), whether it was snapped, and the snapped distance."""
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lons, lats), crs=4326)
    joined = gpd.sjoin(points, frame, how="left", predicate="covered_by")
    codes = lowest_code(joined, points.index)["grid_code"].to_numpy(dtype=object)
    out = np.flatnonzero(pd.isna(codes))
    loose = points.iloc[out].to_crs(frame_metric.crs)
    near = gpd.sjoin_nearest(loose, frame_metric, how="inner", max_distance=tolerance_m,
                             distance_col="distance_m")
    near = lowest_code(near, loose.index).dropna(subset=["grid_code"])
    snapped = np.zeros(len(lons), dtype=bool)
    distance = np.full(len(lons), np.nan)
    codes[near.index] = near["grid_code"].to_numpy(dtype=object)
    snapped[near.index] = True
    distance[near.index] = near["distance_m"].to_numpy()
    return np.where(pd.isna(codes), None, codes), snapped, distance


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


def bench_band(grids, n, repeat, tolerance_m=50.0):
    """Points spread evenly over the community's bounding box, default tolerance."""
    router = Router(grids, tolerance_m=tolerance_m)
    frame = gpd.GeoDataFrame({"grid_code": list(grids.codes)}, geometry=list(grids.geometries),
                             crs=4326)
    frame_metric = frame.to_crs(metric_crs_for(grids.geometries))
    rng = np.random.default_rng(4)
    x0, y0, x1, y1 = grids.bounds
    lons, lats = rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)
    t_gm, ours = best_of(lambda: router.route_points(lons, lats), repeat)
    t_sj, _ = best_of(lambda: run_sjoin(frame, lons, lats), repeat)
    t_all, (codes, snapped, distance) = best_of(
        lambda: run_sjoin_snapping(frame, frame_metric, lons, lats, tolerance_m), repeat)
    ours_snapped = ours.status == SNAPPED
    bad_codes = int(np.sum(ours.codes() != codes))
    bad_snaps = int(np.sum(ours_snapped != snapped))
    both = ours_snapped & snapped
    off = float(np.max(np.abs(ours.distance_m[both] - distance[both]), initial=0.0))
    band = float(np.mean((ours.status >= SNAPPED) & ~np.isnan(ours.distance_m)))
    print(f"band: demo grids, tolerance {tolerance_m:g} m, {n:,} points spread evenly over the "
          f"bounding box ({band:.1%} in the tolerance band, {ours_snapped.mean():.1%} snapped; "
          f"{router.exact_fraction:.2%} of cells exact)")
    print(f"  gridmap route_points  {n / t_gm / 1e6:8.2f} M points/s  ({t_gm * 1e3:.0f} ms)")
    print(f"  geopandas.sjoin       {n / t_sj / 1e6:8.2f} M points/s  ({t_sj * 1e3:.0f} ms)")
    print(f"  sjoin + sjoin_nearest {n / t_all / 1e6:8.2f} M points/s  ({t_all * 1e3:.0f} ms)")
    print(f"  ratio gridmap/sjoin   {t_sj / t_gm:8.1f}x   (against both steps {t_all / t_gm:.1f}x)")
    print(f"  mismatches: grid {bad_codes}, snapped {bad_snaps}; snapped distances differ by at "
          f"most {off:.3g} m")
    return bad_codes + bad_snaps + (off > 1e-6)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--grids", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--band-only", action="store_true",
                        help="only the points spread evenly over the bounding box")
    args = parser.parse_args()
    demo = demo_grids()
    if args.band_only:
        raise SystemExit("answers differ from geopandas" if bench_band(demo, args.points,
                                                                        args.repeat) else 0)
    router, bad_demo = bench_set("demo", demo, args.points, args.repeat)
    bench_route_point(router, demo)
    synthetic = voronoi_grids(args.grids)
    router, bad_syn = bench_set("synthetic", synthetic, args.points, args.repeat)
    bench_route_point(router, synthetic)
    bad_band = bench_band(demo, args.points, args.repeat)
    if bad_demo or bad_syn or bad_band:
        raise SystemExit("answers differ from geopandas")


if __name__ == "__main__":
    main()
