"""Check that a layer of grids tiles its community: 无缝拼接, valid codes.

:func:`check_grids` reports every problem at once as a :class:`CheckReport`
of :class:`Issue` records, each with the grid codes involved, a location
(lon, lat) to zoom to, an area in square metres where one applies, and the
problem's own geometry (GeoJSON) where it has one: the overlap, gap or part
outside, the ring an invalid grid breaks on, a grid that is no polygon.

Issue kinds (severity ``error`` unless noted):

``empty_geometry``, ``not_polygon``, ``invalid_geometry``
    The geometry itself is unusable; ``reason`` says why.
``missing_code_field``, ``missing_code``, ``duplicate_code``, ``bad_code``
    The grid code column is absent, or a code is empty, repeated, or does
    not match the pattern (15 digits: 500114 + subdistrict + community +
    sequence).
``overlap``, ``sliver_overlap``
    One issue per connected part of the overlap of two grids.
``gap``, ``sliver_gap``
    One issue per part of the outline not covered by any grid.
``outside_outline``
    One issue per part of a grid outside the outline.
``unshared_vertex`` (warning)
    A vertex of one grid lies on another grid's edge, where that grid has
    no vertex: the edges are not shared exactly.

Gaps and overlaps smaller than ``sliver_area_m2`` get the ``sliver_`` kinds;
they are still errors, because routing breaks on them too.

>>> import geopandas, shapely
>>> grids = geopandas.GeoDataFrame(
...     {"grid_code": ["500114005001001", "500114005001002"]},
...     geometry=[shapely.box(108.80, 29.51, 108.81, 29.52),
...               shapely.box(108.81, 29.51, 108.82, 29.52)], crs=4326)
>>> check_grids(grids).ok
True
"""

import json
import logging
import math
import re
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import shapely

from gridmap.errors import BadInput, Msg
from gridmap.geo.metric import metric_crs_for, to_metric

log = logging.getLogger(__name__)

DEFAULT_CODE_PATTERN = r"^500114\d{9}$"
VERTEX_TOLERANCE_DEG = 1e-9
_MEASURE_SEGMENT_DEG = 1e-4  # about 10 m

SEVERITY = {
    "empty_geometry": "error",
    "not_polygon": "error",
    "invalid_geometry": "error",
    "missing_code_field": "error",
    "missing_code": "error",
    "duplicate_code": "error",
    "bad_code": "error",
    "overlap": "error",
    "sliver_overlap": "error",
    "gap": "error",
    "sliver_gap": "error",
    "outside_outline": "error",
    "unshared_vertex": "warning",
}
_POLYGONAL = (3, 6)  # shapely type ids of Polygon and MultiPolygon


@dataclass
class Issue:
    """One problem found in a grid layer.

    ``grid_codes`` holds ``None`` for a grid without a code; ``rows`` holds
    the 0-based row numbers of the grids involved, in the same order;
    ``message`` is a :class:`~gridmap.errors.Msg` of the ``errors`` catalog;
    ``geometry`` is the problem's own shape as a GeoJSON geometry in lon/lat
    (None for problems at a point: codes, unshared vertices).
    """

    kind: str
    severity: str
    grid_codes: list
    message: Msg
    location: list | None = None
    area_m2: float | None = None
    reason: str | None = None
    rows: list = field(default_factory=list)
    geometry: dict | None = None

    def to_dict(self):
        """JSON-ready: ``message`` as Chinese then English, with ``message_id`` and ``params``."""
        doc = asdict(self, dict_factory=lambda items: {k: v for k, v in items if k != "message"})
        return {**doc, "message": self.message.bilingual(), "message_id": self.message.id,
                "params": self.message.to_json()["params"]}


@dataclass
class CheckReport:
    """All issues found by :func:`check_grids`."""

    issues: list
    grid_count: int = 0

    @property
    def ok(self):
        """True when no issue is an error (warnings are allowed)."""
        return not self.errors

    @property
    def errors(self):
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self):
        return [i for i in self.issues if i.severity == "warning"]

    def counts(self):
        counts = {}
        for issue in self.issues:
            counts[issue.kind] = counts.get(issue.kind, 0) + 1
        return counts

    def to_dict(self):
        return {
            "ok": self.ok,
            "grid_count": self.grid_count,
            "error_count": len(self.errors),
            "warning_count": len(self.warnings),
            "counts": self.counts(),
            "issues": [issue.to_dict() for issue in self.issues],
        }

    def format_text(self):
        n, e, w = self.grid_count, len(self.errors), len(self.warnings)
        if not self.issues:
            return Msg("error.check.summary_clean", count=n).bilingual()
        lines = [Msg("error.check.summary", count=n, errors=e, warnings=w).bilingual()]
        for issue in self.issues:
            where = "" if issue.location is None else (
                f" @ {issue.location[0]:.8f}, {issue.location[1]:.8f}")
            area = "" if issue.area_m2 is None else f" {_format_area(issue.area_m2)}"
            lines.append(f"{issue.severity.upper():7} {issue.kind}{where}{area}")
            lines.append(f"        {issue.message.bilingual()}")
        return "\n".join(lines)


def check_grids(gdf, outline=None, code_field="grid_code", sliver_area_m2=1.0,
                code_pattern=DEFAULT_CODE_PATTERN):
    """Check that grids tile their outline without gaps or overlaps.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        The grids, one row each; issues name rows by 0-based position.
        Reprojected to EPSG:4326 if needed; no CRS is taken as EPSG:4326.
    outline : shapely geometry, GeoSeries or GeoDataFrame, optional
        The community boundary in EPSG:4326. Without one, the outline is the
        union of the grids with its holes filled, so holes are gaps.
    code_field : str
        The column holding grid codes.
    sliver_area_m2 : float
        Gaps and overlaps smaller than this (m², >= 0) are reported as
        ``sliver_gap``/``sliver_overlap``; still errors.
    code_pattern : str or re.Pattern
        A regular expression every code must match in full (ASCII digits).

    Returns
    -------
    CheckReport
    """
    pattern = _compile_pattern(code_pattern)
    sliver = _check_sliver_area(sliver_area_m2)
    outline = _outline_geometry(outline)
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    geoms = np.asarray(gdf.geometry.array, dtype=object)
    codes = _read_codes(gdf, code_field)
    issues, shapes = _check_geometries(geoms, codes or [None] * len(geoms))
    issues += _check_codes(gdf, code_field, codes, pattern, shapes)
    ctx = _Context(geoms, shapes, codes or [None] * len(geoms), sliver, outline)
    if ctx.crs is not None:
        issues += _check_overlaps(ctx)
        issues += _check_gaps(ctx, outline)
        if outline is not None:
            issues += _check_outside(ctx, outline)
        issues += _check_vertices(ctx)
    log.info("checked %d grids: %d issues", len(geoms), len(issues))
    return CheckReport(issues=issues, grid_count=len(geoms))


class _Context:
    """The usable (valid, polygonal) grids and how to measure and name them."""

    def __init__(self, geoms, shapes, codes, sliver, outline):
        self.geoms, self.codes, self.sliver = geoms, codes, sliver
        self.labels = _labels(codes)
        self.rows = np.flatnonzero(~shapely.is_missing(shapes) & ~shapely.is_empty(shapes))
        self.polys = shapes[self.rows]
        extent = self.polys if len(self.rows) else outline
        self.crs = None if extent is None else metric_crs_for(extent)
        self.tree = shapely.STRtree(self.polys)

    def measure(self, parts):
        """Areas in m² and [lon, lat] locations of an array of polygons.

        Edges are straight in lon/lat; densified before projecting, they stay
        close to that in metres (else a hair-thin sliver along a parallel
        would gain the parallel's curvature as area).
        """
        dense = shapely.segmentize(parts, _MEASURE_SEGMENT_DEG)
        areas = shapely.area(to_metric(dense, self.crs)) if len(parts) else np.empty(0)
        return [float(a) for a in areas], _points(shapely.point_on_surface(parts))

    def label(self, row):
        return self.labels[row]

    def issue(self, kind, rows, message, location=None, area=None, shape=None):
        rows = [int(r) for r in rows]
        return Issue(kind=kind, severity=SEVERITY[kind], grid_codes=[self.codes[r] for r in rows],
                     message=message, location=location, area_m2=area, rows=rows,
                     geometry=_geojson(shape))


def _check_geometries(geoms, codes):
    """Issues for null/empty, non-polygon and invalid geometries.

    Returns the issues and ``shapes``: a polygonal, valid copy of each
    geometry (None where there is nothing usable) for the area steps.
    """
    issues = []
    shapes = np.full(len(geoms), None, dtype=object)
    missing, empty = shapely.is_missing(geoms), shapely.is_empty(geoms)
    polygonal = ~missing & ~empty & np.isin(shapely.get_type_id(geoms), _POLYGONAL)
    valid = shapely.is_valid(geoms)
    labels = _labels(codes)

    def issue(kind, row, message, location=None, reason=None, shape=None):
        issues.append(Issue(kind, SEVERITY[kind], [codes[row]], message,
                            location=location, reason=reason, rows=[int(row)],
                            geometry=_geojson(shape)))

    for row in np.flatnonzero(missing | empty):
        what = "null" if missing[row] else "empty"
        issue("empty_geometry", row, Msg("error.check.no_geometry", grid=labels[row], what=what),
              reason=what)
    for row in np.flatnonzero(~missing & ~empty & ~polygonal):
        name = geoms[row].geom_type
        issue("not_polygon", row, Msg("error.check.not_polygon", grid=labels[row], type=name),
              _point(shapely.point_on_surface(geoms[row])), name, geoms[row])
    shapes[polygonal & valid] = geoms[polygonal & valid]
    for row in np.flatnonzero(polygonal & ~valid):
        reason = shapely.is_valid_reason(geoms[row])
        fixed = _polygonal_part(shapely.make_valid(geoms[row]))
        shapes[row] = None if fixed.is_empty else fixed
        location = _reason_location(reason)
        if location is None and not fixed.is_empty:
            location = _point(shapely.point_on_surface(fixed))
        issue("invalid_geometry", row,
              Msg("error.check.invalid_geometry", grid=labels[row], reason=reason), location, reason,
              _broken_ring(geoms[row], location))
    return issues, shapes


def _read_codes(gdf, code_field):
    """Codes as text (None where missing), or None when there is no such column."""
    if code_field not in gdf.columns:
        return None
    return [_normalise_code(v) for v in gdf[code_field].to_numpy(dtype=object)]


def _check_codes(gdf, code_field, codes, pattern, shapes):
    if codes is None:
        columns = ", ".join(str(c) for c in gdf.columns if c != gdf.geometry.name) or "-"
        return [Issue("missing_code_field", SEVERITY["missing_code_field"], [],
                      Msg("error.check.no_code_field", code_field=repr(code_field), fields=columns),
                      reason=code_field)]
    locate = _points(shapely.point_on_surface(shapes))
    issues, seen = [], {}
    for row, code in enumerate(codes):
        if code is None:
            issues.append(Issue("missing_code", SEVERITY["missing_code"], [None],
                                Msg("error.check.missing_code", row=row),
                                location=locate[row], rows=[row]))
            continue
        seen.setdefault(code, []).append(row)
        if not pattern.fullmatch(code):
            issues.append(Issue("bad_code", SEVERITY["bad_code"], [code],
                                Msg("error.check.bad_code", row=row, code=repr(code),
                                    pattern=pattern.pattern),
                                location=locate[row], reason=pattern.pattern, rows=[row]))
    for code, rows in seen.items():
        if len(rows) > 1:
            listed = ", ".join(f"#{r}" for r in rows)
            issues.append(Issue("duplicate_code", SEVERITY["duplicate_code"], [code] * len(rows),
                                Msg("error.check.duplicate_code", code=code, count=len(rows),
                                    rows=listed),
                                location=locate[rows[0]], rows=rows))
    return issues


def _check_overlaps(ctx):
    left, right = ctx.tree.query(ctx.polys, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    overlapping = shapely.relate_pattern(ctx.polys[left], ctx.polys[right], "2********")
    left, right = left[overlapping], right[overlapping]
    parts, pair = _area_parts(shapely.intersection(ctx.polys[left], ctx.polys[right]))
    issues = []
    for k, part, area, location in zip(pair, parts, *ctx.measure(parts)):
        a, b = ctx.rows[left[k]], ctx.rows[right[k]]
        issues.append(ctx.issue(
            "sliver_overlap" if area < ctx.sliver else "overlap", [a, b],
            Msg("error.check.overlap", grid=ctx.label(a), other=ctx.label(b),
                area=_format_area(area)),
            location, area, part))
    return issues


def _check_gaps(ctx, outline):
    covered = shapely.union_all(ctx.polys)
    if outline is None:
        shells = shapely.polygons(shapely.get_exterior_ring(_area_parts(covered)[0]))
        outline = shapely.union_all(shells)
    parts, _ = _area_parts(shapely.difference(outline, covered))
    beside_all = ctx.tree.query(parts, predicate="intersects")
    issues = []
    for k, (part, area, location) in enumerate(zip(parts, *ctx.measure(parts))):
        rows = sorted(ctx.rows[beside_all[1][beside_all[0] == k]])
        beside = ", ".join(ctx.label(r) for r in rows[:10]) or "-"
        beside += f" …(+{len(rows) - 10})" if len(rows) > 10 else ""
        issues.append(ctx.issue(
            "sliver_gap" if area < ctx.sliver else "gap", rows,
            Msg("error.check.gap", area=_format_area(area), beside=beside),
            location, area, part))
    return issues


def _check_outside(ctx, outline):
    shapely.prepare(outline)
    outside = np.flatnonzero(~shapely.covers(outline, ctx.polys))
    parts, grid = _area_parts(shapely.difference(ctx.polys[outside], outline))
    issues = []
    for k, part, area, location in zip(grid, parts, *ctx.measure(parts)):
        row = ctx.rows[outside[k]]
        issues.append(ctx.issue(
            "outside_outline", [row],
            Msg("error.check.outside_outline", grid=ctx.label(row), area=_format_area(area)),
            location, area, part))
    return issues


def _check_vertices(ctx):
    """Vertices of one grid on another's edge where that grid has no vertex."""
    originals = ctx.geoms[ctx.rows]  # original vertices, also of invalid grids
    coords, owner = shapely.get_coordinates(originals, return_index=True)
    unique = np.unique(np.column_stack([owner, coords]), axis=0)
    owner, coords = unique[:, 0].astype(np.int64), unique[:, 1:]
    points = shapely.points(coords)
    tol = VERTEX_TOLERANCE_DEG
    on_edge_p, on_edge_g = shapely.STRtree(shapely.boundary(originals)).query(
        points, predicate="dwithin", distance=tol)
    other = owner[on_edge_p] != on_edge_g
    on_edge_p, on_edge_g = on_edge_p[other], on_edge_g[other]
    near_p, near_v = shapely.STRtree(points).query(points, predicate="dwithin", distance=tol)
    shared = near_p * len(ctx.rows) + owner[near_v]
    unshared = ~np.isin(on_edge_p * len(ctx.rows) + on_edge_g, shared)
    issues = []
    for p, g in sorted(zip(on_edge_p[unshared], on_edge_g[unshared])):
        a, b = ctx.rows[owner[p]], ctx.rows[g]
        issues.append(ctx.issue(
            "unshared_vertex", [a, b],
            Msg("error.check.unshared_vertex", grid=ctx.label(a), other=ctx.label(b)),
            [float(coords[p, 0]), float(coords[p, 1])]))
    return issues


def _outline_geometry(outline):
    if outline is None:
        return None
    if hasattr(outline, "geometry"):  # GeoSeries or GeoDataFrame
        if outline.crs is not None and outline.crs.to_epsg() != 4326:
            outline = outline.to_crs(4326)
        parts = np.asarray(outline.geometry.array, dtype=object)
    else:
        parts = np.asarray([outline], dtype=object)
    parts = parts[~shapely.is_missing(parts)]
    merged = _polygonal_part(shapely.make_valid(shapely.union_all(shapely.make_valid(parts))))
    if merged.is_empty:
        raise BadInput("error.checks.no_outline_polygon", field="outline")
    return merged


def _polygonal_part(geom):
    """The polygons of a geometry (of a make_valid result), as one geometry."""
    polys, _ = _area_parts(geom)
    return shapely.union_all(polys) if len(polys) else shapely.Polygon()


def _area_parts(geoms):
    """Polygons with a non-zero area in ``geoms``, and the index of the geometry each came from."""
    parts, index = shapely.get_parts(geoms, return_index=True)
    parts, inner = shapely.get_parts(parts, return_index=True)  # collections may hold multis
    index = index[inner]
    keep = shapely.get_type_id(parts) == 3
    parts, index = parts[keep], index[keep]
    keep = shapely.area(parts) > 0
    return parts[keep], index[keep]


def _normalise_code(value):
    """A code as text, or None when it is missing (null, NaN or blank)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))  # a numeric column: 500114005001001.0
    text = str(value)
    return text if text.strip() else None


_REASON_POINT = re.compile(r"\[\s*([-+0-9.eE]+)[ ,]+([-+0-9.eE]+)")


def _reason_location(reason):
    match = _REASON_POINT.search(reason or "")
    if not match:
        return None
    try:
        return [float(match.group(1)), float(match.group(2))]
    except ValueError:
        return None


def _broken_ring(geom, location):
    """The ring of an invalid grid nearest the place its reason names (every ring
    when it names none), for drawing."""
    rings = shapely.get_rings(shapely.get_parts(geom))
    if location is None or not len(rings):
        return shapely.multilinestrings(rings) if len(rings) else None
    near = shapely.distance(rings, shapely.Point(location))
    return shapely.LineString(rings[int(np.argmin(near))].coords)


def _geojson(geom):
    """A shapely geometry as a GeoJSON geometry dict (every float as it is), or None
    (also for one with a coordinate that is not a finite number: JSON has none)."""
    if geom is None or geom.is_empty or not np.isfinite(shapely.get_coordinates(geom)).all():
        return None
    return json.loads(shapely.to_geojson(geom))


def _points(points):
    """[lon, lat] lists for an array of points (None for missing/empty)."""
    points = np.asarray(points, dtype=object)
    xs, ys = shapely.get_x(points), shapely.get_y(points)
    return [None if not (math.isfinite(x) and math.isfinite(y)) else [float(x), float(y)]
            for x, y in zip(xs, ys)]


def _point(point):
    return _points([point])[0]


def _labels(codes):
    """How messages name each grid: its code, with ``#row`` if the code is missing or repeated."""
    seen = {}
    for code in codes:
        seen[code] = seen.get(code, 0) + 1
    return [f"#{row}" if code is None else f"{code} (#{row})" if seen[code] > 1 else code
            for row, code in enumerate(codes)]


def _format_area(area):
    if area >= 1:
        return f"{area:,.1f} m²"
    return f"{area:.3g} m²" if area >= 0.001 else "< 0.001 m²"


def _compile_pattern(code_pattern):
    if isinstance(code_pattern, re.Pattern):
        return code_pattern
    try:
        return re.compile(code_pattern, re.ASCII)
    except (re.error, TypeError) as exc:
        raise BadInput("error.checks.bad_code_pattern", pattern=repr(code_pattern)[:80],
                       problem=str(exc), field="code_pattern") from exc


def _check_sliver_area(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = float("nan")
    if not math.isfinite(value) or value < 0:
        raise BadInput("error.checks.bad_sliver_area", value=repr(value), field="sliver_area_m2")
    return value
