"""Bodies a server cannot read whole, over a raw socket into a real ``gridmap serve``.

Malformed chunked encodings (a bad chunk size, a negative one, a bad chunk
extension, data without its CRLF) and bodies shorter than their
Content-Length, on every POST route: each answer is a 4xx (or, for a body
the server never received whole, no answer at all: a server that buffers
bodies may just close), never a 5xx, and nothing stored changes. The test
asserts only that, so it holds whatever worker class serves; the exact
answers are checked through Flask, with streams raising what servers raise.
"""

import io
import json
import socket
import urllib.request
from pathlib import Path

import pytest
from gunicorn.http.errors import ChunkMissingTerminator, InvalidChunkSize, InvalidHeader

from gridmap.store.geojsonseq import GeoJSONSeqStore
from gridmap.web import create_app

PASSWORD = "correct horse battery"
CHUNKED = {
    "bad size": b"ZZ\r\n{}\r\n0\r\n\r\n",
    "negative size": b"-5\r\nabcde\r\n0\r\n\r\n",
    "bad extension": b"2;\x01=\x7f\r\n{}\r\n0\r\n\r\n",
    "no CRLF after the data": b"2\r\n{}XX0\r\n\r\n",
}


@pytest.fixture(scope="module")
def site(start_server, tmp_path_factory):
    """A live server with a report in it, an admin-dispatcher-planner's API token, and
    ``posts``: every POST route with a body that would be accepted whole."""
    data_dir = tmp_path_factory.mktemp("bodies") / "data"
    app = create_app({"DATA_DIR": str(data_dir)})
    accounts = app.extensions["gridmap.accounts"]
    accounts.add_user("boss", PASSWORD, ["admin", "dispatcher", "planner"])
    _, token = accounts.create_token("boss", "bodies")
    grids = app.extensions["gridmap"].grids
    server = start_server(data_dir, GRIDMAP_REPORT_IP_LIMIT="100000")
    point = grids.grids[6].geometry.representative_point()
    report = {"lon": point.x, "lat": point.y, "category": "06", "description": "井盖缺失"}
    request = urllib.request.Request(server.url + "/api/reports", json.dumps(report).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as r:
        case = json.load(r)
    case_id = case["case_id"]
    form, js = "application/x-www-form-urlencoded", "application/json"
    posts = {  # endpoint -> (path, content type, a whole body, authenticated by token)
        "auth.login": ("/login", form, b"username=boss&password=x", False),
        # by token, sign-out reads no body (it would just sign out): anonymous, a 401
        "auth.logout": ("/logout", form, b"x=1", False),
        "admin_users.add_user": ("/admin/users", form,
                                 b"username=newbie&roles=planner&display_name=n", True),
        "admin_users.edit_user": ("/admin/users/boss", form, b"roles=planner&display_name=n", True),
        "admin_users.change_user": ("/admin/users/boss/disable", form, b"confirm=yes", True),
        "admin_users.reset_password": ("/admin/users/boss/reset-password", form, b"confirm=yes",
                                       True),
        "admin.add_category": ("/admin/categories", form,
                               b"code=77&name=n&name_en=n&sign_hours=1&handle_hours=1"
                               b"&verify_hours=1", True),
        "admin.change_category": ("/admin/categories/06", form,
                                  b"name=n&name_en=n&sign_hours=1&handle_hours=1"
                                  b"&verify_hours=1&retired=on", True),
        "admin.change_calendar": ("/admin/calendar", form,
                                  b"working_days=1&start=09:00&end=17:00", True),
        "cases_api.create_report": ("/api/reports", js, json.dumps(report).encode(), False),
        "cases_api.act_on_case": (f"/api/cases/{case_id}/actions", js, b'{"action": "sign"}',
                                  True),
        "cases_api.rate": (f"/api/track/{case['tracking_code']}/rating", js, b'{"rating": 5}',
                           False),
        "staff_pages.act": (f"/case/{case_id}", form, b"action=sign", True),
        "photo_views.set_public_api": (f"/api/cases/{case_id}/photos/{'0' * 64}", js,
                                       b'{"public": true}', True),
        "photo_views.set_public_form": (f"/case/{case_id}/photos/{'0' * 64}", form, b"public=1",
                                        True),
        "planning_api.make_draft": ("/api/planning/draft", js, json.dumps({
            "type": "FeatureCollection",
            "features": app.extensions["gridmap"].generations.features(1)}).encode(), True),
        "planning_api.edit_draft": ("/api/planning/draft/edits", js,
                                    b'{"op": "remove", "grid": "500114005001013"}', True),
        "planning_api.undo_edit": ("/api/planning/draft/undo", js, b"{}", True),
        "planning_api.redo_edit": ("/api/planning/draft/redo", js, b"{}", True),
        "planning_api.publish": ("/api/planning/publish", js, b"{}", True),
        "planning_api.rollback": ("/api/planning/rollback", js, b'{"generation": 1}', True),
        "open311.create_request": ("/open311/v2/requests.json", form,
                                   f"service_code=06&lat={point.y}&long={point.x}&description=x"
                                   .encode(), False),
    }
    endpoints = sorted({r.endpoint for r in app.url_map.iter_rules() if "POST" in r.methods})
    assert endpoints == sorted(posts), "a POST route this test does not know"
    return {"server": server, "data_dir": data_dir, "token": token, "posts": posts.values()}


def stored_state(data_dir):
    """Everything a POST could change: the cases, the accounts, the settings, the audit log."""
    store = GeoJSONSeqStore(Path(data_dir) / "cases", compact_bytes=None)
    try:
        cases = sorted(json.dumps(f, sort_keys=True) for f in store.all())
    finally:
        store.close()
    app_files = {name: (Path(data_dir) / name).read_bytes() if (Path(data_dir) / name).exists()
                 else None for name in ("categories.json", "calendar.json", "audit.jsonl",
                                        "generations/manifest.json")}
    accounts = create_app({"DATA_DIR": str(data_dir)}).extensions["gridmap.accounts"]
    users = [(u.username, u.enabled, sorted(u.roles)) for u in accounts.list_users()]
    return cases, app_files, users


def exchange(port, head, body, half_close, timeout=10):
    """Send ``head`` + ``body`` and return the answer's status (None: closed unanswered)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head + body)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        answer = b""
        while b"\r\n" not in answer:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1]) if answer else None


def head_for(site, path, content_type, authenticated, framing):
    auth = f"Authorization: Bearer {site['token']}\r\n" if authenticated else ""
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"{auth}{framing}Connection: close\r\n\r\n").encode()


@pytest.mark.parametrize("kind", sorted(CHUNKED))
def test_malformed_chunked_bodies_are_4xx_on_every_post_route(site, kind):
    before = stored_state(site["data_dir"])
    answers = {}
    for path, content_type, _, authenticated in site["posts"]:
        head = head_for(site, path, content_type, authenticated, "Transfer-Encoding: chunked\r\n")
        answers[path] = exchange(site["server"].port, head, CHUNKED[kind], half_close=False)
    wrong = {path: status for path, status in answers.items()
             if status is None or not 400 <= status < 500}
    assert not wrong, f"{kind}: not a 4xx: {wrong}"
    assert stored_state(site["data_dir"]) == before


def test_bodies_shorter_than_their_content_length_are_refused_on_every_post_route(site):
    before = stored_state(site["data_dir"])
    answers = {}
    for path, content_type, whole, authenticated in site["posts"]:
        head = head_for(site, path, content_type, authenticated,
                        f"Content-Length: {len(whole) + 40}\r\n")
        answers[path] = exchange(site["server"].port, head, whole, half_close=True)
    wrong = {path: status for path, status in answers.items()
             if status is not None and not 400 <= status < 500}
    assert not wrong, f"not a 4xx: {wrong}"
    assert stored_state(site["data_dir"]) == before
    # the server still answers whole bodies
    _, content_type, whole, _ = next(p for p in site["posts"] if p[0] == "/api/reports")
    head = head_for(site, "/api/reports", content_type, False, f"Content-Length: {len(whole)}\r\n")
    assert exchange(site["server"].port, head, whole, half_close=False) == 201


# -- the exact answers, through Flask with a server's stream ---------------------------

class ServerInput:
    """A WSGI server's ``wsgi.input`` meeting a bad chunk: it raises the server's error."""

    def __init__(self, error):
        self.error = error

    def read(self, *args):
        raise self.error

    readline = read


@pytest.fixture
def client(tmp_path):
    return create_app({"DATA_DIR": str(tmp_path / "data")}).test_client()


def post(client, path, content_type, stream, length=10):
    return client.post(path, data=b"x" * length, content_type=content_type, environ_overrides={
        "wsgi.input": stream, "wsgi.input_terminated": True, "CONTENT_LENGTH": str(length)})


@pytest.mark.parametrize("error", [InvalidChunkSize(b"ZZ"), ChunkMissingTerminator(b"XX"),
                                   InvalidHeader("bad chunk extension"),
                                   RuntimeError("any other server's own error")])
def test_a_body_the_server_cannot_decode_is_a_400_malformed_body(client, error):
    r = post(client, "/api/reports", "application/json", ServerInput(error))
    assert r.status_code == 400
    assert r.get_json()["error"] == "malformed_body" and r.get_json()["field"] == "body"
    r = post(client, "/open311/v2/requests.xml", "application/x-www-form-urlencoded",
             ServerInput(error))
    assert r.status_code == 400 and b"<code>400</code>" in r.data and b"malformed" in r.data
    r = post(client, "/login", "application/x-www-form-urlencoded", ServerInput(error))
    assert r.status_code == 400 and r.mimetype == "text/html" and "请求体格式错误" in r.text


@pytest.mark.parametrize("stream, length", [
    (io.BytesIO(b'{"lon": 108.77}'), 40),  # 25 bytes short: the client half-closed
    (ServerInput(TimeoutError("timed out")), 10), (ServerInput(ConnectionResetError()), 10),
])
def test_a_body_that_stops_early_is_a_400_incomplete_body(client, stream, length):
    r = post(client, "/api/reports", "application/json", stream, length)
    assert r.status_code == 400 and r.get_json()["error"] == "incomplete_body"
    if length == 40:
        assert "25 bytes short of its Content-Length" in r.get_json()["message"]


def test_a_whole_body_read_through_the_guard_is_taken(client):
    point = client.application.extensions["gridmap"].grids.grids[6].geometry.representative_point()
    form = f"service_code=06&lat={point.y}&long={point.x}&description=x".encode()
    r = post(client, "/open311/v2/requests.json", "application/x-www-form-urlencoded",
             io.BytesIO(form), len(form))
    assert r.status_code == 201, r.text
