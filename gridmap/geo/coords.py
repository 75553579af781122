"""Coordinate validation: finite numbers, in range, in the order lon, lat.

Use :func:`validate_lonlat` for one point at the edge of the system (a
request, a form, a CLI argument) and :func:`validate_lonlats` for columns of
points. Both raise :class:`~gridmap.errors.BadCoordinate` with a message that
names the received value and the allowed range, Chinese first, then English.
"""

import math
import numbers
import reprlib

import numpy as np

from gridmap.errors import BadCoordinate, Msg

#: Bounding box of China used by the GCJ-02 rules: (min_lon, min_lat,
#: max_lon, max_lat), in shapely's ``bounds`` order. A rectangle, not the
#: border: it also covers parts of neighbouring countries.
CHINA_BBOX = (73.66, 3.86, 135.05, 53.55)

_RANGES = {"lon": (-180.0, 180.0), "lat": (-90.0, 90.0)}
_NAMES = {"lon": "error.name.lon", "lat": "error.name.lat"}

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60


def looks_swapped(lon, lat):
    """Tell whether a point looks as if lon and lat were given the wrong way round.

    True when lat is out of range but would be a valid lon while lon would be
    a valid lat, or when lon lies in China's latitude band (3.86–53.55) and
    lat in China's longitude band (73.66–135.05). Anything that is not a
    finite real number gives False.

    Parameters
    ----------
    lon, lat : float
        The point as received.

    Returns
    -------
    bool

    Examples
    --------
    >>> looks_swapped(29.53, 108.78)
    True
    >>> looks_swapped(108.78, 29.53)
    False
    """
    if type(lon) is not float or type(lat) is not float:
        if not (_is_real(lon) and _is_real(lat)):
            return False
        try:
            lon, lat = float(lon), float(lat)
        except OverflowError:
            return False
    min_lon, min_lat, max_lon, max_lat = CHINA_BBOX
    return bool(
        (90.0 < abs(lat) <= 180.0 and abs(lon) <= 90.0)
        or (min_lat <= lon <= max_lat and min_lon <= lat <= max_lon)
    )


def validate_lonlat(lon, lat):
    """Check one point and return it as two floats.

    Parameters
    ----------
    lon : int, float or numpy real number
        Longitude in degrees, within [-180, 180].
    lat : int, float or numpy real number
        Latitude in degrees, within [-90, 90].

    Returns
    -------
    (float, float)
        ``(lon, lat)``.

    Raises
    ------
    BadCoordinate
        For a value that is not a real number (``str``, ``None`` and ``bool``
        included), NaN, infinite or out of range. ``field`` is ``"lon"`` or
        ``"lat"``; the message adds a hint when the pair looks swapped.

    Examples
    --------
    >>> validate_lonlat(108.77568, 29.53106)
    (108.77568, 29.53106)
    >>> validate_lonlat(120, 40)
    (120.0, 40.0)
    >>> validate_lonlat(29.53, 108.78)
    Traceback (most recent call last):
    ...
    gridmap.errors.BadCoordinate: 纬度 lat 超出范围 [-90, 90]: 108.78（经纬度是否颠倒？参数顺序为 lon, lat） / lat out of range [-90, 90]: 108.78 (did you swap lon and lat? the order is lon, lat)
    """
    # Hot path: two plain floats in range (NaN fails every comparison).
    if (type(lon) is float and type(lat) is float
            and -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        return lon, lat
    lon_f = _as_float(lon, "lon")
    if not -180.0 <= lon_f <= 180.0:
        raise _range_error("lon", lon, swapped=False)
    lat_f = _as_float(lat, "lat")
    if not -90.0 <= lat_f <= 90.0:
        raise _range_error("lat", lat, swapped=looks_swapped(lon_f, lat_f))
    return lon_f, lat_f


def validate_converted(lon, lat, datum, received):
    """Check a point converted to WGS 84 from ``datum``; return it as given.

    A conversion can carry a point at the edge of the range out of it (BD-09
    at latitude -90 is south of the pole in WGS 84).

    Parameters
    ----------
    lon, lat : float
        The converted point.
    datum : str
        The datum it was received in.
    received : (float, float)
        The point as received (already checked by :func:`validate_lonlat`).

    Raises
    ------
    BadCoordinate
        Naming the coordinate (``lon`` first) whose converted value is out of range.

    Examples
    --------
    >>> validate_converted(-0.00675, -90.006, "bd09", (0.0, -90.0))
    Traceback (most recent call last):
    ...
    gridmap.errors.BadCoordinate: 纬度 lat -90.0 (bd09) 换算为 WGS 84 后为 -90.006，超出范围 [-90, 90] / lat -90.0 in bd09 is -90.006 in WGS 84, out of range [-90, 90]
    """
    for field, value, original in (("lon", lon, received[0]), ("lat", lat, received[1])):
        lo, hi = _RANGES[field]
        if not lo <= value <= hi:
            shown = _show(original)
            raise BadCoordinate(
                "error.coordinate.converted_out_of_range", name=Msg(_NAMES[field]), value=shown,
                datum=datum, wgs84=value, low=lo, high=hi,
                field=field, detail={"received": shown, "datum": datum, "wgs84": value,
                                     "allowed": [lo, hi]})
    return lon, lat


def validate_lonlats(lons, lats):
    """Check columns of points, vectorised.

    Parameters
    ----------
    lons, lats : array_like of real numbers
        Same shape. Missing values must be NaN (they come out invalid).

    Returns
    -------
    lons, lats : numpy.ndarray of float64
        The inputs as float64 (the very arrays, not copies, when they already
        are float64 arrays).
    valid : numpy.ndarray of bool
        False where a value is NaN, infinite or out of range.

    Raises
    ------
    BadCoordinate
        When the inputs differ in shape, or are not arrays of real numbers as a
        whole (strings, ``None``, booleans, ragged lists).

    Examples
    --------
    >>> lons, lats, valid = validate_lonlats([108.8, 200.0, float("nan")], [29.5, 29.5, 29.5])
    >>> valid.tolist()
    [True, False, False]
    """
    lons, lats = _as_float_arrays(lons, lats)
    valid = np.abs(lons) <= 180.0
    valid &= np.abs(lats) <= 90.0
    return lons, lats, valid


def _is_real(value):
    if isinstance(value, (float, int)):  # the common cases, without the ABC check
        return not isinstance(value, bool)
    return isinstance(value, numbers.Real) and not isinstance(value, np.bool_)


def _show(value):
    """Short repr of a received value, for messages."""
    if isinstance(value, np.generic):
        value = value.item()
    try:
        return _repr.repr(value)
    except ValueError:  # an int too long to print
        return f"<{type(value).__name__} too large to show>"


def _as_number(value, field):
    """Return value as a float (maybe NaN or infinite); BadCoordinate if no real number.

    An int too big for a float comes back as +-inf.
    """
    if not _is_real(value):
        lo, hi = _RANGES[field]
        raise BadCoordinate(
            "error.coordinate.not_a_number", name=Msg(_NAMES[field]), value=_show(value),
            type=type(value).__name__, low=lo, high=hi,
            field=field, detail={"received": _show(value), "allowed": [lo, hi]})
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _as_float(value, field):
    """Return value as a finite float; BadCoordinate otherwise. Range unchecked."""
    number = _as_number(value, field)
    if not math.isfinite(number) and not isinstance(value, numbers.Integral):
        lo, hi = _RANGES[field]
        shown = _show(value)
        raise BadCoordinate(
            "error.coordinate.not_finite", name=Msg(_NAMES[field]), value=shown, low=lo, high=hi,
            field=field, detail={"received": shown, "allowed": [lo, hi]})
    return number


def _range_error(field, value, swapped):
    lo, hi = _RANGES[field]
    shown = _show(value)
    return BadCoordinate(
        "error.coordinate.out_of_range_swapped" if swapped else "error.coordinate.out_of_range",
        name=Msg(_NAMES[field]), value=shown, low=lo, high=hi, field=field,
        detail={"received": shown, "allowed": [lo, hi], "looks_swapped": swapped})


def _as_float_array(values, field):
    try:
        array = np.asarray(values)
    except (TypeError, ValueError) as exc:  # ragged lists and the like
        raise BadCoordinate("error.coordinate.not_an_array", problem=str(exc),
                            field=field) from None
    if array.dtype.kind not in "iuf":
        raise BadCoordinate(
            "error.coordinate.bad_dtype", dtype=str(array.dtype), field=field, detail={"received_dtype": str(array.dtype)})
    return array.astype(np.float64, copy=False)


def _as_float_arrays(lons, lats):
    """Both inputs as float64 arrays of one shape, or BadCoordinate."""
    lons = _as_float_array(lons, "lon")
    lats = _as_float_array(lats, "lat")
    if lons.shape != lats.shape:
        one_d = lons.ndim == lats.ndim == 1
        raise BadCoordinate(
            "error.coordinate.lengths_differ", lons=len(lons) if one_d else str(lons.shape),
            lats=len(lats) if one_d else str(lats.shape),
            detail={"lon_shape": list(lons.shape), "lat_shape": list(lats.shape)})
    return lons, lats
