"""Word filter benchmark: the console's "words in the description" against SQLite.

Not a test. Run ``.venv/bin/python bench/bench_words.py --data PATH [--repeat R]``,
where PATH is a data folder holding a demo history, made once with
``gridmap demo cases --count 100000 --data-dir PATH`` (a few minutes; then reused).

Opens the app on PATH as a worker does, signs in a dispatcher and, in one run, for
each query of :data:`QUERIES` (two-character words, longer ones, one character,
two words, a word no case holds, Latin):

- **a filter change** with ``q`` set: the six JSON requests the console makes
  (heat, clusters, overdue, list, figures, frames; see ``bench_console``), server
  time in the app, p95 over ``--repeat`` rounds (the index's memory of recent
  queries emptied before each round, so the first request finds the words);
  and the same six without ``q``, for scale;
- **the list** alone in the store (``find``: the total and the first page of 50
  newest), p95, against **the peer**: the same cases in SQLite (WAL; description
  and reported time as columns, an index on the time), the same total and page
  with ``description LIKE '%word%'`` per word, and with an FTS5 ``trigram`` table
  (its ``LIKE`` uses the index for words of three characters or more; shorter words
  fall back to ``LIKE`` on the column, as the trigram table finds none). The ratio is
  the peer's p95 over ours (above 1: we are faster);
- the word index alone on the unique descriptions (below), p95;
- once, the old way (every case's stored text read and searched, as before the
  word index) for the first query, for scale.

Also prints the word index's size per case for the demo data, and for the same
descriptions made unique (a house number appended to each: real residents'
text repeats much less than the demo's templates).
"""

import argparse
import math
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

from bench_console import PASSWORD, view_requests
from gridmap.config import load_config
from gridmap.errors import Conflict
from gridmap.jsontext import loads
from gridmap.store.base import CaseFilter
from gridmap.store.words import WordIndex
from gridmap.web import create_app

QUERIES = ("垃圾", "路灯不亮", "电梯故障多日", "灯", "漏水 纠纷", "3栋 停车", "无此词语", "LAMP")


def p95(values):
    return sorted(values)[max(0, math.ceil(len(values) * 0.95) - 1)]


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times, result


class SQLitePeer:
    """The cases' description, time and Feature in SQLite; pages by words."""

    def __init__(self, path, features):
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.executescript(
            "CREATE TABLE cases (case_no INTEGER PRIMARY KEY, reported_ts REAL, description TEXT,"
            " feature TEXT);"
            "CREATE INDEX cases_time ON cases (reported_ts DESC, case_no DESC);"
            "CREATE VIRTUAL TABLE words USING fts5(description, tokenize='trigram');")
        self.conn.execute("BEGIN")
        for f in features:
            p = f["properties"]
            d = p.get("description") if isinstance(p.get("description"), str) else None
            self.conn.execute("INSERT INTO cases VALUES (?, ?, ?, ?)", (
                p["case_no"], p.get("reported_ts"), d, f["raw"]))
            self.conn.execute("INSERT INTO words (rowid, description) VALUES (?, ?)",
                              (p["case_no"], d))
        self.conn.execute("COMMIT")
        self.conn.execute("ANALYZE")

    def page(self, words, fts=False):
        """The first page of 50 newest cases whose description holds ``words``, and the
        total. ``fts``: words of three characters or more through the trigram index
        (shorter ones it cannot answer: ``LIKE`` on the column for those)."""
        where = " AND ".join(
            "case_no IN (SELECT rowid FROM words WHERE description LIKE ?)"
            if fts and len(w) >= 3 else "description LIKE ?" for w in words)
        params = [f"%{w}%" for w in words]
        rows = self.conn.execute(f"SELECT feature FROM cases WHERE {where} ORDER BY reported_ts "
                                 "DESC, case_no DESC LIMIT 50", params).fetchall()
        total = self.conn.execute(f"SELECT count(*) FROM cases WHERE {where}", params).fetchone()[0]
        return [loads(r[0]) for r in rows], total


def dispatcher(app):
    """A client signed in as a dispatcher (made in the data folder on the first run)."""
    accounts = app.extensions["gridmap.accounts"]
    try:
        accounts.add_user("bench", PASSWORD, ["dispatcher"])
    except Conflict:  # an earlier run made it
        pass
    client = app.test_client()
    with client.session_transaction() as s:
        s["sid"] = accounts.create_session("bench")
    return client


def old_way(store, words):
    """The filter as it was: every case's stored text searched, then its description."""
    kept = 0
    for entry in list(store._index.by_id.values()):
        raw = entry.raw.casefold()
        if all(w in raw for w in words):
            d = loads(entry.raw)["properties"].get("description")
            kept += isinstance(d, str) and all(w in d.casefold() for w in words)
    return kept


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a data folder with cases")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    t0 = time.perf_counter()
    app = create_app(load_config({"DATA_DIR": str(args.data), "COMPRESS": False}))
    store = app.extensions["gridmap.cases"].store
    count = store.count()
    words = store._index.columns.words
    print(f"{count:,} cases opened in {time.perf_counter() - t0:.1f} s; word index "
          f"{words.nbytes() / 2**20:.1f} MB, {words.nbytes() / count:.1f} bytes a case "
          f"({words.docs:,} distinct descriptions)")

    entries = sorted(store._index.by_id.values(), key=lambda e: e.case_no)
    features = []
    for e in entries:
        props = loads(e.raw)["properties"]
        features.append({"properties": {"case_no": e.case_no, "reported_ts": e.reported_ts,
                                        "description": props.get("description")}, "raw": e.raw})
    unique = WordIndex()
    t0 = time.perf_counter()
    for row, f in enumerate(features):
        unique.put(row, f"{f['properties']['description']}，{row * 7919 % 100003}号")
    built = time.perf_counter() - t0
    print(f"the same descriptions made unique: word index {unique.nbytes() / count:.1f} bytes a "
          f"case, built in {built:.1f} s ({unique.docs:,} distinct)")

    base = Path(args.data).parent
    peer_path = base / "peer-words.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{peer_path}{suffix}").unlink(missing_ok=True)
    t0 = time.perf_counter()
    peer = SQLitePeer(str(peer_path), features)
    print(f"peer: SQLite {sqlite3.sqlite_version}, built in {time.perf_counter() - t0:.1f} s")

    client = dispatcher(app)
    bbox = app.extensions["gridmap"].grids.bounds
    for q in QUERIES:  # warm
        client.get("/api/dispatch/cases", query_string={"q": q})
    t0 = time.perf_counter()
    kept = old_way(store, QUERIES[0].casefold().split())
    print(f"the old way, {QUERIES[0]!r}: one pass over every case {time.perf_counter() - t0:.2f} s "
          f"({kept:,} cases)")
    plain = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for path, query in view_requests(bbox):
            assert client.get(path, query_string=query).status_code == 200
        plain.append((time.perf_counter() - t0) * 1000)
    print(f"the same 6 requests without words: p95 {p95(plain):.0f} ms")
    print("query | cases | filter change p95 (6 requests) | list: store p95 | LIKE p95 | ratio | "
          "FTS5 trigram p95 | ratio | unique text: index p95")
    for q in QUERIES:
        flt = CaseFilter(text=q)
        change = []
        for _ in range(args.repeat):
            words._answers.clear()  # as for new words: the first request finds them
            t0 = time.perf_counter()
            for path, query in view_requests(bbox, {"q": q}):
                r = client.get(path, query_string=query)
                assert r.status_code == 200, (path, r.status_code)
            change.append((time.perf_counter() - t0) * 1000)
        ours, (page, total) = timed(lambda: (words._answers.clear(), store.find(flt, limit=50))[1],
                                    args.repeat)
        like, (peer_page, peer_total) = timed(lambda: peer.page(flt.words), args.repeat)
        fts, (_, fts_total) = timed(lambda: peer.page(flt.words, fts=True), args.repeat)
        folded = flt.words
        alone, mask = timed(lambda: (unique._answers.clear(), unique.rows_with(folded, count))[1],
                            args.repeat)
        # LIKE folds ASCII only, as casefold does for the demo's words (Chinese or ASCII)
        assert total == peer_total == fts_total, (q, total, peer_total, fts_total)
        assert [f["id"] for f in page] == [f["id"] for f in peer_page], q
        assert int(np.count_nonzero(mask)) == total, q  # a suffix holds no query's word
        print(f"{q} | {total:,} | {p95(change):.0f} ms | {p95(ours):.1f} ms | {p95(like):.1f} ms | "
              f"{p95(like) / p95(ours):.1f} | {p95(fts):.1f} ms | {p95(fts) / p95(ours):.1f} | "
              f"{p95(alone):.1f} ms")
    peer.conn.close()


if __name__ == "__main__":
    sys.exit(main())
