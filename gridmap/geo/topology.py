"""Topology-keeping edits of a coverage of grids: shared vertices stay shared.

A *coverage* is a dict ``{key: shapely Polygon}`` in lon/lat (WGS 84) whose
polygons tile an area without gaps or overlaps and share their vertices
exactly (bit-identical coordinates on both sides of every edge). Every
function here is pure: it returns a new dict (unchanged polygons are the same
objects) or raises, leaving its input as it was.

- :func:`move_vertex` moves a vertex in *every* polygon that has it;
- :func:`split`, :func:`merge`, :func:`redraw`, :func:`add`, :func:`remove`;
- :func:`fix` merges a gap or a sliver into the neighbour with the longest
  shared border.

Snapping is done in metres (a local equirectangular projection about the
coverage's mean latitude, good to well under 1 % across a community) and is
exact: a point snapped to a vertex takes that vertex's very coordinates; a
point snapped onto an edge is inserted into that edge in every polygon that
has it. After each operation every new vertex is inserted into every
neighbour whose edge it lies on (within :data:`EPS_DEG`), so no T-junctions
appear.

An operation that would break the coverage is refused with
:class:`TopologyRefused` (HTTP 422, ``reason`` naming why): a changed grid
becoming invalid, grids overlapping more than before, or - for every
operation but moving a vertex on the outer boundary, adding a grid and filling
a gap - the area the changed grids cover together changing (which would open
a gap or leave the outline). A vertex on the outer boundary may move: it
changes the outline (the grid checks then report any gap to or part outside
the community outline), but it may not open a hole inside.

New polygons get provisional keys (``new:1``, ``new:2`` …): grid codes are
given when the set is stored as a draft (:func:`gridmap.geo.generations.plan_draft`),
like for any other draft. A merged grid keeps the key of the first grid
(``merge(c, a, b)`` keeps ``a``), a removed grid's area goes to the key of the
neighbour that takes it; their codes are renewed there too, because their
areas changed.
"""

import math
from fractions import Fraction

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon

from gridmap.errors import BadInput, TopologyRefused

#: a point this close (degrees, about 0.1 mm) to a vertex is that vertex; this
#: close to an edge, it lies on it (as in the grid checks' ``unshared_vertex``)
EPS_DEG = 1e-9
#: overlaps, and changes of the covered area, up to this share of the whole
#: coverage's area are rounding, not a change
AREA_REL = 1e-10
#: shared borders whose lengths differ by less than this share tie (ambiguous)
TIE_REL = 1e-6
EARTH_RADIUS_M = 6371008.8
FIXABLE = ("gap", "sliver_gap", "sliver_overlap", "overlap")
#: an ``overlap`` (above the sliver area) has a one-click fix only when it is
#: sliver-shaped: 4π·area / perimeter² (1 for a circle) below this
THIN = 0.1


# -- rings -------------------------------------------------------------------

def _rings(poly):
    """A polygon as lists of (x, y) tuples, exterior first, without closing points."""
    return [list(map(tuple, np.asarray(r.coords)[:-1].tolist()))
            for r in [poly.exterior, *poly.interiors]]


def _polygon(rings):
    rings = [_dedupe(r) for r in rings]
    return Polygon(rings[0], [r for r in rings[1:]])


def _dedupe(ring):
    """``ring`` without consecutive repeated points (also across the closing point)."""
    out = []
    for p in ring:
        if not out or out[-1] != p:
            out.append(p)
    while len(out) > 1 and out[0] == out[-1]:
        out.pop()
    return out


def _segments(ring):
    return list(zip(ring, ring[1:] + ring[:1]))


def _all_rings(geom):
    if geom.geom_type == "Polygon":
        return _rings(geom)
    return [r for part in geom.geoms for r in _rings(part)]


def _map_rings(geom, fn):
    """``geom`` (Polygon or MultiPolygon) with ``fn`` applied to each ring (``geom``
    itself when no ring changed)."""
    rings = _all_rings(geom)
    if [fn(r) for r in rings] == rings:
        return geom
    if geom.geom_type == "Polygon":
        return _polygon([fn(r) for r in _rings(geom)])
    return shapely.MultiPolygon([_polygon([fn(r) for r in _rings(p)]) for p in geom.geoms])


def _vertices(geom):
    return {p for r in _all_rings(geom) for p in r}


# -- metres --------------------------------------------------------------------

class Metric:
    """Distances in metres about latitude ``lat0`` (local equirectangular)."""

    def __init__(self, lat0):
        self.ky = EARTH_RADIUS_M * math.pi / 180.0
        self.kx = self.ky * math.cos(math.radians(lat0))

    @classmethod
    def of(cls, coverage):
        bounds = shapely.total_bounds(list(coverage.values()))
        return cls((bounds[1] + bounds[3]) / 2.0 if np.isfinite(bounds).all() else 0.0)

    def xy(self, points):
        points = np.asarray(points, dtype=float).reshape(-1, 2)
        return np.column_stack([points[:, 0] * self.kx, points[:, 1] * self.ky])

    def length(self, geom):
        return float(shapely.length(shapely.transform(geom, lambda c: self.xy(c))))


def _nearest_vertex(points, target, metric, tolerance_m, exclude=()):
    """The point of ``points`` nearest ``target`` within ``tolerance_m`` (None)."""
    points = [p for p in points if p not in exclude]
    if not points:
        return None
    d = np.hypot(*(metric.xy(points) - metric.xy([target])).T)
    k = int(np.argmin(d))
    return points[k] if d[k] <= tolerance_m else None


def _nearest_on_segment(segments, target, metric, tolerance_m):
    """``(point, (a, b))``: the nearest point on ``segments`` within the tolerance (or None).

    The point is interpolated in lon/lat along the segment, at the parameter of
    the nearest point in metres.
    """
    if not segments:
        return None
    seg = np.asarray(segments, dtype=float)  # n, 2, 2
    a, b = metric.xy(seg[:, 0]), metric.xy(seg[:, 1])
    p = metric.xy([target])[0]
    ab = b - a
    denom = (ab ** 2).sum(axis=1)
    t = np.clip(np.where(denom > 0, ((p - a) * ab).sum(axis=1) / np.where(denom > 0, denom, 1), 0),
                0.0, 1.0)
    d = np.hypot(*(a + ab * t[:, None] - p).T)
    k = int(np.argmin(d))
    if d[k] > tolerance_m:
        return None
    (x0, y0), (x1, y1) = segments[k]
    tk = float(t[k])
    if tk <= 0.0:
        return (x0, y0), segments[k]
    if tk >= 1.0:
        return (x1, y1), segments[k]
    return (x0 + (x1 - x0) * tk, y0 + (y1 - y0) * tk), segments[k]


# -- keeping vertices shared --------------------------------------------------

def _insert_into_ring(ring, points):
    """``ring`` with each of ``points`` that lies on one of its edges (within
    :data:`EPS_DEG`, not at an end) inserted there, in order along the edge."""
    have = set(ring)
    points = [p for p in points if p not in have]
    if not points or len(ring) < 2:
        return ring
    pts = np.asarray(points, dtype=float)
    seg = np.asarray(_segments(ring), dtype=float)
    a, b = seg[:, 0], seg[:, 1]
    ab = b - a
    denom = (ab ** 2).sum(axis=1)
    denom = np.where(denom > 0, denom, 1.0)
    # t[i, j]: parameter of point j along segment i
    t = ((pts[None, :, :] - a[:, None, :]) * ab[:, None, :]).sum(axis=2) / denom[:, None]
    near = a[:, None, :] + ab[:, None, :] * t[:, :, None]
    d = np.hypot(near[:, :, 0] - pts[None, :, 0], near[:, :, 1] - pts[None, :, 1])
    da = np.hypot(pts[None, :, 0] - a[:, None, 0], pts[None, :, 1] - a[:, None, 1])
    db = np.hypot(pts[None, :, 0] - b[:, None, 0], pts[None, :, 1] - b[:, None, 1])
    on = (d <= EPS_DEG) & (t > 0) & (t < 1) & (da > EPS_DEG) & (db > EPS_DEG)
    if not on.any():
        return ring
    out, used = [], set()
    for i, start in enumerate(ring):
        out.append(start)
        js = [j for j in np.flatnonzero(on[i]) if j not in used]
        for j in sorted(js, key=lambda j: t[i, j]):
            out.append(points[j])
            used.add(j)
    return out


def _node(coverage, changed):
    """``coverage`` after an operation changed the polygons ``changed``: their
    vertices within :data:`EPS_DEG` of another polygon's vertex take its exact
    coordinates, then every vertex lying on another polygon's edge is inserted
    there (both ways between changed polygons and the others)."""
    cov = dict(coverage)
    changed = [k for k in changed if k in cov]
    if not changed:
        return cov
    keys = list(cov)
    geoms = [cov[k] for k in keys]
    tree = shapely.STRtree(geoms)
    for k in changed:
        near = [keys[i] for i in tree.query(cov[k].envelope.buffer(EPS_DEG * 4))
                if keys[i] != k]
        anchors = list({p for j in near for p in _vertices(cov[j])})
        if anchors:
            arr = np.asarray(anchors)
            atree = shapely.STRtree(shapely.points(arr))

            def snap(ring):
                if not ring:
                    return ring
                idx = atree.query_nearest(shapely.points(np.asarray(ring)), max_distance=EPS_DEG)
                ring = list(ring)
                for i, j in zip(*idx):
                    ring[i] = anchors[j]
                return ring

            cov[k] = _map_rings(cov[k], snap)
    for k in changed:
        near = [keys[i] for i in tree.query(cov[k].envelope.buffer(EPS_DEG * 4)) if keys[i] != k]
        mine = list(_vertices(cov[k]))
        for j in near:
            theirs = list(_vertices(cov[j]))
            cov[j] = _map_rings(cov[j], lambda r: _insert_into_ring(r, mine))
            cov[k] = _map_rings(cov[k], lambda r: _insert_into_ring(r, theirs))
    return cov


def _insert_point(coverage, point):
    """``coverage`` with ``point`` inserted into every edge it lies on."""
    return {k: _map_rings(g, lambda r: _insert_into_ring(r, [point]))
            for k, g in coverage.items()}


def _is_outer(coverage, key, segment):
    """Whether ``segment`` of polygon ``key`` is on the coverage's outer boundary: no
    other polygon has that edge (either way round)."""
    a, b = segment
    return not any((a, b) in edges or (b, a) in edges
                   for k, g in coverage.items() if k != key
                   for edges in [{e for r in _all_rings(g) for e in _segments(r)}])


def _exactly_on(segment, point):
    """Whether ``point`` lies exactly (in rational arithmetic) on the line of ``segment``."""
    (ax, ay), (bx, by), (px, py) = (tuple(map(Fraction, p)) for p in (*segment, point))
    return (bx - ax) * (py - ay) == (by - ay) * (px - ax)


def _nearer(segment, point, metric):
    """The end of ``segment`` nearer ``point`` (in metres).

    A cut that ends on the outer boundary ends at a corner unless its end lies exactly
    on the edge (:func:`_exactly_on`, as on a north-south or east-west edge): a point put
    between two corners of a slanted outer edge lies on it only to within rounding, and the community
    outline, which has no point there, would then differ from the grids by a hair that
    the grid checks report as a sliver."""
    d = np.hypot(*(metric.xy(list(segment)) - metric.xy([point])).T)
    return segment[int(np.argmin(d))]


# -- checking a result ----------------------------------------------------------

def _total_area(coverage):
    return float(sum(g.area for g in coverage.values())) or 1.0


def _overlap_with_others(coverage, keys):
    """Sum of overlap areas between the polygons ``keys`` and all others (each pair once)."""
    keys = [k for k in keys if k in coverage]
    all_keys = list(coverage)
    tree = shapely.STRtree([coverage[k] for k in all_keys])
    seen, total = set(), 0.0
    for k in keys:
        for i in tree.query(coverage[k], predicate="intersects"):
            j = all_keys[i]
            pair = frozenset((k, j))
            if j == k or pair in seen:
                continue
            seen.add(pair)
            a, b = _usable(coverage[k]), _usable(coverage[j])
            total += float(shapely.intersection(a, b).area)
    return total


def _usable(geom):
    return geom if geom.is_valid else shapely.make_valid(geom)


def _union(geoms):
    return shapely.union_all([_usable(g) for g in geoms])


def _validate(before, after, changed, keep_union=True, grow_only=False, no_new_holes=False):
    """Refuse ``after`` (TopologyRefused) when it breaks the coverage.

    ``changed``: keys in ``after`` whose polygons are new or changed. The keys
    of ``before`` missing from ``after`` count as changed too.
    """
    gone = [k for k in before if k not in after]
    changed = [k for k in changed if k in after]
    eps = AREA_REL * _total_area(before)
    for k in changed:
        g = after[k]
        if g.geom_type not in ("Polygon", "MultiPolygon") or g.is_empty or g.area <= eps:
            raise TopologyRefused("error.topology.empty_grid", grid=str(k))
        if not g.is_valid and (k not in before or before[k].is_valid):
            raise TopologyRefused("error.topology.invalid_result", grid=str(k),
                                  problem=shapely.is_valid_reason(g))
    was = _overlap_with_others(before, [k for k in changed if k in before] + gone)
    now = _overlap_with_others(after, changed)
    if now > was + eps:
        raise TopologyRefused("error.topology.overlap")
    old = _union([before[k] for k in set(changed) | set(gone) if k in before])
    new = _union([after[k] for k in changed])
    if keep_union:
        if float(shapely.symmetric_difference(old, new).area) > eps:
            raise TopologyRefused("error.topology.area_changed")
    elif grow_only and float(shapely.difference(old, new).area) > eps:
        raise TopologyRefused("error.topology.area_changed")
    if no_new_holes:
        holes = (lambda u: sum(len(p.interiors) for p in shapely.get_parts(u)
                               if p.geom_type == "Polygon"))
        if holes(_union(after.values())) > holes(_union(before.values())):
            raise TopologyRefused("error.topology.opens_gap")


def _replace(coverage, old_key, parts):
    """``coverage`` with ``old_key`` replaced by ``parts`` ({key: polygon}) at its place."""
    out = {}
    for k, g in coverage.items():
        if k == old_key:
            out.update(parts)
        else:
            out[k] = g
    return out


def new_keys(coverage, count):
    """``count`` provisional keys (``new:N``) not in ``coverage``."""
    taken = [int(k[4:]) for k in coverage if isinstance(k, str) and k.startswith("new:")
             and k[4:].isdigit()]
    start = max(taken, default=0) + 1
    return [f"new:{start + i}" for i in range(count)]


def _need(coverage, key, field):
    if key not in coverage:
        raise BadInput("error.topology.unknown_grid", grid=repr(key)[:40], field=field)
    return coverage[key]


def _need_polygon(coverage, key, field):
    g = _need(coverage, key, field)
    if g.geom_type != "Polygon" or g.is_empty:
        raise TopologyRefused("error.topology.not_polygon", grid=str(key))
    if not g.is_valid:
        raise TopologyRefused("error.topology.invalid_input", grid=str(key), problem=shapely.is_valid_reason(g))
    return g


def _point(value, field):
    """A (lon, lat) tuple of finite floats in range, else BadInput naming ``field``."""
    try:
        x, y = (float(v) for v in value)
        if isinstance(value[0], bool) or isinstance(value[1], bool):
            raise TypeError
    except (TypeError, ValueError):
        raise BadInput("error.topology.bad_point", field=field, value=repr(value)[:60]) from None
    if not (math.isfinite(x) and math.isfinite(y) and -180 <= x <= 180 and -90 <= y <= 90):
        raise BadInput("error.topology.bad_point", field=field, value=repr(value)[:60])
    return (x, y)


def _line(value, field, minimum=2):
    if not isinstance(value, (list, tuple)) or len(value) < minimum:
        raise BadInput("error.topology.bad_line", field=field, minimum=minimum)
    pts = _dedupe_open([_point(v, field) for v in value])
    if len(pts) < minimum:
        raise BadInput("error.topology.bad_line", field=field, minimum=minimum)
    return pts


def _dedupe_open(points):
    out = []
    for p in points:
        if not out or out[-1] != p:
            out.append(p)
    return out


def _shared_length(metric, a, b):
    shared = shapely.intersection(_usable(a).boundary, _usable(b).boundary)
    return metric.length(shared)


def _neighbours(coverage, region, metric, exclude=()):
    """``[(length in metres, key)]`` of the polygons sharing a border of positive
    length with ``region``, longest first."""
    keys = [k for k in coverage if k not in exclude]
    out = []
    for k in keys:
        g = coverage[k]
        if not shapely.intersects(g, region):
            continue
        length = _shared_length(metric, g, region)
        if length > 0:
            out.append((length, k))
    return sorted(out, key=lambda t: -t[0])


def _longest(neighbours, where):
    if not neighbours:
        raise TopologyRefused("error.topology.no_neighbour", where=where)
    if len(neighbours) > 1 and neighbours[1][0] >= neighbours[0][0] * (1 - TIE_REL):
        raise TopologyRefused("error.topology.ambiguous", grids=[str(neighbours[0][1]), str(neighbours[1][1])])
    return neighbours[0][1]


def _union_keep(a, b):
    u = shapely.union(a, b)
    if u.geom_type == "MultiPolygon":
        u = shapely.union_all(list(u.geoms))
    if u.geom_type != "Polygon":
        raise TopologyRefused("error.topology.not_polygon", grid="?")
    return u


# -- the operations -------------------------------------------------------------

def move_vertex(coverage, at, to, tolerance_m):
    """Move the vertex nearest ``at`` (within ``tolerance_m`` metres) to ``to`` in
    every polygon that has it.

    ``to`` snaps to an existing vertex within the tolerance (its exact
    coordinates), else onto an edge within the tolerance that does not end at
    the moving vertex (the point is inserted into that edge in every polygon
    that has it). Returns the new coverage; the same dict when ``to`` is the
    vertex itself.
    """
    at, to = _point(at, "at"), _point(to, "to")
    metric = Metric.of(coverage)
    vertices = list({p for g in coverage.values() for p in _vertices(g)})
    v = _nearest_vertex(vertices, at, metric, tolerance_m)
    if v is None:
        raise BadInput("error.topology.no_vertex_near", field="at", tolerance=tolerance_m)
    cov = _insert_point(coverage, v)  # a neighbour with v on an edge but no vertex there
    target = _nearest_vertex(vertices, to, metric, tolerance_m, exclude={v})
    if target is None:
        segments = [s for g in cov.values() for r in _all_rings(g) for s in _segments(r)
                    if v not in s]
        found = _nearest_on_segment(segments, to, metric, tolerance_m)
        if found is not None:
            target = found[0]
            if target not in found[1]:
                cov = _insert_point(cov, target)
        else:
            target = to
    if target == v:
        return coverage
    owners = [k for k, g in cov.items() if v in _vertices(g)]
    union = _union(coverage.values())
    on_outline = bool(shapely.dwithin(union.boundary, Point(v), EPS_DEG))
    moved = dict(cov)
    for k in owners:
        moved[k] = _map_rings(cov[k], lambda r: [target if p == v else p for p in r])
    moved = _node(moved, owners)
    changed = [k for k in moved if moved[k] is not coverage.get(k)]
    _validate(coverage, moved, changed, keep_union=not on_outline, no_new_holes=on_outline)
    return moved


def split(coverage, key, line, tolerance_m):
    """Split polygon ``key`` by ``line`` ([(lon, lat), …]) crossing it once, border
    to border. The line is clipped to the polygon; its ends snap to the polygon's
    vertices, or onto its edges, within ``tolerance_m`` metres (an end farther
    inside is refused). Returns the coverage with ``key`` replaced by two
    provisional keys (:func:`new_keys`), the part west/north first as drawn.
    """
    poly = _need_polygon(coverage, key, "grid")
    pts = _line(line, "line")
    metric = Metric.of(coverage)
    piece = shapely.intersection(LineString(pts), poly)
    if piece.geom_type == "MultiLineString":
        piece = shapely.line_merge(piece)
    if piece.geom_type != "LineString" or piece.is_empty:
        raise TopologyRefused("error.topology.line_not_crossing", grid=str(key))
    coords = [tuple(c) for c in np.asarray(piece.coords).tolist()]
    cov = dict(coverage)
    ends = []
    for end in (coords[0], coords[-1]):
        ring_pts = list(_vertices(cov[key]))
        snapped = _nearest_vertex(ring_pts, end, metric, tolerance_m)
        if snapped is None:
            found = _nearest_on_segment([s for r in _rings(cov[key]) for s in _segments(r)],
                                        end, metric, tolerance_m)
            if found is None:
                raise TopologyRefused("error.topology.line_end_inside", grid=str(key), tolerance=tolerance_m)
            snapped = found[0]
            if snapped not in found[1]:
                if not _exactly_on(found[1], snapped) and _is_outer(cov, key, found[1]):
                    snapped = _nearer(found[1], snapped, metric)
                else:
                    cov = _insert_point(cov, snapped)
        ends.append(snapped)
    e0, e1 = ends
    inner = [p for p in coords[1:-1] if p not in (e0, e1)]
    if e0 == e1:
        raise TopologyRefused("error.topology.line_not_crossing", grid=str(key))
    rings = _rings(cov[key])
    ring = rings[0]
    if e0 not in ring or e1 not in ring:
        raise TopologyRefused("error.topology.line_not_crossing", grid=str(key))
    i, j = ring.index(e0), ring.index(e1)
    n = len(ring)
    path_ij = [ring[(i + s) % n] for s in range((j - i) % n + 1)]  # e0 … e1
    path_ji = [ring[(j + s) % n] for s in range((i - j) % n + 1)]  # e1 … e0
    first = [path_ij + inner[::-1]]
    second = [path_ji + inner]
    for hole in rings[1:]:
        inside = Polygon(first[0]).contains(Point(hole[0]))
        (first if inside else second).append(hole)
    parts = [_polygon(first), _polygon(second)]
    if parts[0].is_empty or parts[1].is_empty:
        raise TopologyRefused("error.topology.line_not_crossing", grid=str(key))
    keys = new_keys(cov, 2)
    out = _replace(cov, key, dict(zip(keys, parts)))
    out = _node(out, keys)
    changed = [k for k in out if out[k] is not coverage.get(k)]
    _validate(coverage, out, changed, keep_union=True)
    return out


def merge(coverage, a, b):
    """Merge neighbours ``a`` and ``b`` (sharing a border of positive length) into
    one polygon under key ``a``."""
    ga, gb = _need_polygon(coverage, a, "grids"), _need_polygon(coverage, b, "grids")
    if a == b:
        raise BadInput("error.topology.same_grid", field="grids")
    metric = Metric.of(coverage)
    if _shared_length(metric, ga, gb) <= 0:
        raise TopologyRefused("error.topology.not_neighbours", grid=str(a), other=str(b))
    u = _union_keep(ga, gb)
    out = {k: (u if k == a else g) for k, g in coverage.items() if k != b}
    out = _node(out, [a])
    changed = [k for k in out if out[k] is not coverage.get(k)]
    _validate(coverage, out, changed, keep_union=True)
    return out


def redraw(coverage, a, b, line, tolerance_m):
    """Replace the stretch of the border shared by ``a`` and ``b`` between the
    ends of ``line`` (each snapped to that border within ``tolerance_m``) by the
    line's inner points: area moves from one grid to the other, the two
    together cover what they covered."""
    _need_polygon(coverage, a, "grids"), _need_polygon(coverage, b, "grids")
    if a == b:
        raise BadInput("error.topology.same_grid", field="grids")
    pts = _line(line, "line")
    metric = Metric.of(coverage)
    cov = dict(coverage)

    def shared_segments():
        sb = set(_segments(_rings(cov[b])[0])) | {s for r in _rings(cov[b])[1:]
                                                   for s in _segments(r)}
        sb |= {(q, p) for p, q in sb}
        return [s for r in _rings(cov[a]) for s in _segments(r) if s in sb]

    if not shared_segments():
        raise TopologyRefused("error.topology.not_neighbours", grid=str(a), other=str(b))
    ends = []
    for end in (pts[0], pts[-1]):
        segs = shared_segments()
        border = list({p for s in segs for p in s})
        snapped = _nearest_vertex(border, end, metric, tolerance_m)
        if snapped is None:
            found = _nearest_on_segment(segs, end, metric, tolerance_m)
            if found is None:
                raise TopologyRefused("error.topology.line_not_on_border", grid=str(a), other=str(b),
                                      tolerance=tolerance_m)
            snapped = found[0]
            if snapped not in found[1]:
                cov = _insert_point(cov, snapped)
        ends.append(snapped)
    s, e = ends
    if s == e:
        raise TopologyRefused("error.topology.not_one_stretch", grid=str(a), other=str(b))
    inner = [p for p in pts[1:-1] if p not in (s, e)]
    shared = set(shared_segments())
    shared |= {(q, p) for p, q in shared}
    out = dict(cov)
    for key in (a, b):
        rings = _rings(cov[key])
        for r, ring in enumerate(rings):
            if s in ring and e in ring:
                break
        else:
            raise TopologyRefused("error.topology.not_one_stretch", grid=str(a), other=str(b))
        n = len(ring)
        i, j = ring.index(s), ring.index(e)
        fwd = [ring[(i + t) % n] for t in range((j - i) % n + 1)]  # s … e
        back = [ring[(j + t) % n] for t in range((i - j) % n + 1)]  # e … s
        fwd_shared = all(seg in shared for seg in zip(fwd, fwd[1:]))
        back_shared = all(seg in shared for seg in zip(back, back[1:]))
        if fwd_shared == back_shared:
            raise TopologyRefused("error.topology.not_one_stretch", grid=str(a), other=str(b))
        # keep the part that is not the stretch, then go back along the line
        new_ring = back + inner if fwd_shared else fwd + inner[::-1]
        rings[r] = new_ring
        out[key] = _polygon(rings)
    out = _node(out, [a, b])
    changed = [k for k in out if out[k] is not coverage.get(k)]
    _validate(coverage, out, changed, keep_union=True)
    return out


def add(coverage, ring, tolerance_m):
    """A new polygon from ``ring`` ([(lon, lat), …], closed or not) where no polygon
    is: its points snap to vertices, or onto edges, within ``tolerance_m``; what
    other polygons cover is cut away. Refused when nothing is left, or it falls
    into pieces. Returns the coverage with a provisional key added."""
    pts = _line(ring, "polygon", minimum=3)
    if pts[0] == pts[-1]:
        pts = pts[:-1]
    if len(pts) < 3:
        raise BadInput("error.topology.bad_line", field="polygon", minimum=3)
    metric = Metric.of(coverage) if coverage else Metric(pts[0][1])
    vertices = list({p for g in coverage.values() for p in _vertices(g)})
    segments = [s for g in coverage.values() for r in _all_rings(g) for s in _segments(r)]
    snapped = []
    for p in pts:
        q = _nearest_vertex(vertices, p, metric, tolerance_m) if vertices else None
        if q is None and segments:
            found = _nearest_on_segment(segments, p, metric, tolerance_m)
            q = found[0] if found is not None else None
        snapped.append(q if q is not None else p)
    drawn = Polygon(_dedupe(snapped)) if len(_dedupe(snapped)) >= 3 else Polygon()
    if drawn.is_empty or not drawn.is_valid:
        raise TopologyRefused("error.topology.invalid_polygon",
                              problem=shapely.is_valid_reason(drawn) if not drawn.is_empty else "")
    rest = shapely.difference(drawn, _union(coverage.values())) if coverage else drawn
    eps = AREA_REL * (_total_area(coverage) if coverage else drawn.area)
    parts = [p for p in shapely.get_parts(rest) if p.geom_type == "Polygon" and p.area > eps]
    if not parts:
        raise TopologyRefused("error.topology.nothing_left")
    if len(parts) > 1:
        raise TopologyRefused("error.topology.in_pieces", count=len(parts))
    key = new_keys(coverage, 1)[0]
    out = dict(coverage)
    out[key] = _polygon(_rings(parts[0]))
    out = _node(out, [key])
    changed = [k for k in out if out[k] is not coverage.get(k)]
    _validate(coverage, out, changed, keep_union=False, grow_only=True)
    return out


def remove(coverage, key):
    """Remove polygon ``key``: its area goes to the neighbour with the longest
    shared border (which keeps its key); a polygon without neighbours leaves the
    coverage with its area. Refused when two neighbours tie."""
    g = _need(coverage, key, "grid")
    metric = Metric.of(coverage)
    neighbours = _neighbours(coverage, _usable(g), metric, exclude={key})
    if not neighbours:
        return {k: v for k, v in coverage.items() if k != key}
    target = _longest(neighbours, str(key))
    return merge(coverage, target, key)


def fix(coverage, problem, outline=None):
    """Fix one problem of the grid checks: a gap or sliver gap is merged into the
    neighbour with the longest shared border; a sliver overlap (or an overlap of
    sliver shape, see :data:`THIN`) is cut from both grids and then merged likewise. ``problem`` is an issue as the checks give it
    (``kind``, ``location``, ``grid_codes``). ``outline``: the community outline
    the gaps were found against (default: the coverage's union, holes filled).
    Refused when the kind has no unambiguous fix, or two neighbours tie."""
    if not isinstance(problem, dict):
        raise BadInput("error.topology.bad_problem", field="problem")
    kind = problem.get("kind")
    if kind not in FIXABLE:
        raise TopologyRefused("error.topology.not_fixable", kind=repr(kind)[:40], allowed=list(FIXABLE))
    where = _point(problem.get("location"), "problem")
    metric = Metric.of(coverage)
    cov = dict(coverage)
    if kind in ("sliver_overlap", "overlap"):
        codes = problem.get("grid_codes")
        if not (isinstance(codes, list) and len(codes) == 2):
            raise BadInput("error.topology.bad_problem", field="problem")
        a, b = (_need(cov, c, "problem") for c in codes)
        pieces = [p for p in shapely.get_parts(shapely.intersection(_usable(a), _usable(b)))
                  if p.geom_type == "Polygon" and p.area > 0]
        region = _at(pieces, where)
        if kind == "overlap":
            shape = shapely.transform(region, lambda c: metric.xy(c))
            if 4 * math.pi * shape.area / shape.length ** 2 >= THIN:
                raise TopologyRefused("error.topology.not_fixable", kind=repr(kind),
                                      allowed=list(FIXABLE))
        eps = AREA_REL * _total_area(coverage)
        corners = list(_vertices(region))
        for code in codes:  # node first: the cut then follows the very same points
            cov[code] = _map_rings(cov[code], lambda r: _insert_into_ring(r, corners))
        for code in codes:
            # a wedge that meets the border at two points would be a touching hole:
            # made valid, it is a notch plus a piece of no area, which goes
            rest = shapely.make_valid(shapely.difference(_usable(cov[code]), region))
            parts = [p for p in shapely.get_parts(rest)
                     if p.geom_type == "Polygon" and p.area > eps]
            if len(parts) != 1:
                raise TopologyRefused("error.topology.ambiguous", grids=[str(c) for c in codes])
            cov[code] = _polygon(_rings(parts[0]))
        cov = _node(cov, codes)
    else:
        union = _union(cov.values())
        if outline is None:
            outline = shapely.union_all([Polygon(p.exterior) for p in shapely.get_parts(union)
                                         if p.geom_type == "Polygon"])
        gaps = [p for p in shapely.get_parts(shapely.difference(outline, union))
                if p.geom_type == "Polygon" and p.area > 0]
        region = _at(gaps, where)
    target = _longest(_neighbours(cov, region, metric), f"{where[0]:.7f}, {where[1]:.7f}")
    out = dict(cov)
    if kind in ("sliver_overlap", "overlap") and target in problem["grid_codes"]:
        out[target] = coverage[target]  # it keeps the overlap: as it was, uncut
        out = _node(out, [k for k in problem["grid_codes"] if k != target])
    else:
        corners = list(_vertices(region))
        noded = _map_rings(cov[target], lambda r: _insert_into_ring(r, corners))
        out[target] = _polygon(_rings(_union_keep(_usable(noded), region)))
        out = _node(out, [target])
    changed = [k for k in out if out[k] is not coverage.get(k)]
    overlap = kind in ("sliver_overlap", "overlap")
    if overlap:  # the area the two cover together is what must stay
        changed += [k for k in problem["grid_codes"] if k not in changed]
    _validate(coverage, out, changed, keep_union=overlap, grow_only=not overlap)
    return out


def _at(parts, where):
    """The part of ``parts`` at (or, within 1 cm, nearest to) ``where``."""
    point = Point(where)
    best = min(parts, key=lambda p: p.distance(point), default=None)
    if best is None or best.distance(point) > 1e-7:
        raise TopologyRefused("error.topology.problem_not_found", lon=where[0], lat=where[1])
    return best


def is_shared_exactly(coverage):
    """True when every vertex lying on another polygon's edge is a vertex of it
    too, with bit-identical coordinates (the coverage is noded): no vertex lies
    on another's edge without being its vertex, and no two vertices of
    different polygons are within :data:`EPS_DEG` without being equal."""
    keys = list(coverage)
    tree = shapely.STRtree([coverage[k] for k in keys])
    for k in keys:
        mine = list(_vertices(coverage[k]))
        for i in tree.query(coverage[k].envelope.buffer(EPS_DEG * 4)):
            j = keys[i]
            if j == k:
                continue
            theirs = np.asarray(list(_vertices(coverage[j])))
            for p in mine:
                d = np.hypot(theirs[:, 0] - p[0], theirs[:, 1] - p[1])
                close = d <= EPS_DEG
                if close.any() and not (d[close] == 0).all():
                    return False
            for ring in _all_rings(coverage[j]):
                if _insert_into_ring(ring, mine) != ring:
                    return False
    return True
