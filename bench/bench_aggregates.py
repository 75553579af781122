"""Aggregates benchmark: the dispatcher console's queries on GeoJSONSeqStore against SQLite.

Not a test. Run ``.venv/bin/python bench/bench_aggregates.py [--count N] [--repeat R] [--dir PATH]``.

Makes ``--count`` cases (default 100,000) of a year in the community: points
inside the 13 grids of ``geodata/``, two thirds around a few hot spots, the
rest spread out; states, histories and deadlines as the workflow leaves them,
a share of them late. The store's snapshot is written directly (the store's
own record format), then opened as a worker opens it, with the community's
clock extractor (and once without it, to show what the extractor costs at
start). The peer is one SQLite table in WAL mode with the same data:
columns for grid, state, category, reported_at, position (and its Web
Mercator pixel at zoom 0), the six clock instants, and the Feature as JSON,
with indexes that cover the queries. Each query runs ``--repeat`` times on both, alternating; the printed
ratio is the peer's p95 over ours (above 1: we are faster):

- heat: the whole community at zoom 15 (cells of 24 px);
- counts by grid x category x week for the last year (Asia/Shanghai);
- clusters: the whole community at zoom 16 (cells of 60 px);
- queue: one grid, one state, first page of 50 newest, with the total
  (grids and states taken in turn);
- list: every open case, first page of 50, with the total;
- overdue: cases late on any clock now, first page, with the total;
- figures per grid (received, open, overdue, closed, closed on time).

The console's targets (issue #15, at 1,000,000 cases): queue p95 <= 20 ms, heat
<= 100 ms, counts <= 100 ms.
"""

import argparse
import json
import math
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import shapely

from gridmap.cases.service import clock_columns
from gridmap.config import load_config
from gridmap.datafolder import load_community
from gridmap.store import GeoJSONSeqStore
from gridmap.store.base import CaseFilter
from gridmap.store.columns import mercator_px
from gridmap.store.features import prepare_feature
from gridmap.store.snapshot import write_snapshot

ROOT = Path(__file__).resolve().parents[1]
CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=CST)
STATES = {"reported": 0.06, "signed": 0.05, "handling": 0.08, "replied": 0.05, "closed": 0.3,
          "rated": 0.42, "cancelled": 0.04}
STEPS = ("sign", "start", "reply", "close", "rate")
REACHED = {"reported": 0, "signed": 1, "handling": 2, "replied": 3, "closed": 4, "rated": 5,
           "cancelled": 1}
TARGETS = {"queue": 20.0, "heat": 100.0, "counts": 100.0}  # ms, p95, at 1,000,000 cases
SCHEMA = """
CREATE TABLE cases (case_no INTEGER PRIMARY KEY, id TEXT NOT NULL, grid_code TEXT NOT NULL,
  state TEXT, category TEXT, reported_ts REAL, lon REAL NOT NULL, lat REAL NOT NULL,
  x REAL NOT NULL, y REAL NOT NULL, sign_deadline REAL, sign_stop REAL, handle_deadline REAL,
  handle_stop REAL, verify_deadline REAL, verify_stop REAL, feature TEXT NOT NULL);
"""
INDEXES = """
CREATE INDEX cases_queue ON cases (grid_code, state, reported_ts);
CREATE INDEX cases_state ON cases (state, reported_ts);
CREATE INDEX cases_time ON cases (reported_ts, grid_code, category);
CREATE INDEX cases_place ON cases (lon, lat, x, y, id);
"""  # covering the queries below: counts, heat and clusters read an index only
LATE = """(state IS NOT 'cancelled' AND (
  (sign_deadline IS NOT NULL AND coalesce(sign_stop, :now) > sign_deadline) OR
  (handle_deadline IS NOT NULL AND coalesce(handle_stop, :now) > handle_deadline) OR
  (verify_deadline IS NOT NULL AND coalesce(verify_stop, :now) > verify_deadline)))"""
HANDLE_LATE = ("(state IS NOT 'cancelled' AND handle_deadline IS NOT NULL"
               " AND coalesce(handle_stop, :now) > handle_deadline)")


def iso(t):
    return t.isoformat(timespec="seconds")


def make_cases(community, count, seed=13):
    """``count`` case Features of the year before NOW, deterministic."""
    rng = random.Random(seed)
    grids = list(community.grids)
    west, south, east, north = community.grids.bounds
    spots = []
    while len(spots) < 12:
        lon, lat = rng.uniform(west, east), rng.uniform(south, north)
        if any(shapely.contains_xy(g.geometry, lon, lat) for g in grids):
            spots.append((lon, lat, rng.uniform(0.0003, 0.0015)))
    n = int(count * 1.6) + 100  # points drawn; those outside every grid are dropped
    np_rng = np.random.default_rng(seed)
    spot = np_rng.integers(0, len(spots), n)
    hot = np_rng.random(n) < 2 / 3
    centre = np.array(spots)[spot]
    lons = np.where(hot, np_rng.normal(centre[:, 0], centre[:, 2]), np_rng.uniform(west, east, n))
    lats = np.where(hot, np_rng.normal(centre[:, 1], centre[:, 2]), np_rng.uniform(south, north, n))
    grid_of = np.full(n, -1)
    for i, grid in enumerate(grids):
        grid_of[(grid_of < 0) & shapely.contains_xy(grid.geometry, lons, lats)] = i
    inside = np.flatnonzero(grid_of >= 0)[:count]
    if len(inside) < count:
        raise SystemExit("too few points fell inside the grids")
    categories = [c.code for c in community.categories.values() if not c.retired]
    states, weights = list(STATES), list(STATES.values())
    for k, i in enumerate(inside):
        # more reports in summer, over the year before NOW
        while True:
            days = rng.uniform(0, 365)
            if rng.random() < 0.7 + 0.3 * math.cos((days - 180) / 365 * 2 * math.pi):
                break
        at = NOW - timedelta(days=days)
        state = rng.choices(states, weights)[0]
        if at > NOW - timedelta(days=3) and state in ("closed", "rated"):
            state = "handling"
        deadlines = {"sign": iso(at + timedelta(hours=2)), "handle": iso(at + timedelta(days=3))}
        history = [{"at": iso(at), "action": "report", "actor": None, "role": "resident",
                    "note": None, "from": None, "to": "reported"}]
        t = at
        for step in STEPS[:REACHED[state] if state != "cancelled" else 1]:
            t = min(t + timedelta(hours=rng.expovariate(1 / (30 if step != "sign" else 1.5))), NOW)
            history.append({"at": iso(t), "action": step, "actor": "w1", "role": "grid_staff",
                            "note": None})
            if step == "reply":
                deadlines["verify"] = iso(t + timedelta(days=2))
        if state == "cancelled":
            history.append({"at": iso(t), "action": "cancel", "actor": "w1", "role": "grid_staff",
                            "note": "重复"})
        grid = grids[grid_of[i]].code
        case_id = f"{k:032x}"
        yield {"type": "Feature", "id": case_id,
               "geometry": {"type": "Point", "coordinates": [round(float(lons[i]), 7),
                                                            round(float(lats[i]), 7)]},
               "properties": {
                   "case_id": case_id, "tracking_code": f"T{k:010d}", "grid_code": grid,
                   "routing": "inside", "category": rng.choice(categories),
                   "description": f"第{k}号 路灯不亮，晚上很黑 street lamp out {rng.choice('ABCDEFGH')}",
                   "reporter": {"contact": "138****0000", "name": None, "hide_name": False},
                   "state": state, "reported_at": iso(at), "deadlines": deadlines,
                   "assignee": "w1", "handlers": [], "history": history}}


class SQLitePeer:
    """The same data in one SQLite table (WAL), the same queries in SQL."""

    def __init__(self, path, features, clocks):
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.executescript(SCHEMA)

        def rows():
            for no, f in enumerate(features, 1):
                p = f["properties"]
                lon, lat = f["geometry"]["coordinates"]
                x, y = mercator_px(lon, lat)
                yield (no, f["id"], p["grid_code"], p["state"], p["category"],
                       datetime.fromisoformat(p["reported_at"]).timestamp(), lon, lat, x, y,
                       *clocks(p), json.dumps(dict(f, properties={"case_no": no, "version": 1, **p}),
                                              ensure_ascii=False))

        self.conn.execute("BEGIN")
        self.conn.executemany(f"INSERT INTO cases VALUES ({', '.join('?' * 17)})", rows())
        self.conn.execute("COMMIT")
        self.conn.executescript(INDEXES)
        self.conn.execute("ANALYZE")

    def _page(self, where, params):
        rows = self.conn.execute(f"SELECT feature FROM cases WHERE {where} ORDER BY reported_ts "
                                 "DESC, case_no DESC LIMIT 50", params).fetchall()
        total = self.conn.execute(f"SELECT count(*) FROM cases WHERE {where}", params).fetchone()[0]
        return [json.loads(r[0]) for r in rows], total

    def queue(self, grid, state):
        return self._page("grid_code = :grid AND state = :state", {"grid": grid, "state": state})

    def open_list(self):
        return self._page("state IN ('reported', 'signed', 'handling', 'replied')", {})

    def overdue(self, now):
        return self._page(LATE, {"now": now.timestamp()})

    def _cells(self, bbox, zoom, cell_px, extra):
        west, south, east, north = bbox
        k = 2 ** zoom / cell_px
        return self.conn.execute(
            f"SELECT count(*), avg(lat), avg(lon){extra} FROM cases "
            "WHERE lon BETWEEN ? AND ? AND lat BETWEEN ? AND ? "
            "GROUP BY CAST(x * ? AS INTEGER), CAST(y * ? AS INTEGER)",
            (west, east, south, north, k, k)).fetchall()

    def heat(self, bbox, zoom):
        return [[lat, lon, n] for n, lat, lon in self._cells(bbox, zoom, 24, "")]

    def clusters(self, bbox, zoom):
        return self._cells(bbox, zoom, 60, ", min(lon), min(lat), max(lon), max(lat), min(id), "
                                            "min(case_no)")

    def counts(self, since):
        # the week of reported_at in UTC+8 (Shanghai has kept that offset since 1991)
        return self.conn.execute(
            "SELECT grid_code, category, CAST((reported_ts + 28800) / 86400 + 3 AS INTEGER) / 7 AS week,"
            " count(*) FROM cases WHERE reported_ts >= ? GROUP BY grid_code, category, week",
            (since.timestamp(),)).fetchall()

    def figures(self, now):
        return self.conn.execute(
            "SELECT grid_code, count(*), sum(state IN ('reported', 'signed', 'handling', 'replied')),"
            f" sum({LATE}), sum(state IN ('closed', 'rated')),"
            f" sum(state IN ('closed', 'rated') AND NOT {HANDLE_LATE}) FROM cases GROUP BY grid_code",
            {"now": now.timestamp()}).fetchall()


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times, result


def p95(times):
    return sorted(times)[max(0, math.ceil(len(times) * 0.95) - 1)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--dir", type=Path, default=None,
                        help="where to write the data (default: a temporary folder beside the repo)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-aggregates-", dir=args.dir or ROOT.parent))
    try:
        run(args, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run(args, base):
    community = load_community(load_config({"DATA_DIR": str(base / "data")}))
    clocks = clock_columns(community)
    t0 = time.perf_counter()
    folder = base / "cases"
    folder.mkdir()
    write_snapshot(folder, [prepare_feature(f).to_json(no, 1)
                            for no, f in enumerate(make_cases(community, args.count), 1)], 1)
    print(f"{args.count:,} cases made and written in {time.perf_counter() - t0:.1f} s "
          f"({(folder / 'cases.geojson').stat().st_size / 2**20:.0f} MB of GeoJSON)")
    t0 = time.perf_counter()  # the same cases again (deterministic): nothing held meanwhile
    peer = SQLitePeer(str(base / "peer.sqlite3"), make_cases(community, args.count), clocks)
    print(f"SQLite filled and indexed in {time.perf_counter() - t0:.1f} s")
    plain = ""
    if args.count <= 200_000:  # what the extractor costs at start (spared on big runs)
        t0 = time.perf_counter()
        GeoJSONSeqStore(folder).close()
        plain = f" ({time.perf_counter() - t0:.1f} s without the clock extractor)"
    t0 = time.perf_counter()
    store = GeoJSONSeqStore(folder, clocks=clocks)
    print(f"store opened in {time.perf_counter() - t0:.1f} s{plain}")

    whole = community.grids.bounds
    year = NOW - timedelta(days=365)
    grids, states = list(community.grids.codes), ["reported", "signed", "handling", "replied"]
    turns = {"ours": 0, "peer": 0}  # each side asks for the same grids and states in turn

    def queue_args(side):
        i = turns[side] = turns[side] + 1
        return grids[i % len(grids)], states[i // len(grids) % len(states)]

    def store_queue():
        grid, state = queue_args("ours")
        return store.find(CaseFilter(grid_codes=[grid], states=[state]))

    def peer_queue():
        grid, state = queue_args("peer")
        return peer.queue(grid, state)

    cases = [
        ("heat, whole community, zoom 15", "heat",
         lambda: store.heat(None, whole, 15), lambda: peer.heat(whole, 15),
         lambda r: r["total"], lambda r: sum(c[2] for c in r)),
        ("counts grid x category x week, a year", "counts",
         lambda: store.count_by(CaseFilter(since=year), ("grid_code", "category", "week")),
         lambda: peer.counts(year),
         lambda r: sum(x["count"] for x in r), lambda r: sum(x[3] for x in r)),
        ("clusters, whole community, zoom 16", None,
         lambda: store.clusters(None, whole, 16), lambda: peer.clusters(whole, 16),
         lambda r: r["total"], lambda r: sum(c[0] for c in r)),
        ("queue: one grid, one state, page 1", "queue", store_queue, peer_queue,
         lambda r: (r[1], [f["id"] for f in r[0]]), lambda r: (r[1], [f["id"] for f in r[0]])),
        ("list: every open case, page 1", None,
         lambda: store.find(CaseFilter(states=states)), peer.open_list,
         lambda r: (r[1], [f["id"] for f in r[0]]), lambda r: (r[1], [f["id"] for f in r[0]])),
        ("overdue now (any clock), page 1", None,
         lambda: store.find(CaseFilter(overdue="any", now=NOW)), lambda: peer.overdue(NOW),
         lambda r: r[1], lambda r: r[1]),
        ("figures per grid", None,
         lambda: store.grid_figures(None, now=NOW), lambda: peer.figures(NOW),
         lambda r: sum(g["overdue"] for g in r.values()), lambda r: sum(x[3] for x in r)),
    ]
    print(f"\n{args.count:,} cases, {args.repeat} runs each; ms, p50 / p95; "
          "ratio = SQLite p95 / ours (above 1: ours is faster)")
    print(f"{'query':40} {'ours':>17} {'SQLite':>17} {'ratio':>7}  check")
    for name, target, ours, theirs, our_check, their_check in cases:
        ours(), theirs()  # warm up (and the first catch-up)
        our_times, their_times = [], []
        for _ in range(args.repeat):
            t, our_result = timed(ours, 1)
            our_times += t
            t, their_result = timed(theirs, 1)
            their_times += t
        same = our_check(our_result) == their_check(their_result)
        note = "same answer" if same else "DIFFERENT answers"
        if target is not None:
            note += f"; target at 1M: p95 <= {TARGETS[target]:.0f} ms"
        print(f"{name:40} {statistics.median(our_times):7.1f} / {p95(our_times):7.1f} "
              f"{statistics.median(their_times):7.1f} / {p95(their_times):7.1f} "
              f"{p95(their_times) / p95(our_times):7.2f}  {note}")
    store.close()


if __name__ == "__main__":
    main()
