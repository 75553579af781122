"""The filters of the dispatcher's console, read from a query string.

One reader for the console's page and every one of its JSON endpoints, so a
URL a dispatcher shares, the map's layers and the list all mean the same cases.
Parameters (all optional):

``grid``, ``state``, ``category``
    Comma-separated codes.
``overdue``
    ``sign``, ``handle``, ``verify`` or ``any``.
``since``, ``until``
    ISO 8601 dates or times (a date as ``until`` includes that day).
``q``
    Words in the description (at most :data:`MAX_WORDS` characters).
``bbox``
    ``west,south,east,north`` in WGS 84 degrees.

A bad value is a :class:`~gridmap.errors.BadInput` naming the parameter; a grid the
caller may not see a :class:`~gridmap.errors.Forbidden`. No Flask here.
"""

import math

from gridmap.cases.categories import CODE
from gridmap.cases.service import _choices, _int, _when
from gridmap.cases.workflow import STATE_NAMES
from gridmap.errors import BadInput, Forbidden
from gridmap.store.base import ORDERS, CaseFilter

#: the query parameters that make a :class:`CaseFilter` (the console's URL holds them)
FILTER_ARGS = ("grid", "state", "category", "overdue", "since", "until", "q")
OVERDUE = ("sign", "handle", "verify", "any")
STEPS = ("day", "week")
MAX_WORDS = 100
MAX_ZOOM = 22


def parse_filter(args, community, now, visible_grids=None):
    """The :class:`CaseFilter` of ``args`` (a mapping of strings, as from a URL).

    Parameters
    ----------
    args : mapping
    community : gridmap.datafolder.Community
        Its grids and categories are the allowed values.
    now : datetime
        Aware; the instant overdue is judged at, and the zone of dates without one.
    visible_grids : collection of str, optional
        The grids the caller may see (grid staff: their own); None: every grid. The
        filter never reaches past them.

    Raises
    ------
    BadInput
        A bad value, naming its parameter.
    Forbidden
        ``grid`` names a grid outside ``visible_grids``.
    """
    grids = _choices(args, "grid", community.grids.codes)
    if visible_grids is not None:
        if grids and not set(grids) <= set(visible_grids):
            raise Forbidden("error.web.other_grid")
        grids = tuple(grids or visible_grids)  # none at all: no case
    overdue = args.get("overdue") or None
    if overdue not in (None, *OVERDUE):
        raise BadInput("error.cases.bad_overdue", value=repr(overdue[:20]), field="overdue")
    since, until = (_when(args, name, now.tzinfo) for name in ("since", "until"))
    if since and until and since >= until:
        raise BadInput("error.cases.bad_range", since=args["since"][:30],
                       until=args["until"][:30], field="until")
    words = " ".join(args.get("q", "").split())
    if len(words) > MAX_WORDS:
        raise BadInput("error.cases.words_too_long", limit=MAX_WORDS, field="q")
    return CaseFilter(
        grid_codes=None if grids is None else tuple(grids),
        states=_tuple(_choices(args, "state", STATE_NAMES)),
        categories=_tuple(_choices(args, "category", community.categories, also=CODE)),
        since=since, until=until, bbox=parse_bbox(args),
        text=words or None, overdue=overdue, now=now)


def parse_bbox(args, name="bbox"):
    """``(west, south, east, north)`` from ``west,south,east,north``, or None if not given."""
    raw = args.get(name)
    if not raw:
        return None
    try:
        box = tuple(float(v) for v in raw.split(","))
    except ValueError:
        box = ()
    if not (len(box) == 4 and all(map(math.isfinite, box))
            and -180 <= box[0] <= box[2] <= 180 and -90 <= box[1] <= box[3] <= 90):
        raise BadInput("error.cases.bad_bbox", value=repr(raw[:80]), field=name)
    return box


def parse_zoom(args):
    """The map's zoom (``zoom``, 0–22, default 15)."""
    return _int(args, "zoom", 15, 0, MAX_ZOOM)


def parse_page(args, default_per_page=50, max_per_page=200):
    """``(order, page, per_page)`` of a list: ``sort`` (one of the store's orders),
    ``page`` (from 1) and ``per_page``."""
    order = args.get("sort") or ORDERS[0]
    if order not in ORDERS:
        raise BadInput("error.cases.bad_choice", value=repr(order[:20]), allowed=list(ORDERS),
                       field="sort")
    return (order, _int(args, "page", 1, 1, 100_000),
            _int(args, "per_page", default_per_page, 1, max_per_page))


def parse_step(args):
    """The time slider's step: ``step`` is ``day`` (default) or ``week``."""
    step = args.get("step") or STEPS[0]
    if step not in STEPS:
        raise BadInput("error.cases.bad_choice", value=repr(step[:20]), allowed=list(STEPS),
                       field="step")
    return step


def _tuple(values):
    return tuple(values) if values else None
