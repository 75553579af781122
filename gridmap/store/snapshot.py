"""The snapshot ``cases.geojson``: every case as of the last compaction.

A plain FeatureCollection that QGIS and geopandas open, written one feature
per line after a first line that carries the store's own member::

    {"type": "FeatureCollection", "gridmap_store": {"format": "gridmap-cases/1", "next_segment": 8, "count": 2}, "features": [
    {"type":"Feature","id":"c-1",...},
    {"type":"Feature","id":"c-2",...}
    ]}

``next_segment`` is the first log segment the snapshot does not cover. The
file is written to a temporary name, fsynced and renamed, so readers only
ever see a whole snapshot; the first line alone tells a process whether a
compaction passed it by.
"""

import json
import os

import numpy as np

from gridmap.jsontext import loads
from gridmap.private_files import open_private
from gridmap.store.base import StoreError

SNAPSHOT = "cases.geojson"
FORMAT = "gridmap-cases/1"
CHUNK = 2000  # records applied at a time while loading


def fsync_dir(folder):
    """fsync a folder, so a rename or link in it survives a crash."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_snapshot(folder, raws, next_segment, before_rename=None):
    """Write ``raws`` (Feature JSON texts, one line each) as the new snapshot.

    Parameters
    ----------
    folder : Path
    raws : sized iterable of str
    next_segment : int
        The first log segment not covered.
    before_rename : callable, optional
        Called with the path and offsets and lengths once the temporary file
        is on disk, before it is renamed into place (the index is written then).

    Returns
    -------
    (offsets, lengths, ident)
        Where each feature's JSON text lies in the file (bytes, numpy int64
        arrays) and the new file's :func:`snapshot_ident`.
    """
    tmp = folder / f".{SNAPSHOT}.{os.getpid()}.tmp"
    header = {"type": "FeatureCollection",
              "gridmap_store": {"format": FORMAT, "next_segment": next_segment, "count": len(raws)}}
    offsets = np.empty(len(raws), dtype=np.int64)
    lengths = np.empty(len(raws), dtype=np.int64)
    with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_TRUNC), "wb") as f:
        head = (json.dumps(header)[:-1] + ', "features": [\n').encode("utf-8")
        f.write(head)
        at, last = len(head), len(raws) - 1
        for i, raw in enumerate(raws):  # any sized iterable: read as written
            data = raw.encode("utf-8")
            offsets[i], lengths[i] = at, len(data)
            f.write(data + (b",\n" if i < last else b"\n"))
            at += len(data) + (2 if i < last else 1)
        f.write(b"]}\n")
        f.flush()
        os.fsync(f.fileno())
        st = os.fstat(f.fileno())
    if before_rename is not None:
        before_rename(tmp, offsets, lengths)
    os.replace(tmp, folder / SNAPSHOT)
    fsync_dir(folder)
    return offsets, lengths, (st.st_ino, st.st_mtime_ns, st.st_size)


def snapshot_ident(folder):
    """What changes when the snapshot is replaced: (inode, mtime, size)."""
    st = os.stat(folder / SNAPSHOT)
    return st.st_ino, st.st_mtime_ns, st.st_size


def snapshot_next(folder):
    """``next_segment`` of the current snapshot, from its first line if it can."""
    try:
        with open(folder / SNAPSHOT, encoding="utf-8") as f:
            head = f.readline(65536).rstrip().removesuffix("[")
        return int(json.loads(head + "[]}")["gridmap_store"]["next_segment"])
    except (ValueError, KeyError, TypeError):
        return read_snapshot(folder, lambda records: None)[0]


def read_snapshot(folder, apply):
    """Pass the snapshot's features to ``apply`` in chunks; returns (next_segment, ident).

    ``apply`` gets lists of ``(feature dict, JSON text)``. Our own layout is
    read line by line, so a big snapshot never sits in memory as dicts; any
    other valid layout is parsed whole.

    Raises
    ------
    StoreError
        The snapshot is missing, unreadable or not ours: loudly, since
        loading without it would lose cases.
    """
    path = folder / SNAPSHOT
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            data = f.read()
        try:
            head, _, body = data.partition(b"\n")
            meta = json.loads(head.rstrip().removesuffix(b"[") + b"[]}")["gridmap_store"]
            lines = body.split(b"\n")
            if lines[-1].strip() or lines[-2].strip() != b"]}":
                raise ValueError("not one feature per line")
            for i in range(0, len(lines) - 2, CHUNK):
                texts = [line.rstrip().removesuffix(b",").decode("utf-8")
                         for line in lines[i:min(i + CHUNK, len(lines) - 2)]]
                apply([(loads(text), text) for text in texts])
        except (ValueError, KeyError, TypeError, IndexError):
            doc = json.loads(data)
            meta = doc["gridmap_store"]
            apply([(feat, json.dumps(feat, ensure_ascii=False, separators=(",", ":")))
                   for feat in doc["features"]])
        if meta["format"] != FORMAT:
            raise ValueError(f"unknown format {meta['format']!r}")
        next_segment = int(meta["next_segment"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StoreError("error.store.snapshot_unreadable", path=path, problem=str(exc)) from exc
    return next_segment, (st.st_ino, st.st_mtime_ns, st.st_size)
