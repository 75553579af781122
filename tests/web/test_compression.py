"""Pages and JSON answers are compressed (Brotli or gzip) for clients that accept it, and
only then; the CSRF token a page carries differs in every answer (BREACH), and each one
works."""

import gzip
import http.client
import re

import brotli
import pytest
from flask import Response

from gridmap.web import create_app
from gridmap.web.compression import MIN_BYTES, compress

GZIP = {"Accept-Encoding": "gzip, deflate"}
DECODE = {"gzip": gzip.decompress, "br": brotli.decompress}
#: Accept-Encoding -> the encoding it gets
CHOICES = {"gzip, deflate": "gzip", "gzip, deflate, br, zstd": "br", "br": "br",
           "br;q=0.5, gzip": "gzip", "*": "br", "identity, gzip;q=0.1": "gzip"}
TOKEN = re.compile(r'const csrf = "([^"]+)"')


def vary(response):
    return {v.strip() for v in response.headers.get("Vary", "").split(",")}


@pytest.mark.parametrize("path", ["/report", "/", "/api/grids", "/nope"])
@pytest.mark.parametrize("accept", ["gzip, deflate", "gzip, deflate, br, zstd"])
def test_pages_and_json_are_compressed_when_accepted(client, path, accept):
    r = client.get(path, headers={"Accept-Encoding": accept})
    encoding = CHOICES[accept]
    assert r.headers["Content-Encoding"] == encoding and "Accept-Encoding" in vary(r)
    assert int(r.headers["Content-Length"]) == len(r.data)
    text = DECODE[encoding](r.data).decode()
    assert len(text) > 2 * len(r.data)
    assert ("<title>" in text) if r.mimetype == "text/html" else text[0] in "[{"


@pytest.mark.parametrize("accept", sorted(CHOICES))
def test_the_compressed_answer_is_the_plain_one_in_the_encoding_rated_highest(client, accept):
    plain = client.get("/api/grids")
    packed = client.get("/api/grids", headers={"Accept-Encoding": accept})
    assert "Content-Encoding" not in plain.headers and "Accept-Encoding" in vary(plain)
    assert packed.headers["Content-Encoding"] == CHOICES[accept]
    assert DECODE[CHOICES[accept]](packed.data) == plain.data and len(plain.data) >= MIN_BYTES


@pytest.mark.parametrize("accept", [None, "identity", "gzip;q=0, br;q=0", "deflate, zstd"])
def test_not_compressed_for_clients_that_do_not_take_it(client, accept):
    r = client.get("/report", headers={"Accept-Encoding": accept} if accept else {})
    assert "Content-Encoding" not in r.headers and "Accept-Encoding" in vary(r)
    assert "<title>" in r.get_data(as_text=True)


def test_small_answers_and_photos_are_sent_as_they_are(client):
    r = client.get("/api/health", headers=GZIP)
    assert r.status_code == 200 and len(r.data) < MIN_BYTES
    assert "Content-Encoding" not in r.headers and "Accept-Encoding" not in vary(r)


def test_nothing_is_compressed_with_compression_off(tmp_path):
    client = create_app({"DATA_DIR": str(tmp_path / "data"), "COMPRESS": False}).test_client()
    every = {"Accept-Encoding": "gzip, deflate, br"}
    r = client.get("/report", headers=every)
    assert "Content-Encoding" not in r.headers and "Accept-Encoding" not in vary(r)
    prefix = re.search(r"/assets/[0-9a-f]{8}/", r.get_data(as_text=True))[0]
    js = client.get(prefix + "leaflet/dist/leaflet.js", headers=every)
    assert js.status_code == 200 and "Content-Encoding" not in js.headers


@pytest.mark.parametrize("make", [
    lambda: Response(iter([b"x" * 5000]), mimetype="text/html"),  # streamed
    lambda: Response(b"x" * 5000, status=206, mimetype="text/html",
                     headers={"Content-Range": "bytes 0-4999/9999"}),
    lambda: Response(status=304),
    lambda: Response(b"x" * 5000, mimetype="text/html", headers={"Content-Encoding": "br"}),
    lambda: Response(b"x" * 5000, mimetype="text/html", headers={"Cache-Control": "no-transform"}),
    lambda: Response(b"x" * 5000, mimetype="image/jpeg"),
])
def test_answers_that_must_stay_as_they_are(app, make):
    with app.test_request_context(headers=GZIP):
        response = make()
        before = (response.status_code, response.headers.get("Content-Encoding"))
        compress(response)
        assert (response.status_code, response.headers.get("Content-Encoding")) == before
        if response.status_code != 304:
            assert response.get_data() == b"x" * 5000


def test_a_request_with_a_range_is_answered_plain(app):
    with app.test_request_context(headers={**GZIP, "Range": "bytes=0-99"}):
        response = compress(Response(b"x" * 5000, mimetype="text/html"))
        assert "Content-Encoding" not in response.headers


def test_a_strong_etag_becomes_weak_when_gzipped(app):
    with app.test_request_context(headers=GZIP):
        response = Response(b"x" * 5000, mimetype="text/html")
        response.set_etag("abc")
        compress(response)
        assert response.headers["ETag"] == 'W/"abc"' and gzip.decompress(response.get_data())


def raw(server, method, path, **headers):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(method, path, headers=headers)
    r = conn.getresponse()
    answer = r.status, dict(r.getheaders()), r.read()
    conn.close()
    return answer


def test_the_server_sends_the_gzipped_length_for_get_and_head(live_server):
    status, headers, body = raw(live_server, "GET", "/api/grids", **GZIP)
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert int(headers["Content-Length"]) == len(body) and gzip.decompress(body).startswith(b"[")
    status, head, body = raw(live_server, "HEAD", "/api/grids", **GZIP)
    assert (status, body, head["Content-Encoding"]) == (200, b"", "gzip")
    assert head["Content-Length"] == headers["Content-Length"]
    status, headers, body = raw(live_server, "GET", "/report", **GZIP)
    assert int(headers["Content-Length"]) == len(body) and b"<title>" in gzip.decompress(body)


def test_every_page_masks_the_csrf_token_anew_and_each_one_works(client, app):
    tokens = [TOKEN.search(client.get("/report").get_data(as_text=True))[1] for _ in range(3)]
    with client.session_transaction() as s:
        raw_token = s["csrf"]
    assert len(set(tokens)) == 3 and raw_token not in tokens
    assert not any(raw_token in t for t in tokens)
    # an empty report: past the CSRF check it is a 400 for its fields, before it a 403
    for token in tokens + [raw_token]:  # masked (pages) or as it is (API clients)
        r = client.post("/api/reports", json={}, headers={"X-CSRF-Token": token})
        assert r.status_code == 400, (token, r.get_json())
    other = app.test_client()
    stolen = TOKEN.search(other.get("/report").get_data(as_text=True))[1]
    for token in (stolen, tokens[0][:-4] + "AAAA", "x" * 116):  # another session's; altered
        r = client.post("/api/reports", json={}, headers={"X-CSRF-Token": token})
        assert (r.status_code, r.get_json()["error"]) == (403, "csrf_failed"), token
