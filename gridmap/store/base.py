"""The case store interface: GeoJSON Features in, deep copies out.

A case is a GeoJSON Feature with a Point geometry in WGS 84 (lon, lat), a
caller-made string ``id`` and a ``properties`` object that holds everything
else, history included. The store knows nothing of the workflow: it checks
the shape of a Feature, keeps ``id`` and ``tracking_code`` unique, numbers
cases (``properties["case_no"]``, 1, 2, 3 … across all processes, for
humans) and versions them (``properties["version"]``, 1 on create, +1 on
each update) for optimistic concurrency.

Every backend passes the contract suite in ``tests/store/contract.py``; the
embedded default is :class:`gridmap.store.geojsonseq.GeoJSONSeqStore`.
Every read sees what any process wrote before it began (a backend catches
up by itself, cheaply when nothing changed), so a request that only writes
pays for no reading.

Indexed properties, used by :meth:`CaseStore.query` and :meth:`CaseStore.near`:
``grid_code``, ``state``, ``category`` (strings) and ``reported_at`` (ISO 8601
with a UTC offset, compared as an aware instant).

Aggregates (:meth:`CaseStore.find`, :meth:`CaseStore.count_by`,
:meth:`CaseStore.heat`, :meth:`CaseStore.clusters`,
:meth:`CaseStore.grid_figures`) take a :class:`CaseFilter`. Whether a case is
overdue depends on its history, which only the workflow understands: a
backend is given a *clock extractor* when it is built (``clocks=``, see
:data:`CLOCK_COLUMNS`), calls it once per stored version of a case and keeps
the six instants it returns beside the indexed properties.
"""

import abc
import contextlib
import dataclasses
from datetime import datetime
from typing import NamedTuple

import numpy as np

from gridmap.errors import BadInput, Conflict, GridmapError
from gridmap.store.features import (ORDERS, check_bbox, check_choice, check_codes,  # noqa: F401
                                    check_instant, check_text)

#: What ``CaseFilter.overdue`` accepts: one clock, or any of them.
OVERDUE = ("sign", "handle", "verify", "any")
#: The clocks of a case, in the order of :data:`CLOCK_COLUMNS`.
CLOCKS = ("sign", "handle", "verify")
#: What a clock extractor returns for a case's properties, in this order: POSIX
#: seconds (float), or None/NaN when there is none. A clock is *late* at ``now``
#: when the case is not cancelled, has the deadline, and (the stop instant if
#: the clock stopped, else ``now``) is after the deadline.
CLOCK_COLUMNS = ("sign_deadline", "sign_stop", "handle_deadline", "handle_stop",
                 "verify_deadline", "verify_stop")
#: Keys :meth:`CaseStore.count_by` groups by.
GROUP_KEYS = ("grid_code", "category", "state", "day", "week", "month")
#: States :meth:`CaseStore.grid_figures` counts as closed.
CLOSED_STATES = ("closed", "rated")
#: Longest ``CaseFilter.text``.
MAX_TEXT = 200
#: Most cells :meth:`CaseStore.heat` and :meth:`CaseStore.clusters` answer for a view.
MAX_CELLS = 4096


@dataclasses.dataclass(frozen=True)
class CaseFilter:
    """Which cases an aggregate looks at: those passing every filter given.

    Values are checked (and normalised) when the filter is made; a bad one
    raises :class:`~gridmap.errors.BadInput` naming the field.

    Attributes
    ----------
    grid_codes, states, categories : tuple of str, optional
        Keep cases whose property is one of these (any iterable of strings is
        taken and kept sorted, without repeats; an empty one matches nothing).
    since, until : datetime, optional
        Aware instants (ISO 8601 text with an offset is taken too):
        ``since <= reported_at < until``. Cases without ``reported_at`` fail both.
    bbox : tuple of float, optional
        ``(west, south, east, north)`` in WGS 84 degrees, edges included.
    text : str, optional
        Words (split on white space) that must all occur in
        ``properties["description"]``, ignoring case. Blank: no filter.
    overdue : str, optional
        ``"sign"``, ``"handle"``, ``"verify"`` (that clock is late) or ``"any"``.
    now : datetime, optional
        The aware instant ``overdue`` is judged at; None: when the call runs.

    Examples
    --------
    >>> CaseFilter(states=["signed", "reported", "signed"]).states
    ('reported', 'signed')
    >>> CaseFilter(text="  ").text is None
    True
    """

    grid_codes: tuple = None
    states: tuple = None
    categories: tuple = None
    since: datetime = None
    until: datetime = None
    bbox: tuple = None
    text: str = None
    overdue: str = None
    now: datetime = None

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        for name in ("grid_codes", "states", "categories"):
            codes = check_codes(getattr(self, name), name)
            put(name, None if codes is None else tuple(sorted(codes)))
        for name in ("since", "until", "now"):
            put(name, check_instant(getattr(self, name), name))
        if self.bbox is not None:
            put("bbox", check_bbox(self.bbox))
        if self.text is not None:
            text = self.text.strip() if isinstance(self.text, str) else self.text
            put("text", check_text(text, "text", MAX_TEXT) if text != "" else None)
        if self.overdue is not None:
            check_choice(self.overdue, OVERDUE, "overdue")

    @property
    def words(self):
        """The words of ``text``, case-folded (empty without text)."""
        return tuple(self.text.casefold().split()) if self.text else ()


def check_filter(flt, field="flt"):
    """A :class:`CaseFilter` (None: the empty one, every case)."""
    if flt is None:
        return CaseFilter()
    if isinstance(flt, CaseFilter):
        return flt
    raise BadInput("error.store.not_a_filter", value=repr(flt)[:60], field=field)


class StoreError(GridmapError):
    """The store cannot read or write its data, or was closed (HTTP 500)."""

    code = "store_error"


class DuplicateCase(Conflict):
    """A create whose ``id`` or ``tracking_code`` is taken (HTTP 409)."""

    code = "duplicate_case"


class VersionConflict(Conflict):
    """An update based on a version that is no longer current (HTTP 409).

    ``detail`` holds ``case_id``, ``expected_version`` and ``current_version``.
    """

    code = "version_conflict"


class CasePoints(NamedTuple):
    """Cases as arrays (one element each): ``ids``, ``case_no``, ``lon``, ``lat``,
    ``grid_code``, ``state`` (object arrays for the strings; ``ids`` may be a
    sequence that reads each id when asked, with ``len`` and ``tolist``)."""

    ids: np.ndarray
    case_no: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    grid_code: np.ndarray
    state: np.ndarray

    @classmethod
    def from_rows(cls, rows):
        """From ``(id, case_no, lon, lat, grid_code, state)`` tuples."""
        columns = list(zip(*rows)) or [()] * 6
        return cls(np.array(columns[0], dtype=object), np.array(columns[1], dtype=np.int64),
                   np.array(columns[2], dtype=float), np.array(columns[3], dtype=float),
                   np.array(columns[4], dtype=object), np.array(columns[5], dtype=object))


class CaseStore(abc.ABC):
    """Where cases live. Thread-safe; one instance per process.

    All features returned are deep copies: changing them changes nothing
    stored. Arguments are checked first; a bad one raises
    :class:`~gridmap.errors.BadInput` naming it, and nothing is stored.
    """

    @abc.abstractmethod
    def create(self, feature, idempotency_key=None):
        """Store a new case, durably, and return it.

        Parameters
        ----------
        feature : dict
            GeoJSON Feature: ``id`` (non-empty string, unique), Point
            ``geometry`` (lon, lat in WGS 84), ``properties`` with
            ``tracking_code`` (unique) and ``grid_code``. ``case_no`` and
            ``version`` are set by the store; other top-level members are
            not kept.
        idempotency_key : str, optional
            A client's retry key. A key seen before returns the case first
            made with it, also when another process made it.

        Returns
        -------
        feature : dict
            The stored case, with ``case_no`` and ``version`` = 1.
        created : bool
            False when ``idempotency_key`` had been used; nothing was stored.

        Raises
        ------
        BadInput
            A malformed feature or key.
        DuplicateCase
            ``id`` or ``tracking_code`` already stored (409).
        StoreError
            The write failed; the case may or may not be stored (retry with
            the same key).
        """

    def create_many(self, features, idempotency_keys=None):
        """Store a batch of new cases, durably, all or none: the bulk path for
        imports and demo data.

        Every feature is checked as by :meth:`create`, ids and tracking codes
        also against the rest of the batch; a refusal stores nothing of the
        batch. Cases are numbered in the batch's order. A backend may write the
        batch at once (the embedded one: one write and one fsync); this
        default creates one case after another, so it is not all-or-none
        against another process creating the same id meanwhile.

        Parameters
        ----------
        features : iterable of dict
            GeoJSON Features, as for :meth:`create`.
        idempotency_keys : sequence of (str or None), optional
            One per feature. A key seen before (or earlier in the batch) gives
            the case first made with it and stores nothing for that feature.

        Returns
        -------
        list of (str, int, bool)
            Per feature: the stored case's ``id`` and ``case_no``, and whether
            it was created (False: its key had been used).

        Raises
        ------
        BadInput
            A malformed feature or key (``field`` ``features[i].<field>``), or
            not one key per feature; nothing stored.
        DuplicateCase
            An ``id`` or ``tracking_code`` taken, or given twice; nothing stored.
        StoreError, DiskFull
            The write failed; part of the batch may be stored (retry with the
            same keys).
        """
        from gridmap.store.features import check_batch_keys, naming_index, prepare_feature

        features = list(features)
        keys = check_batch_keys(idempotency_keys, len(features))
        for i, feature in enumerate(features):  # refusals first: nothing stored
            with naming_index(i):
                prepare_feature(feature)
        seen = {"id": set(), "tracking_code": set(), "key": set()}
        for i, (feature, key) in enumerate(zip(features, keys)):
            if key is not None and (key in seen["key"] or self.get_by_key(key) is not None):
                continue  # a replay: nothing stored for it
            seen["key"].add(key)
            for field, value, stored in (("id", feature["id"], self.get), ("tracking_code",
                                         feature["properties"]["tracking_code"], self.get_by_tracking)):
                if value in seen[field] or stored(value) is not None:
                    with naming_index(i):
                        raise DuplicateCase("error.store.taken", value=value, field=field)
                seen[field].add(value)
        done = []
        for feature, key in zip(features, keys):
            stored, created = self.create(feature, idempotency_key=key)
            done.append((stored["id"], stored["properties"]["case_no"], created))
        return done

    @abc.abstractmethod
    def update(self, case_id, feature, expected_version):
        """Replace a case if it is still at ``expected_version``.

        Parameters
        ----------
        case_id : str
        feature : dict
            The whole new Feature. ``id`` (if given) and
            ``properties["tracking_code"]`` must be the stored ones;
            ``case_no`` is kept and ``version`` set by the store.
        expected_version : int
            The version the caller read.

        Returns
        -------
        dict
            The stored case, at version ``expected_version + 1``.

        Raises
        ------
        NotFound
            No case ``case_id`` (404).
        VersionConflict
            The stored version differs; nothing changed (409).
        BadInput
            A malformed feature, or a changed id or tracking code.
        """

    @abc.abstractmethod
    def get(self, case_id):
        """The case with this id, or None."""

    @abc.abstractmethod
    def get_by_tracking(self, code):
        """The case with this tracking code, or None."""

    @abc.abstractmethod
    def get_by_key(self, key):
        """The case created with this idempotency key, or None. It may be another
        process's, not yet fsynced: :meth:`create` with the key replays it durably."""

    @abc.abstractmethod
    def query(self, grid_codes=None, states=None, categories=None, since=None, until=None,
              predicate=None, order="-reported_at", limit=50, offset=0):
        """Cases matching every filter given, one page of them and the total.

        Parameters
        ----------
        grid_codes, states, categories : iterable of str, optional
            Keep cases whose property is one of these (None: no filter).
        since, until : str or datetime, optional
            Aware instants (ISO 8601 with offset): ``since <= reported_at <
            until``. Cases without ``reported_at`` fail both filters.
        predicate : callable, optional
            ``predicate(feature) -> bool``, an extra filter (e.g. overdue),
            given a copy of each case that passed the others.
        order : str
            One of :data:`ORDERS`; a missing ``reported_at`` sorts as oldest.
        limit : int or None
            Page size (None: all).
        offset : int
            Cases to skip.

        Returns
        -------
        features : list of dict
        total : int
            Matching cases before paging.
        """

    @abc.abstractmethod
    def near(self, lon, lat, radius_m, categories=None, states=None, limit=None, properties=None):
        """Cases within ``radius_m`` metres (great-circle), nearest first.

        Parameters
        ----------
        lon, lat : float
            WGS 84 degrees.
        radius_m : float
            Finite, >= 0.
        categories, states : iterable of str, optional
            As in :meth:`query`.
        limit : int, optional
            At most this many (the nearest); ``None`` for all.
        properties : iterable of str, optional
            Only these properties (those missing or null are left out) and a
            2D Point: a backend serves ``case_no``, ``version``,
            ``tracking_code``, ``grid_code``, ``state``, ``category`` and
            ``reported_at`` from its index (or columns) without reading the
            whole case. ``None``: whole Features.

        Returns
        -------
        list of dict
        """

    # -- filtered selects and aggregates (see CaseFilter) --------------------------

    @abc.abstractmethod
    def find(self, flt=None, order="-reported_at", limit=50, offset=0, properties=None):
        """Cases passing a :class:`CaseFilter`, one page of them and the total.

        Parameters
        ----------
        flt : CaseFilter, optional
            None: every case.
        order, limit, offset
            As in :meth:`query`.
        properties : iterable of str, optional
            As in :meth:`near`: sparse Features (None: whole ones).

        Returns
        -------
        features : list of dict
            The page; its cases are read just after they were ranked (one
            updated in between comes in its new version).
        total : int
            Matching cases before paging.
        """

    @abc.abstractmethod
    def count_by(self, flt, by, tz="Asia/Shanghai"):
        """How many cases pass ``flt``, per combination of ``by``.

        Parameters
        ----------
        flt : CaseFilter or None
        by : tuple of str
            Distinct keys among :data:`GROUP_KEYS`: ``grid_code``, ``category``,
            ``state``, and ``day`` (``"2026-03-01"``), ``week`` (ISO,
            ``"2026-W09"``) or ``month`` (``"2026-03"``) of ``reported_at`` in ``tz``.
        tz : str
            IANA time zone of the days, weeks and months.

        Returns
        -------
        list of dict
            One row per combination that has cases: ``{key: value, ...,
            "count": n}``, sorted by the values (None, for a case without the
            property or ``reported_at``, first). The counts add up to
            ``find(flt)[1]``.
        """

    @abc.abstractmethod
    def heat(self, flt, bbox, zoom, cell_px=24):
        """Cases passing ``flt`` inside ``bbox``, binned for a heat layer.

        Cases are binned on a square grid of ``cell_px`` screen pixels in Web
        Mercator at ``zoom``, aligned to the world's pixel grid (so cells stay
        put when the map pans); the cells grow (doubling) until the box needs
        at most :data:`MAX_CELLS` of them, whatever the number of cases.

        Parameters
        ----------
        flt : CaseFilter or None
            With a ``bbox`` of its own, cases must lie in both boxes.
        bbox : tuple of float
            The view: ``(west, south, east, north)``, edges included.
        zoom : float
            Map zoom level, 0–24.
        cell_px : int
            Side of a cell in pixels at ``zoom``, 1–256.

        Returns
        -------
        dict
            ``{"cells": [[lat, lon, weight], ...], "total": n, "max": w}``:
            weight = number of cases in the cell, placed at their mean
            position; the weights add up to ``total``, the cases passing
            ``flt`` inside ``bbox``; ``max`` is the largest weight (0 if none).
        """

    @abc.abstractmethod
    def clusters(self, flt, bbox, zoom, cell_px=60):
        """Cases passing ``flt`` inside ``bbox``, clustered for markers.

        The same binning as :meth:`heat` (coarser cells by default). The
        counts add up exactly to ``total``, which is
        ``find(CaseFilter(..., bbox=both boxes))[1]``: a cluster's count is
        what the list shows for the same filters and area.

        Returns
        -------
        dict
            ``{"clusters": [{"lat", "lon", "count", "bbox": [w, s, e, n]}, ...],
            "total": n}``; position = mean of the members, bbox = theirs. A
            cluster of one case also has its ``"id"`` and ``"case_no"``.
        """

    @abc.abstractmethod
    def grid_figures(self, flt=None, now=None):
        """On-time and overdue figures per grid for the cases passing ``flt``.

        Parameters
        ----------
        flt : CaseFilter or None
        now : datetime, optional
            The aware instant the clocks are judged at (default ``flt.now``,
            else when the call runs).

        Returns
        -------
        dict
            ``{grid_code: {"received", "open", "overdue", "open_overdue",
            "closed", "closed_on_time"}}`` for each grid with matching cases:
            received = the matching cases; open = in an open state
            (:data:`gridmap.cases.workflow.OPEN_STATES`); overdue = any clock late
            (as ``overdue="any"``); open_overdue = both; closed = in
            :data:`CLOSED_STATES`; closed_on_time = closed without the handle
            clock being late.
        """

    #: The error that stopped this process writing (a failed fsync), or None.
    disk_error = None

    @contextlib.contextmanager
    def deferred_sync(self):
        """A block in which writes may return before they are durable.

        Inside it, :meth:`create` and :meth:`update` of this thread may return
        once their records are written and visible, while making them durable
        goes on in the background; leaving the block waits until it is done,
        or raises :class:`StoreError` if it failed. Acknowledge nothing to
        anyone before the block is left. A backend whose writes are durable on
        return (this default) just runs the block. Nested blocks wait at the
        outermost.
        """
        yield

    @abc.abstractmethod
    def refresh(self):
        """Catch up with other processes' writes now (reads do it by themselves)."""

    @abc.abstractmethod
    def all(self):
        """Iterate over copies of all cases in ``case_no`` order (a snapshot)."""

    def points(self):
        """Every case's place and index fields, for routing them all at once: a
        :class:`CasePoints` of arrays in ``case_no`` order (a snapshot). Backends
        with an index answer without parsing a case."""
        rows = [(f["id"], f["properties"]["case_no"], *f["geometry"]["coordinates"][:2],
                 f["properties"]["grid_code"], f["properties"].get("state"))
                for f in self.all()]
        return CasePoints.from_rows(rows)

    @abc.abstractmethod
    def count(self):
        """Number of cases."""

    @abc.abstractmethod
    def close(self):
        """Release files and connections; later calls raise StoreError."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
