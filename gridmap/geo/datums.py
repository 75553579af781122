"""Conversions between WGS 84, GCJ-02 ("Mars") and BD-09 (Baidu) coordinates.

gridmap keeps WGS 84 inside; points from Amap, Tencent maps or the WeChat map
component (GCJ-02) and from Baidu maps (BD-09) are converted at the edge with
:func:`to_wgs84`, and overlays for GCJ-02 tiles with :func:`from_wgs84`.

Every conversion takes two Python floats and returns a tuple of floats
(computed with :mod:`math`), or two array-likes of one shape and returns two
float64 arrays (computed with numpy). The formulas are written once, over a
namespace of math functions.

WGS 84 -> GCJ-02 is the public closed formula and applies only inside
:data:`~gridmap.geo.coords.CHINA_BBOX`; elsewhere points are unchanged.
The inverses have no closed form: they are solved by fixed-point iteration
to 1e-9 degrees (about 0.1 mm). Coordinates are not range-checked here:
call :func:`~gridmap.geo.coords.validate_lonlat` first. NaN gives NaN.

The box makes WGS 84 -> GCJ-02 jump at its edges, so near the east, north
and south edges, where the shift points outwards, a GCJ-02 point up to
~0.01 degree outside the box is the image both of itself and of a point
inside; :func:`gcj02_to_wgs84` returns the point inside.
"""

import math
from types import SimpleNamespace

import numpy as np

from gridmap.errors import BadInput
from gridmap.geo.coords import CHINA_BBOX, _as_float_arrays, _as_number

DATUMS = ("wgs84", "gcj02", "bd09")

_ALIASES = {
    "wgs84": "wgs84", "wgs-84": "wgs84", "wgs 84": "wgs84", "gps": "wgs84",
    "cgcs2000": "wgs84",  # China's datum, within centimetres of WGS 84
    "gcj02": "gcj02", "gcj-02": "gcj02", "mars": "gcj02", "amap": "gcj02",
    "bd09": "bd09", "bd-09": "bd09", "baidu": "bd09",
}

_A = 6378245.0                      # Krasovsky 1940 semi-major axis (m)
_EE = 0.00669342162296594323        # Krasovsky 1940 first eccentricity squared
_X_PI = 3.14159265358979324 * 3000.0 / 180.0
_TOLERANCE = 1e-9                   # degrees, about 0.1 mm
_MAX_ITERATIONS = 10
_MARGIN = 0.05                      # degrees; the GCJ-02 shift is at most ~0.0101

_MATH = SimpleNamespace(
    sin=math.sin, cos=math.cos, sqrt=math.sqrt, atan2=math.atan2, pi=math.pi,
    any=bool, where=lambda cond, a, b: a if cond else b,
    clip=lambda value, low, high: min(max(value, low), high))
_NUMPY = SimpleNamespace(
    sin=np.sin, cos=np.cos, sqrt=np.sqrt, atan2=np.arctan2, pi=np.pi,
    any=np.any, where=np.where, clip=np.clip)


def normalize_datum(name):
    """Return the canonical name of a datum: one of :data:`DATUMS`.

    Parameters
    ----------
    name : str
        Case-insensitive: ``wgs84``, ``wgs-84``, ``wgs 84``, ``gps``,
        ``cgcs2000`` (Tianditu; within centimetres of WGS 84); ``gcj02``,
        ``gcj-02``, ``mars``, ``amap``; ``bd09``, ``bd-09``, ``baidu``.

    Raises
    ------
    BadInput
        For any other value, with ``field="datum"``.

    Examples
    --------
    >>> normalize_datum("GCJ-02")
    'gcj02'
    >>> normalize_datum("CGCS2000")
    'wgs84'
    """
    if isinstance(name, str):
        canonical = _ALIASES.get(name.strip().lower())
        if canonical is not None:
            return canonical
    shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:57] + "..."
    raise BadInput(
        "error.datum.unknown", value=shown, allowed=list(DATUMS), field="datum", detail={"allowed": list(DATUMS)})


# --- the formulas, each written once over a namespace (math or numpy) ----

def _in_china(lon, lat, margin=0.0):
    min_lon, min_lat, max_lon, max_lat = CHINA_BBOX
    return ((lon >= min_lon - margin) & (lon <= max_lon + margin)
            & (lat >= min_lat - margin) & (lat <= max_lat + margin))


def _gcj_shift(lon, lat, xp):
    """GCJ-02 minus WGS 84 at a WGS 84 point, everywhere (no bounding box)."""
    x = lon - 105.0
    y = lat - 35.0
    pi = xp.pi
    common = (20.0 * xp.sin(6.0 * x * pi) + 20.0 * xp.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y
            + 0.2 * xp.sqrt(abs(x)) + common
            + (20.0 * xp.sin(y * pi) + 40.0 * xp.sin(y / 3.0 * pi)) * 2.0 / 3.0
            + (160.0 * xp.sin(y / 12.0 * pi) + 320.0 * xp.sin(y * pi / 30.0)) * 2.0 / 3.0)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y
            + 0.1 * xp.sqrt(abs(x)) + common
            + (20.0 * xp.sin(x * pi) + 40.0 * xp.sin(x / 3.0 * pi)) * 2.0 / 3.0
            + (150.0 * xp.sin(x / 12.0 * pi) + 300.0 * xp.sin(x / 30.0 * pi)) * 2.0 / 3.0)
    rad_lat = lat / 180.0 * pi
    magic = xp.sin(rad_lat)
    magic = 1.0 - _EE * magic * magic
    sqrt_magic = xp.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * xp.cos(rad_lat) * pi)
    return dlon, dlat


def _gcj_encode(lon, lat, xp):
    dlon, dlat = _gcj_shift(lon, lat, xp)
    return lon + dlon, lat + dlat


def _bd_encode(lon, lat, xp):
    z = xp.sqrt(lon * lon + lat * lat) + 0.00002 * xp.sin(lat * _X_PI)
    theta = xp.atan2(lat, lon) + 0.000003 * xp.cos(lon * _X_PI)
    return z * xp.cos(theta) + 0.0065, z * xp.sin(theta) + 0.006


def _bd_decode_approx(lon, lat, xp):
    """The usual one-step inverse of _bd_encode (off by up to ~0.2 m)."""
    x = lon - 0.0065
    y = lat - 0.006
    z = xp.sqrt(x * x + y * y) - 0.00002 * xp.sin(y * _X_PI)
    theta = xp.atan2(y, x) - 0.000003 * xp.cos(x * _X_PI)
    return z * xp.cos(theta), z * xp.sin(theta)


def _solve(encode, target_lon, target_lat, lon, lat, xp):
    """Fixed-point iteration for encode(lon, lat) == target, from a first guess.

    Each element stops on its own once both errors are below _TOLERANCE.
    """
    for _ in range(_MAX_ITERATIONS):
        enc_lon, enc_lat = encode(lon, lat, xp)
        err_lon = enc_lon - target_lon
        err_lat = enc_lat - target_lat
        todo = (abs(err_lon) >= _TOLERANCE) | (abs(err_lat) >= _TOLERANCE)
        if not xp.any(todo):
            break
        lon = xp.where(todo, lon - err_lon, lon)
        lat = xp.where(todo, lat - err_lat, lat)
    return lon, lat


def _wgs84_to_gcj02(lon, lat, xp):
    inside = _in_china(lon, lat)
    if not xp.any(inside):
        return lon, lat
    gcj_lon, gcj_lat = _gcj_encode(lon, lat, xp)
    return xp.where(inside, gcj_lon, lon), xp.where(inside, gcj_lat, lat)


def _gcj02_to_wgs84(lon, lat, xp):
    # Only points within reach of the box can be images of points inside it;
    # a solution outside the box means the point was never shifted. The
    # solution is known to _TOLERANCE, so a point solved to just outside an
    # edge (within 10 x _TOLERANCE, about 1 mm) counts as inside, and is
    # moved onto the edge so that wgs84_to_gcj02 shifts it back.
    near = _in_china(lon, lat, _MARGIN)
    if not xp.any(near):
        return lon, lat
    dlon, dlat = _gcj_shift(lon, lat, xp)
    wgs_lon, wgs_lat = _solve(_gcj_encode, lon, lat, lon - dlon, lat - dlat, xp)
    keep = near & _in_china(wgs_lon, wgs_lat, 10 * _TOLERANCE)
    min_lon, min_lat, max_lon, max_lat = CHINA_BBOX
    wgs_lon = xp.clip(wgs_lon, min_lon, max_lon)
    wgs_lat = xp.clip(wgs_lat, min_lat, max_lat)
    return xp.where(keep, wgs_lon, lon), xp.where(keep, wgs_lat, lat)


def _gcj02_to_bd09(lon, lat, xp):
    return _bd_encode(lon, lat, xp)


def _bd09_to_gcj02(lon, lat, xp):
    first_lon, first_lat = _bd_decode_approx(lon, lat, xp)
    return _solve(_bd_encode, lon, lat, first_lon, first_lat, xp)


def _wgs84_to_bd09(lon, lat, xp):
    return _bd_encode(*_wgs84_to_gcj02(lon, lat, xp), xp)


def _bd09_to_wgs84(lon, lat, xp):
    return _gcj02_to_wgs84(*_bd09_to_gcj02(lon, lat, xp), xp)


def _apply(formula, lon, lat):
    """Run formula on floats with math, or on arrays with numpy."""
    if type(lon) is not float or type(lat) is not float:
        if (isinstance(lon, np.ndarray) or isinstance(lat, np.ndarray)
                or np.ndim(lon) or np.ndim(lat)):
            return _apply_to_arrays(formula, lon, lat)
        lon, lat = _as_number(lon, "lon"), _as_number(lat, "lat")
    if math.isfinite(lon) and math.isfinite(lat):
        return formula(lon, lat, _MATH)
    # NaN or infinity: numpy gives NaN where math.sin would raise.
    out_lon, out_lat = _apply_to_arrays(formula, lon, lat)
    return float(out_lon), float(out_lat)


def _apply_to_arrays(formula, lon, lat):
    lons, lats = _as_float_arrays(lon, lat)
    with np.errstate(invalid="ignore", over="ignore"):
        out_lon, out_lat = formula(lons, lats, _NUMPY)
    # Never hand back the caller's own array (unchanged points return early).
    if out_lon is lon:
        out_lon = out_lon.copy()
    if out_lat is lat:
        out_lat = out_lat.copy()
    return out_lon, out_lat


# --- public API -------------------------------------------------------------

def wgs84_to_gcj02(lon, lat):
    """Convert WGS 84 to GCJ-02; points outside China are returned unchanged.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS 84 degrees. Arrays must have one shape.

    Returns
    -------
    (float, float) or (numpy.ndarray, numpy.ndarray)
        GCJ-02 degrees, as floats for scalar input, float64 arrays otherwise.

    Examples
    --------
    >>> wgs84_to_gcj02(120.0, 40.0)
    (120.00567568355486, 40.0013047896019)
    >>> wgs84_to_gcj02(2.35, 48.85)  # Paris: outside China, unchanged
    (2.35, 48.85)
    """
    return _apply(_wgs84_to_gcj02, lon, lat)


def gcj02_to_wgs84(lon, lat):
    """Convert GCJ-02 to WGS 84, to 1e-9 degrees (about 0.1 mm).

    Solved by fixed-point iteration from the one-step inverse (which alone is
    off by 0.5-2 m); at most 10 steps, usually 2 or 3.

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 degrees. Arrays must have one shape.

    Returns
    -------
    (float, float) or (numpy.ndarray, numpy.ndarray)
        WGS 84 degrees.

    Examples
    --------
    >>> lon, lat = gcj02_to_wgs84(120.00567568355486, 40.0013047896019)
    >>> round(lon, 9), round(lat, 9)
    (120.0, 40.0)
    """
    return _apply(_gcj02_to_wgs84, lon, lat)


def gcj02_to_bd09(lon, lat):
    """Convert GCJ-02 to BD-09 (Baidu): a small rotation plus (0.0065, 0.006).

    Examples
    --------
    >>> lon, lat = gcj02_to_bd09(108.7800497, 29.5283553)  # Qianjiang seat
    >>> round(lon, 5), round(lat, 5)
    (108.78665, 29.53403)
    """
    return _apply(_gcj02_to_bd09, lon, lat)


def bd09_to_gcj02(lon, lat):
    """Convert BD-09 (Baidu) to GCJ-02, to 1e-9 degrees.

    The usual closed inverse is off by up to about 0.2 m; it is the first
    guess of the same fixed-point iteration as :func:`gcj02_to_wgs84`.

    Examples
    --------
    >>> lon, lat = bd09_to_gcj02(*gcj02_to_bd09(108.78005, 29.52836))
    >>> round(lon, 9), round(lat, 9)
    (108.78005, 29.52836)
    """
    return _apply(_bd09_to_gcj02, lon, lat)


def wgs84_to_bd09(lon, lat):
    """Convert WGS 84 to BD-09 (through GCJ-02).

    Examples
    --------
    >>> lon, lat = wgs84_to_bd09(108.77568, 29.53106)  # Qianjiang seat
    >>> round(lon, 5), round(lat, 5)
    (108.78665, 29.53403)
    """
    return _apply(_wgs84_to_bd09, lon, lat)


def bd09_to_wgs84(lon, lat):
    """Convert BD-09 to WGS 84 (through GCJ-02), to 1e-9 degrees per step.

    Examples
    --------
    >>> lon, lat = bd09_to_wgs84(*wgs84_to_bd09(108.77568, 29.53106))
    >>> round(lon, 9), round(lat, 9)
    (108.77568, 29.53106)
    """
    return _apply(_bd09_to_wgs84, lon, lat)


_TO_WGS84 = {"wgs84": None, "gcj02": _gcj02_to_wgs84, "bd09": _bd09_to_wgs84}
_FROM_WGS84 = {"wgs84": None, "gcj02": _wgs84_to_gcj02, "bd09": _wgs84_to_bd09}


def _convert(table, lon, lat, datum):
    formula = table[normalize_datum(datum)]
    # Already WGS 84: still checked and converted like the others.
    return _apply(formula or _identity, lon, lat)


def _identity(lon, lat, xp):
    return lon, lat


def to_wgs84(lon, lat, datum):
    """Convert a point or arrays of points from ``datum`` to WGS 84.

    Parameters
    ----------
    lon, lat : float or array_like
    datum : str
        Any name accepted by :func:`normalize_datum`.

    Examples
    --------
    >>> to_wgs84(120.00567568355486, 40.0013047896019, "amap") == gcj02_to_wgs84(
    ...     120.00567568355486, 40.0013047896019)
    True
    >>> to_wgs84(108.8, 29.5, "GPS")
    (108.8, 29.5)
    """
    return _convert(_TO_WGS84, lon, lat, datum)


def from_wgs84(lon, lat, datum):
    """Convert a point or arrays of points from WGS 84 to ``datum``.

    Examples
    --------
    >>> from_wgs84(120.0, 40.0, "gcj02")
    (120.00567568355486, 40.0013047896019)
    """
    return _convert(_FROM_WGS84, lon, lat, datum)
