"""The sign-in lock and known devices: anyone can lock an account for unknown devices, but
not for the devices its owner signed in on; each known device has its own failure limit."""

import base64
import json

import pytest

from gridmap.auth.devices import COOKIE
from gridmap.web import create_app
from live_signin import sign_in as sign_in_live

PASSWORD = "correct horse battery"
WRONG = "not the password"


@pytest.fixture
def app(tmp_path):
    app = create_app({"DATA_DIR": str(tmp_path / "data"), "SIGNIN_MAX_FAILURES": 3,
                      "SIGNIN_IP_LIMIT": 100})
    for name in ("alice", "bob"):
        app.extensions["gridmap.accounts"].add_user(name, PASSWORD, ["admin"])
    return app


def sign_in(client, password=PASSWORD, username="alice"):
    client.get("/login")
    with client.session_transaction() as s:
        token = s["csrf"]
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token}).status_code


def owners_device(app, username="alice"):
    """A browser that signed in once (and out again): a known device of ``username``."""
    client = app.test_client()
    assert sign_in(client, username=username) == 302
    with client.session_transaction() as s:
        s.clear()
    return client


def lock_for_unknown_devices(app, username="alice"):
    attacker = app.test_client()
    assert [sign_in(attacker, WRONG, username) for _ in range(3)] == [401] * 3
    assert sign_in(attacker, username=username) == 429  # the right password, but locked


def audit(app):
    path = app.extensions["gridmap"].data_dir / "audit.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_owner_signs_in_on_a_known_device_while_an_attacker_locks_the_account(app):
    owner = owners_device(app)
    lock_for_unknown_devices(app)
    assert sign_in(app.test_client()) == 429  # any other unknown device: locked
    assert sign_in(owner, WRONG) == 401  # the owner's typo: not locked out...
    assert sign_in(owner) == 302  # ...and in
    assert owner.get("/admin/users").status_code == 200
    assert sign_in(app.test_client()) == 429  # the lock for unknown devices stays
    last = audit(app)[-2:]
    assert [(e["action"], e["detail"]) for e in last] == [
        ("signin", {"known_device": True}), ("signin_failed", {"locked": True})]


def test_a_known_device_is_limited_on_its_own(app):
    owner = owners_device(app)
    assert [sign_in(owner, WRONG) for _ in range(3)] == [401] * 3
    assert sign_in(owner) == 429  # this device guessed enough: even the right password waits
    thief = app.test_client()  # a stolen cookie is the same device
    thief.set_cookie(COOKIE, owner.get_cookie(COOKIE, path="/login").value, path="/login")
    assert sign_in(thief) == 429
    assert sign_in(app.test_client()) == 302  # unknown devices were not locked by it
    assert audit(app)[-2]["detail"] == {"locked": True, "known_device": True}



def test_after_a_password_reset_the_accounts_devices_are_unknown(app):
    owner = owners_device(app)
    app.extensions["gridmap.accounts"].reset_password("alice", "a brand new passphrase")
    lock_for_unknown_devices(app)
    assert sign_in(owner, "a brand new passphrase") == 429  # a device of the old password
    assert sign_in(owner, username="bob") == 302  # (bob's lock is his own)

def test_a_device_is_known_only_for_its_accounts_and_only_as_signed(app):
    bobs = owners_device(app, "bob").get_cookie(COOKIE, path="/login").value
    other = create_app({"DATA_DIR": str(app.extensions["gridmap"].data_dir),
                        "SECRET_KEY": "another key"})
    foreign = owners_device(other, "alice").get_cookie(COOKIE, path="/login").value
    lock_for_unknown_devices(app, "alice")
    payload, _, signature = bobs.rpartition(".")
    entries = json.loads(base64.urlsafe_b64decode(payload))
    entries[0][0] = "alice"  # bob's device, relabelled
    relabelled = base64.urlsafe_b64encode(json.dumps(entries).encode()).decode()
    for cookie in (bobs, foreign, f"{relabelled}.{signature}", f"{payload}.{'0' * len(signature)}",
                   payload, "x.y", ""):
        client = app.test_client()
        client.set_cookie(COOKIE, cookie, path="/login")
        assert sign_in(client, username="alice") == 429, cookie
    assert sign_in(client, username="bob") == 302  # nor was bob locked


def test_the_device_cookie_stays_on_sign_in_and_on_this_site(app):
    client = app.test_client()
    sign_in(client)
    cookie = client.get_cookie(COOKIE, path="/login")
    assert cookie.http_only and cookie.same_site == "Lax" and cookie.path == "/login"
    assert cookie.max_age == 90 * 86400 and not cookie.secure
    assert client.get_cookie(COOKIE, path="/") is None  # never sent to other pages


def test_over_http_an_attacker_cannot_lock_the_owner_out(start_server, tmp_path_factory):
    from gridmap.auth.accounts import AccountStore

    data = tmp_path_factory.mktemp("devices") / "data"
    server = start_server(data, GRIDMAP_SIGNIN_MAX_FAILURES="3")
    AccountStore(data / "accounts.sqlite3").add_user("alice", PASSWORD, ["admin"])
    r, owner = sign_in_live(server.url, "alice", PASSWORD)
    assert r.status_code == 302 and COOKIE in r.headers["Set-Cookie"]
    owner.cookies.pop("gridmap_session")
    assert [sign_in_live(server.url, "alice", WRONG)[0].status_code for _ in range(3)] == [401] * 3
    assert sign_in_live(server.url, "alice", PASSWORD)[0].status_code == 429
    r, owner = sign_in_live(server.url, "alice", PASSWORD, owner)
    assert r.status_code == 302
    assert owner.get(server.url + "/admin/users", timeout=10).status_code == 200
