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
