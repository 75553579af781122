"""Case store benchmark: durable creates/s of GeoJSONSeqStore against SQLite.

Not a test. Run ``.venv/bin/python bench/bench_store.py [--creates N] [--repeat R] [--dir PATH]``.

Each shape (processes × threads) creates the same case Features, each with
an idempotency key and acknowledged only once durable, first with
:class:`~gridmap.store.GeoJSONSeqStore`, then with the peer: one SQLite table
in WAL mode with ``synchronous=FULL``, one ``BEGIN IMMEDIATE`` transaction per
create that checks the key, numbers the case (``max(case_no) + 1``) and
inserts it. Prints creates/s, p50/p99 latency of one call (each the median
over ``--repeat`` runs, the two backends taking turns) and the ratio.
Shapes: 1 × 1; 2 × 1 (gunicorn with 2 sync workers); 2 × 4 (threads). The
folder defaults to one beside the repository, on the disk the service uses.
"""

import argparse
import json
import multiprocessing
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from gridmap.store import GeoJSONSeqStore

ROOT = Path(__file__).resolve().parents[1]
SHAPES = ((1, 1), (2, 1), (2, 4))
SCHEMA = """CREATE TABLE IF NOT EXISTS cases (
  id TEXT PRIMARY KEY, case_no INTEGER NOT NULL UNIQUE, tracking_code TEXT NOT NULL UNIQUE,
  idempotency_key TEXT UNIQUE, grid_code TEXT NOT NULL, feature TEXT NOT NULL)"""


def make_feature(name, i):
    """A case as the workflow makes it: about 700 bytes of JSON."""
    at = (datetime(2025, 5, 1, 9, tzinfo=timezone(timedelta(hours=8)))
          + timedelta(seconds=i)).isoformat()
    return {"type": "Feature", "id": name,
            "geometry": {"type": "Point", "coordinates": [108.7757 + i % 97 * 1e-4,
                                                          29.5311 + i % 89 * 1e-4]},
            "properties": {"tracking_code": f"T-{name}", "grid_code": f"500114001001{i % 13 + 1:03d}",
                           "grid_generation": 1, "category": "road", "state": "reported",
                           "reported_at": at, "description": "路灯不亮，晚上很黑 / street lamp out",
                           "contact": "138****0000", "datum": "WGS84", "routed_by": "covers",
                           "deadlines": {"sign": at, "handle": at, "verify": at},
                           "history": [{"at": at, "action": "report", "actor": None,
                                        "role": "resident", "note": None, "from": None,
                                        "to": "reported"}]}}


class SQLitePeer:
    """The peer: the same creates into one SQLite table, durable per transaction."""

    def __init__(self, path):
        self.conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute(SCHEMA)

    def create(self, feature, idempotency_key=None):
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT feature FROM cases WHERE idempotency_key = ?",
                               (idempotency_key,)).fetchone()
            if row is not None:
                conn.execute("COMMIT")
                return json.loads(row[0]), False
            case_no = conn.execute("SELECT coalesce(max(case_no), 0) + 1 FROM cases").fetchone()[0]
            stored = dict(feature, properties={"case_no": case_no, "version": 1,
                                               **feature["properties"]})
            conn.execute("INSERT INTO cases VALUES (?, ?, ?, ?, ?, ?)",
                         (feature["id"], case_no, feature["properties"]["tracking_code"],
                          idempotency_key, feature["properties"]["grid_code"],
                          json.dumps(stored, ensure_ascii=False)))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return stored, True

    def close(self):
        self.conn.close()


def open_backend(kind, folder):
    return GeoJSONSeqStore(folder / "cases") if kind == "geojsonseq" else SQLitePeer(folder / "cases.db")


def run_process(kind, folder, proc, threads, per_thread, barrier, out):
    """One process: ``threads`` threads (each its own SQLite connection) creating."""
    shared = open_backend(kind, folder) if kind == "geojsonseq" else None
    latencies, ready = [], threading.Barrier(threads + 1)

    def work(t):
        backend = shared or open_backend(kind, folder)
        mine = []
        ready.wait()
        for i in range(per_thread):
            name = f"p{proc}-t{t}-{i}"
            start = time.perf_counter()
            backend.create(make_feature(name, i), idempotency_key=f"key-{name}")
            mine.append(time.perf_counter() - start)
        latencies.extend(mine)
        if shared is None:
            backend.close()

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    ready.wait()
    began = time.time()
    for t in pool:
        t.join()
    out.put((began, time.time(), latencies))
    if shared is not None:
        shared.close()


def measure(kind, base, processes, threads, creates):
    folder = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-", dir=base))
    try:
        open_backend(kind, folder).close()  # create the files once, outside the clock
        ctx = multiprocessing.get_context("spawn")
        barrier, out = ctx.Barrier(processes), ctx.Queue()
        per_thread = creates // (processes * threads)
        procs = [ctx.Process(target=run_process,
                             args=(kind, folder, p, threads, per_thread, barrier, out))
                 for p in range(processes)]
        for p in procs:
            p.start()
        results = [out.get() for _ in procs]
        for p in procs:
            p.join()
        check = open_backend(kind, folder)
        if kind == "geojsonseq":
            assert check.count() == per_thread * processes * threads
        check.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    latencies = sorted(x for r in results for x in r[2])
    wall = max(r[1] for r in results) - min(r[0] for r in results)
    return {"rate": len(latencies) / wall, "p50": statistics.median(latencies) * 1e3,
            "p99": latencies[int(len(latencies) * 0.99)] * 1e3}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--creates", type=int, default=4000, help="creates per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per shape and backend")
    parser.add_argument("--dir", type=Path, default=ROOT / "instance",
                        help="where the temporary stores go (default: %(default)s)")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"{args.creates} durable creates per run, median of {args.repeat} runs, folder {args.dir}")
    print(f"{'shape':<22}{'backend':<12}{'creates/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    for processes, threads in SHAPES:
        shape = f"{processes} proc × {threads} thread"
        runs = {"geojsonseq": [], "sqlite": []}
        for _ in range(args.repeat):
            for kind, results in runs.items():
                results.append(measure(kind, args.dir, processes, threads, args.creates))
        got = {kind: {k: statistics.median(r[k] for r in results) for k in ("rate", "p50", "p99")}
               for kind, results in runs.items()}
        for kind, r in got.items():
            print(f"{shape:<22}{kind:<12}{r['rate']:>10.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}")
        print(f"{'':<22}{'ratio':<12}{got['geojsonseq']['rate'] / got['sqlite']['rate']:>9.2f}×")


if __name__ == "__main__":
    main()
