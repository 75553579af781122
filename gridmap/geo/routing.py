"""Routing: a point → exactly one grid.

The rules (also in ``docs/routing.md``):

1. A point inside a grid, or on its boundary, belongs to it (*covers*, not
   *within*: a point on an edge is never dropped).
2. A point covered by several grids (on a shared edge or vertex) belongs to
   the one with the **lowest grid code**; the answer is flagged ``boundary``
   and lists every covering grid.
3. A point covered by no grid is ``outside``, with the nearest grid and the
   distance to it in metres (measured in the local UTM zone). If that
   distance is within the tolerance it is assigned to the nearest grid
   (lowest code among equally near ones) and flagged ``snapped``.

Speed comes from a raster index laid over the grids: every cell that no
grid boundary touches holds what is valid for all of its points: a grid;
"outside far"; or, in the tolerance band, outside with the few boundary
segments (at most four) that can be nearest to any of its points. For such
a band cell only the distances to those segments are computed per point,
in bulk, operation for operation as GEOS computes them, so nearest grid,
distance and snapping are the exact path's. Only points in cells that a
grid boundary touches, or in the few band cells with more candidates, are
decided by exact shapely predicates. A cell is marked as touched when any
boundary segment passes within 1e-9° of it, so the raster never changes an
answer, it only skips work.
"""

import logging
import math
from dataclasses import dataclass

import numpy as np
import pyproj
import shapely

from gridmap.errors import BadInput
from gridmap.geo.coords import (looks_swapped, validate_converted, validate_lonlat,
                                validate_lonlats)
from gridmap.geo.datums import normalize_datum, to_wgs84
from gridmap.geo.metric import WGS84, from_metric, metric_crs_for, to_metric, transformer

log = logging.getLogger(__name__)
_GEOD = pyproj.Geod(ellps="WGS84")

INSIDE, BOUNDARY, SNAPPED, OUTSIDE, INVALID = range(5)
STATUS_NAMES = ("inside", "boundary", "snapped", "outside", "invalid")

#: Cells are marked as touched by a boundary within this margin (degrees).
TOUCH_MARGIN_DEG = 1e-9
#: Band cells get their candidate segments by square tiles of these many cells
#: a side, each tile with too many candidates split into the next size.
BAND_TILES = (16, 4, 1)
#: A tile's radius in metres is its half-diagonal from the largest cell of the
#: raster, times this factor, plus ``RADIUS_MARGIN_M``: far more than the
#: projection's curvature across a tile and the rounding of the distances.
RADIUS_FACTOR, RADIUS_MARGIN_M = 1.01, 1e-3
#: A band cell is decided in bulk when at most this many boundary segments can
#: be nearest to one of its points (four: two grids meeting at a vertex).
MAX_CANDIDATES = 4


@dataclass(frozen=True, slots=True)
class Route:
    """The answer for one point.

    ``grid`` is the owner (``None`` when outside); ``nearest`` is the nearest
    grid (the owner itself unless outside); ``candidates`` are the codes of
    every grid covering the point (more than one on a shared boundary).
    """

    status: str
    grid: object
    nearest: object
    distance_m: float
    candidates: tuple = ()
    hint: str = None

    @property
    def code(self):
        return self.grid.code if self.grid is not None else None

    def to_dict(self):
        def brief(g):
            return None if g is None else {"code": g.code, "name": g.name, "name_en": g.name_en}

        body = {
            "status": self.status,
            "grid_code": self.code,
            "grid": brief(self.grid),
            "distance_m": round(self.distance_m, 2),
            "candidates": list(self.candidates),
        }
        if self.grid is None or self.status == "snapped":
            body["nearest"] = brief(self.nearest)
        if self.hint:
            body["hint"] = self.hint
        return body


@dataclass(frozen=True)
class RoutedPoints:
    """Answers for many points, as arrays (one element per input point).

    ``grid_index`` and ``nearest_index`` are ranks in the grid set (``-1``:
    none / not computed); ``status`` holds the ``INSIDE`` … ``INVALID``
    constants; ``distance_m`` is 0 for covered points and NaN where not
    computed (far outside points unless ``nearest=True``; invalid input).
    """

    grid_index: np.ndarray
    status: np.ndarray
    nearest_index: np.ndarray
    distance_m: np.ndarray
    codes_table: tuple

    def codes(self):
        """Object array of owner codes, ``None`` where no grid owns the point."""
        table = np.array(list(self.codes_table) + [None], dtype=object)
        return table[self.grid_index]

    def status_names(self):
        return np.array(STATUS_NAMES, dtype=object)[self.status]


class Router:
    """Routes points to the grids of one :class:`~gridmap.geo.grids.GridSet`.

    Parameters
    ----------
    grids : GridSet
    tolerance_m : float
        Points outside every grid but at most this far from one are snapped to it.
    max_cells : int, optional
        Size of the raster index; more cells mean fewer exact tests. By
        default 4,096 per grid, between 2**22 and 2**24 cells (8–32 MB).

    Examples
    --------
    >>> router = Router(grid_set, tolerance_m=50)          # doctest: +SKIP
    >>> router.route_point(108.80, 29.52).code             # doctest: +SKIP
    '500114005001007'
    """

    def __init__(self, grids, tolerance_m=50.0, max_cells=None):
        if not (isinstance(tolerance_m, (int, float)) and math.isfinite(tolerance_m)
                and tolerance_m >= 0):
            raise BadInput("error.routing.bad_tolerance", value=repr(tolerance_m)[:40],
                           field="tolerance_m")
        self.grids = grids
        self.tolerance_m = float(tolerance_m)
        self._n = n = len(grids)
        # cell labels: a grid's rank; outside in the band, decided by exact
        # tests; outside far; touched by a boundary; n + 3 + k: outside, in or
        # by the band, the nearest segments among the k-th row of _candidates
        self._near, self._far, self._mixed, self._sure = n, n + 1, n + 2, n + 3
        geoms = grids.geometries
        shapely.prepare(geoms)
        self._tree = shapely.STRtree(geoms)
        crs = metric_crs_for(geoms)
        self._to_metric = transformer(WGS84, crs)
        metric = to_metric(geoms, crs)
        self._metric_tree = shapely.STRtree(metric)
        rings, rank = shapely.get_parts(shapely.boundary(metric), return_index=True)
        xy, ring = shapely.get_coordinates(rings, return_index=True)
        same = (ring[1:] == ring[:-1]) & (xy[1:] != xy[:-1]).any(axis=1)
        self._segments = np.column_stack([xy[:-1][same], xy[1:][same]])
        self._segment_grid = rank[ring[1:][same]]
        self._segment_tree = shapely.STRtree(shapely.linestrings(
            self._segments.reshape(-1, 2, 2)))
        vertices, self._vertex_rank = shapely.get_coordinates(geoms, return_index=True)
        self._vertex_lon, self._vertex_lat = vertices.T
        band = shapely.union_all(metric).buffer(self.tolerance_m * 1.02 + 1.0)
        self._zone = from_metric(shapely.segmentize(band, 5.0), crs)
        shapely.prepare(self._zone)
        if max_cells is None:
            max_cells = min(1 << 24, max(1 << 22, 4096 * n))
        self._build_index(max_cells, shapely.bounds(band))
        self._inside = tuple(Route("inside", g, g, 0.0, (g.code,)) for g in grids)

    # -- index ---------------------------------------------------------------

    def _build_index(self, max_cells, metric_bounds):
        x0, y0, x1, y1 = shapely.bounds(self._zone)
        pad = 1e-6
        x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad
        w_m, h_m = metric_bounds[2] - metric_bounds[0], metric_bounds[3] - metric_bounds[1]
        cell_m = math.sqrt(w_m * h_m / max_cells)
        nx, ny = max(1, math.ceil(w_m / cell_m)), max(1, math.ceil(h_m / cell_m))
        self._x0, self._y0, self._nx, self._ny = x0, y0, nx, ny
        self._sx, self._sy = nx / (x1 - x0), ny / (y1 - y0)

        on_grid = self._touched(shapely.get_parts(shapely.boundary(self.grids.geometries)))
        on_zone = self._touched(shapely.get_parts(shapely.boundary(self._zone)))
        marked = on_grid | on_zone

        # Every run of unmarked cells along a row lies in one face of the
        # boundary arrangement: label it once, by its first cell's centre.
        free = ~marked
        starts = free.copy()
        starts[1:] &= ~free[:-1] | (np.arange(1, ny * nx) % nx == 0)
        first = np.flatnonzero(starts)
        labels = self._label_free(*self._centres(first))
        cells = np.full(ny * nx, self._mixed, dtype=np.int32)
        run = np.cumsum(starts) - 1
        cells[free] = labels[run[free]]
        # A cell that only the band's edge touches lies in one face of the
        # grids too: inside a grid, or outside every grid and near the band.
        edge = np.flatnonzero(on_zone & ~on_grid)
        labels = self._label_free(*self._centres(edge))
        inside = labels < self._n
        cells[edge[inside]] = labels[inside]
        band = cells == self._near
        band[edge[~inside]] = True
        self._settle_band(cells, band)
        if cells.max() < np.iinfo(np.int16).max:
            cells = cells.astype(np.int16)
        self._cells_array = cells
        self._cells = memoryview(cells)
        log.info("routing index %d×%d cells, %.1f%% need exact tests",
                 nx, ny, 100.0 * self.exact_fraction)

    def _touched(self, lines):
        """Cells that a segment of ``lines`` passes within ``TOUCH_MARGIN_DEG`` of."""
        nx, ny = self._nx, self._ny
        coords, idx = shapely.get_coordinates(lines, return_index=True)
        same = idx[1:] == idx[:-1]
        origin, scale = (self._x0, self._y0), np.array([[self._sx], [self._sy]])
        ax, ay = (coords[:-1][same] - origin).T * scale
        bx, by = (coords[1:][same] - origin).T * scale
        # Cut every segment into pieces at most half a cell long: the bounding
        # box of a piece then spans at most 2×2 cells, and marking those cells
        # marks every cell the segment touches.
        pieces = np.maximum(1, np.ceil(np.maximum(abs(bx - ax), abs(by - ay)) * 2)).astype(np.intp)
        seg = np.repeat(np.arange(len(ax)), pieces)
        step = np.arange(len(seg)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
        t0, t1 = step / pieces[seg], (step + 1) / pieces[seg]
        px0, px1 = ax[seg] + t0 * (bx - ax)[seg], ax[seg] + t1 * (bx - ax)[seg]
        py0, py1 = ay[seg] + t0 * (by - ay)[seg], ay[seg] + t1 * (by - ay)[seg]
        ex, ey = TOUCH_MARGIN_DEG * self._sx, TOUCH_MARGIN_DEG * self._sy
        i0 = np.clip(np.floor(np.minimum(px0, px1) - ex), 0, nx - 1).astype(np.intp)
        i1 = np.clip(np.floor(np.maximum(px0, px1) + ex), 0, nx - 1).astype(np.intp)
        j0 = np.clip(np.floor(np.minimum(py0, py1) - ey), 0, ny - 1).astype(np.intp)
        j1 = np.clip(np.floor(np.maximum(py0, py1) + ey), 0, ny - 1).astype(np.intp)
        marked = np.zeros(ny * nx, dtype=bool)
        for j in (j0, j1):
            for i in (i0, i1):
                marked[j * nx + i] = True
        return marked

    def _centres(self, flat):
        """Lon, lat of the centres of cells ``flat``."""
        return (self._x0 + ((flat % self._nx) + 0.5) / self._sx,
                self._y0 + ((flat // self._nx) + 0.5) / self._sy)

    # -- the band: cells outside every grid, nearest segments known ------------

    def _settle_band(self, cells, band):
        """Label each cell of the ``band`` mask (wholly outside every grid) whose points'
        nearest boundary segments are always among at most ``MAX_CANDIDATES``
        segments with ``_sure + k``, k the row of those candidates in
        ``_candidates``; the others keep their label and go to the exact tests.

        The candidates are found for square tiles of cells (``BAND_TILES``),
        a tile with too many split into smaller ones. Rows of at most two
        candidates come first in the table, up to ``_narrow``.
        """
        nx, ny = self._nx, self._ny
        cell_m = self._cell_metres()
        # the largest tiles over the whole raster (most band cells are settled here) ...
        side = BAND_TILES[0]
        tall, wide = -(-ny // side), -(-nx // side)
        padded = np.zeros((tall * side, wide * side), dtype=bool)
        padded[:ny, :nx] = band.reshape(ny, nx)
        tj, ti = np.nonzero(padded.reshape(tall, side, wide, side).any(axis=(1, 3)))
        found = [self._candidate_segments(ti * side, tj * side, side, cell_m)]
        tiles = np.full((tall, wide), -1, dtype=np.int32)
        tiles[tj, ti] = np.where(found[0][:, 0] >= 0, np.arange(len(tj)), -1)
        row = np.repeat(np.repeat(tiles, side, axis=0)[:ny], side, axis=1)[:, :nx].ravel()
        # ... then smaller ones, for the cells of the tiles with too many candidates
        todo = np.flatnonzero(band & (row < 0))
        for side in BAND_TILES[1:]:
            across = nx // side + 1
            key = (todo // nx // side) * across + todo % nx // side
            tile, at = np.unique(key, return_inverse=True)
            segments = self._candidate_segments(tile % across * side, tile // across * side,
                                                side, cell_m)
            ok = segments[at, 0] >= 0
            row[todo[ok]] = sum(map(len, found)) + at[ok]
            found.append(segments)
            todo = todo[~ok]
        rows, which = np.unique(np.concatenate(found), axis=0, return_inverse=True)
        which = which.ravel()
        narrow = rows[:, 2] == rows[:, 0]
        keep = np.flatnonzero(rows[:, 0] >= 0)
        keep = keep[np.argsort(~narrow[keep], kind="stable")]
        rank = np.full(len(rows), -1)
        rank[keep] = np.arange(len(keep))
        self._narrow = int(narrow[keep].sum())
        self._candidates = self._segments[rows[keep]]
        self._candidate_grids = self._segment_grid[rows[keep]]
        sure = band & (row >= 0)
        cells[sure] = self._sure + rank[which[row[sure]]]

    def _candidate_segments(self, i, j, side, cell_m):
        """Per tile of ``side`` × ``side`` cells from cell column ``i``, row ``j``:
        the indices of the boundary segments that can be nearest to one of its
        points, sorted and padded with the first to ``MAX_CANDIDATES``; all -1
        where there are more. ``cell_m``: :meth:`_cell_metres`.

        With the tile's centre ``c`` and radius ``r`` (metric), every point
        ``p`` of it has ``d(c, s) - r <= d(p, s) <= d(c, s) + r`` for every
        segment ``s``. With ``d1`` the distance from ``c`` to the nearest
        segment, the segments nearest to ``p`` lie within ``d1 + 2r`` of ``c``,
        and every segment beyond is farther from ``p`` than they are (by more
        than the margin, which also covers how far the projection bends
        across a tile).
        """
        found = np.full((len(i), MAX_CANDIDATES), -1, dtype=np.int64)
        mx, my = self._to_metric.transform(self._x0 + (i + side / 2) / self._sx,
                                           self._y0 + (j + side / 2) / self._sy)
        ok = np.flatnonzero(np.isfinite(mx) & np.isfinite(my))
        pts = shapely.points(mx[ok], my[ok])
        radius = side * sum(cell_m) / 2 * RADIUS_FACTOR + RADIUS_MARGIN_M
        (qi, _), d1 = self._segment_tree.query_nearest(pts, return_distance=True,
                                                        all_matches=False)
        reach = np.full(len(ok), -1.0)
        reach[qi] = d1 + 2 * radius
        qi, si = self._segment_tree.query(pts, predicate="dwithin", distance=reach)
        order = np.lexsort((si, qi))
        qi, si = qi[order], si[order]
        count = np.bincount(qi, minlength=len(ok))
        few = (count >= 1) & (count <= MAX_CANDIDATES)
        at = np.arange(len(qi)) - (np.cumsum(count) - count)[qi]
        keep = few[qi]
        table = np.full((len(ok), MAX_CANDIDATES), -1, dtype=np.int64)
        table[qi[keep], at[keep]] = si[keep]
        found[ok] = np.where(table < 0, table[:, :1], table)
        return found

    def _cell_metres(self):
        """The largest metric length of a cell's width and of its height, measured
        at both ends of every row edge of the raster (a projection's scale grows
        away from its central meridian, so along a row it is largest at an end)."""
        lat = np.tile(np.arange(self._ny + 1) / self._sy + self._y0, 2)
        lon = np.repeat([self._x0, self._x0 + self._nx / self._sx], self._ny + 1)
        x, y = self._to_metric.transform(lon, lat)
        xe, ye = self._to_metric.transform(lon + 1 / self._sx, lat)
        xn, yn = self._to_metric.transform(lon, lat + 1 / self._sy)
        return float(np.hypot(xe - x, ye - y).max()), float(np.hypot(xn - x, yn - y).max())

    def _label_free(self, lons, lats):
        pts = shapely.points(lons, lats)
        pi, gi = self._tree.query(pts, predicate="covered_by")
        labels = np.full(len(pts), self._far, dtype=np.int64)
        np.minimum.at(labels, pi, gi)
        out = labels == self._far
        labels[out & shapely.covers(self._zone, pts)] = self._near
        return labels

    @property
    def exact_fraction(self):
        """Share of index cells whose points are decided by exact tests."""
        cells = self._cells_array
        return float(np.mean((cells == self._near) | (cells == self._mixed)))

    # -- one point -----------------------------------------------------------

    def route_point(self, lon, lat, datum="wgs84"):
        """Route one point; see the module docstring for the rules.

        Parameters
        ----------
        lon, lat : float
            Longitude and latitude, in that order.
        datum : {"wgs84", "gcj02", "bd09"}
            Datum of the input; converted to WGS 84 first.

        Returns
        -------
        Route

        Raises
        ------
        BadCoordinate
            Non-numeric, non-finite or out-of-range coordinates, also after
            conversion to WGS 84.
        BadInput
            Unknown datum.
        """
        if datum != "wgs84":
            datum = normalize_datum(datum)
        lon, lat = validate_lonlat(lon, lat)
        if datum != "wgs84":
            lon, lat = validate_converted(*to_wgs84(lon, lat, datum), datum, (lon, lat))
        fx = (lon - self._x0) * self._sx
        fy = (lat - self._y0) * self._sy
        if 0.0 <= fx < self._nx and 0.0 <= fy < self._ny:
            label = self._cells[int(fy) * self._nx + int(fx)]
            if label < self._n:
                return self._inside[label]
        return self._route_exact(lon, lat)

    def _route_exact(self, lon, lat):
        point = shapely.Point(lon, lat)
        ranks = self._tree.query(point, predicate="covered_by")
        if len(ranks):
            owner = int(ranks.min())
            if len(ranks) == 1 and self.grids.geometries[owner].contains(point):
                return self._inside[owner]
            grid = self.grids.grids[owner]
            return Route("boundary", grid, grid, 0.0,
                         tuple(sorted(self.grids.codes[i] for i in ranks)))
        r = self._exact(np.array([lon]), np.array([lat]))
        grid = self.grids.grids[r.grid_index[0]] if r.grid_index[0] >= 0 else None
        status = STATUS_NAMES[r.status[0]]
        hint = None
        if status == "outside" and (looks_swapped(lon, lat) or self._covered(lat, lon)):
            hint = ("经纬度可能颠倒：参数顺序为 lon, lat / "
                    "lon and lat may be swapped: the order is lon, lat")
        return Route(status, grid, self.grids.grids[r.nearest_index[0]],
                     float(r.distance_m[0]), (), hint)

    def _covered(self, lon, lat):
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            return False
        return len(self._tree.query(shapely.Point(lon, lat), predicate="covered_by")) > 0

    # -- many points ---------------------------------------------------------

    def route_points(self, lons, lats, datum="wgs84", nearest=False):
        """Route many points at once (vectorised).

        Parameters
        ----------
        lons, lats : array_like of float
        datum : {"wgs84", "gcj02", "bd09"}
        nearest : bool
            Also find the nearest grid and distance for points far outside
            (beyond the tolerance band), which costs an exact search each.

        Returns
        -------
        RoutedPoints
            Invalid coordinates (NaN, inf, out of range) get status
            ``INVALID`` instead of raising, so one bad row cannot sink a batch.
        """
        datum = normalize_datum(datum)
        lons, lats, valid = validate_lonlats(lons, lats)
        if datum != "wgs84":
            lons, lats = to_wgs84(np.where(valid, lons, 0.0), np.where(valid, lats, 0.0), datum)
            valid &= validate_lonlats(lons, lats)[2]  # a conversion can leave the range
        fx = np.where(valid, (lons - self._x0) * self._sx, -1.0)
        fy = np.where(valid, (lats - self._y0) * self._sy, -1.0)
        inr = (fx >= 0) & (fx < self._nx) & (fy >= 0) & (fy < self._ny)
        flat = np.where(inr, fy.astype(np.intp) * self._nx + fx.astype(np.intp), 0)
        label = np.where(inr, self._cells_array[flat], self._far)

        covered = label < self._n
        grid_index = np.where(covered, label, -1).astype(np.int32)
        status = np.where(covered, INSIDE, OUTSIDE).astype(np.int8)
        status[~valid] = INVALID
        nearest_index = grid_index.copy()
        distance = np.where(covered, 0.0, np.nan)

        sure = np.flatnonzero(label >= self._sure)
        if len(sure):
            best, d = self._nearest_candidate(lons[sure], lats[sure], label[sure] - self._sure)
            snap = d <= self.tolerance_m
            grid_index[sure] = np.where(snap, best, -1)
            status[sure] = np.where(snap, SNAPPED, OUTSIDE)
            nearest_index[sure], distance[sure] = best, d
        todo = (label == self._near) | (label == self._mixed)
        if nearest:
            todo |= valid & (label == self._far)
        ex = np.flatnonzero(todo)
        if len(ex):
            r = self._exact(lons[ex], lats[ex])
            grid_index[ex], status[ex] = r.grid_index, r.status
            nearest_index[ex], distance[ex] = r.nearest_index, r.distance_m
        return RoutedPoints(grid_index, status, nearest_index, distance, self.grids.codes)

    def _nearest_candidate(self, lons, lats, rows):
        """Rank of the nearest grid (lowest among equally near) and distance in
        metres, for points outside every grid whose nearest boundary segment is
        among the candidates ``rows`` of ``_candidates``: the same values as
        :meth:`_nearest`, computed in bulk."""
        mx, my = self._to_metric.transform(lons, lats)
        best = np.empty(len(rows), dtype=np.int64)
        d = np.empty(len(rows))
        wide = rows >= self._narrow
        for part, k in ((~wide, 2), (wide, MAX_CANDIDATES)):
            which = rows[part]
            each = _segment_distance(mx[part, None], my[part, None], self._candidates[which, :k])
            d[part] = least = each.min(axis=1)
            best[part] = np.where(each == least[:, None], self._candidate_grids[which, :k],
                                  self._n).min(axis=1)
        return best, d

    def _exact(self, lons, lats):
        """Decide points by exact predicates (covers; nearest in metres)."""
        m = len(lons)
        pts = shapely.points(lons, lats)
        pi, gi = self._tree.query(pts, predicate="covered_by")
        owner = np.full(m, self._n, dtype=np.int64)
        np.minimum.at(owner, pi, gi)
        hits = np.bincount(pi, minlength=m)
        grid_index = np.where(hits > 0, owner, -1).astype(np.int32)
        status = np.full(m, OUTSIDE, dtype=np.int8)
        status[hits > 1] = BOUNDARY
        one = np.flatnonzero(hits == 1)
        interior = shapely.contains(self.grids.geometries[owner[one]], pts[one])
        status[one] = np.where(interior, INSIDE, BOUNDARY)
        nearest_index = grid_index.copy()
        distance = np.where(hits > 0, 0.0, np.nan)

        out = np.flatnonzero(hits == 0)
        if len(out):
            best, d = self._nearest(lons[out], lats[out])
            nearest_index[out] = best
            distance[out] = d
            snap = d <= self.tolerance_m
            grid_index[out[snap]] = best[snap]
            status[out[snap]] = SNAPPED
        return RoutedPoints(grid_index, status, nearest_index, distance, self.grids.codes)

    def _nearest(self, lons, lats):
        """Rank of the nearest grid (lowest among equally near) and distance in metres.

        Measured in the UTM zone; where the zone has no finite projection (on the
        equator, about 90° of longitude away), along the ellipsoid to the nearest
        grid vertex instead.
        """
        mx, my = self._to_metric.transform(lons, lats)
        projected = np.isfinite(mx) & np.isfinite(my)
        best = np.full(len(lons), self._n, dtype=np.int64)
        d = np.full(len(lons), np.inf)
        ok = np.flatnonzero(projected)
        (qi, ti), dist = self._metric_tree.query_nearest(
            shapely.points(mx[ok], my[ok]), return_distance=True, all_matches=True)
        np.minimum.at(best, ok[qi], ti)
        d[ok[qi]] = dist
        far = np.flatnonzero(~projected)
        v = len(self._vertex_rank)
        step = max(1, 1_000_000 // v)
        for start in range(0, len(far), step):
            chunk = far[start:start + step]
            n = len(chunk)
            meters = _GEOD.inv(np.repeat(lons[chunk], v), np.repeat(lats[chunk], v),
                               np.tile(self._vertex_lon, n), np.tile(self._vertex_lat, n))[2]
            per_grid = np.full((n, self._n), np.inf)
            np.minimum.at(per_grid, (np.repeat(np.arange(n), v), np.tile(self._vertex_rank, n)),
                          meters)
            best[chunk] = np.argmin(per_grid, axis=1)
            d[chunk] = per_grid[np.arange(n), best[chunk]]
        return best, d


def _segment_distance(px, py, segments):
    """Distance from points to segments ``(ax, ay, bx, by)`` along the last axis,
    computed as GEOS computes it (``Distance::pointToSegment``), operation for
    operation, so that the values are the same to the last bit."""
    ax, ay, bx, by = np.moveaxis(segments, -1, 0)
    len2 = (bx - ax) * (bx - ax) + (by - ay) * (by - ay)
    r = ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / len2
    s = ((ay - py) * (bx - ax) - (ax - px) * (by - ay)) / len2
    to_a = np.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
    to_b = np.sqrt((px - bx) * (px - bx) + (py - by) * (py - by))
    return np.where(r <= 0.0, to_a, np.where(r >= 1.0, to_b, np.abs(s) * np.sqrt(len2)))
