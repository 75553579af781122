"""Durable intake under fire: concurrent reports into gunicorn, ``kill -9`` mid-load.

Four client processes (``report_load_client.py``) POST reports with unique
descriptions and idempotency keys at random points in and around the 13 demo
grids, against ``gridmap serve`` with 2 workers; one report in six carries one
or two photos (multipart). The whole server (master and workers) is killed
with SIGKILL three times at random moments while the load runs and restarted on the same data folder and port; clients send a report
whose request failed again with the same key until the server answers.

Afterwards every acknowledged (2xx) report must be stored exactly once (by
id, tracking code and idempotency key), routed to the grid the routing rules
give, nothing refused may be stored, a repeated key must return the first
case, every photo an acknowledged report was answered with must be on disk,
whole (its id is the SHA-256 of its bytes) and readable, and the store files
must load in geopandas. Set ``GRIDMAP_TEST_SEED``
to replay a run (the seed is in every failure message).
"""

import base64
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import geopandas as gpd
import numpy as np
import requests
import shapely
from PIL import Image

from conftest import LiveServer
from gridmap.config import load_config
from gridmap.geo.datums import from_wgs84, to_wgs84
from gridmap.geo.grids import GridSet
from gridmap.geo.routing import Router
from gridmap.store.geojsonseq import GeoJSONSeqStore
from report_load_client import post

CLIENTS = 4
WORKERS = 2
KILLS = 3
TASKS_PER_CLIENT = 4000  # far more than a run sends: clients stop on the stop file
PHOTO_SHARE = 1 / 6  # of the reports, with one or two photos
PHOTO_POOL = 300  # distinct small photos they are drawn from
CLIENT_SCRIPT = Path(__file__).with_name("report_load_client.py")
RS = b"\x1e"


def photo_pool(rng):
    """Small distinct JPEGs (noise), base64 for the clients' task files."""
    pool = []
    for _ in range(PHOTO_POOL):
        pixels = np.random.default_rng(rng.getrandbits(64)).integers(0, 256, (24, 32, 3),
                                                                     dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels, "RGB").save(buf, "JPEG", quality=80)
        pool.append(base64.b64encode(buf.getvalue()).decode())
    return pool


def make_tasks(grids, categories, rng, client, photos):
    """Reports at random points: in the grids' box (padded by ~150 m, so some are
    snapped and some outside), on grid vertices (shared boundaries) and near them;
    one in ten sent in GCJ-02; some with photos from the pool ``photos``."""
    x0, y0, x1, y1 = grids.bounds
    pad = 0.0015
    vertices = sorted({tuple(c) for c in shapely.get_coordinates(grids.geometries).tolist()})
    tasks = []
    for i in range(TASKS_PER_CLIENT):
        pick = rng.random()
        if pick < 0.15:
            lon, lat = rng.choice(vertices)
        elif pick < 0.3:
            lon, lat = rng.choice(vertices)
            lon, lat = lon + rng.uniform(-6e-4, 6e-4), lat + rng.uniform(-6e-4, 6e-4)
        else:
            lon, lat = rng.uniform(x0 - pad, x1 + pad), rng.uniform(y0 - pad, y1 + pad)
        datum = "wgs84"
        if rng.random() < 0.1:
            datum = "gcj02"
            lon, lat = (float(v) for v in from_wgs84(lon, lat, "gcj02"))
        body = {"lon": lon, "lat": lat, "datum": datum, "category": rng.choice(categories),
                # unique, and with text that is unsafe in XML and HTML
                "description": f"c{client}-{i} 井盖缺失 <b>&amp;</b> ]]> \"引号\""}
        if rng.random() < 0.3:
            body["name"], body["contact"] = f"居民{i}", f"138{rng.randrange(10**8):08d}"
        task = {"key": f"load-{client}-{i}-{rng.getrandbits(32):08x}", "body": body,
                "key_in": rng.choice(("header", "body"))}
        if rng.random() < PHOTO_SHARE:
            task["photos"] = rng.sample(photos, rng.randint(1, 2))
        tasks.append(task)
    return tasks


def expected_grid(grids, router, body):
    """The owner by the written rules: the lowest code among the grids covering
    the point (checked here with shapely alone), else the router's snapping
    answer (None: outside, a 422)."""
    lon, lat = body["lon"], body["lat"]
    if body["datum"] != "wgs84":
        lon, lat = (float(v) for v in to_wgs84(lon, lat, body["datum"]))
    point = shapely.Point(lon, lat)
    covering = [g.code for g in grids if g.geometry.covers(point)]
    if covering:
        return min(covering)
    return router.route_point(body["lon"], body["lat"], body["datum"]).code


def read_outcomes(out_files):
    outcomes = []
    for path in out_files:
        if path.exists():
            lines = path.read_text(encoding="utf-8").splitlines()
            outcomes += [json.loads(line) for line in lines if line.endswith("}")]
    return outcomes


def acks(out_files):
    return sum(o["status"] in (200, 201) for o in read_outcomes(out_files))


def wait_for_acks(out_files, clients, target, seed, timeout_s=20):
    deadline = time.monotonic() + timeout_s
    while acks(out_files) < target:
        assert time.monotonic() < deadline, f"seed {seed}: load stalled below {target} answers"
        assert all(c.poll() is None for c in clients), f"seed {seed}: a client ended early"
        time.sleep(0.02)


def read_records(folder):
    """Every record in the snapshot and the log segments, strictly: each file must
    parse whole (a torn tail is cut off by the next writer, and there was one)."""
    records = []
    snapshot = json.loads((folder / "cases.geojson").read_text(encoding="utf-8"))
    records += snapshot["features"]
    for segment in sorted(folder.glob("cases-*.geojsons")):
        data = segment.read_bytes()
        assert data.endswith(b"\n"), f"{segment.name} ends in a torn record"
        for line in data.split(b"\n")[:-1]:
            assert line.startswith(RS), f"{segment.name}: a record without RS: {line[:80]!r}"
            records.append(json.loads(line[1:].decode("utf-8")))
    return records


def test_acknowledged_reports_survive_kill_9_exactly_once(tmp_path):
    seed = int(os.environ.get("GRIDMAP_TEST_SEED") or random.SystemRandom().getrandbits(32))
    rng = random.Random(seed)
    data_dir = tmp_path / "data"
    env = {"GRIDMAP_REPORT_IP_LIMIT": "1000000"}
    server = LiveServer(data_dir, workers=WORKERS, own_group=True, **env)
    port, logs = server.port, [server.log]
    clients = []
    try:
        grids = GridSet.load(data_dir / "grids.geojson")
        config = load_config(environ=dict(os.environ, **env))
        router = Router(grids, tolerance_m=config["SNAP_TOLERANCE_M"])
        categories = [c["code"] for c in json.loads((data_dir / "categories.json").read_text(
            encoding="utf-8"))["categories"]]
        tasks, out_files = {}, []
        stop = tmp_path / "stop"
        photos = photo_pool(rng)
        for n in range(CLIENTS):
            client_tasks = make_tasks(grids, categories, rng, n, photos)
            tasks.update((t["key"], t) for t in client_tasks)
            (tmp_path / f"tasks-{n}.json").write_text(json.dumps(client_tasks), encoding="utf-8")
            out_files.append(tmp_path / f"out-{n}.jsonl")
            clients.append(subprocess.Popen(
                [sys.executable, str(CLIENT_SCRIPT), str(port), str(tmp_path / f"tasks-{n}.json"),
                 str(out_files[-1]), str(stop)], stderr=subprocess.PIPE))

        for _ in range(KILLS):
            # kill mid-load: once this run of the server has answered some reports
            wait_for_acks(out_files, clients, acks(out_files) + rng.randint(40, 160), seed)
            time.sleep(rng.uniform(0, 0.2))
            server.kill()
            server = LiveServer(data_dir, workers=WORKERS, port=port, own_group=True, **env)
            logs.append(server.log)
        wait_for_acks(out_files, clients, acks(out_files) + 100, seed)
        stop.touch()
        for client in clients:
            _, err = client.communicate(timeout=60)
            assert client.returncode == 0, f"seed {seed}: client failed: {err.decode()[-2000:]}"

        outcomes = read_outcomes(out_files)
        statuses = Counter(o["status"] for o in outcomes)
        context = f"seed {seed}, statuses {dict(statuses)}"
        assert sum(o["failures"] for o in outcomes) > 0, f"{context}: no request ever failed"
        assert set(statuses) <= {200, 201, 422}, (
            f"{context}: {[o for o in outcomes if o['status'] not in (200, 201, 422)][:5]}")
        assert len({o["key"] for o in outcomes}) == len(outcomes)
        acked = {o["key"]: o for o in outcomes if o["status"] in (200, 201)}
        refused = {o["key"] for o in outcomes if o["status"] == 422}
        # a 200 means "seen before": only a retry after a failed request may get one
        assert all(o["failures"] for o in acked.values() if o["status"] == 200), context
        for key, o in acked.items():
            expected = expected_grid(grids, router, tasks[key]["body"])
            assert o["grid_code"] == expected, f"{context}: {key} answered {o['grid_code']}, " \
                                               f"expected {expected}"
        for key in refused:
            assert expected_grid(grids, router, tasks[key]["body"]) is None, f"{context}: {key}"

        # the same key again returns the first case, not a new one: every report
        # acknowledged after a failure, and a sample of the others
        again = [k for k, o in acked.items() if o["failures"]]
        again += rng.sample(sorted(acked), min(60, len(acked)))
        for key in again:
            status, raw = post(port, tasks[key])
            answer = json.loads(raw)
            assert (status, answer["case_id"], answer["tracking_code"]) == (
                200, acked[key]["case_id"], acked[key]["tracking_code"]), f"{context}: {key}"
        # public tracking finds them, in the right grid
        for key in rng.sample(sorted(acked), min(60, len(acked))):
            answer = requests.get(f"{server.url}/api/track/{acked[key]['tracking_code']}",
                                  timeout=10)
            assert answer.status_code == 200, f"{context}: {key}"
            assert answer.json()["grid"]["code"] == acked[key]["grid_code"]
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
        server.stop()

    for log in logs:
        text = log.read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in text and "skipping a bad record" not in text, \
            f"{context}: {log.name}:\n{text[-3000:]}"

    # the files, read directly: each acknowledged case exactly once, as answered
    folder = data_dir / "cases"
    records = read_records(folder)
    ids = Counter(r["id"] for r in records)
    assert all(n == 1 for n in ids.values()), f"{context}: {ids.most_common(3)}"
    by_key = Counter(r.get("idempotency_key") for r in records)
    assert all(n == 1 for n in by_key.values()), f"{context}: {by_key.most_common(3)}"
    assert len(records) == len(acked), f"{context}: {len(records)} stored, {len(acked)} acknowledged"
    stored = {r["idempotency_key"]: r for r in records}
    assert set(stored) == set(acked), context
    assert len({r["properties"]["tracking_code"] for r in records}) == len(records)
    assert sorted(r["properties"]["case_no"] for r in records) == list(range(1, len(records) + 1))
    for key, o in acked.items():
        props, body = stored[key]["properties"], tasks[key]["body"]
        assert (stored[key]["id"], props["tracking_code"], props["grid_code"]) == (
            o["case_id"], o["tracking_code"], o["grid_code"]), f"{context}: {key}"
        assert props["description"] == body["description"]
        assert props["input"] == {"datum": body["datum"], "lon": body["lon"], "lat": body["lat"]}
        assert [p["id"] for p in props.get("photos", ())] == o["photos"], f"{context}: {key}"
        assert len(o["photos"]) == len(tasks[key].get("photos", ())), f"{context}: {key}"

    # every photo of an acknowledged report is on disk, whole, and readable
    with_photos = [o for o in acked.values() if o["photos"]]
    assert len(with_photos) >= 10, f"{context}: only {len(with_photos)} reports with photos"
    for photo_id in {i for o in with_photos for i in o["photos"]}:
        photo_dir = data_dir / "photos" / photo_id[:2]
        data = (photo_dir / f"{photo_id}.jpg").read_bytes()
        assert hashlib.sha256(data).hexdigest() == photo_id, f"{context}: {photo_id}"
        for jpeg in (data, (photo_dir / f"{photo_id}.thumb.jpg").read_bytes()):
            with Image.open(io.BytesIO(jpeg)) as img:
                img.load()  # whole: a truncated file raises
                assert (img.format, img.size) == ("JPEG", (32, 24)), f"{context}: {photo_id}"

    # ... and through geopandas (pyogrio): the log segments, then a compacted snapshot
    frame = gpd.pd.concat([gpd.read_file(p, engine="pyogrio")
                           for p in sorted(folder.glob("cases-*.geojsons"))])
    assert len(frame) == len(acked) and frame["id"].is_unique
    assert set(frame["id"]) == {o["case_id"] for o in acked.values()}
    assert frame.crs.to_epsg() == 4326
    with GeoJSONSeqStore(folder, compact_bytes=None) as store:
        assert store.count() == len(acked)
        assert store.compact()
    snapshot = gpd.read_file(folder / "cases.geojson", engine="pyogrio")
    assert len(snapshot) == len(acked) and snapshot["tracking_code"].is_unique
    answered = {o["case_id"]: o for o in acked.values()}
    assert all(answered[i]["grid_code"] == g for i, g in zip(snapshot["id"], snapshot["grid_code"]))
    assert set(snapshot["description"]) == {tasks[k]["body"]["description"] for k in acked}
