"""/assets/: only the allow-listed Leaflet files, however a path is spelt, over a real socket."""

import socket

import pytest

from gridmap.maps.assets import ALLOWED_FILES

#: Paths that name a file outside the allow-list (or nothing), as a client sends them raw.
BYPASSES = [
    "/assets/leaflet/dist/../package.json",
    "/assets/leaflet/dist/..%2fpackage.json",
    "/assets/leaflet/dist/..%2Fpackage.json",
    "/assets/leaflet/dist/%2e%2e/package.json",
    "/assets/leaflet/dist/%2E%2E%2Fpackage.json",
    "/assets/leaflet/dist/..\\package.json",
    "/assets/leaflet/dist/..%5cpackage.json",
    "/assets/leaflet/dist/%252e%252e/package.json",
    "/assets/leaflet/dist/..%252fpackage.json",
    "/assets/leaflet/dist/./../package.json",
    "/assets/leaflet/dist/images/../../package.json",
    "/assets/leaflet/dist/../../leaflet/package.json",
    "/assets/leaflet/dist/../../../setup.cfg",
    "/assets/leaflet/dist/leaflet.js%00.map",
    "/assets/leaflet/dist/leaflet.js%2500",
    "/assets/leaflet/dist/leaflet-src.js",
    "/assets/leaflet/dist/leaflet-src.js.map",
    "/assets/leaflet/dist/",
    "/assets/leaflet/dist/images",
    "/assets/leaflet/package.json",
    "/assets/leaflet/dist//leaflet.js",
    "/assets/leaflet/dist/./leaflet.js",
    "/assets/%2e%2e/setup.cfg",
    "/assets/..%2f..%2fsetup.cfg",
]


def raw_get(url, path):
    """Send ``GET path`` exactly as written (no client normalises it); (status, body)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.fixture(scope="module")
def server(start_server, tmp_path_factory):
    return start_server(tmp_path_factory.mktemp("assets") / "data")


@pytest.mark.parametrize("path", sorted(ALLOWED_FILES))
def test_each_allowed_file_is_served_and_cacheable(server, path):
    import urllib.request
    with urllib.request.urlopen(f"{server.url}/assets/{path}") as r:
        assert r.status == 200 and r.read()
        assert "max-age=86400" in r.headers["Cache-Control"]


def test_no_spelling_of_a_path_reaches_another_file(server):
    answers = {path: raw_get(server.url, path) for path in BYPASSES}
    served = {path: status for path, (status, _) in answers.items() if status != 404}
    assert not served, served
    assert not any(b'"name": "leaflet"' in body or b"[metadata]" in body
                   for _, body in answers.values())


def test_the_raw_client_sees_what_it_should(server):
    """The raw client itself works: the allowed file by its own path is a 200."""
    status, body = raw_get(server.url, "/assets/leaflet/dist/leaflet.css")
    assert status == 200 and b".leaflet-pane" in body
