"""In-memory indexes over stored case records, so queries never touch the disk.

Each case is held as its stored JSON text plus a few index fields
(:class:`Entry`); callers get a parse of the text, a fresh deep copy that is
cheaper than ``copy.deepcopy`` and never shares anything stored, or a sparse
Feature built from the index fields alone (:meth:`Entry.sparse_feature`).
Entries are immutable: an update replaces the entry, so a list of entries
taken under the owner's lock stays a consistent snapshot after it is let go.

:class:`CaseIndex` is not thread-safe; its owner locks around every call.
"""

import math
from datetime import datetime

import numpy as np

from gridmap.jsontext import loads
from gridmap.store.columns import Columns
from gridmap.store.features import EARTH_RADIUS_M, haversine_m

# near() uses two spatial hashes: fine cells sized for the 50 m duplicate
# search (a 3 x 3 block covers it), kept per category so a search for one
# category (the duplicate hint) never looks at the others' cases around a hot
# spot, and coarse cells for wide searches. It picks the finest grid that
# needs at most MAX_CELLS cell lookups, else scans every case.
FINE_CELL_DEG = 0.0005  # about 56 m north-south
CELL_DEG = 0.01  # about 1.1 km north-south
MAX_CELLS = 1024
GRIDS = ((FINE_CELL_DEG, True), (CELL_DEG, False))  # (cell size, kept per category)
#: Properties an Entry holds, so a sparse Feature of these needs no parse.
INDEXED = frozenset(("case_no", "version", "tracking_code", "grid_code", "state", "category",
                     "reported_at"))


class Entry:
    """One stored version of one case: its JSON text and index fields.

    ``unsynced`` is (segment, inode, end offset) while the record may not be
    fsynced yet (read from another process's append, our own fsync failed,
    or it was handed to the syncer thread), else None; the store clears it once it has made sure. It is the
    only member that changes after an entry is made.
    """

    __slots__ = ("id", "raw", "tracking_code", "grid_code", "state", "category", "reported_at",
                 "reported_ts", "lon", "lat", "case_no", "version", "idempotency_key", "unsynced")

    @classmethod
    def from_prepared(cls, prep, raw, case_no, version, idempotency_key):
        """The entry of a record this process writes (fields already checked)."""
        self = cls()
        self.raw, self.case_no, self.version, self.idempotency_key = (raw, case_no, version,
                                                                      idempotency_key)
        self.unsynced = None
        self.id, self.tracking_code, self.grid_code = prep.id, prep.tracking_code, prep.grid_code
        self.state, self.category, self.lon, self.lat = prep.state, prep.category, prep.lon, prep.lat
        self.reported_at, self.reported_ts = prep.reported_at, prep.reported_ts
        return self

    @classmethod
    def from_record(cls, rec, raw):
        """The entry of a record read from disk; ValueError if it is not a case."""
        self = cls()
        self.raw, self.unsynced = raw, None
        try:
            props = rec["properties"]
            self.id, self.tracking_code = rec["id"], props["tracking_code"]
            self.grid_code, self.state, self.category = (props["grid_code"], props.get("state"),
                                                         props.get("category"))
            self.lon, self.lat = (float(c) for c in rec["geometry"]["coordinates"][:2])
            self.case_no, self.version = int(props["case_no"]), int(props["version"])
            self.idempotency_key = rec.get("idempotency_key")
            self.reported_at = reported = props.get("reported_at")
            self.reported_ts = None if reported is None else (
                datetime.fromisoformat(reported).timestamp())
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ValueError(f"not a case record: {exc!r}") from exc
        if not isinstance(self.id, str) or not isinstance(self.tracking_code, str):
            raise ValueError("not a case record: id and tracking_code must be strings")
        return self

    def feature(self):
        """A fresh deep copy of the stored Feature (store-only members dropped)."""
        feature = loads(self.raw)
        feature.pop("idempotency_key", None)
        return feature

    def sparse_feature(self, properties):
        """The Feature with only ``properties`` (those missing or null left out) and a
        2D Point; from the index fields when :data:`INDEXED` has them all."""
        if not INDEXED.issuperset(properties):
            feature = self.feature()
            props = feature["properties"]
            feature["properties"] = {k: props[k] for k in properties if props.get(k) is not None}
            feature["geometry"]["coordinates"] = feature["geometry"]["coordinates"][:2]
            return feature
        props = {k: v for k in properties if (v := getattr(self, k)) is not None}
        return {"type": "Feature", "id": self.id,
                "geometry": {"type": "Point", "coordinates": [self.lon, self.lat]},
                "properties": props}


class SnapEntry(Entry):
    """An entry whose text stays in the snapshot: read by offset when asked
    (:class:`~gridmap.store.snapindex.SnapshotFile`), never held in memory."""

    __slots__ = ("_snap", "_at", "_size")

    @classmethod
    def from_row(cls, snap, at, size, case_id, tracking_code, grid_code, state, category,
                 reported_at, reported_ts, lon, lat, case_no, version, idempotency_key):
        self = cls()
        self._snap, self._at, self._size, self.unsynced = snap, at, size, None
        self.id, self.tracking_code, self.grid_code = case_id, tracking_code, grid_code
        self.state, self.category, self.reported_at = state, category, reported_at
        self.reported_ts, self.lon, self.lat = reported_ts, lon, lat
        self.case_no, self.version, self.idempotency_key = case_no, version, idempotency_key
        return self

    @classmethod
    def from_record_at(cls, rec, raw, snap, at, size):
        """:meth:`Entry.from_record` of a snapshot feature at ``at`` (its text dropped)."""
        self = cls.from_record(rec, raw)
        self._snap, self._at, self._size = snap, at, size
        return self

    @property
    def raw(self):
        return self._snap.read(self._at, self._size)

    @raw.setter
    def raw(self, value):
        pass  # the text is the snapshot's (from_record sets it)


def _compact_area(lon, lat):
    """Whether the positions are finite and span less than 2**19 fine cells each way."""
    return not len(lon) or (np.isfinite(lon).all() and np.isfinite(lat).all()
                            and np.ptp(lon) < 2**19 * FINE_CELL_DEG
                            and np.ptp(lat) < 2**19 * FINE_CELL_DEG)


def _groups(codes):
    """(code, indices) for each code in the integer array ``codes``, indices ascending."""
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    return [(int(codes[part[0]]), part) for part in np.split(order, bounds) if len(part)]


def _cell(lon, lat, size=CELL_DEG):
    return math.floor(lat / size), math.floor(lon / size)


def _key(entry, size, per_category):
    cell = _cell(entry.lon, entry.lat, size)
    return (*cell, entry.category) if per_category else cell


class CaseIndex:
    """Cases by id, tracking code, idempotency key, grid code and map cell, and as
    :class:`~gridmap.store.columns.Columns` (given the clock extractor ``clocks``)."""

    def __init__(self, clocks=None):
        self.by_id = {}
        self.by_tracking = {}
        self.by_key = {}
        self._by_grid = {}
        # per grid: (row, col) -> {id: entry}, or (row, col, category) -> {id: entry}
        self._cells = [{} for _ in GRIDS]
        self._categories = {}  # category -> how many cases have it
        self.columns = Columns(clocks)
        self.max_case_no = 0

    def __len__(self):
        return len(self.by_id)

    def add(self, entry, clocks=None):
        """Apply one record: a new case, or a newer version of one. Returns False
        for a version already held (a record read twice changes nothing).
        ``clocks``: its clock values and description, if known (see
        :meth:`Columns.extract <gridmap.store.columns.Columns.extract>`)."""
        old = self.by_id.get(entry.id)
        if old is not None:
            if entry.version <= old.version:
                return False
            self._by_grid[old.grid_code].discard(old.id)
            for grid, cells in zip(GRIDS, self._cells):
                cell = _key(old, *grid)
                members = cells[cell]
                del members[old.id]
                if not members:
                    del cells[cell]
            if self._categories[old.category] == 1:
                del self._categories[old.category]
            else:
                self._categories[old.category] -= 1
            if entry.idempotency_key is None:
                entry.idempotency_key = old.idempotency_key
        self.by_id[entry.id] = entry
        self.by_tracking[entry.tracking_code] = entry
        if entry.idempotency_key is not None:
            self.by_key[entry.idempotency_key] = entry
        self._by_grid.setdefault(entry.grid_code, set()).add(entry.id)
        for grid, cells in zip(GRIDS, self._cells):
            cells.setdefault(_key(entry, *grid), {})[entry.id] = entry
        self._categories[entry.category] = self._categories.get(entry.category, 0) + 1
        self.columns.put(entry, clocks)
        self.max_case_no = max(self.max_case_no, entry.case_no)
        return True

    def add_fresh(self, entries, rows, clocks=None):
        """Put ``entries`` (distinct cases) into this empty index at once, as many
        :meth:`add` calls would; ``rows``: their columns as numpy arrays
        (``case_no``, ``lon``, ``lat``, ``reported``; ``grid``, ``state`` and
        ``category`` as codes into ``rows["vocabularies"]``), ``clocks`` an
        (n, 6) array. Falls back to :meth:`add` when the index is not empty."""
        n = len(entries)
        ids = [e.id for e in entries]
        if (self.by_id or len(set(ids)) != n or (self.columns.has_clocks and clocks is None)
                or not _compact_area(rows["lon"], rows["lat"])):
            for i, entry in enumerate(entries):
                self.add(entry, None if clocks is None else clocks[i])
            return
        everything = np.empty(n, dtype=object)
        everything[:] = entries
        id_array = np.empty(n, dtype=object)
        id_array[:] = ids
        self.by_id = dict(zip(ids, entries))
        self.by_tracking = {e.tracking_code: e for e in entries}
        self.by_key = {e.idempotency_key: e for e in entries if e.idempotency_key is not None}
        names = rows["vocabularies"]
        for code, members in _groups(rows["grid"]):
            self._by_grid[names["grid"][code]] = set(id_array[members].tolist())
        counts = np.bincount(rows["category"], minlength=len(names["category"]))
        self._categories = {names["category"][c]: int(k) for c, k in enumerate(counts) if k}
        lon, lat = rows["lon"], rows["lat"]
        for (size, per_category), cells in zip(GRIDS, self._cells):
            r, c = np.floor(lat / size).astype(np.int64), np.floor(lon / size).astype(np.int64)
            # one integer per cell (and category): rows and columns span < 2**20 cells
            r0, c0 = r.min(initial=0), c.min(initial=0)
            flat = ((r - r0) << 20) | (c - c0)
            if per_category:
                flat = (flat << 20) | rows["category"].astype(np.int64)
            for _, members in _groups(flat):
                i = members[0]
                key = (int(r[i]), int(c[i]))
                if per_category:
                    key += (names["category"][rows["category"][i]],)
                cells[key] = dict(zip(id_array[members].tolist(), everything[members].tolist()))
        self.columns.put_fresh(everything, rows, clocks)
        self.max_case_no = max(self.max_case_no, int(rows["case_no"].max(initial=0)))

    def select(self, grid_codes, states, categories, since_ts, until_ts):
        """Entries passing the index filters (each argument None: no filter)."""
        if grid_codes is None:
            candidates = self.by_id.values()
        else:
            by_id = self.by_id
            candidates = [by_id[i] for g in grid_codes for i in self._by_grid.get(g, ())]
        if states is None and categories is None and since_ts is None and until_ts is None:
            return list(candidates)
        lo = -math.inf if since_ts is None else since_ts
        hi = math.inf if until_ts is None else until_ts
        timed = since_ts is not None or until_ts is not None
        return [e for e in candidates
                if (states is None or e.state in states)
                and (categories is None or e.category in categories)
                and (not timed or (e.reported_ts is not None and lo <= e.reported_ts < hi))]

    def near(self, lon, lat, radius_m, categories=None, states=None):
        """Entries within ``radius_m`` (and of these categories, states), nearest first.

        Candidates come from the cells of the radius's bounding box that hold
        the wanted categories (on the finest grid that needs at most
        :data:`MAX_CELLS` of them); they are filtered by category and state,
        then by the box, and only those left get a haversine distance.
        """
        dlat = math.degrees(radius_m / EARTH_RADIUS_M)
        if abs(lat) + dlat >= 89.9 or lon - (dlon := dlat / math.cos(
                math.radians(abs(lat) + dlat))) < -180 or lon + dlon > 180:
            # Near a pole or across the antimeridian the box does not bound the circle.
            groups = [self.by_id]
            x0, x1, y0, y1 = -math.inf, math.inf, -math.inf, math.inf
        else:
            # A little slack, so rounding never drops a point exactly on the circle.
            slack = 1e-9 + 1e-9 * dlat
            x0, x1, y0, y1 = lon - dlon - slack, lon + dlon + slack, lat - dlat - slack, lat + dlat + slack
            groups = [self.by_id]
            for (size, per_category), cells in zip(GRIDS, self._cells):
                if not per_category:
                    kinds = [()]
                else:  # a lookup per cell and category
                    kinds = [(c,) for c in (self._categories if categories is None else
                                            set(categories) & self._categories.keys())]
                (r0, c0), (r1, c1) = _cell(x0, y0, size), _cell(x1, y1, size)
                if (r1 - r0 + 1) * (c1 - c0 + 1) * len(kinds) <= MAX_CELLS:
                    groups = [cell for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)
                              for k in kinds if (cell := cells.get((r, c, *k)))]
                    break
        found = []
        for group in groups:  # one pass, cheapest tests first; distances only for the box
            for e in group.values():
                if ((categories is None or e.category in categories)
                        and (states is None or e.state in states)
                        and x0 <= e.lon <= x1 and y0 <= e.lat <= y1
                        and (d := haversine_m(lon, lat, e.lon, e.lat)) <= radius_m):
                    found.append((d, e.case_no, e))
        found.sort(key=lambda item: item[:2])
        return [e for _, _, e in found]


_SORT_KEYS = {
    "case_no": lambda pair: pair[0].case_no,
    "reported_at": lambda pair: (-math.inf if pair[0].reported_ts is None else pair[0].reported_ts,
                                 pair[0].case_no),
}


def paginate(entries, predicate, order, limit, offset):
    """Filter ``entries`` by ``predicate``, sort, cut one page; returns (features, total).

    Call it without holding the index lock: ``predicate`` is the caller's code.
    """
    if predicate is None:
        pairs = [(e, None) for e in entries]
    else:
        pairs = [(e, f) for e in entries if predicate(f := e.feature())]
    pairs.sort(key=_SORT_KEYS[order.lstrip("-")], reverse=order.startswith("-"))
    page = pairs[offset:] if limit is None else pairs[offset:offset + limit]
    return [f if f is not None else e.feature() for e, f in page], len(pairs)
