"""Intake benchmark: durable report creation through the real HTTP stack, against the
floor of a trivial JSON endpoint of the same server in the same run.

Not a test. Run ``.venv/bin/python bench/bench_intake.py [--duration 8] [--rounds 3]
[--profile]``.

Starts ``gridmap serve --workers 2`` (gunicorn, tornado workers, access log on) on a
temporary data folder with a high ``REPORT_IP_LIMIT``, then drives 32 concurrent
connections at ``GET /api/health`` (the floor) and ``POST /api/reports`` (a new
case each time, fsynced before the answer: random points inside the grids, random
categories, unique descriptions and idempotency keys), alternating, ``--rounds``
times each, and the floor once more at the end. It prints req/s, p50 and p99 per
run (with the whole machine's busy and idle µs, context switches, and disk writes
and flushes per request: where a machine's time goes, and how many reports share an
fsync), the medians, and the ratio against the targets
(reports ≥ 50 % of the floor, p99 ≤ 50 ms). The ratio is the median over the
report runs of each against the mean of the floor runs just before and after
it, as the speed of a virtual machine drifts. Only 2xx answers count; the case
count on disk is checked against the 201s.

The load generator is Debian's ``wrk`` (``apt-get install wrk``) with a Lua script
for the varying POST bodies; without it, a multi-process asyncio client. Either
way the client's own CPU time per request is measured and its maximum rate
printed beside the floor, so a client that is the bottleneck shows.

``--profile`` runs gunicorn directly with the same settings plus a cProfile in
each worker, and prints where a worker's time goes during the POST runs.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import pstats
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from gridmap.store.geojsonseq import GeoJSONSeqStore  # noqa: E402

CONNECTIONS = 32
TARGET_RATIO, TARGET_P99_MS = 0.5, 50.0
CATEGORIES = [c["code"] for c in json.loads(
    (ROOT / "geodata" / "categories.json").read_text(encoding="utf-8"))["categories"]]

WRK_SCRIPT = """
-- POST /api/reports with a new report each time (points inside the grids)
local points = {%(points)s}
local categories = {%(categories)s}
local run = "%(run)s"  -- new for every run: keys and descriptions never repeat
local n = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(tid * 7919 + %(seed)d)
end

function request()
  n = n + 1
  local p = points[math.random(#points)]
  local body = string.format(
    '{"lon":%%s,"lat":%%s,"category":"%%s","description":"bench %%s-%%d-%%d 井盖缺失 <b>&amp;</b>"}',
    p[1], p[2], categories[math.random(#categories)], run, tid, n)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json",
                                  ["Idempotency-Key"] = string.format("b-%%s-%%d-%%d", run, tid, n)},
                    body)
end
"""
WRK_DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""

PROFILE_CONF = """
import cProfile, os

worker_class = "gridmap.server.worker.BufferingWorker"
control_socket_disable = True

def post_worker_init(worker):  # the app's POST requests, inside the worker's event loop
    worker.profile = cProfile.Profile()
    inner = worker.wsgi.wsgi_app

    def profiled(environ, start_response):
        if environ["REQUEST_METHOD"] != "POST":
            return inner(environ, start_response)
        worker.profile.enable()
        try:
            return inner(environ, start_response)
        finally:
            worker.profile.disable()

    worker.wsgi.wsgi_app = profiled

def worker_exit(server, worker):
    worker.profile.dump_stats(os.path.join(%(out)r, f"worker-{os.getpid()}.prof"))
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def inside_points(n, seed=7):
    """``n`` random points strictly inside the demo grids (no 422s, no snapping)."""
    import numpy as np

    from gridmap.geo.grids import GridSet
    from gridmap.geo.routing import Router

    grids = GridSet.load(ROOT / "geodata" / "grids.geojson")
    router = Router(grids, tolerance_m=0.0)
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = grids.bounds
    lons, lats = rng.uniform(x0, x1, 4 * n), rng.uniform(y0, y1, 4 * n)
    keep = router.route_points(lons, lats).status == 0
    return list(zip(lons[keep].round(7).tolist(), lats[keep].round(7).tolist()))[:n]


# -- the server ------------------------------------------------------------------------

class Server:
    """``gridmap serve`` (or gunicorn with a profiling config) in its own process group."""

    def __init__(self, workdir, workers, profile_dir=None, start_timeout=60):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, GRIDMAP_DATA_DIR=str(workdir / "data"),
                   GRIDMAP_REPORT_IP_LIMIT=str(10**9))
        if profile_dir is None:
            cmd = [sys.executable, "-m", "gridmap.cli", "serve", "--port", str(self.port),
                   "--workers", str(workers)]
        else:  # gridmap serve's settings, plus the hooks
            conf = workdir / "profile_conf.py"
            conf.write_text(PROFILE_CONF % {"out": str(profile_dir)}, encoding="utf-8")
            cmd = [sys.executable, "-m", "gunicorn", "-c", str(conf), "-w", str(workers),
                   "-b", f"127.0.0.1:{self.port}", "--access-logfile", "-",
                   "gridmap.web:create_app()"]
        self.log = workdir / "server.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, cwd=ROOT)
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                urllib.request.urlopen(self.url + "/api/health", timeout=1).read()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit(f"server did not start:\n{self.log.read_text()[-3000:]}")
                time.sleep(0.2)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # graceful: workers write profiles
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def fsync_latency_ms(folder, count=300, gap_s=0.002):
    """Median ms of append + ``fdatasync`` on ``folder``'s disk, ``gap_s`` apart (about a
    loaded worker's pace): what a durable write costs here, to compare machines by."""
    path = Path(folder) / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    times = []
    try:
        for _ in range(count):
            time.sleep(gap_s)
            os.write(fd, b"x" * 900 + b"\n")
            start = time.perf_counter()
            os.fdatasync(fd)
            times.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(times) * 1e3


# -- load generators ---------------------------------------------------------------------

def machine_counters():
    """(busy, idle, context switches, disk writes, disk flushes) of the whole machine so
    far, from /proc/stat and /proc/diskstats (busy and idle in clock ticks; busy counts
    user, nice, system, irq, softirq and steal: time another guest took from this
    virtual machine is time lost here too; writes and flushes are the requests the
    whole disks completed: a flush is about one fsync that reached the disk)."""
    try:
        lines = open("/proc/stat", encoding="ascii").read().splitlines()
    except OSError:
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = map(int, lines[0].split()[1:9])
    ctxt = next(int(x.split()[1]) for x in lines if x.startswith("ctxt "))
    writes = flushes = 0
    try:
        for line in open("/proc/diskstats", encoding="ascii"):
            fields = line.split()
            if os.path.exists(f"/sys/block/{fields[2]}"):  # whole disks, not partitions
                writes += int(fields[7])
                flushes += int(fields[18]) if len(fields) > 18 else 0  # since Linux 5.5
    except (OSError, ValueError, IndexError):
        pass
    return (user + nice + system + irq + softirq + steal, idle + iowait, ctxt, writes, flushes,
            user + nice, steal)


def per_request(before, after, requests):
    """Machine µs busy and idle, context switches, disk writes and flushes per request
    between two :func:`machine_counters` readings."""
    if before is None or after is None or not requests:
        return {}
    tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    busy, idle, ctxt, writes, flushes, user, steal = (b - a for a, b in zip(before, after))
    return {"busy_us": busy * tick_us / requests, "idle_us": idle * tick_us / requests,
            "user_us": user * tick_us / requests, "steal_us": steal * tick_us / requests,
            "ctxt": ctxt / requests, "disk_writes": writes / requests,
            "disk_flushes": flushes / requests}


def run_wrk(url, path, duration, script, threads):
    """One wrk run; returns the result dict (rates, latency, errors, client CPU)."""
    cmd = ["wrk", f"-t{threads}", f"-c{CONNECTIONS}", f"-d{duration}s", "--timeout", "10s",
           "-s", str(script), url + path]
    before = machine_counters()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    after = machine_counters()
    proc.returncode = os.waitstatus_to_exitcode(status)
    line = next((x for x in out.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed:\n{out}")
    r = json.loads(line[len("RESULT "):])
    seconds = r["duration_us"] / 1e6
    errors = r["connect"] + r["read"] + r["write"] + r["timeout"]
    return {"rate": (r["requests"] - r["status"] - errors) / seconds, "requests": r["requests"],
            "ok": r["requests"] - r["status"], "non2xx": r["status"], "errors": errors,
            "p50_ms": r["p50_us"] / 1e3, "p99_ms": r["p99_us"] / 1e3, "max_ms": r["max_us"] / 1e3,
            "client_cpu_s": usage.ru_utime + usage.ru_stime, "seconds": seconds,
            **per_request(before, after, r["requests"])}


async def _connection(port, make_request, stop_at, latencies, statuses):
    while time.monotonic() < stop_at:
        request = make_request()
        t = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n")
                           if h.lower().startswith(b"content-length:")), None)
            await (reader.readexactly(length) if length is not None else reader.read())
            writer.close()
        except (OSError, asyncio.IncompleteReadError, ValueError):
            status = 0  # a network error
        latencies.append(time.perf_counter() - t)
        statuses[status] = statuses.get(status, 0) + 1


def _python_client(args):
    port, path, duration, connections, seed, points, tag = args
    rng = random.Random(f"{tag}-{seed}")
    counter = iter(range(10**9))

    def make_request():
        if path == "/api/health":
            return b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        lon, lat = rng.choice(points)
        n = next(counter)
        body = json.dumps({"lon": lon, "lat": lat, "category": rng.choice(CATEGORIES),
                           "description": f"bench {tag}-{seed}-{n} 井盖缺失"}).encode()
        return (f"POST /api/reports HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                f"Content-Type: application/json\r\nIdempotency-Key: p-{tag}-{seed}-{n}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    async def main():
        latencies, statuses = [], {}
        stop_at = time.monotonic() + duration
        await asyncio.gather(*(_connection(port, make_request, stop_at, latencies, statuses)
                               for _ in range(connections)))
        return latencies, statuses

    return asyncio.run(main())


def run_python(url, path, duration, points, processes, tag):
    """The fallback client: ``processes`` processes of asyncio connections, 32 in all."""
    port = int(url.rsplit(":", 1)[1])
    before, counters = resource.getrusage(resource.RUSAGE_CHILDREN), machine_counters()
    per = [CONNECTIONS // processes + (i < CONNECTIONS % processes) for i in range(processes)]
    t = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        parts = pool.map(_python_client, [(port, path, duration, c, i, points, tag)
                                          for i, c in enumerate(per)])
    seconds = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    latencies = sorted(x for lat, _ in parts for x in lat)
    statuses = {}
    for _, s in parts:
        for k, v in s.items():
            statuses[k] = statuses.get(k, 0) + v
    ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
    return {"rate": ok / duration, "requests": len(latencies), "ok": ok,
            "non2xx": len(latencies) - ok - statuses.get(0, 0), "errors": statuses.get(0, 0),
            "p50_ms": latencies[len(latencies) // 2] * 1e3,
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1e3, "max_ms": latencies[-1] * 1e3,
            "client_cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
            "seconds": seconds, **per_request(counters, machine_counters(), len(latencies))}


# -- reporting ----------------------------------------------------------------------------

def show(name, r):
    client_us = r["client_cpu_s"] / max(r["requests"], 1) * 1e6
    print(f"  {name:<18} {r['rate']:8.0f} req/s   p50 {r['p50_ms']:6.1f} ms   p99 "
          f"{r['p99_ms']:6.1f} ms   max {r['max_ms']:6.0f} ms   non-2xx {r['non2xx']}   "
          f"errors {r['errors']}   client {client_us:5.0f} µs CPU/req", flush=True)
    if "busy_us" in r:  # the whole machine: server, client and kernel
        print(f"  {'':<18} machine per request: busy {r['busy_us']:5.0f} µs (user "
              f"{r['user_us']:4.0f}, steal {r['steal_us']:3.0f}), idle "
              f"{r['idle_us']:4.0f} µs, {r['ctxt']:4.1f} context switches, disk "
              f"{r['disk_writes']:.2f} writes {r['disk_flushes']:.2f} flushes", flush=True)


def show_profile(profile_dir, top=28):
    files = sorted(str(p) for p in Path(profile_dir).glob("worker-*.prof"))
    if not files:
        print("no worker profiles written")
        return
    stats = pstats.Stats(*files)
    total = stats.total_tt
    print(f"\nwhere a worker's time goes during POST /api/reports ({len(files)} workers, "
          f"{total:.1f} s profiled):")
    rows = []
    for (path, line, func), (_, calls, tottime, cumtime, _) in stats.stats.items():
        rows.append((cumtime, tottime, calls, f"{Path(path).name}:{line}({func})"))
    print("  by cumulative time")
    for cumtime, tottime, calls, where in sorted(rows, reverse=True)[:top]:
        print(f"    {100 * cumtime / total:5.1f} %  {1e3 * cumtime / max(calls, 1):8.3f} ms/call"
              f"  {calls:8d} calls  {where}")
    print("  by own time")
    for tottime, cumtime, calls, where in sorted(((t, c, n, w) for c, t, n, w in rows),
                                                 reverse=True)[:top // 2]:
        print(f"    {100 * tottime / total:5.1f} %  {calls:8d} calls  {where}")


def main():
    parser = argparse.ArgumentParser(
        description="Durable report creation through HTTP against the floor of GET /api/health.")
    parser.add_argument("--duration", type=int, default=8, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each endpoint, alternating")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--client-threads", type=int, default=2)
    parser.add_argument("--profile", action="store_true",
                        help="cProfile each worker during the POST runs and print the top")
    parser.add_argument("--data", type=Path, default=None,
                        help="serve a copy of this data folder (its snapshot hard-linked), "
                             "e.g. one of bench_store_scale.py's, instead of a fresh one")
    args = parser.parse_args()
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk"))
    if use_wrk and not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk, or --client python")

    points = inside_points(5000)
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        workdir = Path(tmp)
        profile_dir = workdir / "profiles" if args.profile else None
        if profile_dir:
            profile_dir.mkdir()
        health_lua, post_lua = workdir / "health.lua", workdir / "post.lua"
        health_lua.write_text(WRK_DONE, encoding="utf-8")
        runs = iter(range(1000))

        def run(path, duration):
            number = next(runs)
            if use_wrk:
                post_lua.write_text(WRK_SCRIPT % {
                    "run": f"r{number}", "seed": number,
                    "points": ",".join(f"{{{lon!r},{lat!r}}}" for lon, lat in points),
                    "categories": ",".join(f'"{c}"' for c in CATEGORIES)} + WRK_DONE,
                    encoding="utf-8")
                script = health_lua if path == "/api/health" else post_lua
                return run_wrk(server.url, path, duration, script, args.client_threads)
            return run_python(server.url, path, duration, points, args.client_threads,
                              f"r{number}")

        before = 0
        if args.data:
            shutil.copytree(args.data, workdir / "data", copy_function=lambda s, d: (
                os.link(s, d) if Path(s).name == "cases.geojson" else shutil.copy2(s, d)))
            with GeoJSONSeqStore(workdir / "data" / "cases", compact_bytes=None) as store:
                before = store.count()
        server = Server(workdir, args.workers, profile_dir)
        try:
            print(f"gridmap serve: {args.workers} workers, {os.cpu_count()} CPUs, "
                  f"{CONNECTIONS} connections, client "
                  f"{'wrk -t%d' % args.client_threads if use_wrk else 'python asyncio'}, "
                  f"{args.rounds} × {args.duration} s per endpoint; load average "
                  f"{os.getloadavg()[0]:.1f} at start; disk: append + fdatasync "
                  f"{fsync_latency_ms(workdir):.2f} ms (median)")
            run("/api/health", 1)  # warm up
            warm = run("/api/reports", 1)
            health, reports = [], []
            for i in range(args.rounds):
                health.append(run("/api/health", args.duration))
                show("GET /api/health", health[-1])
                reports.append(run("/api/reports", args.duration))
                show("POST /api/reports", reports[-1])
            health.append(run("/api/health", args.duration))  # every report run bracketed
            show("GET /api/health", health[-1])
        finally:
            server.stop()

        with GeoJSONSeqStore(workdir / "data" / "cases", compact_bytes=None) as store:
            stored = store.count() - before
        created = sum(r["ok"] for r in reports + [warm])
        runs_cut = len(reports) + 1  # requests in flight when wrk stops may still be stored
        if profile_dir:
            show_profile(profile_dir)

    floor = statistics.median(r["rate"] for r in health)
    rate = statistics.median(r["rate"] for r in reports)
    p50 = statistics.median(r["p50_ms"] for r in reports)
    p99 = statistics.median(r["p99_ms"] for r in reports)
    client_us = sum(r["client_cpu_s"] for r in health) / sum(r["requests"] for r in health) * 1e6
    client_max = 1e6 / client_us * min(args.client_threads, os.cpu_count())
    print(f"\nmedians of {args.rounds} report runs and {len(health)} floor runs:")
    print(f"  floor   GET /api/health     {floor:8.0f} req/s   p50 "
          f"{statistics.median(r['p50_ms'] for r in health):6.1f} ms   p99 "
          f"{statistics.median(r['p99_ms'] for r in health):6.1f} ms")
    print(f"  durable POST /api/reports   {rate:8.0f} req/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms")
    # each report run against the floor runs just before and after it: the machine's
    # speed drifts, and a drift between the two medians' runs would move the ratio
    ratio = statistics.median(r["rate"] / statistics.mean((before["rate"], after["rate"]))
                              for before, r, after in zip(health, reports, health[1:]))
    print(f"  ratio reports/floor {ratio:6.1%} (each report run against the floor runs around it; "
          f"target ≥ {TARGET_RATIO:.0%}: "
          f"{'met' if ratio >= TARGET_RATIO else 'MISSED'});  p99 {p99:.1f} ms (target ≤ "
          f"{TARGET_P99_MS:.0f} ms: {'met' if p99 <= TARGET_P99_MS else 'MISSED'})")
    print(f"  client: {client_us:.0f} µs CPU per request, at most ~{client_max:,.0f} req/s "
          f"on {min(args.client_threads, os.cpu_count())} core(s) = "
          f"{client_max / floor:.1f}× the floor"
          f"{'' if client_max > 2 * floor else '  (the client may be the bottleneck!)'}")
    print(f"  cases stored by the runs {stored:,}; 2xx answers to POST {created:,} (at most "
          f"{CONNECTIONS} per run may be cut off in flight and still stored): "
          f"{'consistent' if 0 <= stored - created <= CONNECTIONS * runs_cut else 'MISMATCH'}")


if __name__ == "__main__":
    main()
