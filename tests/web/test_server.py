"""The real server as the README starts it (``gridmap serve``, 2 workers): slow
clients, body limits, timeouts, malformed requests, the masked access log,
SIGTERM, and two installations side by side."""

import http.client
import json
import signal
import socket
import threading
import time

import pytest
import requests

from asset_urls import leaflet_js_path
from conftest import LiveServer
from gridmap.geo.grids import GridSet

SLOW_BODIES, SLOW_HEADERS, SLOW_READERS = 20, 20, 10


def report(server, **extra):
    spot = GridSet.load(server.data_dir / "grids.geojson").grids[3].geometry.representative_point()
    return {"lon": spot.x, "lat": spot.y, "category": "06", "description": "井盖缺失", **extra}


def connect(server):
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


@pytest.fixture(scope="module")
def server(start_server, tmp_path_factory):
    return start_server(tmp_path_factory.mktemp("server") / "data", workers=2,
                        GRIDMAP_REPORT_IP_LIMIT="1000")


def test_fifty_slow_clients_do_not_stall_the_service(server):
    """Bodies and headers trickled a byte at a time, answers never read: health and
    a report still answer within 1 s (with sync workers, 2 slow bodies stalled all)."""
    slow = []
    body = json.dumps(report(server)).encode()
    for _ in range(SLOW_BODIES):
        s = connect(server)
        s.sendall(b"POST /api/reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        slow.append((s, iter(body)))
    for _ in range(SLOW_HEADERS):
        s = connect(server)
        s.sendall(b"GET /api/health HTTP/1.1\r\n")
        slow.append((s, iter(b"X-Slow: " + b"a" * 1000)))
    readers = []
    big = leaflet_js_path(server.url)  # 147 kB, sent as it is (no Accept-Encoding)
    for _ in range(SLOW_READERS):  # ask for a big answer, many times over, and read none
        s = connect(server)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(f"GET {big} HTTP/1.1\r\nHost: x\r\n\r\n".encode() * 40)
        readers.append(s)
    stop = threading.Event()

    def trickle():
        while not stop.wait(0.05):
            for s, rest in slow:
                s.send(bytes([next(rest)]))

    trickler = threading.Thread(target=trickle)
    trickler.start()
    try:
        time.sleep(0.5)  # every slow client is in the middle of its request
        assert requests.get(server.url + "/api/health", timeout=1).status_code == 200
        r = requests.post(server.url + "/api/reports", json=report(server), timeout=1)
        assert r.status_code == 201, r.text
        assert requests.get(server.url + "/api/health", timeout=1).status_code == 200
    finally:
        stop.set()
        trickler.join()
        for s, _ in slow:
            s.close()
        for s in readers:
            s.close()


def test_a_body_over_the_limit_is_a_413_the_client_reads(server):
    """The body is read and dropped, so the client gets the app's 413 instead of a
    reset connection; nothing is stored."""
    before = requests.get(server.url + "/open311/v2/requests.json", timeout=5).json()
    big = report(server, description="长" * 200_000)  # 600 kB, the limit is 256 KiB
    r = requests.post(server.url + "/api/reports", json=big, timeout=10)
    assert r.status_code == 413 and r.json()["error"]
    assert requests.get(server.url + "/open311/v2/requests.json", timeout=5).json() == before


def test_a_chunked_report_reaches_the_app_whole(server):
    def chunks():
        data = json.dumps(report(server, description="分块上传")).encode()
        yield from (data[i:i + 7] for i in range(0, len(data), 7))

    r = requests.post(server.url + "/api/reports", data=chunks(), timeout=10,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    code = r.json()["tracking_code"]
    assert requests.get(f"{server.url}/api/track/{code}", timeout=5).json()["description"] == "分块上传"


@pytest.mark.parametrize("raw, status", [
    (b"POST /api/reports HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"ZZ\r\n{}\r\n0\r\n\r\n", 400),
    (b"POST /api/reports HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"-2\r\n{}\r\n0\r\n\r\n", 400),
    (b"POST /api/reports HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"2\r\n{}XX0\r\n\r\n", 400),
    (b"POST /api/reports HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
     400),
    (b"POST /api/reports HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n{}", 400),
    (b"GET /api/health HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n", 400),
    (b"NONSENSE\r\n\r\n", 400),
    (b"GET /api/health?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    # an odd Host is the app's business (health ignores it), not a broken environ
    (b"GET /api/health HTTP/1.1\r\nHost: a:b:c\r\n\r\n", 200),
    (b"GET /api/health HTTP/1.1\r\nHost: [::1]:x\r\n\r\n", 200),
])
def test_malformed_requests_get_a_4xx(server, raw, status):
    with connect(server) as s:
        s.sendall(raw)
        answer = s.recv(65536)
    assert answer.startswith(b"HTTP/1.1 %d " % status), answer


def test_a_client_that_never_finishes_is_dropped(start_server, tmp_path):
    server = start_server(tmp_path / "data", GRIDMAP_CLIENT_TIMEOUT_SECONDS="1")
    stalled = []
    for start in (b"GET /api/health HTTP/1.1\r\nHost:",  # headers never end
                  b"POST /api/reports HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
                  b""):  # connected, sends nothing
        s = connect(server)
        s.sendall(start)
        stalled.append(s)
    for s in stalled:  # the server closes each: recv sees the end (at most 3 s for a body)
        s.settimeout(10)
        assert s.recv(100) == b""
        s.close()


def test_the_access_log_masks_tracking_codes_and_keys(start_server, tmp_path):
    server = start_server(tmp_path / "data", GRIDMAP_PROXY_HOPS="1")
    r = requests.post(server.url + "/api/reports", json=report(server), timeout=10,
                      headers={"X-Forwarded-For": "203.0.113.9"})
    code = r.json()["tracking_code"]
    url = server.url
    for path in (f"/api/track/{code}", f"/track/{code}", f"/track/{code.lower()}?lang=en",
                 f"/track?code={code}", f"/open311/v2/tokens/{code}.json",
                 f"/open311/v2/tokens/{code}.xml?api_key=sekrit-key-1234"):
        assert requests.get(url + path, timeout=5,
                            headers={"Referer": f"{url}/track/{code}"}).status_code in (200, 302)
    requests.post(f"{url}/api/track/{code}/rating", json={"rating": 5}, timeout=5)
    # "_" for "-" must not pass for the proxy's header (dropped, as gunicorn does)
    requests.get(url + "/api/health", headers={"X_Forwarded_For": "198.51.100.66"}, timeout=5)
    server.stop()
    log = server.log.read_text(encoding="utf-8")
    for path in ("/api/track/", "/track/", "/open311/v2/tokens/", "/rating", "code="):
        assert path in log  # the access log has these requests...
    for secret in (code, code.lower(), code[2:], "sekrit"):
        assert secret not in log  # ...but not the secrets
    assert f'"GET /api/track/{code[:2]}*** HTTP/1.1" 200' in log
    assert "203.0.113.9 - - [" in log  # the client's address through the trusted proxy
    assert "198.51.100.66" not in log


def test_sigterm_ends_the_server_cleanly(tmp_path):
    server = LiveServer(tmp_path / "data", workers=2)
    try:
        keep = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        keep.request("GET", "/api/health")  # a kept-alive connection, idle
        assert keep.getresponse().read()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(10) == 0
        assert "Shutting down" in server.log.read_text()
        keep.close()
    finally:
        server.kill()  # a no-op once it ended; else no server outlives a failed test


def test_two_installations_start_side_by_side(tmp_path):
    """gunicorn's control socket (one path per user by default) is off: a second
    server with its own data folder starts and both keep answering."""
    home = tmp_path / "home"
    for folder in (home, tmp_path / "one", tmp_path / "two"):
        folder.mkdir()
    env = {"HOME": str(home), "XDG_RUNTIME_DIR": str(home)}
    first = LiveServer(tmp_path / "one" / "data", **env)
    try:
        second = LiveServer(tmp_path / "two" / "data", **env)
        try:
            for server in (first, second):
                assert requests.get(server.url + "/api/health", timeout=5).status_code == 200
            second.stop()
            assert requests.get(first.url + "/api/health", timeout=5).status_code == 200
            for server in (first, second):
                assert "control" not in server.log.read_text().lower()
            assert list(home.iterdir()) == []
        finally:
            second.stop()
    finally:
        first.stop()
