"""Where two sets of grids disagree: the pieces of ground that change grid.

The preview's overlay shades these pieces between an old and a new generation
(:func:`differences`): a piece is where the old grid's code is not the new
grid's, or where only one of the two has a grid at all.
"""

import shapely
from shapely.geometry import mapping
from shapely.strtree import STRtree

from gridmap.geo.metric import metric_crs_for, to_metric

#: pieces smaller than this (m²) are left out: noise of snapping, not a change
MIN_PIECE_M2 = 1.0


def differences(old, new, min_m2=MIN_PIECE_M2):
    """The pieces where ``old`` and ``new`` (GridSets) disagree, as GeoJSON features
    (WGS 84) with ``from`` and ``to`` codes (None: no grid there) and ``area_m2``."""
    olds, news = list(old), list(new)
    crs = metric_crs_for([gr.geometry for gr in olds + news])
    pieces = []
    tree = STRtree([gr.geometry for gr in news])
    for o in olds:
        for k in tree.query(o.geometry, predicate="intersects"):
            n = news[k]
            if n.code != o.code:
                pieces.append((o.code, n.code, shapely.intersection(o.geometry, n.geometry)))
    new_union = shapely.union_all([gr.geometry for gr in news])
    old_union = shapely.union_all([gr.geometry for gr in olds])
    pieces += [(o.code, None, shapely.difference(o.geometry, new_union)) for o in olds]
    pieces += [(None, n.code, shapely.difference(n.geometry, old_union)) for n in news]
    features = []
    for a, b, geom in pieces:
        polys = shapely.get_parts(geom)
        polys = [p for p in polys if p.geom_type in ("Polygon", "MultiPolygon")]
        if not polys:
            continue
        shape = polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)
        area = float(to_metric(shape, crs).area)
        if area < min_m2:
            continue
        features.append({"type": "Feature", "geometry": mapping(shape),
                         "properties": {"from": a, "to": b, "area_m2": round(area, 1)}})
    return features
