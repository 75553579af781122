"""The cases as numpy columns, so filters and aggregates never parse a Feature.

:class:`Columns` keeps one row per case (row = ``case_no - 1``): position,
``reported_at``, codes for grid, state and category, and the six clock
instants of :data:`~gridmap.store.base.CLOCK_COLUMNS`. Its owner updates it
with the in-memory index and locks around every call; :meth:`Columns.select`
copies what a request needs (a :class:`Selection`, consistent with the moment
it was taken), and the aggregates in :mod:`gridmap.store.aggregates` work on
that copy without any lock.
"""

import logging
import math
import weakref
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from gridmap.jsontext import loads
from gridmap.store.base import CLOCK_COLUMNS, CLOCKS
from gridmap.store.features import haversine_m, haversine_m_many
from gridmap.store.words import WordIndex

log = logging.getLogger(__name__)

MERCATOR_MAX_LAT = 85.0511287798  # Web Mercator's square world
TILE_PX = 256.0  # a world's side in pixels at zoom 0
_NUMBERS = ("lon", "lat", "x", "y", "reported", *CLOCK_COLUMNS)
_CODES = ("grid", "state", "category")
PLACE_BATCH = 4096  # pixel positions are worked out for this many rows at once, or when needed
KEPT = 24  # masks and late flags kept until the next change (the requests of a view share them)


def mercator_px(lon, lat):
    """Web Mercator pixel position at zoom 0 (0–256 each way, y down); scalars or arrays.

    Examples
    --------
    >>> mercator_px(0.0, 0.0)
    (128.0, 128.0)
    """
    lat = np.clip(lat, -MERCATOR_MAX_LAT, MERCATOR_MAX_LAT)
    x = (np.asarray(lon, dtype=float) + 180.0) / 360.0 * TILE_PX
    y = (1.0 - np.arcsinh(np.tan(np.radians(lat))) / math.pi) / 2.0 * TILE_PX
    return (float(x), float(y)) if np.ndim(x) == 0 else (x, y)


class Extract(NamedTuple):
    """What :meth:`Columns.put` needs of a case's properties beyond its index entry."""

    clocks: tuple  #: the clock values (None without a clock extractor)
    description: object  #: ``properties["description"]`` (None if missing)


class Vocabulary:
    """Strings (or None) to small integer codes, in order of first sight."""

    def __init__(self):
        self.values, self._codes = [], {}

    def code(self, value):
        code = self._codes.get(value)
        if code is None:
            code = self._codes[value] = len(self.values)
            self.values.append(value)
        return code

    def codes(self, values):
        """The codes of those of ``values`` seen so far."""
        return [c for v in values if (c := self._codes.get(v)) is not None]


class Selection:
    """Copies of some columns for the rows a filter kept (``rows``: ``case_no - 1``),
    and ``values``: the vocabularies' values by code at the time.

    The cases themselves are read by row when needed (:meth:`features`), as they
    are then: a case updated since shows its newer version.
    """

    def __init__(self, rows, arrays, values, feature_of):
        self.rows, self.arrays, self.values = rows, arrays, values
        self._feature_of = feature_of  # (row, properties) -> Feature (a row's id never changes)

    def __len__(self):
        return len(self.rows)

    def features(self, rows, properties=None):
        """The Features of ``rows`` as they are now (with only ``properties``, if given:
        see :meth:`Entry.sparse_feature <gridmap.store.index.Entry.sparse_feature>`)."""
        return [self._feature_of(row, properties) for row in np.asarray(rows).tolist()]

    def keep(self, mask):
        """Only the rows where ``mask`` is true (in place)."""
        self.rows = self.rows[mask]
        self.arrays = {name: a[mask] for name, a in self.arrays.items()}


class Columns:
    """One row per case, grown by an eighth. Not thread-safe: the owner locks.

    ``entries`` holds each row's :class:`~gridmap.store.index.Entry`, or None
    for a row put in bulk (:meth:`put_fresh`) and not changed since: its
    owner (``source``) makes those when asked.

    Parameters
    ----------
    clocks : callable, optional
        The clock extractor: ``clocks(properties)`` returns the six instants
        of :data:`~gridmap.store.base.CLOCK_COLUMNS` (None or NaN: none).
        Without it no case has deadlines.
    source : object, optional
        The owner: ``source.feature_at(row, properties)`` gives any row's Feature.
        Without it only rows put one by one (:meth:`put`) can be read.
    """

    def __init__(self, clocks=None, capacity=1024, source=None):
        self._clocks = clocks
        # (a proxy: the owner holds its columns, and a cycle would keep an index let go
        # by a reload, with its snapshot's descriptor, until the GC ran)
        self._source = None if source is None else weakref.proxy(source)
        self.size = 0  # rows in use: the highest case_no seen
        self.grid, self.state, self.category = Vocabulary(), Vocabulary(), Vocabulary()
        self._numbers = {name: np.full(capacity, np.nan) for name in _NUMBERS}
        self._codes = {name: np.full(capacity, -1, dtype=np.int32) for name in _CODES}
        self._present = np.zeros(capacity, dtype=bool)
        self.entries = np.empty(capacity, dtype=object)
        self._unplaced = []  # rows whose pixel position is still to be worked out
        self.words = WordIndex(capacity)
        self._kept = {}  # (what, arguments) -> read-only array, until a row changes

    def extract(self, properties):
        """The :class:`Extract` of a case's ``properties``: its description, and its
        clock values (floats, NaN where none; None without an extractor). An
        extractor that fails leaves the case without clocks (it is logged)."""
        return Extract(self._clock_values(properties), properties.get("description"))

    def _clock_values(self, properties):
        if self._clocks is None:
            return None
        try:
            values = tuple(np.nan if v is None else float(v) for v in self._clocks(properties))
            if len(values) != len(CLOCK_COLUMNS):
                raise ValueError(f"{len(values)} clock values, not {len(CLOCK_COLUMNS)}")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            log.error("no clocks for case %s: %r", properties.get("tracking_code"), exc)
            values = (np.nan,) * len(CLOCK_COLUMNS)
        return values

    def put(self, entry, extract=None):
        """Set the row of ``entry`` (a new case or a newer version); ``extract``: its
        :meth:`extract`, else read from the entry's text."""
        row = entry.case_no - 1
        if row >= len(self._present):
            self._grow(row + 1)
        self.size = max(self.size, row + 1)
        numbers, codes = self._numbers, self._codes
        numbers["lon"][row], numbers["lat"][row] = entry.lon, entry.lat
        numbers["reported"][row] = np.nan if entry.reported_ts is None else entry.reported_ts
        codes["grid"][row] = self.grid.code(entry.grid_code)
        codes["state"][row] = self.state.code(entry.state)
        codes["category"][row] = self.category.code(entry.category)
        self._present[row] = True
        self._kept.clear()
        self.entries[row] = entry
        self._unplaced.append(row)
        if len(self._unplaced) >= PLACE_BATCH:
            self._place()
        if extract is None:
            extract = self.extract(loads(entry.raw)["properties"])
        if extract.clocks is not None:
            for name, value in zip(CLOCK_COLUMNS, extract.clocks):
                numbers[name][row] = value
        self.words.put(row, extract.description)

    @property
    def has_clocks(self):
        return self._clocks is not None

    def put_fresh(self, rows, clocks=None, words=None):
        """Set many new rows at once from their columns (see :meth:`CaseIndex.start_from
        <gridmap.store.index.CaseIndex.start_from>`); their entries are the source's,
        their words those of ``words`` (:meth:`WordIndex.from_arrays
        <gridmap.store.words.WordIndex.from_arrays>`), which replace any held."""
        if words is not None:
            self.words = WordIndex.from_arrays(words)
        if not len(rows["case_no"]):
            return
        at = rows["case_no"] - 1
        if at.max() >= len(self._present):
            self._grow(int(at.max()) + 1)
        self.size = max(self.size, int(at.max()) + 1)
        numbers, codes = self._numbers, self._codes
        numbers["lon"][at], numbers["lat"][at] = rows["lon"], rows["lat"]
        numbers["reported"][at] = rows["reported"]
        numbers["x"][at], numbers["y"][at] = mercator_px(rows["lon"], rows["lat"])
        for name in _CODES:
            vocabulary = getattr(self, name)
            table = np.array([vocabulary.code(v) for v in rows["vocabularies"][name]] or [0],
                             dtype=np.int32)
            codes[name][at] = table[rows[name]]
        self._present[at] = True
        self._kept.clear()
        if self._clocks is not None:
            for i, name in enumerate(CLOCK_COLUMNS):
                numbers[name][at] = clocks[:, i]

    def _grow(self, needed):
        capacity = max(needed, len(self._present) + len(self._present) // 8)
        for table, fill in ((self._numbers, np.nan), (self._codes, -1)):
            for name, old in table.items():
                table[name] = np.full(capacity, fill, dtype=old.dtype)
                table[name][:len(old)] = old
        for name in ("_present", "entries"):
            old = getattr(self, name)
            new = np.zeros(capacity, dtype=old.dtype) if old.dtype == bool else np.empty(
                capacity, dtype=object)
            new[:len(old)] = old
            setattr(self, name, new)

    def _place(self):
        """Work out the pixel positions of the rows written since (at once: cheaper)."""
        if self._unplaced:
            rows = np.asarray(self._unplaced)
            self._numbers["x"][rows], self._numbers["y"][rows] = mercator_px(
                self._numbers["lon"][rows], self._numbers["lat"][rows])
            self._unplaced.clear()

    # -- selecting -------------------------------------------------------------------

    def _keep(self, key, make):
        """``make()``, or what it gave for ``key`` since the last change (read-only)."""
        found = self._kept.get(key)
        if found is None:
            if len(self._kept) >= KEPT:
                self._kept.clear()
            found = self._kept[key] = make()
            found.flags.writeable = False
        return found

    def late(self, clock, now_ts):
        """Whether ``clock`` ("sign", "handle" or "verify") is late at ``now_ts``, per row
        (read-only)."""
        return self._keep(("late", clock, now_ts), lambda: self._late(clock, now_ts))

    def _late(self, clock, now_ts):
        n = self.size
        stop = self._numbers[f"{clock}_stop"][:n]
        end = np.where(np.isnan(stop), now_ts, stop)
        late = end > self._numbers[f"{clock}_deadline"][:n]  # False without a deadline (NaN)
        for code in self.state.codes(["cancelled"]):
            late &= self._codes["state"][:n] != code
        return late

    def overdue(self, which, now_ts):
        """Rows late on clock ``which``, or on any clock for ``"any"``."""
        if which != "any":
            return self.late(which, now_ts)
        return np.logical_or.reduce([self.late(c, now_ts) for c in CLOCKS])

    def values_at(self, row, names):
        """``lon``, ``lat`` and those of ``names`` among ``grid_code``, ``state`` and
        ``category`` of one row."""
        found = {"lon": float(self._numbers["lon"][row]), "lat": float(self._numbers["lat"][row])}
        for name in names:
            if name in ("grid_code", "state", "category"):
                code = name.removesuffix("_code")
                found[name] = getattr(self, code).values[self._codes[code][row]]
        return found

    def present(self):
        """Which rows hold a case."""
        return self._present[:self.size]

    def _of(self, name, values, rows=slice(None)):
        """Which of ``rows`` have one of ``values`` in code column ``name``."""
        codes, column = getattr(self, name).codes(values), self._codes[name][rows]
        if len(codes) == 1:
            return column == codes[0]
        table = np.zeros(len(getattr(self, name).values) + 1, dtype=bool)
        table[codes] = True
        return table[column]

    def index_mask(self, grid_codes=None, states=None, categories=None, since_ts=None,
                   until_ts=None):
        """Which rows hold a case with one of these grids, states, categories (None:
        any) reported in ``[since_ts, until_ts)`` (None: no bound)."""
        n = self.size
        keep = self._present[:n].copy()
        for name, values in (("grid", grid_codes), ("state", states), ("category", categories)):
            if values is not None:
                keep &= self._of(name, values, slice(0, n))
        reported = self._numbers["reported"][:n]
        if since_ts is not None:
            keep &= reported >= since_ts
        if until_ts is not None:
            keep &= reported < until_ts
        return keep

    def mask(self, flt, now_ts, bbox=None):
        """Which rows pass ``flt`` and lie in ``bbox`` too, if given (read-only)."""
        key = ("mask", replace(flt, now=None), bbox, now_ts if flt.overdue else None)
        return self._keep(key, lambda: self._mask(flt, now_ts, bbox))

    def _mask(self, flt, now_ts, bbox):
        n = self.size
        keep = self.index_mask(flt.grid_codes, flt.states, flt.categories,
                               None if flt.since is None else flt.since.timestamp(),
                               None if flt.until is None else flt.until.timestamp())
        lon, lat = self._numbers["lon"][:n], self._numbers["lat"][:n]
        for box in (flt.bbox, bbox):
            if box is not None:
                west, south, east, north = box
                keep &= (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
        if flt.overdue is not None:
            keep &= self.overdue(flt.overdue, now_ts)
        if flt.words:
            keep &= self.words.rows_with(flt.words, n)
        return keep

    def select(self, flt, now_ts, names=(), bbox=None):
        """A :class:`Selection` of the rows passing ``flt`` (and ``bbox``),
        with copies of the columns ``names`` (numbers, codes or ``"late_<clock>"``
        flags at ``now_ts``)."""
        rows = np.flatnonzero(self.mask(flt, now_ts, bbox))
        if "x" in names or "y" in names:
            self._place()
        arrays = {}
        for name in names:
            if name.startswith("late_"):
                arrays[name] = self.late(name.removeprefix("late_"), now_ts)[rows]
            else:
                arrays[name] = (self._numbers if name in self._numbers else self._codes)[name][rows]
        values = {name: list(getattr(self, name).values) for name in _CODES}
        return Selection(rows, arrays, values, self._source.feature_at)

    def near(self, rows, lon, lat, radius_m, box, categories=None, states=None):
        """Those of ``rows`` put in bulk and not changed since (no entry) within
        ``radius_m`` of (lon, lat), inside ``box`` (west, south, east, north) and of
        these categories and states (None: any); returns (rows, distances in metres)."""
        rows = rows[np.equal(self.entries[rows], None)]
        for name, values in (("category", categories), ("state", states)):
            if values is not None:
                rows = rows[self._of(name, values, rows)]
        west, south, east, north = box
        x, y = self._numbers["lon"][rows], self._numbers["lat"][rows]
        inside = (x >= west) & (x <= east) & (y >= south) & (y <= north)
        rows, x, y = rows[inside], x[inside], y[inside]
        near = haversine_m_many(lon, lat, x, y) <= radius_m * (1 + 1e-9) + 1e-6
        # the distances of those left exactly as for the cases held as entries
        d = np.fromiter((haversine_m(lon, lat, a, b) for a, b in zip(x[near].tolist(),
                                                                      y[near].tolist())),
                        float, int(near.sum()))
        rows = rows[near]
        return rows[d <= radius_m], d[d <= radius_m]

    def copy(self, rows):
        """Copies of ``rows``' columns as ``cases.index`` holds them: ``lon``, ``lat``,
        ``reported``, the codes of ``grid``, ``state`` and ``category`` with their
        ``vocabularies``, and ``clocks`` ((n, 6), or None without an extractor)."""
        found = {name: self._numbers[name][rows] for name in ("lon", "lat", "reported")}
        found.update((name, self._codes[name][rows]) for name in _CODES)
        found["vocabularies"] = {name: list(getattr(self, name).values) for name in _CODES}
        found["clocks"] = None if self._clocks is None else np.stack(
            [self._numbers[name][rows] for name in CLOCK_COLUMNS], axis=1)
        return found
