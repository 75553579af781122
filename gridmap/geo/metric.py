"""Local metric projections for areas and distances in metres.

Geometry inside gridmap is WGS 84 lon/lat (EPSG:4326). Areas and distances
need metres: project to the UTM zone of the data first, measure there.

>>> local_metric_crs(108.8, 29.52).to_epsg()
32649
>>> import shapely
>>> square = shapely.box(108.8, 29.52, 108.801, 29.521)
>>> round(float(shapely.area(to_metric(square, local_metric_crs(108.8, 29.52)))))
10749
"""

import math
from functools import lru_cache

import numpy as np
import pyproj
import shapely

from gridmap.errors import BadCoordinate

WGS84 = pyproj.CRS.from_epsg(4326)


def utm_epsg(lon, lat):
    """EPSG code of the WGS 84 UTM zone holding ``(lon, lat)``.

    Zones are plain 6-degree bands (the Norway/Svalbard exceptions are not
    applied); ``lat >= 0`` is north (326xx), south is 327xx.

    >>> utm_epsg(108.8, 29.52), utm_epsg(-70.6, -33.4)
    (32649, 32719)
    """
    lon, lat = _check_lon_lat(lon, lat)
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone


def local_metric_crs(lon, lat):
    """The UTM :class:`pyproj.CRS` for a point given as lon, lat (degrees)."""
    return pyproj.CRS.from_epsg(utm_epsg(lon, lat))


def metric_crs_for(geoms):
    """The UTM CRS at the centre of the bounds of lon/lat ``geoms``.

    Raises :class:`BadCoordinate` when the geometries have no coordinates.
    """
    xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
    if not all(math.isfinite(v) for v in (xmin, ymin, xmax, ymax)):
        raise BadCoordinate("error.coordinate.no_coordinates")
    return local_metric_crs((xmin + xmax) / 2.0, (ymin + ymax) / 2.0)


@lru_cache(maxsize=32)
def transformer(from_crs, to_crs):
    """A cached, thread-safe ``always_xy`` :class:`pyproj.Transformer`."""
    return pyproj.Transformer.from_crs(
        pyproj.CRS.from_user_input(from_crs),
        pyproj.CRS.from_user_input(to_crs),
        always_xy=True,
    )


def transform_geoms(geoms, from_crs, to_crs):
    """Reproject shapely geometries (scalar or array) between two CRSs.

    Coordinates are passed as x, y (lon, lat for geographic CRSs) whatever
    the CRS's declared axis order. Z values are dropped.
    """
    project = transformer(_crs_key(from_crs), _crs_key(to_crs))

    def _apply(coords):
        x, y = project.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, _apply)


def to_metric(geoms, crs):
    """Project lon/lat (EPSG:4326) geometries into the metric ``crs``."""
    return transform_geoms(geoms, WGS84, crs)


def from_metric(geoms, crs):
    """Project geometries in the metric ``crs`` back to lon/lat (EPSG:4326)."""
    return transform_geoms(geoms, crs, WGS84)


def _crs_key(crs):
    # pyproj.CRS is hashable, so it can key the lru_cache directly.
    return crs if isinstance(crs, pyproj.CRS) else pyproj.CRS.from_user_input(crs)


def _check_lon_lat(lon, lat):
    try:
        lon, lat = float(lon), float(lat)
    except (TypeError, ValueError):
        raise BadCoordinate("error.coordinate.not_numbers", lon=repr(lon)[:40],
                            lat=repr(lat)[:40]) from None
    if not (math.isfinite(lon) and -180.0 <= lon <= 180.0
            and math.isfinite(lat) and -90.0 <= lat <= 90.0):
        raise BadCoordinate("error.coordinate.point_out_of_range", lon=str(lon), lat=str(lat))
    return lon, lat
