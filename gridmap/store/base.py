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
"""

import abc
import contextlib
from typing import NamedTuple

import numpy as np

from gridmap.errors import Conflict, GridmapError

#: Orders :meth:`CaseStore.query` accepts; ties are broken by ``case_no``.
ORDERS = ("-reported_at", "reported_at", "-case_no", "case_no")


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
    ``grid_code``, ``state`` (object arrays for the strings)."""

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
