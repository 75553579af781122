"""GeoJSONSeqStore: cases in GeoJSON files that several processes write at once.

On disk (see :mod:`gridmap.store.seqlog` for the details)::

    cases.geojson           FeatureCollection: every case as of the last compaction
    cases-000001.geojsons   RFC 8142 text sequence: the whole Feature after each
                            create and update (0x1E + JSON + "\\n"); the highest
                            version of each id wins

Both open in QGIS and ``geopandas.read_file`` (GDAL's GeoJSON and GeoJSONSeq
drivers; GDAL skips a torn last record), so planners can look at live data.
Idempotency keys ride along as a foreign member ``idempotency_key`` that GDAL
ignores; callers never see it.

Why this shape: an append is the only write a create or update needs, so a
write costs one small ``write`` and one ``fsync``, never a rewrite of a file
others read; the log is valid GeoJSON after every append; the snapshot keeps
start-up fast and is replaced atomically.

Writes. A committing thread takes the cross-process ``flock``, reads what
other processes appended since its last look (so its checks of ids, tracking
codes, idempotency keys and versions see everything), appends its records
with one ``write``, lets the lock go and then fsyncs (``fdatasync``); the
call returns only after that. Syncing outside the write lock lets the next
process append meanwhile, and processes share fsyncs: one whose bytes were
already covered by another's fsync (``cases.sync`` keeps the mark) skips its
own. A record may thus be seen by others a moment before it is durable, but
nothing acknowledged depends on anything that is not: an fsync covers every
byte before it. Threads of one process commit in groups
(:mod:`gridmap.store.groupcommit`): one write and one fsync for everything
queued while the previous batch was syncing.

Inside :meth:`GeoJSONSeqStore.deferred_sync` the fsync runs in a background
thread instead, while the caller goes on (to find duplicates and build its
answer), and leaving the block waits for it: the disk and the CPU work at
once, and still nothing is acknowledged before it is durable.

A full disk refuses a write (:class:`~gridmap.errors.DiskFull`, after cutting off
the record the ``write`` tore) and nothing more: the next write works once
there is room. A failed fsync stops writing in the process for good (every later write and
every fsync still queued fail too), as databases do since "fsyncgate": the
kernel reports a write-back error once per open file, may drop the pages, and
a later fsync that succeeds proves nothing about them. Check the disk, then
restart; :attr:`GeoJSONSeqStore.disk_error` says why until then. Records the
mark in ``cases.sync`` shows synced are still answered (a repeated key).

Reads touch the disk only to catch up and to read whole snapshot cases: each
process keeps the cases' index fields and columns in memory
(:class:`~gridmap.store.index.CaseIndex`), the text of cases changed in the
log too, and reads a snapshot case's text by offset when asked (see
:mod:`gridmap.store.snapindex`: a start loads ``cases.index`` instead of
parsing the snapshot). Each read first applies the records appended since
the last, after one ``fstat`` says there are any.

Compaction (:meth:`GeoJSONSeqStore.compact`, or by itself in a background
thread once a segment passes ``compact_bytes``) seals the current segment
under the write lock, then writes the snapshot (and, just before renaming
it into place, its index) without holding it, so writers wait only for the
seal; then the compacting process starts over from the new files. A kill at
any moment leaves a consistent folder; leftovers are removed by the next
compaction.
"""

import ctypes
import logging
import os
import threading
import time
import weakref
from datetime import datetime, timezone

import numpy as np

from gridmap.diskspace import is_disk_full
from gridmap.errors import BadInput, DiskFull, GridmapError, Msg, NotFound
from gridmap.store import aggregates
from gridmap.store.base import (GROUP_KEYS, CaseFilter, CaseStore, DuplicateCase,
                                StoreError, VersionConflict, check_filter)
from gridmap.store.features import (check_batch_keys, check_bbox, check_codes, check_group_by,
                                    check_instant, check_key, check_query, check_radius,
                                    check_range, check_text, check_tz, check_version,
                                    naming_index, parse_instant, prepare_feature)
from gridmap.store.groupcommit import GroupCommit, Op
from gridmap.store.index import CaseIndex, Entry, SnapBase, SnapEntry, paginate
from gridmap.store.seqlog import SeqLog
from gridmap.store.snapindex import (INDEX, IndexUnusable, SnapshotFile, clocks_tag,
                                     parse_snapshot, read_index, write_index)
from gridmap.store.snapshot import SNAPSHOT, snapshot_ident, write_snapshot
from gridmap.store.syncer import Syncer

log = logging.getLogger(__name__)

COMPACT_BYTES = 64 * 2**20
_STORES = weakref.WeakSet()


def _reset_after_fork():
    for store in list(_STORES):
        store._after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)


def _release_free_memory():
    """Give the memory malloc holds free back to the system (glibc's ``malloc_trim``;
    elsewhere nothing): a load frees hundreds of MB in pieces the allocator keeps,
    which would count in every worker's RSS (about 40 MB at 1,000,000 cases)."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


class _Op(Op):
    """A create (``expected is None``) or update; ``result`` is the stored Entry."""

    __slots__ = ("prep", "key", "expected", "created", "defer", "synced", "clocks")

    def __init__(self, prep, key=None, expected=None, clocks=None):
        super().__init__()
        self.prep, self.key, self.expected, self.created = prep, key, expected, None
        self.clocks = clocks  # the clock columns' values, worked out before the lock
        # defer: the caller waits for the fsync later; synced: its Ticket, if deferred
        self.defer, self.synced = False, None


class _DeferredSync:
    """The block of :meth:`GeoJSONSeqStore.deferred_sync`: the thread's Tickets to
    wait for are collected in ``local.pending`` (a class, not a generator: every
    writing request enters one)."""

    __slots__ = ("_local", "_pending")

    def __init__(self, local):
        self._local, self._pending = local, None

    def __enter__(self):
        if getattr(self._local, "pending", None) is None:  # else nested: the outer block waits
            self._local.pending = self._pending = []

    def __exit__(self, exc_type, exc, tb):
        pending, self._pending = self._pending, None
        if pending is not None:
            self._local.pending = None
            if exc_type is None:  # with an exception, nothing is acknowledged: forget them
                for synced in pending:
                    synced.wait()  # raises the StoreError of a failed fsync


class GeoJSONSeqStore(CaseStore):
    """The embedded case store: a GeoJSON snapshot plus a GeoJSON text-sequence log.

    Parameters
    ----------
    folder : str or Path
        The store's own folder (created if missing; its parent must exist).
    compact_bytes : int or None
        Compact in a background thread once the current log segment is this
        big; None: only when :meth:`compact` is called.
    clocks : callable, optional
        The clock extractor (see :data:`~gridmap.store.base.CLOCK_COLUMNS`);
        the cases layer gives it. Without it nothing is overdue.

    Examples
    --------
    >>> store = GeoJSONSeqStore(tmp / "cases")  # doctest: +SKIP
    >>> feature, created = store.create(feature, idempotency_key="r-81f2")  # doctest: +SKIP
    """

    def __init__(self, folder, compact_bytes=COMPACT_BYTES, clocks=None):
        self._log = SeqLog(folder)
        self._clocks = clocks
        self._index = CaseIndex(clocks)
        self._loading = None  # the index being built while the snapshot is (re)loaded
        self._starting = True
        self._compact_bytes = compact_bytes
        self._compactor = None
        self._closed = False
        self._init_locks()
        self._log.loader = self
        with self._io_lock:
            self._log.load(self._apply)
        self._starting = False
        _STORES.add(self)

    def _init_locks(self):
        self._io_lock = threading.Lock()  # the log position; held through a commit
        self._state_lock = threading.Lock()  # the index
        self._compact_lock = threading.Lock()  # held through a compaction
        self._compactor_lock = threading.Lock()  # starting the background compactor
        self._group = GroupCommit(self._commit)
        self._local = threading.local()  # per thread: fsyncs to wait for, in deferred_sync
        self._syncer = None  # the thread running deferred fsyncs, started when needed
        self._failure_logged = False

    def _after_fork(self):
        # a lock held at the fork: the parent's thread was amid a write (its records
        # appended, not yet in the index) or a change of the index; the child never
        # sees that thread finish, so it reads everything again
        stale = self._io_lock.locked() or self._state_lock.locked()
        self._init_locks()
        self._log.after_fork(stale)
        self._compactor = None

    @property
    def folder(self):
        return self._log.folder

    @property
    def disk_error(self):
        """The fsync failure that stopped writing in this process, or None."""
        return self._log.failure

    # -- writing -----------------------------------------------------------------

    def create(self, feature, idempotency_key=None):
        self._check_open()
        key = check_key(idempotency_key)
        prep = prepare_feature(feature)
        if key is not None:
            with self._state_lock:
                hit = self._index.get("idempotency_key", key)
            if hit is not None:
                if hit.unsynced is not None:  # maybe another process's, not yet fsynced
                    with self._io_lock:
                        self._make_durable([hit])
                return hit.feature(), False
        op = self._submit(_Op(prep, key, clocks=self._index.columns.extract(feature["properties"])))
        return op.result.feature(), op.created

    def create_many(self, features, idempotency_keys=None):
        """One write and one fsync for the whole batch, under the write lock
        (so case numbers run on without a gap); any refusal stores nothing."""
        self._check_open()
        features = list(features)
        keys = check_batch_keys(idempotency_keys, len(features))
        ops = []
        for i, (feature, key) in enumerate(zip(features, keys)):
            with naming_index(i):
                ops.append(_Op(prepare_feature(feature), key,
                               clocks=self._index.columns.extract(feature["properties"])))
        with self._io_lock:
            if self._closed:
                raise StoreError("error.store.closed", path=self.folder)
            if self.disk_error is not None:
                raise self._write_failed(self.disk_error)
            with self._log.locked():
                self._log.poll(self._apply, locked=True)
                entries, data = self._stage(ops)
                for i, op in enumerate(ops):
                    if op.error is not None:
                        with naming_index(i):
                            raise op.error
                try:
                    if data:
                        self._log.append(data)
                except OSError as exc:
                    if is_disk_full(exc):
                        raise DiskFull("error.what.case") from exc
                    raise StoreError("error.store.not_written", problem=str(exc)) from exc
            try:
                if data:
                    self._log.sync()
            except OSError as exc:
                for entry in entries:  # in the file, maybe not on disk: a repeated key checks again
                    entry.unsynced = self._log.where()
                raise self._write_failed(exc) from exc
            finally:
                clocks = {id(op.result): op.clocks for op in ops}  # entries are results
                with self._state_lock:  # the file has them: so must the index
                    for entry in entries:
                        self._index.add(entry, clocks.get(id(entry)))
            self._make_durable([op.result for op in ops if not op.created])  # replayed keys
        self._maybe_compact()
        return [(op.result.id, op.result.case_no, op.created) for op in ops]

    def update(self, case_id, feature, expected_version):
        self._check_open()
        check_text(case_id, "case_id")
        expected = check_version(expected_version)
        op = self._submit(_Op(prepare_feature(feature, case_id=case_id), expected=expected,
                              clocks=self._index.columns.extract(feature["properties"])))
        return op.result.feature()

    def deferred_sync(self):
        return _DeferredSync(self._local)

    def _submit(self, op):
        pending = getattr(self._local, "pending", None)
        op.defer = pending is not None
        self._group.submit(op)
        if op.synced is not None:
            pending.append(op.synced)
            # let the syncer take the GIL and start its fsync now, not when this
            # thread next blocks (measured: most of the fsync then overlaps)
            time.sleep(0)
        self._maybe_compact()
        return op

    def _commit(self, batch):
        """Check and write a batch under the write lock; fsync (or hand the fsync to
        the syncer thread when every op defers it); then publish."""
        committed, failure = False, None
        try:
            with self._io_lock:
                if self._closed:
                    raise StoreError("error.store.closed", path=self.folder)
                if self.disk_error is not None:
                    raise self._write_failed(self.disk_error)
                with self._log.locked():
                    self._log.poll(self._apply, locked=True)
                    entries, data = self._stage(batch)
                    if data:
                        self._log.append(data)
                synced = None
                if data and all(op.defer for op in batch):
                    synced = self._start_sync(self._log.where(), entries)
                if synced is not None:  # durable later: a repeated key meanwhile makes sure
                    for op in batch:
                        op.synced = synced
                elif data:
                    try:
                        self._log.sync()
                    except OSError as exc:  # in the file, maybe not on disk: say so
                        failure = self._write_failed(exc)
                        for entry in entries:  # a repeated key must check again
                            entry.unsynced = self._log.where()
                if failure is None:  # repeated keys answered with records of others
                    try:
                        self._make_durable([op.result for op in batch  # replayed keys
                                            if op.created is False and op.expected is None])
                    except StoreError as exc:
                        failure = exc
                clocks = {id(op.result): op.clocks for op in batch}  # entries are results
                with self._state_lock:  # the file has them: so must the index
                    for entry in entries:
                        self._index.add(entry, clocks.get(id(entry)))
                committed = failure is None
        except (OSError, StoreError) as exc:
            failure = exc
        finally:
            if is_disk_full(failure):  # append() cut off the torn record: writing goes on
                log.error("no room to write to %s: %s", self.folder, failure)
                failure = DiskFull("error.what.case")
            for op in batch:
                if not committed and op.error is None:
                    op.result, op.error = None, failure if isinstance(failure, GridmapError) else (
                        StoreError("error.store.not_written",
                                   problem=str(failure) if failure else Msg("error.store.interrupted")))

    def _start_sync(self, where, entries):
        """Hand the fsync up to ``where`` to the syncer thread (under the io lock);
        returns its Ticket, or None if it cannot be handed over (sync inline then)."""
        try:
            if self._syncer is None:
                self._syncer = Syncer("gridmap-store-sync")
            fd = self._log.descriptor()
        except (OSError, RuntimeError) as exc:  # no descriptor or thread to spare
            log.warning("deferred fsync of %s unavailable (%s): syncing inline", self.folder, exc)
            return None
        for entry in entries:
            entry.unsynced = where
        # close() stops the syncer under the io lock, and commits refuse once closed
        return self._syncer.submit(self._sync_deferred, where, fd, entries)

    def _sync_deferred(self, where, fd, entries):
        """In the syncer thread: make ``where`` durable, or fail (and stop writing)."""
        try:
            self._ensure_durable(where, fd)
        finally:
            os.close(fd)
        for entry in entries:
            entry.unsynced = None

    def _ensure_durable(self, where, fd=None):
        """``SeqLog.ensure_durable``, failing with the StoreError that stops writing."""
        try:
            self._log.ensure_durable(*where, fd=fd)
        except OSError as exc:
            raise self._write_failed(exc) from exc

    def _write_failed(self, exc):
        """The StoreError for a write that may not be on disk; the first failed fsync
        stops writing in this process (see the module notes)."""
        if not self._failure_logged:
            self._failure_logged = True
            log.critical("fsync of %s failed: %s; writing stops in this process: check the "
                         "disk, then restart", self.folder, exc)
        return StoreError("error.store.not_written", problem=str(exc))

    def _make_durable(self, entries):
        """Fsync what ``entries`` need, if the mark does not show it done (under
        the io lock): answering a repeated key acknowledges the record again."""
        for entry in entries:
            if entry.unsynced is not None:
                self._ensure_durable(entry.unsynced)
                entry.unsynced = None

    def _stage(self, batch):
        """Check each op against the index and the ops before it; returns
        (new entries, bytes to append). Runs under the write lock."""
        index, staged, by_tracking, by_key, entries, parts = self._index, {}, {}, {}, [], []
        next_no = index.max_case_no + 1
        for op in batch:
            p = op.prep
            current = staged.get(p.id) or index.get("id", p.id)
            if op.expected is None:
                hit = op.key is not None and (by_key.get(op.key)
                                              or index.get("idempotency_key", op.key))
                if hit:
                    op.result, op.created = hit, False
                    continue
                if current is not None or p.tracking_code in by_tracking or (
                        index.get("tracking_code", p.tracking_code) is not None):
                    field = "id" if current is not None else "tracking_code"
                    value = p.id if current is not None else p.tracking_code
                    op.error = DuplicateCase("error.store.taken", value=value, field=field)
                    continue
                number, version, key = next_no, 1, op.key
                next_no += 1
            elif current is None:
                op.error = NotFound("error.store.no_such_case", case=p.id, field="case_id")
                continue
            elif current.version != op.expected:
                op.error = VersionConflict(
                    "error.store.version_conflict", case=p.id, current=current.version,
                    expected=op.expected, detail={"case_id": p.id, "expected_version": op.expected,
                            "current_version": current.version})
                continue
            elif p.tracking_code != current.tracking_code:
                op.error = BadInput("error.store.tracking_code_fixed", case=p.id, field="tracking_code")
                continue
            else:
                number, version, key = current.case_no, current.version + 1, current.idempotency_key
            op.result = entry = Entry.from_prepared(p, p.to_json(number, version, key), number,
                                                   version, key)
            op.created = op.expected is None
            staged[p.id] = by_tracking[p.tracking_code] = entry
            if key is not None:
                by_key[key] = entry
            entries.append(entry)
            parts.append(f"\x1e{entry.raw}\n")
        return entries, "".join(parts).encode("utf-8")

    def _apply(self, records):
        """Put records read from disk into the index (the newest version wins)."""
        entries, source = [], self._log.source
        index = self._index if self._loading is None else self._loading
        for rec, text in records:
            try:
                entries.append((entry := Entry.from_record(rec, text),
                                self._index.columns.extract(rec["properties"])))
                entry.unsynced = source
            except ValueError as exc:
                log.error("%s: skipping a record that is not a case (%s): %.200s",
                          self.folder, exc, text)
        with self._state_lock:
            for entry, clocks in entries:
                index.add(entry, clocks)

    # -- the snapshot and its index (SeqLog's loader) -------------------------------------

    def load_base(self):
        """Start a fresh index from the snapshot: from ``cases.index`` when it can be
        trusted, else by parsing every feature (and then writing the index, at start).
        The index takes over in :meth:`loaded`, once the log is read too, so readers
        never see a partial one. Returns (next_segment, the snapshot's ident)."""
        self._loading = CaseIndex(self._clocks)
        try:
            return self._load_base(self._loading)
        except BaseException:
            self._loading = None  # the index in use stays; the log reads the segment again
            raise

    def _load_base(self, fresh):
        path = self.folder / SNAPSHOT
        try:
            snap = SnapshotFile(path)
        except OSError as exc:
            raise StoreError("error.store.snapshot_unreadable", path=path, problem=str(exc)) from exc
        try:
            next_segment, rows, clocks = read_index(self.folder, snap, clocks_tag(self._clocks))
            try:  # (arrays: no object per case is made)
                fresh.start_from(SnapBase(snap, rows), rows, clocks)
            except (ValueError, IndexError, KeyError, TypeError) as exc:
                fresh.__init__(self._clocks)  # empty again, for the parse
                raise IndexUnusable(f"corrupt: {exc!r}") from exc
        except IndexUnusable as exc:
            (log.info if str(exc) == "no index" else log.warning)(
                "%s: %s %s: reading the snapshot whole", self.folder, INDEX, exc)
        else:
            return next_segment, snap.ident
        try:
            next_segment = parse_snapshot(snap, lambda batch: self._apply_base(fresh, snap, batch))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError("error.store.snapshot_unreadable", path=path, problem=str(exc)) from exc
        if self._starting:
            self._rebuild_index(snap, next_segment, fresh)
        return next_segment, snap.ident

    def loaded(self):
        fresh, self._loading = self._loading, None
        if fresh is not None:
            with self._state_lock:
                self._index = fresh
            _release_free_memory()  # a load frees a lot (the index's file, a parse, the old index)

    def _apply_base(self, index, snap, batch):
        """Put parsed snapshot features into ``index`` (their texts stay in the file)."""
        for rec, text, at, size in batch:
            try:
                entry = (Entry.from_record(rec, text) if at is None else
                         SnapEntry.from_record_at(rec, text, snap, at, size))
            except ValueError as exc:
                log.error("%s: skipping a snapshot feature that is not a case (%s): %.200s",
                          self.folder, exc, text)
                continue
            index.add(entry, index.columns.extract(rec["properties"]))

    def _rebuild_index(self, snap, next_segment, index):
        """Write ``cases.index`` for the snapshot just parsed, unless a compaction runs
        (it writes one) or the snapshot was replaced meanwhile."""
        if not all(isinstance(e, SnapEntry) for e in index.by_id.values()):
            return  # not in our layout: the next compaction writes both
        frozen = index.frozen(columns=True)
        try:
            with self._log.compaction_lock_if_free() as free:
                if free and snapshot_ident(self.folder) == snap.ident:
                    rows, clocks = frozen.index_rows(
                        np.array([e._at for e in frozen.entries], dtype=np.int64),
                        np.array([e._size for e in frozen.entries], dtype=np.int64))
                    write_index(self.folder, snap, next_segment, rows, clocks,
                                clocks_tag(self._clocks))
                    log.info("%s: wrote %s (%d cases)", self.folder, INDEX, len(frozen))
        except (OSError, ValueError) as exc:
            log.error("%s: could not write %s: %s", self.folder, INDEX, exc)

    # -- compaction ----------------------------------------------------------------

    def compact(self, min_bytes=0):
        """Write a new snapshot and start a new log segment.

        Parameters
        ----------
        min_bytes : int
            Do nothing unless the current segment holds at least this much.

        Returns
        -------
        bool
            Whether a compaction ran.
        """
        self._check_open()
        with self._compact_lock, self._log.locked(compaction=True):
            with self._io_lock:
                with self._log.locked():
                    self._log.poll(self._apply, locked=True)
                    if self._log.current_size() < max(min_bytes, 1):
                        return False
                    self._log.remove_segment_temps()
                    sealed = self._log.seal()
                with self._state_lock:
                    frozen = self._index.frozen(columns=True)

            def write_index_first(path, offsets, lengths):
                # before the snapshot's rename: a process that finds the new
                # snapshot finds its index too (a crash between the two renames
                # leaves an index naming a snapshot that is not there: stale)
                rows, clocks = frozen.index_rows(offsets, lengths)
                snap = SnapshotFile(path)
                try:
                    write_index(self.folder, snap, sealed + 1, rows, clocks,
                                clocks_tag(self._clocks))
                finally:
                    snap.close()

            write_snapshot(self.folder, frozen, sealed + 1, write_index_first)
            self._log.remove_before(sealed + 1)
            with self._io_lock:  # start over from the new snapshot and its index, as others
                # do when passed by: the old file is let go and the log's texts with it
                try:
                    if not self._closed:
                        self._log.load(self._apply)
                except (OSError, StoreError) as exc:  # the compaction stands; the old index too
                    log.error("%s: could not start over from the new snapshot: %s", self.folder, exc)
        count, frozen = len(frozen), None  # (the closure holds the name: let the copies go)
        log.info("compacted %s: %d cases, log segment %d sealed", self.folder, count, sealed)
        _release_free_memory()  # the copies written out
        return True

    def _maybe_compact(self):
        if self._compact_bytes is None or self._log.current_size() < self._compact_bytes:
            return
        with self._compactor_lock:
            if self._compactor is not None and self._compactor.is_alive():
                return
            self._compactor = threading.Thread(target=self._compact_quietly, daemon=True,
                                               name="gridmap-store-compact")
            self._compactor.start()

    def _compact_quietly(self):
        try:
            self.compact(min_bytes=self._compact_bytes)
        except (OSError, StoreError) as exc:
            log.error("compaction of %s failed: %s", self.folder, exc)

    # -- reading -------------------------------------------------------------------

    def refresh(self):
        self._check_open()
        with self._io_lock:
            self._log.poll(self._apply)

    def get(self, case_id):
        return self._lookup("id", case_id, "case_id")

    def get_by_tracking(self, code):
        return self._lookup("tracking_code", code, "tracking_code")

    def get_by_key(self, key):
        return self._lookup("idempotency_key", key, "idempotency_key")

    def _lookup(self, by, value, field):
        check_text(value, field)
        self.refresh()
        with self._state_lock:
            entry = self._index.get(by, value)
        return None if entry is None else entry.feature()

    def query(self, grid_codes=None, states=None, categories=None, since=None, until=None,
              predicate=None, order="-reported_at", limit=50, offset=0):
        grid_codes, states = check_codes(grid_codes, "grid_codes"), check_codes(states, "states")
        categories = check_codes(categories, "categories")
        since_ts = None if since is None else parse_instant(since, "since")
        until_ts = None if until is None else parse_instant(until, "until")
        order, limit, offset = check_query(order, limit, offset)
        if predicate is not None and not callable(predicate):
            raise BadInput("error.store.bad_predicate", value=repr(predicate)[:80], field="predicate")
        if predicate is None:  # the columns answer: numpy, not a scan of the entries
            flt = CaseFilter(grid_codes=grid_codes, states=states, categories=categories,
                             since=since, until=until)  # (checked above: the same instants)
            return aggregates.page(self._select(flt, ("reported",)), order, limit, offset)
        self.refresh()
        with self._state_lock:
            entries = self._index.select(grid_codes, states, categories, since_ts, until_ts)
        return paginate(entries, predicate, order, limit, offset)  # the predicate runs unlocked

    def near(self, lon, lat, radius_m, categories=None, states=None, limit=None, properties=None):
        lon, lat, radius_m = check_radius(lon, lat, radius_m)
        categories, states = check_codes(categories, "categories"), check_codes(states, "states")
        if properties is not None:
            properties = sorted(check_codes(properties, "properties"))
        self.refresh()
        with self._state_lock:
            index = self._index
            found = index.near_rows(lon, lat, radius_m, categories, states, limit)
        return [index.feature_at(row, properties) for row in found]  # read only these

    # -- filtered selects and aggregates ------------------------------------------------

    def find(self, flt=None, order="-reported_at", limit=50, offset=0, properties=None):
        flt = check_filter(flt)
        order, limit, offset = check_query(order, limit, offset)
        if properties is not None:
            properties = sorted(check_codes(properties, "properties"))
        selection = self._select(flt, ("reported",))
        return aggregates.page(selection, order, limit, offset, properties)

    def count_by(self, flt, by, tz="Asia/Shanghai"):
        flt, by, zone = check_filter(flt), check_group_by(by, GROUP_KEYS), check_tz(tz)
        names = [k.removesuffix("_code") for k in by if k in ("grid_code", "category", "state")]
        if len(names) < len(by):
            names.append("reported")
        return aggregates.count_by(self._select(flt, names), by, zone)

    def heat(self, flt, bbox, zoom, cell_px=24):
        flt, bbox = check_filter(flt), check_bbox(bbox)
        zoom, cell_px = check_range(zoom, "zoom", 0, 24), check_range(cell_px, "cell_px", 1, 256)
        selection = self._select(flt, ("x", "y", "lon", "lat"), bbox=bbox)
        return aggregates.heat(selection, bbox, zoom, cell_px)

    def clusters(self, flt, bbox, zoom, cell_px=60):
        flt, bbox = check_filter(flt), check_bbox(bbox)
        zoom, cell_px = check_range(zoom, "zoom", 0, 24), check_range(cell_px, "cell_px", 1, 256)
        selection = self._select(flt, ("x", "y", "lon", "lat"), bbox=bbox)
        return aggregates.clusters(selection, bbox, zoom, cell_px)

    def grid_figures(self, flt=None, now=None):
        flt, now = check_filter(flt), check_instant(now, "now")
        selection = self._select(flt, ("grid", "state", "late_sign", "late_handle", "late_verify"),
                                 now=now)
        return aggregates.grid_figures(selection)

    def _select(self, flt, names, bbox=None, now=None):
        """The :class:`~gridmap.store.columns.Selection` of ``flt``, after catching up."""
        now_ts = (now or flt.now or datetime.now(timezone.utc)).timestamp()
        self.refresh()
        with self._state_lock:
            return self._index.columns.select(flt, now_ts, names, bbox)

    def all(self):
        self.refresh()
        with self._state_lock:
            frozen = self._index.frozen()
        return (frozen.feature(i) for i in range(len(frozen)))

    def points(self):
        self.refresh()
        with self._state_lock:
            frozen = self._index.frozen(columns=True)
        return frozen.points()

    def count(self):
        self.refresh()
        with self._state_lock:
            return len(self._index)

    def close(self):
        if self._closed:
            return
        self._closed = True
        if self._compactor is not None:
            self._compactor.join()
        with self._io_lock:  # no commit can hand over an fsync meanwhile
            if self._syncer is not None:
                self._syncer.shutdown()  # lets deferred fsyncs finish
            self._log.close()
        _STORES.discard(self)

    def _check_open(self):
        if self._closed:
            raise StoreError("error.store.closed", path=self.folder)
