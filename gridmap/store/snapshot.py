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


def write_snapshot(folder, raws, next_segment):
    """Write ``raws`` (Feature JSON texts, one line each) as the new snapshot.

    Parameters
    ----------
    folder : Path
    raws : list of str
    next_segment : int
        The first log segment not covered.
    """
    tmp = folder / f".{SNAPSHOT}.{os.getpid()}.tmp"
    header = {"type": "FeatureCollection",
              "gridmap_store": {"format": FORMAT, "next_segment": next_segment, "count": len(raws)}}
    with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_TRUNC), "w", encoding="utf-8") as f:
        f.write(json.dumps(header)[:-1] + ', "features": [\n')
        f.writelines(f"{raw},\n" if i < len(raws) - 1 else f"{raw}\n" for i, raw in enumerate(raws))
        f.write("]}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / SNAPSHOT)
    fsync_dir(folder)


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
