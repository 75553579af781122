"""Staff sign-in: throttling and lock-out, CSRF, sign-out, safe redirects, audit."""

import json
import logging

import pytest

from gridmap.web import create_app

PASSWORD = "correct horse battery"


@pytest.fixture
def app(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path / "data"), "SIGNIN_MAX_FAILURES": 3,
                      "SIGNIN_IP_LIMIT": 8})
    app.extensions["gridmap.accounts"].add_user("alice", PASSWORD, ["admin"])
    return app


def csrf(client):
    client.get("/login")
    with client.session_transaction() as s:
        return s["csrf"]


def sign_in(client, password=PASSWORD, username="alice", **extra):
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf(client), **extra})


def audit_entries(app):
    path = app.extensions["gridmap"].data_dir / "audit.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_sign_in_and_out(app):
    client = app.test_client()
    r = sign_in(client, next="/admin/users")
    assert r.status_code == 302 and r.headers["Location"] == "/admin/users"
    assert client.get("/admin/users").status_code == 200
    with client.session_transaction() as s:
        old_cookie = dict(s)
    r = client.post("/logout", data={"csrf_token": old_cookie["csrf"]})
    assert r.status_code == 302
    assert client.get("/admin/users").status_code == 401
    # replaying the old session cookie does not bring the session back
    with client.session_transaction() as s:
        s.update(old_cookie)
    assert client.get("/admin/users").status_code == 401
    assert [e["action"] for e in audit_entries(app)] == ["signin", "signout"]


def test_wrong_password_then_lock_out(app, caplog):
    caplog.set_level(logging.DEBUG)
    client = app.test_client()
    for _ in range(3):
        r = sign_in(client, password="wrong password 1")
        assert r.status_code == 401 and "用户名或密码错误" in r.get_data(as_text=True)
    r = sign_in(client)  # right password, but locked
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert client.get("/admin/users").status_code == 401
    actions = [e["action"] for e in audit_entries(app)]
    assert actions == ["signin_failed"] * 4
    assert audit_entries(app)[-1]["detail"] == {"locked": True}
    everything = (app.extensions["gridmap"].data_dir / "audit.jsonl").read_text() + caplog.text
    assert "wrong password 1" not in everything and PASSWORD not in everything


def test_unknown_users_are_throttled_per_address(app):
    client = app.test_client()
    codes = [sign_in(client, username=f"nobody{i}").status_code for i in range(10)]
    assert codes[:8] == [401] * 8 and codes[8:] == [429, 429]


@pytest.mark.parametrize("data", [
    {"username": "alice", "password": PASSWORD},
    {"username": "alice", "password": PASSWORD, "csrf_token": "forged"},
    {"username": "alice", "password": PASSWORD, "csrf_token": ""},
])
def test_forms_without_a_valid_csrf_token_are_refused(app, data):
    client = app.test_client()
    csrf(client)
    r = client.post("/login", data=data)
    assert r.status_code == 403 and "CSRF" in r.get_data(as_text=True)
    assert client.get("/admin/users").status_code == 401


def test_sign_out_needs_the_csrf_token(app):
    client = app.test_client()
    sign_in(client)
    assert client.post("/logout").status_code == 403
    assert client.get("/admin/users").status_code == 200


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)",
                                    "admin/users", "/admin/users\n", "/\r\nSet-Cookie: x=1",
                                    "/admin\x7f"])
def test_no_open_redirects(app, target):
    r = sign_in(app.test_client(), next=target)
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_disabling_a_user_ends_their_session(app):
    app.extensions["gridmap.accounts"].add_user("root", PASSWORD, ["admin"])  # not the last admin
    client = app.test_client()
    sign_in(client)
    assert client.get("/admin/users").status_code == 200
    app.extensions["gridmap.accounts"].disable_user("alice")
    assert client.get("/admin/users").status_code == 401


def test_an_admin_cannot_disable_themselves_but_another_account(app):
    app.extensions["gridmap.accounts"].add_user("bob", PASSWORD, ["planner"])
    client = app.test_client()
    sign_in(client)
    token = csrf(client)
    r = client.post("/admin/users/alice/disable", data={"csrf_token": token, "confirm": "yes"})
    assert r.status_code == 409 and "不能停用自己的账号" in r.get_data(as_text=True)
    assert app.extensions["gridmap.accounts"].get_user("alice").enabled
    assert client.post("/admin/users/bob/disable", data={"csrf_token": token,
                                                         "confirm": "yes"}).status_code == 302
    assert not app.extensions["gridmap.accounts"].get_user("bob").enabled
    r = client.post("/admin/users", data={"csrf_token": token, "username": "carl",
                                          "password": PASSWORD, "roles": "grid_staff",
                                          "grid_codes": app.extensions["gridmap"].grids.codes[0]})
    assert r.status_code == 302, r.get_data(as_text=True)
    actions = [(e["action"], e.get("detail")) for e in audit_entries(app)][-2:]
    assert actions == [("user_disable", None), ("user_add", {  # the CLI's detail keys
        "roles": ["grid_staff"], "grid_codes": [app.extensions["gridmap"].grids.codes[0]]})]


@pytest.mark.parametrize("username, password", [
    ("", ""), ("a" * 5000, "x"), ("alice\x00", PASSWORD), ("' OR 1=1 --", "x"),
    ("阿丽斯", "密码" * 10), ("alice", "x" * 100_000),
])
def test_sign_in_fuzz_never_fails_with_a_5xx(app, username, password):
    r = sign_in(app.test_client(), username=username, password=password)
    assert r.status_code in (401, 429)


def test_a_name_that_is_no_account_is_kept_unreadable_but_comparable(app, caplog):
    """A password typed into the name field must not be readable in the audit log."""
    caplog.set_level(logging.DEBUG)
    typed = "Hunter2-secret"
    for name in (typed, typed, "someone else"):
        assert sign_in(app.test_client(), username=name, password="x").status_code == 401
    assert sign_in(app.test_client(), username="alice", password="wrong").status_code == 401
    actors = [e["actor"] for e in audit_entries(app)]
    assert actors[0] == actors[1] != actors[2] and actors[3] == "alice"
    assert all(a.startswith("unknown:") and len(a) == 24 for a in actors[:3])
    admin = app.test_client()
    sign_in(admin)
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert actors[0] in page and "alice" in page
    stored = [p.read_bytes().decode("latin-1")
              for p in app.extensions["gridmap"].data_dir.glob("[at][uh]*")]  # audit, throttle
    assert any("signin:user:alice" in text for text in stored)  # the failures are in there
    for text in (page, caplog.text, *stored):
        assert typed.lower() not in text.lower() and "someone else" not in text
