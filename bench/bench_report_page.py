"""The resident's report page over slow 3G: time until usable and bytes transferred.

Not a test. Run ``.venv/bin/python bench/bench_report_page.py [--rounds 3]``.

Starts two ``gridmap serve`` servers on one temporary data folder: the service as it
is, and the same with ``GRIDMAP_COMPRESS=0`` (pages and assets sent uncompressed: the
peer, the page as it was sent before issue 12). Debian's Chromium (``/usr/bin/chromium``,
through playwright) opens ``/report`` at 390 × 844 with the network throttled by the
DevTools protocol (``Network.emulateNetworkConditions``: 50,000 bytes/s down and up,
400 ms added to every request), ``--rounds`` times each, alternating:

- **cold**: a new browser context (empty cache), the service as it is (Chromium asks
  for Brotli too, even over plain HTTP);
- **warm**: a second visit in that context (the assets from the cache);
- **old**: a new context against the uncompressed peer.

The page is *usable* when the grid polygons are drawn in the Leaflet map (one SVG
path per grid) and the form is ready (the category select present, the submit button
enabled): the time is the page's ``performance.now()`` at the first animation frame
where both hold, from the start of the navigation. Map tiles are not needed and go to
an external server: their requests are blocked (``Network.setBlockedURLs``) and not
counted. Bytes are the sum of ``encodedDataLength`` over the finished requests (what
came over the wire: headers and body as sent, compressed or not).

Prints the median of each kind, the ratio against the old way, the targets (≤ 2 s and
≤ 100 KB cold) and, for the last round of each kind, every request with its bytes.
"""

import argparse
import json
import os
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
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TILES = "http://tiles.invalid/{z}/{x}/{y}.png"
SLOW_3G = {"offline": False, "latency": 400, "downloadThroughput": 50_000,
           "uploadThroughput": 50_000}
TARGET_S, TARGET_BYTES = 2.0, 100_000
GRIDS = len(json.loads((ROOT / "geodata" / "grids.geojson").read_text(encoding="utf-8"))["features"])

#: runs before the page's own scripts: notes the first frame where the page is usable
USABLE = """
(() => {
  const grids = %d;
  function check() {
    const paths = document.querySelectorAll(".leaflet-overlay-pane path").length;
    const submit = document.getElementById("submit");
    if (paths >= grids && submit && !submit.disabled && document.querySelector("select[name=category]")) {
      window.__usable = performance.now();
    } else {
      requestAnimationFrame(check);
    }
  }
  requestAnimationFrame(check);
})();
""" % GRIDS


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``gridmap serve`` with one worker in its own process group."""

    def __init__(self, data_dir, log, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environ = dict(os.environ, GRIDMAP_DATA_DIR=str(data_dir), GRIDMAP_TILES=TILES, **env)
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gridmap.cli", "serve", "--port", str(self.port),
                 "--workers", "1"], env=environ, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(self.url + "/api/health", timeout=1)
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit(f"server did not start:\n{Path(log).read_text()[-3000:]}")
                time.sleep(0.2)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def visit(context, url):
    """Open ``url`` in ``context`` over slow 3G: ``(seconds until usable, bytes, requests)``
    where requests is ``[(url, status, bytes)]``."""
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    requests, finished = {}, {}
    cdp.on("Network.responseReceived",
           lambda e: requests.__setitem__(e["requestId"], (e["response"]["url"],
                                                           e["response"]["status"])))
    cdp.on("Network.loadingFinished",
           lambda e: finished.__setitem__(e["requestId"], e["encodedDataLength"]))
    cdp.send("Network.enable")
    cdp.send("Network.setBlockedURLs", {"urls": ["*tiles.invalid*"]})
    cdp.send("Network.emulateNetworkConditions", SLOW_3G)
    page.goto(url, wait_until="commit", timeout=60_000)
    deadline = time.monotonic() + 60
    while (usable_ms := page.evaluate("window.__usable")) is None:  # (CSP: no wait_for_function)
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} was not usable within 60 s")
        page.wait_for_timeout(50)
    page.wait_for_load_state("load", timeout=60_000)
    page.wait_for_timeout(300)  # late events of the last requests
    ends = page.evaluate("""Object.fromEntries(performance.getEntriesByType("navigation")
        .concat(performance.getEntriesByType("resource"))
        .map(e => [e.name, [e.requestStart, e.responseStart, e.responseEnd]]))""")
    listed = [(requests[r][0], requests[r][1], size, ends.get(requests[r][0]))
              for r, size in finished.items() if r in requests]
    page.close()
    return usable_ms / 1000, sum(item[2] for item in listed), listed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--path", default="/report")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="bench-report-"))
    servers = []
    try:
        data = work / "data"
        servers.append(Server(data, work / "now.log"))  # creates the data folder first
        servers.append(Server(data, work / "old.log", GRIDMAP_COMPRESS="0"))
        now, old = servers
        results = {"cold": [], "warm": [], "old": []}
        last = {}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            options = {"viewport": {"width": 390, "height": 844}, "locale": "zh-CN",
                       "has_touch": True, "is_mobile": True}
            for _ in range(args.rounds):
                context = browser.new_context(**options)
                context.add_init_script(USABLE)
                last["cold"] = visit(context, now.url + args.path)
                last["warm"] = visit(context, now.url + args.path)
                context.close()
                context = browser.new_context(**options)
                context.add_init_script(USABLE)
                last["old"] = visit(context, old.url + args.path)
                context.close()
                for kind, r in last.items():
                    results[kind].append(r[:2])
            browser.close()
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(f"{args.path} over slow 3G (50,000 B/s, 400 ms a request), 390 x 844, "
          f"{args.rounds} rounds, medians")
    print(f"{'visit':<34}{'usable s':>10}{'KB':>9}{'time ratio':>12}{'bytes ratio':>13}")
    base_s = statistics.median(s for s, _ in results["old"])
    base_b = statistics.median(b for _, b in results["old"])
    names = {"cold": "cold cache, compressed (now)", "warm": "second visit, compressed",
             "old": "cold cache, uncompressed (old)"}
    for kind in ("cold", "warm", "old"):
        s = statistics.median(x for x, _ in results[kind])
        b = statistics.median(x for _, x in results[kind])
        print(f"{names[kind]:<34}{s:>10.2f}{b / 1000:>9.1f}{s / base_s:>12.2f}{b / base_b:>13.2f}")
    cold_s = statistics.median(s for s, _ in results["cold"])
    cold_b = statistics.median(b for _, b in results["cold"])
    print(f"target (cold): usable ≤ {TARGET_S} s: {'met' if cold_s <= TARGET_S else 'MISSED'}"
          f" ({cold_s:.2f} s); ≤ {TARGET_BYTES // 1000} KB: "
          f"{'met' if cold_b <= TARGET_BYTES else 'MISSED'} ({cold_b / 1000:.1f} KB)")
    print("runs (s, KB):", {k: [(round(s, 2), round(b / 1000, 1)) for s, b in v]
                            for k, v in results.items()})
    for kind in ("cold", "warm", "old"):
        print(f"\nlast {kind} visit (usable at {last[kind][0]:.2f} s): every request, "
              "with its request sent, first and last byte (s)")
        for url, status, size, times in last[kind][2]:
            when = "  ".join(f"{t / 1000:5.2f}" for t in times) if times else ""
            print(f"  {size:>8,} B  {status}  {when:<18}  "
                  f"{url.split('//', 1)[-1].split('/', 1)[-1][:60]}")


if __name__ == "__main__":
    main()
