"""In-memory indexes over stored case records, so queries never parse every case.

The snapshot's cases are held as arrays only (:class:`SnapBase`: where each
one's text lies, hashes to find it, no Python object per case); the cases
read from the log since are held as their JSON text plus a few index fields
(:class:`Entry`). A case asked for becomes an Entry (the snapshot's read by
offset and parsed then); callers get a parse of its text, a fresh deep copy
that is cheaper than ``copy.deepcopy`` and never shares anything stored, or
a sparse Feature built from the index fields alone
(:meth:`Entry.sparse_feature`). Entries are immutable: an update replaces
the entry, so a list of entries taken under the owner's lock stays a
consistent snapshot after it is let go.

:class:`CaseIndex` is not thread-safe; its owner locks around every call.
"""

import math
import mmap
from datetime import datetime

import numpy as np

from gridmap.jsontext import loads
from gridmap.store.base import CasePoints
from gridmap.store.columns import Columns
from gridmap.store.features import EARTH_RADIUS_M, haversine_m, text_hash

# near() uses two spatial hashes: fine cells sized for the 50 m duplicate
# search (a 3 x 3 block covers it), kept per category so a search for one
# category (the duplicate hint) never looks at the others' cases around a hot
# spot, and coarse cells for wide searches. It picks the finest grid that
# needs at most MAX_CELLS cell lookups, else scans every case.
FINE_CELL_DEG = 0.0005  # about 56 m north-south
CELL_DEG = 0.01  # about 1.1 km north-south
MAX_CELLS = 1024
GRIDS = ((FINE_CELL_DEG, True), (CELL_DEG, False))  # (cell size, kept per category)
_CELL_BITS = 21  # a fine cell's key: (row + offset) << 21 | (column + offset), both < 2**21
_CELL_OFFSET = 1 << 20
_CATEGORY_SHIFT = 2 * _CELL_BITS  # the base's cells: (category << 42) | cell key
#: Properties the arrays hold, so a sparse Feature of these needs no read.
COLUMNED = frozenset(("case_no", "version", "grid_code", "state", "category"))
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
            return sparse(self.feature(), properties)
        props = {k: v for k in properties if (v := getattr(self, k)) is not None}
        return {"type": "Feature", "id": self.id,
                "geometry": {"type": "Point", "coordinates": [self.lon, self.lat]},
                "properties": props}


def sparse(feature, properties):
    """``feature`` with only ``properties`` (those missing or null left out) and a 2D
    Point (changed in place)."""
    props = feature["properties"]
    feature["properties"] = {k: props[k] for k in properties if props.get(k) is not None}
    feature["geometry"]["coordinates"] = feature["geometry"]["coordinates"][:2]
    return feature


class SnapEntry(Entry):
    """An entry whose text stays in the snapshot: read by offset when asked
    (:class:`~gridmap.store.snapindex.SnapshotFile`), never held in memory."""

    __slots__ = ("_snap", "_at", "_size")

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


def text_hashes(texts, count):
    """:func:`text_hash` of each of ``texts`` (0 for None), as a uint64 array."""
    return np.fromiter((0 if t is None else text_hash(t) for t in texts), np.uint64, count)


def cell_keys(lon, lat):
    """One integer per fine map cell (:data:`FINE_CELL_DEG`) of each position, ordered
    by cell row, then column: the cells of one row between two columns are a run of
    keys. Scalars or arrays."""
    r = np.floor(np.asarray(lat) / FINE_CELL_DEG).astype(np.int64) + _CELL_OFFSET
    c = np.floor(np.asarray(lon) / FINE_CELL_DEG).astype(np.int64) + _CELL_OFFSET
    return (r << _CELL_BITS) | c


def _cell(lon, lat, size=CELL_DEG):
    return math.floor(lat / size), math.floor(lon / size)


def _key(entry, size, per_category):
    cell = _cell(entry.lon, entry.lat, size)
    return (*cell, entry.category) if per_category else cell


def _sorted(keys, what):
    """``keys`` if ascending, else ValueError (a corrupt index)."""
    if len(keys) > 1 and (keys[1:] < keys[:-1]).any():
        raise ValueError(f"the {what} order does not sort")
    return keys


class SnapBase:
    """The snapshot's cases as arrays by row (``case_no - 1``), with no object per case.

    It keeps where each case's JSON text lies in the snapshot and its version,
    and finds rows by id, tracking code, idempotency key (sorted 64-bit hashes
    of the strings, then the string checked in the parsed case) and by map cell
    (sorted :func:`cell_keys`). A case is read and parsed when asked for
    (:meth:`entry`). Immutable once made.

    Parameters
    ----------
    snap : SnapshotFile
    rows : dict
        The arrays of a ``cases.index`` (see :mod:`gridmap.store.snapindex`),
        one element per snapshot feature.
    """

    LOOKUPS = ("id", "tracking_code", "idempotency_key")

    def __init__(self, snap, rows):
        self.snap = snap
        row = rows["case_no"] - 1
        size = int(row.max()) + 1 if len(row) else 0
        if size >= 2**31:
            raise ValueError(f"case numbers up to {size}: rows are int32")
        row = row.astype(np.int32)
        self.count = len(row)
        # (int32 where a value fits: a feature's length, a version, a row)
        self.at = np.full(size, -1, dtype=np.int64)  # -1: not in the snapshot
        self.length = np.zeros(size, dtype=np.int32)
        self.version = np.zeros(size, dtype=np.int32)
        self.at[row], self.length[row], self.version[row] = (rows["offset"], rows["length"],
                                                             rows["version"])
        # the ids' UTF-8 stays in cases.index, mapped: pages are read when touched,
        # shared by the workers, and the kernel may drop them again
        source, at = rows["id_source"]
        text_size = len(rows["id_text"])
        self._id_text = np.frombuffer(mmap.mmap(source.fd, 0, access=mmap.ACCESS_READ),
                                      dtype=np.uint8, count=text_size, offset=at) if text_size else (
            np.zeros(0, dtype=np.uint8))
        ends = rows["id_end"]
        if len(ends) and (ends[-1] != text_size or (np.diff(ends) < 0).any()):
            raise ValueError("the ids' ends do not fit their text")
        self._id_start = np.zeros(size, dtype=np.int64)
        self._id_length = np.zeros(size, dtype=np.int32)
        self._id_start[row] = ends - np.diff(ends, prepend=0)
        self._id_length[row] = np.diff(ends, prepend=0)
        self._sorted = {}
        for name in self.LOOKUPS:
            order = rows[f"{name}_order"]
            if name == "idempotency_key":
                order = order[rows["has_key"][order]]
            self._sorted[name] = (_sorted(rows[f"{name}_hash"][order], name), row[order])
        # by category, then fine map cell: the duplicate search looks at one category
        self._categories = {c: i for i, c in enumerate(rows["vocabularies"]["category"])}
        order = rows["cell_order"]
        keys = (rows["category"][order].astype(np.int64) << _CATEGORY_SHIFT) | cell_keys(
            rows["lon"][order], rows["lat"][order])
        self._cells = (_sorted(keys, "cell"), row[order])

    def rows(self, field, value):
        """The rows whose ``field`` (one of :data:`LOOKUPS`) may be ``value``."""
        keys, rows = self._sorted[field]
        key = np.uint64(text_hash(value))
        return rows[keys.searchsorted(key, "left"):keys.searchsorted(key, "right")]

    def id(self, row):
        """The id of the case at ``row`` (no read of the snapshot)."""
        start = self._id_start[row]
        return self._id_text[start:start + self._id_length[row]].tobytes().decode("utf-8")

    def ids(self, rows):
        """The ids of ``rows``."""
        text = self._id_text
        return [text[a:a + n].tobytes().decode("utf-8") for a, n in zip(
            self._id_start[rows].tolist(), self._id_length[rows].tolist())]

    def holds(self, row, case_id):
        """Whether the snapshot holds case ``case_id`` at ``row``."""
        return 0 <= row < len(self.at) and self.at[row] >= 0 and row in self.rows("id", case_id)

    def entry(self, row):
        """The :class:`SnapEntry` of ``row`` (read and parsed now)."""
        at, length = int(self.at[row]), int(self.length[row])
        text = self.snap.read(at, length)
        return SnapEntry.from_record_at(loads(text), text, self.snap, at, length)

    def text(self, row):
        return self.snap.read(int(self.at[row]), int(self.length[row]))

    def feature(self, row):
        """:meth:`Entry.feature` of ``row``, with one parse."""
        feature = loads(self.text(row))
        feature.pop("idempotency_key", None)
        return feature

    def every_row(self):
        return np.flatnonzero(self.at >= 0)

    def rows_near(self, x0, y0, x1, y1, categories=None):
        """The rows in the fine cells that meet the box (a superset of those inside it)
        and of ``categories`` (None: any), or every row when the box spans more than
        :data:`MAX_CELLS` rows of cells."""
        (r0, c0), (r1, c1) = _cell(x0, y0, FINE_CELL_DEG), _cell(x1, y1, FINE_CELL_DEG)
        codes = list(self._categories.values()) if categories is None else [
            self._categories[c] for c in categories if c in self._categories]
        if (r1 - r0 + 1) * len(codes) > MAX_CELLS:
            return self.every_row()
        keys, rows = self._cells
        line = ((np.arange(r0, r1 + 1, dtype=np.int64) + _CELL_OFFSET) << _CELL_BITS)
        line = (np.array(codes, dtype=np.int64)[:, None] << _CATEGORY_SHIFT | line).ravel()
        lo = keys.searchsorted(line | (c0 + _CELL_OFFSET), "left")
        hi = keys.searchsorted(line | (c1 + _CELL_OFFSET), "right")
        return np.concatenate([rows[a:b] for a, b in zip(lo.tolist(), hi.tolist())] + [
            rows[:0]])


class CaseIndex:
    """Cases by id, tracking code, idempotency key and place, and as
    :class:`~gridmap.store.columns.Columns` (given the clock extractor ``clocks``).

    Two layers: a :class:`SnapBase` of the snapshot's cases (arrays, when the
    store started from ``cases.index``), and over it the cases read from the
    log (or parsed from a snapshot) as :class:`Entry` objects in dicts and map
    cells. A case in both is the log's: its row's entry in the columns is set
    (``columns.entries[row]``), and the base's answers for that row are skipped.
    """

    _TABLES = {"id": "by_id", "tracking_code": "by_tracking", "idempotency_key": "by_key"}

    def __init__(self, clocks=None):
        self.base = None
        self.by_id = {}  # the log's layer only (as the two others)
        self.by_tracking = {}
        self.by_key = {}
        # per grid: (row, col) -> {id: entry}, or (row, col, category) -> {id: entry}
        self._cells = [{} for _ in GRIDS]
        self._categories = {}  # category -> how many cases of the log's layer have it
        self.columns = Columns(clocks, source=self)
        self.count = 0
        self.max_case_no = 0

    def __len__(self):
        return self.count

    def get(self, field, value):
        """The entry of the case whose ``field`` (``id``, ``tracking_code`` or
        ``idempotency_key``) is ``value``, or None."""
        entry = getattr(self, self._TABLES[field]).get(value)
        if entry is not None or self.base is None:
            return entry
        held = self.columns.entries
        for row in self.base.rows(field, value).tolist():
            if held[row] is None:  # (else the log's layer has the case, and said no above)
                entry = self.base.entry(row)
                if getattr(entry, field) == value:
                    return entry
        return None

    def entry_at(self, row):
        """The entry of row ``row`` (a case's newest version)."""
        entry = self.columns.entries[row]
        return self.base.entry(row) if entry is None else entry

    def feature_at(self, row, properties=None):
        """Row ``row``'s Feature (a fresh copy), or with only ``properties`` (see
        :meth:`Entry.sparse_feature`)."""
        entry = self.columns.entries[row]
        if entry is not None:
            return entry.feature() if properties is None else entry.sparse_feature(properties)
        if properties is not None and COLUMNED.issuperset(properties):  # no read
            values = self.columns.values_at(row, properties)
            values.update(case_no=row + 1, version=int(self.base.version[row]))
            lon, lat = values.pop("lon"), values.pop("lat")
            return {"type": "Feature", "id": self.base.id(row),
                    "geometry": {"type": "Point", "coordinates": [lon, lat]},
                    "properties": {k: v for k in properties if (v := values[k]) is not None}}
        feature = self.base.feature(row)
        return feature if properties is None else sparse(feature, properties)

    def add(self, entry, clocks=None):
        """Apply one record: a new case, or a newer version of one. Returns False
        for a version already held (a record read twice changes nothing).
        ``clocks``: its clock values and description, if known (see
        :meth:`Columns.extract <gridmap.store.columns.Columns.extract>`)."""
        old = self.by_id.get(entry.id)
        row = entry.case_no - 1
        if old is not None:
            version = old.version
        elif self.base is not None and self.base.holds(row, entry.id):
            version = int(self.base.version[row])
        else:
            version = None
        if version is not None and entry.version <= version:
            return False
        if old is not None:
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
        if entry.idempotency_key is None and version is not None:
            entry.idempotency_key = (old or self.base.entry(row)).idempotency_key
        self.count += version is None
        self.by_id[entry.id] = entry
        self.by_tracking[entry.tracking_code] = entry
        if entry.idempotency_key is not None:
            self.by_key[entry.idempotency_key] = entry
        for grid, cells in zip(GRIDS, self._cells):
            cells.setdefault(_key(entry, *grid), {})[entry.id] = entry
        self._categories[entry.category] = self._categories.get(entry.category, 0) + 1
        self.columns.put(entry, clocks)
        self.max_case_no = max(self.max_case_no, entry.case_no)
        return True

    def start_from(self, base, rows, clocks=None):
        """Make this empty index hold the snapshot's cases as ``base`` (a
        :class:`SnapBase`); ``rows``: the index's columns (``case_no``, ``lon``,
        ``lat``, ``reported``; ``grid``, ``state`` and ``category`` as codes into
        ``rows["vocabularies"]``) and ``words`` (the word index's arrays),
        ``clocks`` an (n, 6) array."""
        if self.count or (self.columns.has_clocks and clocks is None):
            raise ValueError("start_from needs an empty index (and clocks if it has an extractor)")
        self.base, self.count = base, base.count
        self.columns.put_fresh(rows, clocks, rows["words"])
        self.max_case_no = max(self.max_case_no, int(rows["case_no"].max(initial=0)))

    def rows(self):
        """The rows of every case, ascending (by ``case_no``)."""
        return np.flatnonzero(self.columns.present())

    def select(self, grid_codes, states, categories, since_ts, until_ts):
        """Entries passing the index filters (each argument None: no filter), by case_no."""
        rows = np.flatnonzero(self.columns.index_mask(grid_codes, states, categories,
                                                      since_ts, until_ts))
        return [self.entry_at(row) for row in rows.tolist()]

    def near(self, lon, lat, radius_m, categories=None, states=None, limit=None):
        """Entries within ``radius_m`` (and of these categories, states), nearest first
        (the first ``limit`` of them): :meth:`near_rows`' entries."""
        return [self.entry_at(row) for row in self.near_rows(lon, lat, radius_m, categories,
                                                             states, limit)]

    def near_rows(self, lon, lat, radius_m, categories=None, states=None, limit=None):
        """The rows of the cases within ``radius_m`` (and of these categories, states),
        nearest first (the first ``limit`` of them).

        The log's layer: candidates come from the cells of the radius's bounding
        box that hold the wanted categories (on the finest grid that needs at
        most :data:`MAX_CELLS` of them); they are filtered by category and
        state, then by the box, and only those left get a haversine distance.
        The base: the rows of the fine cells meeting the box, filtered on the
        columns the same way at once.
        """
        dlat = math.degrees(radius_m / EARTH_RADIUS_M)
        if abs(lat) + dlat >= 89.9 or lon - (dlon := dlat / math.cos(
                math.radians(abs(lat) + dlat))) < -180 or lon + dlon > 180:
            # Near a pole or across the antimeridian the box does not bound the circle.
            groups = [self.by_id]
            x0, x1, y0, y1 = -math.inf, math.inf, -math.inf, math.inf
            base_rows = None if self.base is None else self.base.every_row()
        else:
            # A little slack, so rounding never drops a point exactly on the circle.
            slack = 1e-9 + 1e-9 * dlat
            x0, x1, y0, y1 = lon - dlon - slack, lon + dlon + slack, lat - dlat - slack, lat + dlat + slack
            base_rows = None if self.base is None else self.base.rows_near(x0, y0, x1, y1,
                                                                           categories)
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
                    found.append((d, e.case_no))
        if base_rows is not None and len(base_rows):
            rows, d = self.columns.near(base_rows, lon, lat, radius_m, (x0, y0, x1, y1),
                                        categories, states)
            found += zip(d.tolist(), (rows + 1).tolist())
        found.sort()
        return [case_no - 1 for _, case_no in found[:limit]]

    def frozen(self, columns=False):
        """Every case as of now, read later: a :class:`Frozen` (with copies of
        the columns if ``columns``)."""
        return Frozen(self, columns)


class Frozen:
    """An index's cases as of one moment (taken under the owner's lock), read
    afterwards without it: for all cases in order, their points, and for
    writing them as a snapshot (iterating gives the texts) and its ``cases.index``."""

    def __init__(self, index, columns=False):
        self.rows = index.rows()
        self.base = index.base
        self.entries = index.columns.entries[self.rows]  # None: the base's
        self.columns = index.columns.copy(self.rows) if columns else None
        self.words = index.columns.words.frozen() if columns else None

    def __len__(self):
        return len(self.rows)

    def feature(self, i):
        """The Feature of the ``i``-th case (a fresh copy; one parse)."""
        entry = self.entries[i]
        return self.base.feature(int(self.rows[i])) if entry is None else entry.feature()

    def id(self, i):
        """The id of the ``i``-th case."""
        entry = self.entries[i]
        return self.base.id(int(self.rows[i])) if entry is None else entry.id

    def __iter__(self):
        """The JSON text of each case, by case_no."""
        base = self.base
        return (base.text(row) if entry is None else entry.raw
                for row, entry in zip(self.rows.tolist(), self.entries.tolist()))

    def points(self):
        """A :class:`~gridmap.store.base.CasePoints` of the cases (ids read when asked)."""
        names = self.columns["vocabularies"]
        grid, state = (np.array(names[k] + [None], dtype=object)[self.columns[k]]
                       for k in ("grid", "state"))  # (code -1: None)
        return CasePoints(Ids(self), self.rows + 1, self.columns["lon"], self.columns["lat"],
                          grid, state)

    def index_rows(self, offsets, lengths):
        """The rows of a ``cases.index`` (see :mod:`gridmap.store.snapindex`) for
        these cases written at ``offsets`` with ``lengths``; returns (rows, clocks)."""
        n, rows = len(self.rows), dict(self.columns)
        clocks = rows.pop("clocks")
        rows.update(offset=offsets, length=lengths, case_no=self.rows + 1)
        held = np.flatnonzero(np.not_equal(self.entries, None))
        entries = self.entries[held].tolist()
        version = np.zeros(n, dtype=np.int64)
        version[held] = [e.version for e in entries]
        hashes = {}
        for name in SnapBase.LOOKUPS:
            hashes[name] = np.zeros(n, dtype=np.uint64)
            hashes[name][held] = text_hashes((getattr(e, name) for e in entries), len(held))
        has_key = np.zeros(n, dtype=bool)
        has_key[held] = [e.idempotency_key is not None for e in entries]
        ids = np.empty(n, dtype=object)
        ids[held] = [e.id for e in entries]
        base = self.base
        if len(held) < n:  # the rest from the base's arrays
            rest = np.ones(n, dtype=bool)
            rest[held] = False
            at = np.flatnonzero(rest)
            version[at] = base.version[self.rows[at]]
            ids[at] = base.ids(self.rows[at])
            where = np.full(len(base.at), -1, dtype=np.int64)  # base row -> position here
            where[self.rows[at]] = at
            for name in SnapBase.LOOKUPS:
                keys, base_rows = base._sorted[name]
                to = where[base_rows]
                mine = to >= 0
                hashes[name][to[mine]] = keys[mine]
                if name == "idempotency_key":
                    has_key[to[mine]] = True
        rows["version"], rows["has_key"] = version, has_key
        ids = [i.encode("utf-8", "surrogatepass") for i in ids.tolist()]
        rows["id_text"] = np.frombuffer(b"".join(ids), dtype=np.uint8)
        rows["id_end"] = np.cumsum([len(i) for i in ids], dtype=np.int64)
        for name in SnapBase.LOOKUPS:
            rows[f"{name}_hash"] = hashes[name]
            rows[f"{name}_order"] = np.argsort(hashes[name], kind="stable").astype(np.int32)
        rows["cell_order"] = np.argsort(
            (rows["category"].astype(np.int64) << _CATEGORY_SHIFT)
            | cell_keys(rows["lon"], rows["lat"]), kind="stable").astype(np.int32)
        rows["words"] = self.words.arrays()
        return rows, clocks


class Ids:
    """The ids of a :class:`Frozen`'s cases, each read when asked (routing every case
    needs none of them, a list of moves a few)."""

    def __init__(self, frozen):
        self._frozen = frozen

    def __len__(self):
        return len(self._frozen)

    def __getitem__(self, i):
        return self._frozen.id(int(i))

    def tolist(self):
        return [self[i] for i in range(len(self))]


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
