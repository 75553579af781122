"""A real full disk under a real server: the data folder on a 3 MiB tmpfs filled to
the last byte.

Staff reads (API token on first use, whose use is then due to be noted, and a
session) answer 200; every kind of write answers a 503 ``disk_full``; health
answers 503 naming the parts that cannot write; no 500 anywhere, also from a
worker started while the disk is full. Once there is room again, everything
works, and nothing stored before was lost or half-written.
"""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import requests

from conftest import LiveServer
from gridmap.geo.grids import GridSet

PASSWORD = "correct horse battery"
RS = b"\x1e"


def gridmap(*args, stdin=""):
    done = subprocess.run([sys.executable, "-m", "gridmap.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def whole_records(folder):
    """Every case record in the store's files; each file must end in a whole record."""
    features = json.loads((folder / "cases.geojson").read_text(encoding="utf-8"))["features"]
    for segment in sorted(folder.glob("cases-*.geojsons")):
        data = segment.read_bytes()
        assert data.endswith(b"\n"), f"{segment.name} ends in a torn record"
        features += [json.loads(line[1:]) for line in data.split(b"\n")[:-1]]
    latest = {}
    for feature in features:
        if feature["properties"]["version"] >= latest.get(feature["id"], {"properties": {
                "version": 0}})["properties"]["version"]:
            latest[feature["id"]] = feature
    return latest


def sign_in(url):
    """``(browser session, its CSRF token, the answer to signing in as disp)``."""
    browser = requests.Session()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(f"{url}/login", timeout=10).text)[1]
    return browser, csrf, browser.post(f"{url}/login", data={
        "username": "disp", "password": PASSWORD, "csrf_token": csrf}, timeout=10)


def workers(server):
    with open(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children") as f:
        return [int(pid) for pid in f.read().split()]


def test_a_full_disk_keeps_reads_refuses_writes_with_a_503_and_loses_nothing(small_disk, tmp_path):
    data_dir = small_disk.path / "data"
    server = LiveServer(data_dir, workers=2, own_group=True, log_dir=tmp_path,  # log off the full disk
                        GRIDMAP_REPORT_IP_LIMIT="100000")
    try:
        url = server.url
        dd = ["--data-dir", str(data_dir)]
        seventh = GridSet.load(data_dir / "grids.geojson").grids[6]
        grid, spot = seventh.code, seventh.geometry.representative_point()
        gridmap("users", "add", "disp", "--role", "dispatcher", "--role", "admin",
                "--password-stdin", *dd, stdin=PASSWORD + "\n")
        used = gridmap("tokens", "create", "--user", "disp", "--name", "used", *dd).split()[-1]
        fresh = gridmap("tokens", "create", "--user", "disp", "--name", "fresh", *dd).split()[-1]
        bearer = {"Authorization": f"Bearer {used}"}

        def report(n):
            return {"lon": spot.x, "lat": spot.y, "category": "06", "description": f"井盖 {n}",
                    "contact": "100-0000-0000"}

        cases = [requests.post(f"{url}/api/reports", json=report(n), timeout=10).json() for n in range(3)]
        signed = requests.post(f"{url}/api/cases/{cases[0]['case_id']}/actions", headers=bearer,
                               json={"action": "sign"}, timeout=10)
        assert signed.status_code == 200
        staff, _, signed_in = sign_in(url)
        assert signed_in.status_code == 200 and signed_in.url == f"{url}/dispatch"  # its landing
        stored = whole_records(data_dir / "cases")
        assert len(stored) == 3

        small_disk.fill()
        answers = []

        def call(method, path, **kwargs):
            r = requests.request(method, url + path, timeout=10, **kwargs)
            answers.append((method, path, r.status_code))
            return r

        # reads: the fresh token's first use is due to be noted, which cannot be written
        for token in (fresh, used, fresh):
            r = call("GET", f"/api/grids/{grid}/cases", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200 and r.json()["total"] == 3
            case = call("GET", f"/api/cases/{cases[1]['case_id']}", headers={
                "Authorization": f"Bearer {token}"})
            assert case.status_code == 200 and case.json()["reporter"]["contact"]
        assert call("GET", f"/api/track/{cases[2]['tracking_code']}").status_code == 200
        page = staff.get(f"{url}/grid/{grid}", timeout=10)
        assert page.status_code == 200 and "井盖 1" in page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]
        health = call("GET", "/api/health")
        assert health.status_code == 503 and health.json()["ok"] is False
        assert health.json()["components"] == {"store": "disk_full", "accounts": "disk_full"}

        # writes: a 503 naming the disk, each kind
        refused = [
            call("POST", "/api/reports", json=report(9)),
            call("POST", f"/api/cases/{cases[1]['case_id']}/actions", headers=bearer,
                 json={"action": "sign"}),
            call("POST", f"/api/track/{cases[2]['tracking_code']}/rating", json={"rating": 5}),
            call("POST", "/open311/v2/requests.json", data={
                "service_code": "06", "lat": str(spot.y), "long": str(spot.x), "description": "x"}),
            call("POST", "/admin/users", headers=bearer, data={
                "username": "newbie", "roles": "planner", "password": PASSWORD}),
            staff.post(f"{url}/case/{cases[1]['case_id']}",
                       data={"action": "sign", "csrf_token": csrf}, timeout=10),
            sign_in(url)[2],
        ]
        for r in refused:
            assert r.status_code == 503, (r.url, r.status_code, r.text[:300])
            assert "磁盘已满" in r.text and r.headers["Retry-After"]
        assert refused[0].json()["error"] == "disk_full"

        # a worker started on the full disk boots and serves
        os.kill(workers(server)[0], signal.SIGKILL)
        deadline = time.monotonic() + 20
        while len(workers(server)) < 2 or call("GET", "/api/grids").status_code != 200:
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.2)
        for _ in range(6):  # both workers, whichever takes each
            r = call("GET", f"/api/grids/{grid}/cases", headers={"Authorization": f"Bearer {fresh}"})
            assert r.status_code == 200
        assert {status for _, _, status in answers} == {200, 503}, answers  # never a 500
        assert "Traceback" not in server.log.read_text()

        # nothing stored was lost or half-written
        assert whole_records(data_dir / "cases") == stored
        assert (data_dir / "audit.jsonl").read_bytes().endswith(b"\n")

        small_disk.free()
        assert call("GET", "/api/health").json()["ok"] is True
        created = call("POST", "/api/reports", json=report(10))
        assert created.status_code == 201
        assert call("POST", f"/api/cases/{cases[1]['case_id']}/actions", headers=bearer,
                    json={"action": "sign"}).status_code == 200
        call("GET", f"/api/grids/{grid}/cases", headers={"Authorization": f"Bearer {fresh}"})
        after = whole_records(data_dir / "cases")
        assert {k: v for k, v in after.items() if k in stored and k != cases[1]["case_id"]} == {
            k: v for k, v in stored.items() if k != cases[1]["case_id"]}
        assert len(after) == 4 and after[cases[1]["case_id"]]["properties"]["state"] == "signed"
        with sqlite3.connect(data_dir / "accounts.sqlite3") as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            noted = db.execute("SELECT last_used_at FROM tokens WHERE name = 'fresh'").fetchone()
        assert noted[0] is not None
    finally:
        server.kill()
