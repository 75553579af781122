"""``cases.index``: what a process needs of the snapshot, without parsing it.

Written beside ``cases.geojson`` at each compaction (temp file, fsync,
rename, fsync of the folder, like the snapshot), it holds arrays with one
element per snapshot feature, in the snapshot's order: where the feature's
JSON text lies in the snapshot (byte offset and length), the fields the
columns need (case number, version, position, reported time, grid, state,
category, the clock instants), the ids (UTF-8, end to end), 64-bit hashes
of the strings cases are looked up by (id, tracking code, idempotency key)
and the orders that sort them and the map cells (see
:class:`~gridmap.store.index.SnapBase`), and the word index. No object per
case: a process starts from it with a few array copies, keeps no object per
case, and reads a whole feature from the snapshot only when asked
(:class:`SnapshotFile`).

Layout::

    MAGIC (8 bytes)  header length (4 bytes, little-endian)  header JSON
    body: the arrays, each at an 8-byte boundary
    CRC-32 of everything before it (4 bytes, little-endian)

The header names the format, the snapshot it was made from (size,
``mtime_ns``, inode, and a hash of its first and last 64 KiB, read through
the very descriptor the process keeps), the clock extractor's fingerprint,
where each array lies in the body, and the body's length. An
index that does not match in every point (stale: the snapshot was replaced
after it, as by a crash between writing the snapshot and the index; torn:
cut short; foreign: another store's or another format's; corrupt: the body's
checksum differs) raises :class:`IndexUnusable`; the store logs why, parses
the snapshot as before and writes a new index.
"""

import hashlib
import json
import logging
import os
import struct
import zlib

import numpy as np

from gridmap.jsontext import loads
from gridmap.private_files import open_private
from gridmap.store.base import StoreError
from gridmap.store.snapshot import FORMAT as SNAPSHOT_FORMAT
from gridmap.store.snapshot import fsync_dir
from gridmap.store.words import ARRAYS as WORD_ARRAYS
from gridmap.store.words import FOLDING

log = logging.getLogger(__name__)

INDEX = "cases.index"
FORMAT = "gridmap-cases-index/2"
MAGIC = b"GMCIDX2\n"
LENGTH = struct.Struct("<I")
EDGE = 64 * 1024  # bytes hashed at each end of the snapshot
ALIGN = 8
#: The arrays, one value per snapshot feature (``*_order``: positions, in the order
#: that sorts the hashes, or the map cells).
ARRAYS = {"offset": np.int64, "length": np.int64, "case_no": np.int64, "version": np.int64,
          "lon": np.float64, "lat": np.float64, "reported": np.float64,
          "grid": np.int32, "state": np.int32, "category": np.int32,
          "id_hash": np.uint64, "tracking_code_hash": np.uint64,
          "idempotency_key_hash": np.uint64, "has_key": np.bool_,
          "id_order": np.int32, "tracking_code_order": np.int32,
          "idempotency_key_order": np.int32, "cell_order": np.int32,
          "id_end": np.int64, "id_text": np.uint8}
#: Arrays of any length: the ids' UTF-8 end to end (``id_end``: where each one ends).
FREE_LENGTH = ("id_text",)
VOCABULARIES = ("grid", "state", "category")
WORDS = "words."  # the word index's arrays (any length): "words.<name>", and its folding


class IndexUnusable(Exception):
    """The index cannot be trusted (missing, stale, torn, foreign or corrupt); says why."""


class SnapshotFile:
    """One open snapshot: features are read from it by offset (``pread``).

    The descriptor keeps the file's inode alive after a compaction renames a
    new snapshot over it, so what it reads never changes; it is closed when
    the last entry pointing here is gone.
    """

    __slots__ = ("fd", "ident", "path", "__weakref__")

    def __init__(self, path):
        self.path, self.fd = path, None  # (None: for __del__ if the open fails)
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        st = os.fstat(self.fd)
        self.ident = (st.st_ino, st.st_mtime_ns, st.st_size)

    def read(self, offset, length):
        """The text of ``length`` bytes at ``offset``; a StoreError if the file no
        longer holds them (cut short or changed in place by someone else)."""
        try:
            data = os.pread(self.fd, length, offset)
            if len(data) != length:
                raise ValueError(f"{len(data)} bytes at offset {offset}, not {length}")
            return data.decode("utf-8")
        except (OSError, ValueError) as exc:
            raise StoreError("error.store.snapshot_unreadable", path=self.path,
                             problem=str(exc)) from exc

    def read_all(self):
        size, parts, at = self.ident[2], [], 0
        while at < size:
            part = os.pread(self.fd, min(size - at, 1 << 26), at)
            if not part:
                break
            parts.append(part)
            at += len(part)
        return b"".join(parts)

    def edges(self):
        """A hash of the size and the first and last :data:`EDGE` bytes."""
        size = self.ident[2]
        digest = hashlib.blake2b(str(size).encode(), digest_size=16)
        digest.update(os.pread(self.fd, EDGE, 0))
        digest.update(os.pread(self.fd, EDGE, max(0, size - EDGE)))
        return digest.hexdigest()

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __del__(self):
        try:
            self.close()
        except OSError:
            pass


def clocks_tag(clocks):
    """What the index records of the clock extractor: None without one, else its
    ``fingerprint`` attribute, called if callable (the rules the clocks follow: an
    index whose clock columns were made under other ones is not trusted)."""
    if clocks is None:
        return None
    fingerprint = getattr(clocks, "fingerprint", "clocks")
    return str(fingerprint() if callable(fingerprint) else fingerprint)


def write_index(folder, snap, next_segment, rows, clocks, tag):
    """Write the index of the snapshot open as ``snap`` (a :class:`SnapshotFile`).

    Parameters
    ----------
    rows : dict
        The arrays of :data:`ARRAYS` (codes into ``rows["vocabularies"]``),
        ``vocabularies``: name -> values, and ``words``: the word index's arrays
        (:meth:`FrozenWords.arrays <gridmap.store.words.FrozenWords.arrays>`).
    clocks : numpy array (n, 6) or None
        The clock instants per row, when ``tag`` is not None.
    """
    n = len(rows["offset"])
    header = {"format": FORMAT, "snapshot": {"format": SNAPSHOT_FORMAT, "inode": snap.ident[0],
                                             "mtime_ns": snap.ident[1], "size": snap.ident[2],
                                             "edges": snap.edges()},
              "next_segment": next_segment, "count": n, "clocks": tag,
              "vocabularies": {k: list(rows["vocabularies"][k]) for k in VOCABULARIES},
              "words": FOLDING, "arrays": {}}
    parts, at = [], 0
    named = [(name, np.ascontiguousarray(rows[name], dtype=dtype)) for name, dtype in ARRAYS.items()]
    words = [(WORDS + name, np.ascontiguousarray(rows["words"][name], dtype=dtype))
             for name, dtype in WORD_ARRAYS.items()]
    if tag is not None:
        clocks = np.ascontiguousarray(clocks, dtype=np.float64)
        if clocks.ndim != 2:
            raise ValueError(f"index clocks: {clocks.ndim} dimensions, not 2")
        named.append(("clocks", clocks))
    for name, array in named + words:
        if len(array) != n and not name.startswith(WORDS) and name not in FREE_LENGTH:
            raise ValueError(f"index column {name}: {len(array)} rows, not {n}")
        header["arrays"][name] = [array.dtype.str, list(array.shape), at, array.nbytes]
        pad = -array.nbytes % ALIGN
        parts += [array.reshape(-1).view(np.uint8), b"\0" * pad]  # (no copy of the arrays)
        at += array.nbytes + pad
    header["body"] = at
    head = json.dumps(header, ensure_ascii=False).encode("utf-8")
    head = MAGIC + LENGTH.pack(len(head)) + head
    tmp = folder / f".{INDEX}.{os.getpid()}.tmp"
    with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_TRUNC), "wb") as f:
        crc = zlib.crc32(head)
        f.write(head)
        for part in parts:
            crc = zlib.crc32(part, crc)
            f.write(part)
        f.write(LENGTH.pack(crc))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / INDEX)
    fsync_dir(folder)


def read_index(folder, snap, tag):
    """The rows of the index, checked against the snapshot open as ``snap``.

    Returns
    -------
    (next_segment, rows, clocks)
        As :func:`write_index` takes them (``clocks`` None unless ``tag`` is),
        but for the ids' text, left in the file: ``rows["id_source"]`` is the
        index open as a :class:`SnapshotFile` and where the text starts in it.

    Raises
    ------
    IndexUnusable
        Saying why it cannot be trusted.
    """
    try:
        source = SnapshotFile(folder / INDEX)  # kept open: the ids are read from it
        data = source.read_all()
    except FileNotFoundError:
        raise IndexUnusable("no index") from None
    except OSError as exc:
        raise IndexUnusable(f"unreadable: {exc}") from exc
    if len(data) < len(MAGIC) + LENGTH.size or not data.startswith(MAGIC):
        raise IndexUnusable("not a gridmap case index (or torn at the start)")
    (size,) = LENGTH.unpack_from(data, len(MAGIC))
    start = len(MAGIC) + LENGTH.size + size
    try:
        header = json.loads(data[len(MAGIC) + LENGTH.size:start])
        if not isinstance(header, dict):
            raise ValueError("the header is not an object")
    except ValueError as exc:
        raise IndexUnusable(f"torn or corrupt header: {exc}") from exc
    try:
        if header.get("format") != FORMAT:
            raise IndexUnusable(f"another format: {header.get('format')!r}")
        meta = header["snapshot"]
        if meta["format"] != SNAPSHOT_FORMAT:
            raise IndexUnusable(f"made for a snapshot of format {meta['format']!r}")
        if (meta["inode"], meta["mtime_ns"], meta["size"]) != snap.ident:
            raise IndexUnusable("stale: made for another snapshot (inode, mtime or size differ)")
        if meta["edges"] != snap.edges():
            raise IndexUnusable("stale: the snapshot's first or last bytes differ")
        if header["words"] != FOLDING:
            raise IndexUnusable(f"words folded by {header['words']!r}, not {FOLDING!r}")
        if header["clocks"] != tag and tag is not None:
            raise IndexUnusable(f"made with clocks {header['clocks']!r}, not {tag!r}")
        length = header["body"]
        if len(data) != start + length + LENGTH.size:
            raise IndexUnusable(f"torn: {len(data)} bytes, not {start + length + LENGTH.size}")
        body = memoryview(data)[start:start + length]
        if zlib.crc32(memoryview(data)[:-LENGTH.size]) != LENGTH.unpack_from(data, len(data) - 4)[0]:
            raise IndexUnusable("corrupt: the checksum differs")
        n = int(header["count"])
        rows = {}
        words = rows["words"] = {}
        for name, (dtype, shape, at, nbytes) in header["arrays"].items():
            word = name.removeprefix(WORDS) if name.startswith(WORDS) else None
            if np.dtype(dtype) != np.dtype(WORD_ARRAYS.get(word) if word else
                                           ARRAYS.get(name, np.float64)):
                raise IndexUnusable(f"corrupt: column {name} is {dtype}")
            array = np.frombuffer(body, dtype=np.dtype(dtype), count=int(np.prod(shape)),
                                  offset=at).reshape(shape)
            if (len(array) != n and not word and name not in FREE_LENGTH) or (
                    array.nbytes != nbytes):
                raise IndexUnusable(f"corrupt: column {name} does not hold {n} rows")
            (words if word else rows)[word or name] = array
        missing = [k for k in ARRAYS if k not in rows] + [
            WORDS + k for k in WORD_ARRAYS if k not in words]
        if missing:
            raise IndexUnusable(f"corrupt: no column {missing[0]}")
        rows["id_source"] = (source, start + header["arrays"]["id_text"][2])
        rows["vocabularies"] = {k: header["vocabularies"][k] for k in VOCABULARIES}
        clocks = rows.pop("clocks", None) if tag is not None else None
        if tag is not None and clocks is None:
            raise IndexUnusable("made without clocks")
        return int(header["next_segment"]), rows, clocks
    except IndexUnusable:
        raise
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise IndexUnusable(f"corrupt: {exc!r}") from exc


def parse_snapshot(snap, apply):
    """Parse the snapshot open as ``snap`` (no index to trust); returns next_segment.

    ``apply`` gets lists of ``(feature dict, JSON text, offset, length)``;
    offset is None for a snapshot not in our one-feature-per-line layout
    (then parsed whole: its texts stay in memory until the next compaction).
    Raises ValueError, KeyError or TypeError if it is not a snapshot of ours.
    """
    from gridmap.store.snapshot import CHUNK

    data = snap.read_all()
    try:
        head, _, _ = data.partition(b"\n")
        meta = json.loads(head.rstrip().removesuffix(b"[") + b"[]}")["gridmap_store"]
        if not data.endswith(b"\n]}\n"):
            raise ValueError("not one feature per line")
        at, end, batch = len(head) + 1, len(data) - 3, []
        while at < end:
            stop = data.index(b"\n", at)
            line = data[at:stop]
            length = len(line) - 1 if line.endswith(b",") else len(line)
            text = line[:length].decode("utf-8")
            batch.append((loads(text), text, at, length))
            at = stop + 1
            if len(batch) >= CHUNK:
                apply(batch)
                batch = []
        apply(batch)
    except (ValueError, KeyError, TypeError, IndexError):
        doc = json.loads(data)
        meta = doc["gridmap_store"]
        apply([(feat, json.dumps(feat, ensure_ascii=False, separators=(",", ":")), None, None)
               for feat in doc["features"]])
    if meta["format"] != SNAPSHOT_FORMAT:
        raise ValueError(f"unknown format {meta['format']!r}")
    return int(meta["next_segment"])
