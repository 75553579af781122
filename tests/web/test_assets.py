"""/assets/<version>/: only the allow-listed Leaflet files, however a path is spelt, over a
real socket; immutable, and compressed (Brotli or gzip) for clients that take it."""

import gzip
import re
import socket
import urllib.error
import urllib.request

import brotli
import pytest

from asset_urls import leaflet_js_path
from gridmap.maps.assets import ALLOWED_FILES

#: Paths (after ``/assets/<version>``) that name a file outside the allow-list (or
#: nothing), as a client sends them raw.
BYPASSES = [
    "leaflet/dist/../package.json",
    "leaflet/dist/..%2fpackage.json",
    "leaflet/dist/..%2Fpackage.json",
    "leaflet/dist/%2e%2e/package.json",
    "leaflet/dist/%2E%2E%2Fpackage.json",
    "leaflet/dist/..\\package.json",
    "leaflet/dist/..%5cpackage.json",
    "leaflet/dist/%252e%252e/package.json",
    "leaflet/dist/..%252fpackage.json",
    "leaflet/dist/./../package.json",
    "leaflet/dist/images/../../package.json",
    "leaflet/dist/../../leaflet/package.json",
    "leaflet/dist/../../../setup.cfg",
    "leaflet/dist/leaflet.js%00.map",
    "leaflet/dist/leaflet.js%2500",
    "leaflet/dist/leaflet-src.js",
    "leaflet/dist/leaflet-src.js.map",
    "leaflet/dist/",
    "leaflet/dist/images",
    "leaflet/package.json",
    "leaflet/dist//leaflet.js",
    "leaflet/dist/./leaflet.js",
    "%2e%2e/setup.cfg",
    "..%2f..%2fsetup.cfg",
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


@pytest.fixture(scope="module")
def prefix(server):
    """``/assets/<version>``, as the server's pages link it."""
    return leaflet_js_path(server.url).removesuffix("/leaflet/dist/leaflet.js")


def get(url, **headers):
    """``(status, headers, body as sent)``: urllib neither asks for gzip nor undoes it."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


@pytest.mark.parametrize("path", sorted(ALLOWED_FILES))
def test_each_allowed_file_is_served_immutable_under_its_version(server, prefix, path):
    status, headers, body = get(f"{server.url}{prefix}/{path}")
    assert status == 200 and body
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert headers["ETag"] and "Content-Encoding" not in headers


def test_another_version_or_none_is_a_404_not_the_current_file(server, prefix):
    assert prefix.startswith("/assets/") and len(prefix) == len("/assets/") + 8
    other = "/assets/" + ("0" * 8 if prefix[-8:] != "0" * 8 else "1" * 8)
    for path in (f"{other}/leaflet/dist/leaflet.js", "/assets/leaflet/dist/leaflet.js",
                 f"{prefix.upper()}/leaflet/dist/leaflet.js", f"{prefix}0/leaflet/dist/leaflet.js"):
        status, headers, _ = get(server.url + path, **{"Accept-Encoding": "gzip"})
        assert status == 404, path
        assert "immutable" not in headers.get("Cache-Control", ""), path


@pytest.mark.parametrize("name", ["leaflet/dist/leaflet.js", "leaflet/dist/leaflet.css"])
def test_javascript_and_css_are_compressed_for_clients_that_take_them(server, prefix, name):
    url = f"{server.url}{prefix}/{name}"
    _, plain_headers, plain = get(url)
    assert int(plain_headers["Content-Length"]) == len(plain)
    etags = {plain_headers["ETag"]}
    for accept, encoding, decode in (("gzip, deflate", "gzip", gzip.decompress),
                                     ("gzip, deflate, br, zstd", "br", brotli.decompress)):
        status, headers, body = get(url, **{"Accept-Encoding": accept})
        assert status == 200 and headers["Content-Encoding"] == encoding
        assert int(headers["Content-Length"]) == len(body) < len(plain) / 3
        assert decode(body) == plain
        etags.add(headers["ETag"])
        for h in (headers, plain_headers):
            assert "Accept-Encoding" in h["Vary"]
            assert h["Cache-Control"] == "public, max-age=31536000, immutable"
    assert len(etags) == 3  # one a representation
    refused = get(url, **{"Accept-Encoding": "gzip;q=0, br;q=0, identity"})
    assert refused[2] == plain and "Content-Encoding" not in refused[1]


def test_a_known_etag_gets_a_304_without_a_body(server, prefix):
    url = f"{server.url}{prefix}/leaflet/dist/leaflet.js"
    _, headers, _ = get(url, **{"Accept-Encoding": "gzip"})
    status, again, body = get(url, **{"Accept-Encoding": "gzip", "If-None-Match": headers["ETag"]})
    assert (status, body) == (304, b"")
    assert again["ETag"] == headers["ETag"] and "immutable" in again["Cache-Control"]


def test_images_are_sent_as_they_are(server, prefix):
    status, headers, body = get(f"{server.url}{prefix}/leaflet/dist/images/layers.png",
                                **{"Accept-Encoding": "gzip"})
    assert status == 200 and body.startswith(b"\x89PNG") and "Content-Encoding" not in headers
    assert "Accept-Encoding" not in headers.get("Vary", "")


def test_no_spelling_of_a_path_reaches_another_file(server, prefix):
    paths = [f"{prefix}/{p}" for p in BYPASSES] + [f"/assets/{p}" for p in BYPASSES] + [
        f"{prefix}/../{prefix[8:]}/leaflet/dist/leaflet.js",
        f"/assets/%2e%2e/{prefix[8:]}/leaflet/dist/leaflet.js", f"{prefix}/"]
    answers = {path: raw_get(server.url, path) for path in paths}
    served = {path: status for path, (status, _) in answers.items() if status != 404}
    assert not served, served
    assert not any(b'"name": "leaflet"' in body or b"[metadata]" in body
                   for _, body in answers.values())


def test_the_raw_client_sees_what_it_should(server, prefix):
    """The raw client itself works: the allowed file by its own path is a 200."""
    status, body = raw_get(server.url, f"{prefix}/leaflet/dist/leaflet.css")
    assert status == 200 and b".leaflet-pane" in body


@pytest.mark.parametrize("page", ["/", "/report"])
def test_map_pages_preload_leaflet_by_its_versioned_urls(server, prefix, page):
    status, headers, body = get(server.url + page)
    links = re.findall(r"<([^>]+)>; rel=preload; as=(\w+)", headers["Link"])
    assert sorted(links) == [(f"{prefix}/leaflet/dist/leaflet.css", "style"),
                             (f"{prefix}/leaflet/dist/leaflet.js", "script")]
    for url, _ in links:
        assert url in body.decode() and get(server.url + url)[0] == 200
