"""The case store at scale: a worker's size and start, a queue query, and intake at N cases.

Not a test. Run ``.venv/bin/python bench/bench_store_scale.py [--count 100000]
[--dir PATH] [--queries 300] [--duration 8] [--rounds 2] [--workers 2] [--no-intake]``.

1. Builds a data folder holding ``--count`` cases with ``gridmap demo cases`` (12
   months up to 2026-11-30, seed 1), and one holding 1,000 (kept in ``--dir``,
   beside the repository by default, and reused by later runs), then the peer:
   SQLite in WAL mode with the same cases, their indexed columns (grid, state,
   category, reported_at) in columns with indexes and the Feature as JSON text.
2. Starts a fresh process per backend that opens the store and answers a first
   queue query, and prints its start time and RSS; then, in the same process,
   ``--queries`` queue queries (one grid, one state, the first page of 50, newest
   first, with the total), each grid and open state in turn: p50 and p95.
   GeoJSONSeqStore answers with ``store.query``; SQLite with the same two
   statements an SQL backend would run (the page, parsed, and the count).
   Then 20 times each: heat cells for the whole community at zoom 15 (cells of
   24 px) and counts by grid x category x week for the last year; SQLite with
   ``bench_aggregates.py``'s statements (a GROUP BY of the pixel cell; of grid,
   category and week), on indexes that cover them.
3. Intake: ``gridmap serve`` on a copy of each folder (the cases' files hard-linked,
   so the kept folder never changes), durable ``POST /api/reports`` at 32
   connections with ``bench/bench_intake.py``'s clients, runs at 1,000 and at N
   taking turns: the req/s at N against at 1,000 (each run against the mean of
   the 1,000-case runs around it), and the p99 at N.

Prints a side-by-side table with the ratios and the targets of issue #15.
"""

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_intake  # noqa: E402  (its server, load generators and report points)

ROOT = Path(__file__).resolve().parents[1]
SMALL = 1000
END, MONTHS, SEED = "2026-11-30", 12, 1
PAGE = 50
OPEN_STATES = ("reported", "signed", "handling", "replied")
TARGETS = {"rss": 300.0, "start": 2.0, "queue_p95": 20.0, "heat": 100.0, "counts": 100.0,
           "intake": 0.90, "p99": 100.0}
SCHEMA = """
CREATE TABLE cases (id TEXT PRIMARY KEY, case_no INTEGER NOT NULL UNIQUE,
  tracking_code TEXT NOT NULL UNIQUE, grid_code TEXT NOT NULL, state TEXT, category TEXT,
  reported_ts REAL, lon REAL NOT NULL, lat REAL NOT NULL, x REAL NOT NULL, y REAL NOT NULL,
  feature TEXT NOT NULL);
CREATE INDEX cases_grid_state_time ON cases (grid_code, state, reported_ts, case_no);
CREATE INDEX cases_state_time ON cases (state, reported_ts);
CREATE INDEX cases_category_time ON cases (category, reported_ts);
CREATE INDEX cases_time ON cases (reported_ts);
CREATE INDEX cases_time_grid_category ON cases (reported_ts, grid_code, category);
CREATE INDEX cases_place ON cases (lon, lat, x, y);
"""

# The fresh worker: open, first query, then the query mix; prints one JSON line.
WORKER = r"""
import json, os, sys, time
t0 = time.perf_counter()
backend, path, mix, whole, since = (sys.argv[1], sys.argv[2], json.loads(sys.argv[3]),
                                    json.loads(sys.argv[4]), float(sys.argv[5]))
import orjson
from datetime import datetime, timezone
from pathlib import Path
from gridmap.cases.service import clock_columns  # both: the same imports, the same baseline
from gridmap.config import load_config
from gridmap.datafolder import load_community
from gridmap.store import GeoJSONSeqStore
from gridmap.store.base import CaseFilter

def rss():
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return (int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024)

base, imported = rss()[0], time.perf_counter()
# a worker's clock extractor, as gridmap serve gives it (the data folder is beside)
community = load_community(load_config({"DATA_DIR": str(Path(path).parent / "data"
                                                       if backend == "sqlite" else Path(path).parent)}))
clocks = clock_columns(community)
if backend == "geojsonseq":
    store = GeoJSONSeqStore(path, compact_bytes=None, clocks=clocks)
    def query(grid, state):
        return store.query(grid_codes=[grid], states=[state], limit=%(page)d)
    def heat():
        return store.heat(None, whole, 15)["total"]
    def counts():
        flt = CaseFilter(since=datetime.fromtimestamp(since, timezone.utc))
        return sum(c["count"] for c in store.count_by(flt, ("grid_code", "category", "week")))
else:
    import sqlite3
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    def query(grid, state):
        rows = conn.execute("SELECT feature FROM cases WHERE grid_code = ? AND state = ? "
                            "ORDER BY reported_ts DESC, case_no DESC LIMIT %(page)d",
                            (grid, state)).fetchall()
        total = conn.execute("SELECT count(*) FROM cases WHERE grid_code = ? AND state = ?",
                             (grid, state)).fetchone()[0]
        return [orjson.loads(r[0]) for r in rows], total
    def heat():
        k = 2 ** 15 / 24
        w, s, e, n = whole
        return sum(r[0] for r in conn.execute(
            "SELECT count(*), avg(lat), avg(lon) FROM cases WHERE lon BETWEEN ? AND ? AND lat "
            "BETWEEN ? AND ? GROUP BY CAST(x * ? AS INTEGER), CAST(y * ? AS INTEGER)",
            (w, e, s, n, k, k)))
    def counts():
        return sum(r[3] for r in conn.execute(
            "SELECT grid_code, category, CAST((reported_ts + 28800) / 86400 + 3 AS INTEGER) / 7 "
            "AS week, count(*) FROM cases WHERE reported_ts >= ? GROUP BY grid_code, category, week",
            (since,)))
opened = time.perf_counter()
first = query(*mix[0])
started = time.perf_counter()
times = []
for grid, state in mix:
    t = time.perf_counter()
    query(grid, state)
    times.append(time.perf_counter() - t)
times.sort()
now, peak = rss()
more = {}
for name, fn in (("heat", heat), ("counts", counts)):
    more[name + "_total"] = fn()
    spent = []
    for _ in range(20):
        t = time.perf_counter()
        fn()
        spent.append(time.perf_counter() - t)
    spent.sort()
    more[name + "_p95_ms"] = spent[18] * 1e3
print(json.dumps({"import_s": imported - t0, "open_s": opened - t0, "start_s": started - t0, "first_total": first[1],
                  "rss_mb": now, "hwm_mb": peak, "base_mb": base,
                  "p50_ms": times[len(times) // 2] * 1e3,
                  "p95_ms": times[int(len(times) * 0.95)] * 1e3, **more}))
""" % {"page": PAGE}


def build(folder, count):
    """``folder/data`` with ``count`` demo cases (reused when it holds them); returns seconds
    spent making it (0 if reused)."""
    cases = folder / "data" / "cases"
    marker = folder / "built.json"
    if marker.exists() and json.loads(marker.read_text())["count"] == count:
        return 0.0
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gridmap.cli", "demo", "cases", "--count", str(count),
                    "--months", str(MONTHS), "--seed", str(SEED), "--end", END,
                    "--data-dir", str(folder / "data")], check=True, cwd=ROOT)
    seconds = time.perf_counter() - t
    marker.write_text(json.dumps({"count": count, "seconds": seconds}))
    assert (cases / "cases.geojson").exists()
    return seconds


def build_peer(folder):
    """The SQLite peer beside the store, from its snapshot; returns its path."""
    path = folder / "peer.sqlite3"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(SCHEMA)
    from datetime import datetime

    from gridmap.store.columns import mercator_px

    def rows():
        with open(folder / "data" / "cases" / "cases.geojson", encoding="utf-8") as f:
            next(f)  # the header line
            for line in f:
                line = line.rstrip(",\n")
                if not line.startswith("{"):
                    continue
                feature = json.loads(line)
                p = feature["properties"]
                lon, lat = feature["geometry"]["coordinates"][:2]
                yield (feature["id"], p["case_no"], p["tracking_code"], p["grid_code"],
                       p.get("state"), p.get("category"),
                       datetime.fromisoformat(p["reported_at"]).timestamp(),
                       lon, lat, *mercator_px(lon, lat), line)

    with conn:
        conn.executemany("INSERT INTO cases VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows())
    conn.execute("ANALYZE")
    conn.close()
    tmp.rename(path)
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    return path


def query_mix(data_dir, n):
    grids = sorted(json.loads((data_dir / "teams.json").read_text(encoding="utf-8"))["teams"])
    return [(grids[i % len(grids)], OPEN_STATES[i // len(grids) % len(OPEN_STATES)])
            for i in range(n)]


def whole_community(data_dir):
    """The bounds (west, south, east, north) of the grids in ``data_dir``."""
    import shapely

    text = (data_dir / "grids.geojson").read_text(encoding="utf-8")
    return shapely.total_bounds(shapely.from_geojson(text)).tolist()


def fresh_worker(backend, path, mix, whole):
    since = datetime.fromisoformat(END).replace(tzinfo=timezone(timedelta(hours=8))).timestamp()
    since -= 365 * 86400
    out = subprocess.run([sys.executable, "-c", WORKER, backend, str(path), json.dumps(mix),
                          json.dumps(whole), repr(since)],
                         check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def linked_copy(source, target):
    """A copy of a data folder whose case files are hard links (never written in place)."""
    shutil.copytree(source, target, copy_function=lambda s, d: (
        os.link(s, d) if Path(s).name == "cases.geojson" else shutil.copy2(s, d)))


def intake(folders, args):
    """Durable POST runs on a server per folder, taking turns; returns the runs of each."""
    use_wrk = shutil.which("wrk") is not None
    points = bench_intake.inside_points(5000)
    runs = {count: [] for count in folders}
    with tempfile.TemporaryDirectory(prefix="bench-scale-", dir=args.dir) as tmp:
        servers = {}
        try:
            for count, folder in folders.items():
                work = Path(tmp) / str(count)
                work.mkdir()
                linked_copy(folder / "data", work / "data")
                t = time.perf_counter()
                # every worker loads the whole store: minutes at 1,000,000 cases today
                servers[count] = (bench_intake.Server(work, args.workers, start_timeout=1800), work)
                print(f"  server at {count:,} cases up in {time.perf_counter() - t:.1f} s",
                      flush=True)
            number = iter(range(10**6))

            def run(count, duration):
                server, work = servers[count]
                n = next(number)
                if not use_wrk:
                    return bench_intake.run_python(server.url, "/api/reports", duration, points,
                                                   2, f"s{n}")
                script = work / f"post{n}.lua"
                script.write_text(bench_intake.WRK_SCRIPT % {
                    "run": f"s{n}", "seed": n,
                    "points": ",".join(f"{{{lon!r},{lat!r}}}" for lon, lat in points),
                    "categories": ",".join(f'"{c}"' for c in bench_intake.CATEGORIES)}
                    + bench_intake.WRK_DONE, encoding="utf-8")
                return bench_intake.run_wrk(server.url, "/api/reports", duration, script, 2)

            small, big = sorted(folders)
            for count in (small, big):
                run(count, 1)  # warm up
            for _ in range(args.rounds):
                for count in (small, big):
                    runs[count].append(run(count, args.duration))
                    bench_intake.show(f"POST at {count:,}", runs[count][-1])
            runs[small].append(run(small, args.duration))  # every run at N between two
            bench_intake.show(f"POST at {small:,}", runs[small][-1])
        finally:
            for server, _ in servers.values():
                server.stop()
    return runs


def main():
    parser = argparse.ArgumentParser(description="The case store at N cases against SQLite "
                                                 "and against itself at 1,000 cases.")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=ROOT.parent / "gridmap-bench-scale",
                        help="where the data folders are built and kept")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--duration", type=int, default=8, help="seconds per intake run")
    parser.add_argument("--rounds", type=int, default=2, help="intake runs at N")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-intake", action="store_true")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)

    folders = {count: args.dir / f"cases-{count}" for count in sorted({SMALL, args.count})}
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    for count, folder in folders.items():
        seconds = build(folder, count)
        size = (folder / "data" / "cases" / "cases.geojson").stat().st_size
        made = json.loads((folder / "built.json").read_text())["seconds"]
        print(f"  {count:,} cases: gridmap demo cases took {made:.1f} s"
              f"{'' if seconds else ' (kept from an earlier run)'}; snapshot {size / 2**20:,.0f} MB "
              f"({size / count:,.0f} bytes a case)", flush=True)
        t = time.perf_counter()
        peer = build_peer(folder)
        print(f"  {count:,} cases: SQLite peer ready in {time.perf_counter() - t:.1f} s "
              f"({peer.stat().st_size / 2**20:,.0f} MB)", flush=True)

    big = folders[args.count]
    mix = query_mix(big / "data", args.queries)
    whole = whole_community(big / "data")
    results = {}
    for count, folder in folders.items():
        for backend, path in (("geojsonseq", folder / "data" / "cases"),
                              ("sqlite", folder / "peer.sqlite3")):
            results[count, backend] = r = fresh_worker(backend, path, mix, whole)
            print(f"  {backend:<10} at {count:>9,}: imports {r['import_s']:.2f} s, open "
                  f"{r['open_s']:.2f} s, start (imports, open, first query) {r['start_s']:.2f} s, RSS {r['rss_mb']:,.0f} MB (peak "
                  f"{r['hwm_mb']:,.0f}, {r['base_mb']:.0f} before opening), queue query p50 "
                  f"{r['p50_ms']:.2f} ms p95 {r['p95_ms']:.2f} ms; heat p95 {r['heat_p95_ms']:.1f} ms, "
                  f"counts p95 {r['counts_p95_ms']:.1f} ms", flush=True)
    for key in ("first_total", "heat_total", "counts_total"):
        assert results[args.count, "geojsonseq"][key] == results[args.count, "sqlite"][key], (
            f"the backends disagree on {key}")

    runs = None if args.no_intake or args.count == SMALL else intake(folders, args)

    n = args.count
    g, s, g1 = results[n, "geojsonseq"], results[n, "sqlite"], results[SMALL, "geojsonseq"]
    print(f"\nat {n:,} cases        GeoJSONSeqStore     SQLite peer   store/peer   store at "
          f"{SMALL:,}   target at 1,000,000")
    rows = (("worker RSS (MB)", "rss_mb", "%.0f", f"≤ {TARGETS['rss']:.0f} MB"),
            ("worker start (s)", "start_s", "%.2f", f"≤ {TARGETS['start']:.0f} s"),
            ("queue query p95 (ms)", "p95_ms", "%.2f", f"≤ {TARGETS['queue_p95']:.0f} ms"),
            ("heat, community (ms)", "heat_p95_ms", "%.1f", f"≤ {TARGETS['heat']:.0f} ms"),
            ("counts g×c×week (ms)", "counts_p95_ms", "%.1f", f"≤ {TARGETS['counts']:.0f} ms"))
    for name, key, fmt, target in rows:
        print(f"  {name:<22} {fmt % g[key]:>14} {fmt % s[key]:>15} {g[key] / s[key]:11.3g}× "
              f"{fmt % g1[key]:>14}   {target}")
    if runs:
        small, big_runs = runs[SMALL], runs[n]
        ratio = statistics.median(r["rate"] / statistics.mean((a["rate"], b["rate"]))
                                  for a, r, b in zip(small, big_runs, small[1:]))
        p99 = statistics.median(r["p99_ms"] for r in big_runs)
        print(f"  {'intake (req/s)':<22} {statistics.median(r['rate'] for r in big_runs):14.0f} "
              f"{'—':>15} {'':>12} {statistics.median(r['rate'] for r in small):14.0f}   "
              f"at N ≥ {TARGETS['intake']:.0%} of at 1,000")
        print(f"  intake at {n:,} against at {SMALL:,}: {ratio:.1%} (target ≥ "
              f"{TARGETS['intake']:.0%}: {'met' if ratio >= TARGETS['intake'] else 'MISSED'}); "
              f"p99 at {n:,}: {p99:.1f} ms (target ≤ {TARGETS['p99']:.0f} ms: "
              f"{'met' if p99 <= TARGETS['p99'] else 'MISSED'})")
    for name, key, limit in (("RSS", "rss_mb", TARGETS["rss"]), ("start", "start_s", TARGETS["start"]),
                             ("queue p95", "p95_ms", TARGETS["queue_p95"]),
                             ("heat p95", "heat_p95_ms", TARGETS["heat"]),
                             ("counts p95", "counts_p95_ms", TARGETS["counts"])):
        print(f"  {name}: {'met' if g[key] <= limit else 'MISSED'} at {n:,} against the "
              f"1,000,000-case target")


if __name__ == "__main__":
    main()
