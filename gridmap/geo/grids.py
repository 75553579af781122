"""Grids: the polygons of one boundary generation, keyed by grid code.

A :class:`GridSet` holds the grids of a community sorted by ``grid_code``;
the position of a grid in that order (its *rank*) is what the routing index
stores, so "the lowest code" and "the lowest rank" are the same thing.
"""

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely

from gridmap.errors import InvalidBoundary

log = logging.getLogger(__name__)

#: 6-digit county + 3-digit subdistrict + 3-digit community + 3-digit sequence.
GRID_CODE_RE = re.compile(r"^\d{15}$")


def make_grid_code(county, subdistrict, community, seq):
    """Build a 15-digit grid code.

    Examples
    --------
    >>> make_grid_code("500114", "005", "001", 7)
    '500114005001007'
    """
    parts = {"county": (county, 6), "subdistrict": (subdistrict, 3), "community": (community, 3)}
    for name, (value, width) in parts.items():
        if not (isinstance(value, str) and value.isdigit() and len(value) == width):
            raise InvalidBoundary("error.grids.bad_code_part", name=name, width=width,
                                  value=repr(value)[:40])
    if not (isinstance(seq, int) and 1 <= seq <= 999):
        raise InvalidBoundary("error.grids.bad_sequence", value=repr(seq)[:40])
    return f"{county}{subdistrict}{community}{seq:03d}"


@dataclass(frozen=True)
class Grid:
    """One unit grid: its code, names and polygon (WGS 84 lon/lat)."""

    code: str
    name: str
    geometry: shapely.Geometry = field(repr=False, compare=False)
    name_en: str = ""
    properties: dict = field(default_factory=dict, repr=False, compare=False)


class GridSet:
    """The grids of one boundary generation, sorted by code.

    Parameters
    ----------
    grids : iterable of Grid
        Codes must be unique and non-empty; geometries polygonal and valid.
    """

    def __init__(self, grids):
        grids = sorted(grids, key=lambda g: g.code)
        if not grids:
            raise InvalidBoundary("error.grids.no_grids")
        codes = [g.code for g in grids]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise InvalidBoundary("error.grids.duplicate_codes", codes=dupes)
        for g in grids:
            if not g.code:
                raise InvalidBoundary("error.grids.missing_code")
            if g.geometry is None or g.geometry.is_empty or g.geometry.geom_type not in (
                    "Polygon", "MultiPolygon"):
                raise InvalidBoundary("error.grids.not_polygon", code=g.code)
            if not g.geometry.is_valid:
                raise InvalidBoundary("error.grids.invalid_polygon", code=g.code,
                                      reason=shapely.is_valid_reason(g.geometry))
        self.grids = tuple(grids)
        self.codes = tuple(codes)
        self.geometries = np.array([g.geometry for g in grids], dtype=object)
        self._rank = {c: i for i, c in enumerate(codes)}

    def __len__(self):
        return len(self.grids)

    def __iter__(self):
        return iter(self.grids)

    def __getitem__(self, code):
        return self.grids[self._rank[code]]

    def __contains__(self, code):
        return code in self._rank

    def rank(self, code):
        return self._rank[code]

    @property
    def bounds(self):
        """(minx, miny, maxx, maxy) of all grids."""
        return tuple(shapely.total_bounds(self.geometries))

    def to_frame(self):
        """The grids as a GeoDataFrame (EPSG:4326) with ``grid_code`` and ``name``."""
        import geopandas

        return geopandas.GeoDataFrame(
            {"grid_code": list(self.codes), "name": [g.name for g in self.grids]},
            geometry=list(self.geometries), crs=4326)

    @classmethod
    def from_features(cls, features, code_field="grid_code", source="<features>"):
        """Build from GeoJSON-like features (dicts with properties and geometry)."""
        grids = []
        for i, feat in enumerate(features):
            props = dict(feat.get("properties") or {})
            code = _code_text(props.get(code_field))
            if code is None:
                raise InvalidBoundary("error.grids.feature_without_code", source=source,
                                      number=i + 1, code_field=code_field)
            geom = feat.get("geometry")
            try:
                geometry = shapely.from_geojson(json.dumps(geom)) if geom else None
            except shapely.errors.GEOSException as exc:
                raise InvalidBoundary("error.grids.unreadable_geometry", source=source, code=code,
                                      problem=str(exc)) from exc
            grids.append(Grid(code=code, name=str(props.get("name") or code),
                              name_en=str(props.get("name_en") or ""),
                              geometry=geometry, properties=props))
        return cls(grids)

    @classmethod
    def from_frame(cls, frame, code_field="grid_code"):
        """Build from a GeoDataFrame in EPSG:4326 (see ``gridfile.read_grid_file``)."""
        if code_field not in frame.columns:
            raise InvalidBoundary("error.grids.no_code_field", code_field=repr(code_field),
                                  fields=[str(c) for c in frame.columns])
        props = frame.drop(columns=frame.geometry.name).to_dict("records")
        features = [{"properties": p, "geometry": json.loads(shapely.to_geojson(g)) if g else None}
                    for p, g in zip(props, frame.geometry.values)]
        return cls.from_features(features, code_field=code_field)

    @classmethod
    def load(cls, path, code_field="grid_code"):
        """Load a GeoJSON FeatureCollection from disk (the data folder's format)."""
        path = Path(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidBoundary("error.grids.file_not_found", path=str(path)) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidBoundary("error.grids.file_unreadable", path=str(path),
                                  problem=str(exc)) from exc
        if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
            raise InvalidBoundary("error.grids.not_feature_collection", path=str(path))
        return cls.from_features(doc.get("features") or [], code_field=code_field, source=str(path))


def _code_text(value):
    """A code as text: ``None`` when missing (None, NaN, blank); whole floats
    (Shapefiles often store codes as numbers) lose their ``.0``."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def load_outline(path):
    """The community outline: the union of the polygons in a GeoJSON file."""
    features = GridSet.load(path, code_field="name")
    return shapely.union_all(features.geometries)
