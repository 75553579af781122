"""Read grid files (GeoJSON, GeoPackage, Shapefile, zipped Shapefile).

Everything leaves here in WGS 84 lon/lat (EPSG:4326). Geometry is read as
it is: nothing is repaired, so :func:`gridmap.geo.checks.check_grids` can
report what is wrong with it.
"""

import json
import logging
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import pyogrio
import pyogrio.errors
import pyproj
import pyproj.exceptions
import shapely

from gridmap.errors import BadInput, InvalidBoundary

log = logging.getLogger(__name__)

SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".zip")
POLYGON_TYPES = ("Polygon", "MultiPolygon")


def read_grid_file(path, crs=None, layer=None):
    """Read a polygon layer and return it as a GeoDataFrame in EPSG:4326.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.geojson``/``.json``, ``.gpkg``, ``.shp`` file, or a ``.zip``
        holding a Shapefile (its ``.shp``, ``.shx``, ``.dbf`` and ``.prj``).
    crs : str, int or pyproj.CRS, optional
        The CRS to assume when the file declares none (a Shapefile without
        ``.prj``). If the file declares a different CRS the file is refused.
    layer : str, optional
        The layer to read; required when the file holds more than one.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per feature, attributes as read, geometry in EPSG:4326.
        Null geometries are kept (the checks report them).

    Raises
    ------
    InvalidBoundary
        The file is missing, unreadable, empty, not a polygon layer, has no
        CRS and none was given, or its coordinates cannot be reprojected.
    BadInput
        ``crs`` is not a CRS that pyproj knows.
    """
    import geopandas  # deferred: heavy import, CLI --help stays fast

    path = Path(path)
    name = str(path)
    user_crs = _parse_crs(crs) if crs is not None else None
    source = _source(path, name, layer)
    layer = _pick_layer(source, name, layer)
    try:
        gdf = geopandas.read_file(source, layer=layer, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        raise InvalidBoundary("error.gridfile.unreadable", name=name, problem=str(exc),
                              field="file") from exc
    if len(gdf) == 0:
        raise InvalidBoundary("error.gridfile.no_features", name=name, field="file")
    _refuse_non_polygons(gdf, name)
    if user_crs is not None and _is_undeclared_geojson(path):
        gdf = gdf.set_crs(None, allow_override=True)  # GDAL's WGS 84 is only a default
    gdf = _set_crs(gdf, user_crs, name)
    if not gdf.crs.equals(pyproj.CRS.from_epsg(4326)):
        gdf = gdf.to_crs(4326)
    _refuse_bad_coordinates(gdf, name)
    log.info("read %d features from %s", len(gdf), name)
    return gdf


def _parse_crs(crs):
    try:
        return pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise BadInput("error.gridfile.unknown_crs", crs=repr(crs), field="crs") from exc


def _source(path, name, layer):
    """The string to hand to GDAL, after checking the path itself."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidBoundary("error.gridfile.unsupported_type", name=name,
                              allowed=list(SUFFIXES), field="file")
    if not path.is_file():
        raise InvalidBoundary("error.gridfile.not_found", name=name, field="file")
    if suffix != ".zip":
        return name
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if m.lower().endswith(".shp")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidBoundary("error.gridfile.bad_zip", name=name, problem=str(exc),
                              field="file") from exc
    if not members:
        raise InvalidBoundary("error.gridfile.zip_without_shp", name=name, field="file")
    stems = {PurePosixPath(m).stem: m for m in members}
    if layer is None and len(members) > 1:
        raise InvalidBoundary("error.gridfile.zip_several_layers", name=name,
                              layers=list(stems), field="layer")
    if layer is not None and layer not in stems:
        raise InvalidBoundary("error.gridfile.zip_no_such_layer", name=name, layer=repr(layer),
                              layers=list(stems), field="layer")
    member = stems[layer] if layer is not None else members[0]
    return f"/vsizip/{path.resolve()}/{member}"


def _pick_layer(source, name, layer):
    try:
        layers = [str(row[0]) for row in pyogrio.list_layers(source)]
    except (pyogrio.errors.DataSourceError, OSError) as exc:
        raise InvalidBoundary("error.gridfile.unreadable", name=name, problem=str(exc),
                              field="file") from exc
    if source.startswith("/vsizip/"):
        return None  # the archive member was chosen by _source
    if layer is None:
        if len(layers) > 1:
            raise InvalidBoundary("error.gridfile.several_layers", name=name, layers=layers,
                                  field="layer")
        return layers[0] if layers else None
    if layer not in layers:
        raise InvalidBoundary("error.gridfile.no_such_layer", name=name, layer=repr(layer),
                              layers=layers, field="layer")
    return layer


def _refuse_non_polygons(gdf, name):
    geoms = gdf.geometry.array
    types = np.asarray(gdf.geom_type, dtype=object)
    bad = np.flatnonzero(~shapely.is_missing(np.asarray(geoms)) & ~np.isin(types, POLYGON_TYPES))
    if len(bad):
        shown = ", ".join(f"#{i} {types[i]}" for i in bad[:5])
        more = f" …(+{len(bad) - 5})" if len(bad) > 5 else ""
        raise InvalidBoundary(
            "error.gridfile.non_polygons", name=name, shown=shown + more, field="file",
            detail={"rows": [int(i) for i in bad]},
        )


def _set_crs(gdf, user_crs, name):
    if gdf.crs is None:
        if user_crs is None:
            raise InvalidBoundary("error.gridfile.no_crs", name=name, field="crs")
        return gdf.set_crs(user_crs)
    if user_crs is not None and not _same_crs(gdf.crs, user_crs):
        raise InvalidBoundary("error.gridfile.crs_differs", name=name,
                              declared=_crs_label(gdf.crs), given=_crs_label(user_crs), field="crs")
    return gdf


def _is_undeclared_geojson(path):
    """True for GeoJSON without a ``crs`` member (RFC 7946: WGS 84 by default)."""
    if path.suffix.lower() not in (".geojson", ".json"):
        return False
    try:
        with open(path, encoding="utf-8") as stream:
            doc = json.load(stream)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(doc, dict) and "crs" not in doc


def _same_crs(a, b):
    if a.equals(b, ignore_axis_order=True):
        return True
    code_a, code_b = a.to_epsg(min_confidence=90), b.to_epsg(min_confidence=90)
    return code_a is not None and code_a == code_b


def _crs_label(crs):
    code = crs.to_epsg(min_confidence=90)
    return f"EPSG:{code} ({crs.name})" if code else crs.name


def _refuse_bad_coordinates(gdf, name):
    coords = shapely.get_coordinates(np.asarray(gdf.geometry.array))
    if not len(coords):
        return
    finite = np.isfinite(coords).all()
    in_range = finite and (np.abs(coords[:, 0]) <= 180).all() and (np.abs(coords[:, 1]) <= 90).all()
    if not in_range:
        raise InvalidBoundary("error.gridfile.not_lonlat", name=name, field="crs")
