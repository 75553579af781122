"""Checking case Features and the query arguments, shared by every backend.

:func:`prepare_feature` checks a Feature once, outside any lock, and
serialises its parts, so a backend only has to splice in ``case_no`` and
``version`` while it holds its write lock.
"""

import contextlib
import hashlib
import json
import math
import reprlib
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np

from gridmap.errors import BadInput, Conflict
from gridmap.geo.coords import validate_lonlat

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)
MAX_ID_LEN = 200
STORE_KEYS = ("case_no", "version")
#: Orders :meth:`~gridmap.store.base.CaseStore.query` accepts; ties are broken by ``case_no``.
ORDERS = ("-reported_at", "reported_at", "-case_no", "case_no")

_repr = reprlib.Repr()
_repr.maxstring = 60
_repr.maxother = 60
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_quote = json.encoder.encode_basestring  # a str as a JSON string (C speed)
_make_c_encoder = json.encoder.c_make_encoder  # None without the C accelerator
_STR = {str}
_STORE_KEYS = frozenset(STORE_KEYS)


def dumps(obj):
    """Compact JSON on one line (non-ASCII kept); NaN and infinities refused.

    What ``_ENCODER.encode`` does, minus its Python wrappers: the C encoder
    straight away (a fresh one per call, as the wrappers make, for the check
    of circular references)."""
    if _make_c_encoder is None:
        return _ENCODER.encode(obj)
    return "".join(_make_c_encoder({}, _ENCODER.default, _quote, None, ":", ",", False, False,
                                   False)(obj, 0))


class Prepared(NamedTuple):
    """A checked Feature: index fields plus its serialised parts (a tuple: cheap to make)."""

    id: str
    tracking_code: str
    grid_code: str
    state: object
    category: object
    reported_at: object  # as given (text), for answers served from the index
    reported_ts: object
    lon: float
    lat: float
    geometry_json: str
    properties_json: str  # without the store's keys

    def to_json(self, case_no, version, idempotency_key=None):
        """The stored record: the Feature with ``case_no`` and ``version`` first."""
        rest = self.properties_json[1:-1]
        props = f'{{"case_no":{case_no},"version":{version}{"," if rest else ""}{rest}}}'
        key = "" if idempotency_key is None else f',"idempotency_key":{_quote(idempotency_key)}'
        return (f'{{"type":"Feature","id":{_quote(self.id)},"geometry":{self.geometry_json},'
                f'"properties":{props}{key}}}')


def _bad(message, value, field, **params):
    """BadInput ``message`` naming ``field`` and the value received (shortened)."""
    return BadInput(message, value=_repr.repr(value), field=field, **params)


def check_text(value, field, max_len=MAX_ID_LEN):
    """A non-empty string of at most ``max_len`` characters."""
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise _bad("error.store.bad_text", value, field, limit=max_len)
    return value


def _aware(value):
    """An aware datetime from a datetime or ISO 8601 text, else None."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    return value if isinstance(value, datetime) and value.utcoffset() is not None else None


def parse_instant(value, field="reported_at"):
    """An aware instant from an ISO 8601 string or datetime, as POSIX seconds."""
    instant = _aware(value)
    if instant is None:
        raise _bad("error.store.bad_time", value, field)
    return instant.timestamp()


def prepare_feature(feature, case_id=None):
    """Check a case Feature and serialise it (see :class:`Prepared`).

    Parameters
    ----------
    feature : dict
    case_id : str, optional
        For an update: the id the feature must carry (or lack).

    Raises
    ------
    BadInput, BadCoordinate
    """
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise _bad("error.store.not_a_feature", feature, "type")
    fid = feature.get("id", case_id)
    if case_id is not None and fid != case_id:
        raise _bad("error.store.id_changed", fid, "id", case=case_id)
    check_text(fid, "id")
    geometry = feature.get("geometry")
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if (not isinstance(geometry, dict) or geometry.get("type") != "Point"
            or not isinstance(coords, (list, tuple))
            or len(coords) not in (2, 3)):
        raise _bad("error.store.not_a_point", geometry, "geometry")
    lon, lat = validate_lonlat(coords[0], coords[1])
    point = f"{lon!r},{lat!r}" if len(coords) == 2 else f"{lon!r},{lat!r},{_finite(coords[2])!r}"
    props = feature.get("properties")
    if not isinstance(props, dict):
        raise _bad("error.store.properties_not_object", props, "properties")
    tracking_code = check_text(props.get("tracking_code"), "tracking_code")
    grid_code = check_text(props.get("grid_code"), "grid_code")
    state, category = props.get("state"), props.get("category")
    if state is not None:
        check_text(state, "state")
    if category is not None:
        check_text(category, "category")
    reported = props.get("reported_at")
    reported_ts = None if reported is None else parse_instant(reported)
    rest = props if _STORE_KEYS.isdisjoint(props) else {
        k: v for k, v in props.items() if k not in STORE_KEYS}
    try:
        props_json = dumps(rest)
    except (TypeError, ValueError) as exc:
        raise BadInput("error.store.properties_not_json", problem=str(exc),
                       field="properties") from exc
    return Prepared(fid, tracking_code, grid_code, state, category,
                    reported, reported_ts, lon, lat, f'{{"type":"Point","coordinates":[{point}]}}', props_json)


def _finite(z):
    if isinstance(z, bool) or not isinstance(z, (int, float)) or not math.isfinite(z):
        raise _bad("error.store.bad_elevation", z, "geometry")
    return float(z)


def check_key(key):
    """An idempotency key: None or non-empty text."""
    return None if key is None else check_text(key, "idempotency_key")


def check_version(version):
    """An expected version: an int >= 1."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _bad("error.store.bad_expected_version", version, "expected_version")
    return version


def check_codes(values, field):
    """None, or an iterable of strings (a bare string is refused) as a frozenset."""
    if values is None:
        return None
    if not isinstance(values, (str, bytes)) and hasattr(values, "__iter__"):
        values = tuple(values)
        if set(map(type, values)) <= _STR or all(isinstance(v, str) for v in values):
            return frozenset(values)
    raise _bad("error.store.not_text_list", values, field)


def check_query(order, limit, offset):
    """Check the paging arguments of a query; returns them."""
    if order not in ORDERS:
        raise _bad("error.store.bad_order", order, "order", allowed=list(ORDERS))
    for name, value in (("limit", limit), ("offset", offset)):
        if (value is None and name == "limit") or (
                isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            continue
        raise _bad("error.store.bad_count", value, name)
    return order, limit, offset


def check_radius(lon, lat, radius_m):
    """Check a near() centre and radius; returns floats."""
    lon, lat = validate_lonlat(lon, lat)
    if (isinstance(radius_m, bool) or not isinstance(radius_m, (int, float))
            or not math.isfinite(radius_m) or radius_m < 0):
        raise _bad("error.store.bad_radius", radius_m, "radius_m")
    return lon, lat, float(radius_m)


def haversine_m(lon1, lat1, lon2, lat2):
    """Great-circle distance in metres between two WGS 84 points.

    Examples
    --------
    >>> round(haversine_m(106.5, 29.5, 106.5, 29.501))
    111
    """
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def text_hash(text):
    """A 64-bit hash of a string, the same in every process (Python's ``hash`` is not).

    Examples
    --------
    >>> text_hash("c-1") == text_hash("c-1") != text_hash("c-2")
    True
    """
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def haversine_m_many(lon1, lat1, lon2, lat2):
    """:func:`haversine_m` from one point to arrays of them (numpy: may differ from it
    in the last bits)."""
    p1, p2 = math.radians(lat1), np.radians(lat2)
    a = (np.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))


def check_bbox(bbox, field="bbox"):
    """A box ``(west, south, east, north)`` in WGS 84 degrees (edges included):
    four finite numbers with west <= east and south <= north; returns floats.
    A box reaching past ±180° or ±90° is fine (it holds what lies inside)."""
    if (isinstance(bbox, (list, tuple)) and len(bbox) == 4
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                    for v in bbox)):
        west, south, east, north = map(float, bbox)
        if west <= east and south <= north:
            return west, south, east, north
    raise _bad("error.store.bad_bbox", bbox, field)


def check_instant(value, field):
    """None, or an aware instant (a datetime or ISO 8601 text) as an aware datetime."""
    instant = _aware(value)
    if instant is None and value is not None:
        raise _bad("error.store.bad_time", value, field)
    return instant


def check_choice(value, allowed, field):
    """A string among ``allowed``."""
    if isinstance(value, str) and value in allowed:
        return value
    raise _bad("error.store.bad_choice", value, field, allowed=list(allowed))


def check_group_by(by, allowed):
    """A non-empty list of distinct keys among ``allowed``; returns a tuple."""
    if (isinstance(by, (list, tuple)) and by
            and all(isinstance(k, str) and k in allowed for k in by) and len(set(by)) == len(by)):
        return tuple(by)
    raise _bad("error.store.bad_group_by", by, "by", allowed=list(allowed))


def check_range(value, field, low, high):
    """A finite number from ``low`` to ``high``; returns a float."""
    if (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and low <= value <= high):
        return float(value)
    raise _bad("error.store.bad_range", value, field, low=low, high=high)


def check_tz(tz):
    """An IANA time zone name; returns its ZoneInfo."""
    if isinstance(tz, str) and 0 < len(tz) <= 60:
        try:
            return ZoneInfo(tz)
        except (KeyError, ValueError, OSError):  # not found (a KeyError), malformed, too long
            pass
    raise _bad("error.store.bad_timezone", tz, "tz")


def check_batch_keys(keys, count):
    """The idempotency keys of :meth:`CaseStore.create_many`: one per feature (None: none)."""
    if keys is None:
        return [None] * count
    keys = list(keys)
    if len(keys) != count:
        raise BadInput("error.store.batch_keys", got=len(keys), count=count,
                       field="idempotency_keys")
    for i, key in enumerate(keys):
        with naming_index(i, "idempotency_keys"):
            check_key(key)
    return keys


@contextlib.contextmanager
def naming_index(i, name="features"):
    """Re-raise a store refusal about one item of a batch naming it (``features[3].id``)."""
    try:
        yield
    except (BadInput, Conflict) as exc:  # a DuplicateCase, say
        field = f"{name}[{i}]" + ("" if exc.field in (None, "idempotency_key") else f".{exc.field}")
        raise type(exc)("error.store.in_batch", index=i, problem=exc.msg, field=field,
                        detail=exc.detail) from exc
