"""AccountStore: users, password hashing, sessions, API tokens, demo accounts.

Real SQLite files in tmp_path; a fake clock for expiry; real processes for
races between gunicorn-like workers.
"""

import sqlite3
import subprocess
import sys
import threading

import pytest

from gridmap.auth.accounts import ACCOUNTS_FILE, AccountStore, LastAdmin
from gridmap.auth.demo import DEMO_FILE, ensure_demo_accounts
from gridmap.auth.roles import ROLES, check_roles, role_label
from gridmap.errors import BadInput, Conflict, DiskFull, Forbidden, NotFound

GRID1, GRID2, GRID3 = "500114005001001", "500114005001002", "500114005001003"
PASSWORD = "correct horse battery"


@pytest.fixture
def store(tmp_path, clock):
    return AccountStore(tmp_path / ACCOUNTS_FILE, idle_timeout_s=3600, max_age_s=86400, clock=clock)


def stored_bytes(tmp_path):
    """Every byte SQLite keeps for the store: the database and any WAL/SHM file."""
    return b"".join(p.read_bytes() for p in sorted(tmp_path.glob(ACCOUNTS_FILE + "*")))


def stored_hash(store, username):
    with sqlite3.connect(store.path) as db:
        return db.execute("SELECT password_hash FROM users WHERE username = ?", (username,)).fetchone()[0]


# -- roles ------------------------------------------------------------------

def test_roles_and_labels():
    assert ROLES == ("grid_staff", "dispatcher", "planner", "admin")
    assert [role_label(r) for r in (*ROLES, "resident")] == ["网格员", "调度员", "规划员", "管理员", "居民"]
    assert role_label("grid_staff", "en") == "grid staff"
    assert check_roles(["planner", "admin", "planner"]) == {"planner", "admin"}
    with pytest.raises(BadInput, match=r"'resident'.*grid_staff, dispatcher, planner, admin"):
        check_roles(["admin", "resident"])
    with pytest.raises(BadInput, match="at least one role"):
        check_roles([])


# -- users ------------------------------------------------------------------

def test_add_and_get_user(store):
    user = store.add_user("wang.fang", PASSWORD, ["grid_staff", "dispatcher"], [GRID2, GRID1],
                          display_name=" 王芳 ", person_id="p0102")
    assert user == store.get_user("wang.fang")
    assert user.roles == {"grid_staff", "dispatcher"} and user.grid_codes == {GRID1, GRID2}
    assert user.display_name == "王芳" and user.person_id == "p0102" and user.enabled
    assert user.created_at.endswith("+08:00")
    assert user.has_role("dispatcher") and not user.has_role("admin")
    assert user.can_act_on_grid(GRID1) and not user.can_act_on_grid(GRID3)
    admin = store.add_user("boss", PASSWORD, ["admin"])
    assert not admin.can_act_on_grid(GRID1)
    assert [u.username for u in store.list_users()] == ["boss", "wang.fang"]
    assert store.get_user("nobody") is None


@pytest.mark.parametrize("kwargs, message", [
    ({"username": "ab"}, "username must be 3-32"),
    ({"username": "Alice"}, "username must be 3-32"),
    ({"username": "a" * 33}, "username must be 3-32"),
    ({"username": "al ice"}, "username must be 3-32"),
    ({"password": "short1234"}, "password must have 10-1024 characters, got 9"),
    ({"password": "aaaaaaaaaaaa"}, "one character repeated"),
    ({"password": "abc\udcffdefghijk"}, "password must be valid UTF-8"),  # from a bad stdin
    ({"roles": ["boss"]}, "unknown role 'boss'"),
    ({"roles": []}, "at least one role"),
    ({"roles": ["grid_staff"], "grid_codes": []}, "grid_staff needs at least one grid code"),
    ({"roles": ["dispatcher"], "grid_codes": [GRID1]}, "only grid_staff accounts name grid codes"),
    ({"roles": ["grid_staff"], "grid_codes": ["50011400500100"]}, "15 digits, got '50011400500100'"),
    ({"display_name": "two\nlines"}, "display_name must be one line"),
])
def test_bad_user_is_refused_and_nothing_stored(store, kwargs, message):
    args = {"username": "alice", "password": PASSWORD, "roles": ["admin"], **kwargs}
    with pytest.raises(BadInput, match=message) as info:
        store.add_user(**args)
    assert info.value.status == 400
    assert PASSWORD not in str(info.value)
    assert store.list_users() == []


def test_duplicate_username_is_a_conflict(store):
    store.add_user("alice", PASSWORD, ["admin"])
    with pytest.raises(Conflict, match="'alice' is taken") as info:
        store.add_user("alice", "another password", ["planner"])
    assert info.value.status == 409 and info.value.code == "conflict"
    assert store.get_user("alice").roles == {"admin"}
    assert store.verify_password("alice", PASSWORD) is not None


def test_password_is_stored_as_scrypt_hash_only(tmp_path, store):
    store.add_user("alice", PASSWORD, ["admin"])
    store.reset_password("alice", "second secret word")
    pw_hash = stored_hash(store, "alice")
    assert pw_hash.startswith("scrypt:32768:8:1$")
    data = stored_bytes(tmp_path)
    assert b"alice" in data  # the search below reads the right bytes
    assert PASSWORD.encode() not in data and b"second secret word" not in data


def test_verify_password(store):
    store.add_user("alice", PASSWORD, ["planner"])
    assert store.verify_password("alice", PASSWORD).username == "alice"
    assert store.verify_password("alice", PASSWORD + "x") is None
    assert store.verify_password("alice", None) is None
    assert store.verify_password("bob", PASSWORD) is None
    store.disable_user("alice")
    assert store.verify_password("alice", PASSWORD) is None
    store.enable_user("alice")
    assert store.verify_password("alice", PASSWORD) is not None


def test_unknown_user_costs_a_hash(store, monkeypatch):
    """Timing must not tell whether a username exists: the unknown path hashes too,
    with the same scrypt parameters (counted, not timed, so load cannot flake it)."""
    import gridmap.auth.accounts as accounts

    store.add_user("alice", PASSWORD, ["admin"])
    calls = []
    real = accounts.check_password_hash

    def counting(pw_hash, password):
        calls.append(pw_hash.split("$")[0])
        return real(pw_hash, password)

    monkeypatch.setattr(accounts, "check_password_hash", counting)
    assert store.verify_password("alice", "wrong password!") is None
    known = list(calls)
    calls.clear()
    assert store.verify_password("mallory", "wrong password!") is None
    assert calls == known == ["scrypt:32768:8:1"]


def test_old_hash_parameters_are_upgraded_at_sign_in(store):
    from werkzeug.security import generate_password_hash

    store.add_user("alice", PASSWORD, ["admin"])
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE users SET password_hash = ? WHERE username = 'alice'",
                   (generate_password_hash(PASSWORD, method="scrypt:16384:8:1"),))
    assert store.verify_password("alice", PASSWORD) is not None
    assert stored_hash(store, "alice").startswith("scrypt:32768:8:1$")
    assert store.verify_password("alice", PASSWORD) is not None


def test_set_roles_and_unknown_user(store):
    store.add_user("root", PASSWORD, ["admin"])
    store.add_user("alice", PASSWORD, ["admin"])
    user = store.set_roles("alice", ["grid_staff"], [GRID3])
    assert user.roles == {"grid_staff"} and user.can_act_on_grid(GRID3)
    with pytest.raises(BadInput):
        store.set_roles("alice", ["grid_staff"], [])
    assert store.get_user("alice").grid_codes == {GRID3}
    for change in (store.disable_user, store.enable_user, lambda u: store.reset_password(u, PASSWORD),
                   lambda u: store.set_roles(u, ["admin"])):
        with pytest.raises(NotFound, match="no user 'ghost'"):
            change("ghost")



def test_edit_user_changes_roles_grids_and_name_together_and_returns_before_and_after(store):
    store.add_user("worker7", PASSWORD, ["dispatcher"], display_name="王五")
    old, new = store.edit_user("worker7", ["grid_staff"], [GRID1, GRID2], display_name=" 王小五 ")
    assert (old.roles, old.grid_codes, old.display_name) == ({"dispatcher"}, set(), "王五")
    assert (new.roles, new.grid_codes, new.display_name) == ({"grid_staff"}, {GRID1, GRID2}, "王小五")
    assert store.get_user("worker7") == new
    _, kept = store.edit_user("worker7", ["planner"])  # no display name given: kept
    assert kept.display_name == "王小五" and kept.grid_codes == set()
    for bad in ({"roles": []}, {"roles": ["planner"], "grid_codes": [GRID1]},
                {"roles": ["planner"], "display_name": "two\nlines"}):
        with pytest.raises(BadInput):
            store.edit_user("worker7", **bad)
    assert store.get_user("worker7") == kept
    with pytest.raises(NotFound):
        store.edit_user("ghost", ["planner"])


def test_the_last_enabled_admin_can_be_neither_disabled_nor_demoted(store):
    store.add_user("root", PASSWORD, ["admin"])
    store.add_user("boss", PASSWORD, ["admin", "dispatcher"])
    store.add_user("clerk", PASSWORD, ["planner"])
    store.disable_user("clerk")  # not an admin: no question
    store.disable_user("boss")
    for change in (lambda: store.disable_user("root"), lambda: store.set_roles("root", ["planner"]),
                   lambda: store.edit_user("root", ["dispatcher"], display_name="x")):
        with pytest.raises(LastAdmin, match="last enabled admin") as caught:
            change()
        assert caught.value.status == 409
    root = store.get_user("root")
    assert root.enabled and root.roles == {"admin"} and root.display_name == ""
    store.edit_user("root", ["admin", "planner"], display_name="Root")  # keeps the role: fine
    store.enable_user("boss")
    store.disable_user("root")  # boss is an enabled admin again
    with pytest.raises(LastAdmin):
        store.set_roles("boss", ["dispatcher"])
    assert store.get_user("boss").roles == {"admin", "dispatcher"}


def test_accounts_without_any_admin_are_not_held_to_the_rule(store):
    store.add_user("alice", PASSWORD, ["dispatcher"])
    store.disable_user("alice")
    assert not store.get_user("alice").enabled


def test_admins_disabling_each_other_at_once_leave_one(tmp_path, run_in_processes):
    path = tmp_path / ACCOUNTS_FILE
    accounts = AccountStore(path)
    for name in ("admin0", "admin1", "admin2", "admin3"):
        accounts.add_user(name, PASSWORD, ["admin"])
    outcomes = dict(run_in_processes(_disable_the_next_admin, path))
    refused = [i for i, outcome in outcomes.items() if outcome == "refused"]
    assert len(refused) == 1, outcomes  # process i disables admin i+1: one of them is left
    assert [u.username for u in accounts.list_users() if u.enabled] == [f"admin{(refused[0] + 1) % 4}"]


def _disable_the_next_admin(path, index, barrier, results):
    accounts = AccountStore(path)
    barrier.wait()
    try:
        accounts.disable_user(f"admin{(index + 1) % 4}")
        results.put((index, "disabled"))
    except LastAdmin:
        results.put((index, "refused"))


def test_the_password_stamp_changes_with_the_password_only(store):
    store.add_user("alice", PASSWORD, ["planner"])
    stamp = store.password_stamp("alice")
    assert len(stamp) == 16 and store.password_stamp("alice") == stamp
    store.set_roles("alice", ["dispatcher"])
    store.disable_user("alice")
    store.enable_user("alice")
    assert store.password_stamp("alice") == stamp
    store.reset_password("alice", PASSWORD)  # even the same password: a new salt
    assert store.password_stamp("alice") not in (stamp, None)
    assert store.password_stamp("ghost") is None

# -- sessions ---------------------------------------------------------------

def test_session_lifecycle_and_sign_out(tmp_path, store):
    store.add_user("alice", PASSWORD, ["admin"])
    sid = store.create_session("alice")
    assert len(sid) >= 43
    assert store.user_for_session(sid).username == "alice"
    assert sid.encode() not in stored_bytes(tmp_path)
    assert store.end_session(sid) is True
    assert store.user_for_session(sid) is None
    assert store.end_session(sid) is False
    assert store.user_for_session("made-up") is None and store.user_for_session(None) is None
    with pytest.raises(NotFound):
        store.create_session("ghost")


def test_idle_timeout_with_last_seen_touched_once_a_minute(store, clock):
    store.add_user("alice", PASSWORD, ["admin"])
    sid = store.create_session("alice")
    clock.advance(30)
    assert store.user_for_session(sid) is not None  # under a minute: last_seen not written
    clock.advance(3600 - 30 + 1)
    assert store.user_for_session(sid) is None  # idle since sign-in
    sid = store.create_session("alice")
    for _ in range(5):  # used every 50 minutes: never idle for an hour
        clock.advance(3000)
        assert store.user_for_session(sid) is not None
    clock.advance(3601)
    assert store.user_for_session(sid) is None


def test_absolute_lifetime_ends_an_active_session(store, clock):
    store.add_user("alice", PASSWORD, ["admin"])
    sid = store.create_session("alice")
    for _ in range(47):  # every 30 minutes for 23.5 hours
        clock.advance(1800)
        assert store.user_for_session(sid) is not None
    clock.advance(1801)
    assert store.user_for_session(sid) is None


def test_disable_ends_sessions_and_tokens(store):
    store.add_user("alice", PASSWORD, ["dispatcher"])
    store.add_user("bob", PASSWORD, ["planner"])
    sids = [store.create_session("alice") for _ in range(2)]
    bob_sid = store.create_session("bob")
    _, secret = store.create_token("alice", "ci")
    store.disable_user("alice")
    assert [store.user_for_session(s) for s in sids] == [None, None]
    assert store.user_for_token(secret) is None
    assert store.user_for_session(bob_sid).username == "bob"
    with pytest.raises(Forbidden, match="disabled"):
        store.create_session("alice")
    with pytest.raises(Forbidden):
        store.create_token("alice", "again")
    store.enable_user("alice")  # old credentials stay dead
    assert store.user_for_session(sids[0]) is None and store.user_for_token(secret) is None
    assert store.list_tokens("alice")[0]["revoked_at"] is not None


def test_disabled_user_is_refused_even_if_rows_remain(store):
    """The lookup itself checks the user, not only the clean-up on disable."""
    store.add_user("alice", PASSWORD, ["admin"])
    sid = store.create_session("alice")
    _, secret = store.create_token("alice", "ci")
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE users SET enabled = 0")
    assert store.user_for_session(sid) is None and store.user_for_token(secret) is None


def test_reset_password_ends_sessions_but_not_tokens(store):
    store.add_user("alice", PASSWORD, ["admin"])
    sid = store.create_session("alice")
    _, secret = store.create_token("alice", "ci")
    store.reset_password("alice", "a new passphrase")
    assert store.user_for_session(sid) is None
    assert store.user_for_token(secret).username == "alice"
    assert store.verify_password("alice", PASSWORD) is None
    assert store.verify_password("alice", "a new passphrase") is not None
    with pytest.raises(BadInput, match="got 3"):
        store.reset_password("alice", "abc")


def test_end_user_sessions(store):
    store.add_user("alice", PASSWORD, ["admin"])
    sids = [store.create_session("alice") for _ in range(3)]
    assert store.end_user_sessions("alice") == 3
    assert all(store.user_for_session(s) is None for s in sids)


def test_role_change_applies_to_live_session(store):
    store.add_user("alice", PASSWORD, ["dispatcher"])
    sid = store.create_session("alice")
    store.set_roles("alice", ["planner"])
    assert store.user_for_session(sid).roles == {"planner"}


# -- tokens -----------------------------------------------------------------

def test_tokens_create_list_use_revoke(tmp_path, store, clock):
    store.add_user("alice", PASSWORD, ["dispatcher"])
    store.add_user("bob", PASSWORD, ["admin"])
    token_id, secret = store.create_token("alice", "  nightly export ")
    store.create_token("bob", "bob's")
    assert secret.startswith("gm_") and len(secret) >= 40
    assert secret.encode() not in stored_bytes(tmp_path)
    assert secret[3:].encode() not in stored_bytes(tmp_path)
    (listed,) = store.list_tokens("alice")
    assert listed == {"id": token_id, "username": "alice", "name": "nightly export",
                      "created_at": listed["created_at"], "last_used_at": None, "revoked_at": None}
    assert secret not in str(store.list_tokens())
    assert len(store.list_tokens()) == 2
    clock.advance(5)
    assert store.user_for_token(secret).username == "alice"
    assert store.list_tokens("alice")[0]["last_used_at"] is not None
    assert store.user_for_token(secret[:-1] + "x") is None
    assert store.user_for_token(secret[3:]) is None
    assert store.revoke_token(token_id)["revoked_at"] is not None
    assert store.user_for_token(secret) is None
    with pytest.raises(NotFound, match="no token 'nope'"):
        store.revoke_token("nope")
    with pytest.raises(BadInput, match="name must be one line"):
        store.create_token("alice", "   ")
    with pytest.raises(NotFound):
        store.create_token("ghost", "x")


# -- several threads and processes ------------------------------------------

def test_threads_share_one_store(store):
    store.add_user("alice", PASSWORD, ["admin"])
    sids, errors = [], []

    def work():
        try:
            for _ in range(20):
                sid = store.create_session("alice")
                assert store.user_for_session(sid) is not None
                sids.append(sid)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(sids)) == 160


def add_users_in_process(path, index, barrier, results):
    store = AccountStore(path)
    barrier.wait(timeout=60)
    outcome = []
    for username in ("shared", f"user{index}"):
        try:
            store.add_user(username, PASSWORD, ["admin"])
            outcome.append(("added", username))
        except Conflict:
            outcome.append(("conflict", username))
    results.put(outcome)


def test_processes_race_to_add_one_username(tmp_path, run_in_processes):
    path = tmp_path / ACCOUNTS_FILE
    outcomes = [item for items in run_in_processes(add_users_in_process, path) for item in items]
    assert sorted(o for o in outcomes if o[1] == "shared") == \
        [("added", "shared")] + [("conflict", "shared")] * 3
    assert sorted(u.username for u in AccountStore(path).list_users()) == \
        ["shared", "user0", "user1", "user2", "user3"]


# -- demo accounts and layering ---------------------------------------------

def test_demo_accounts_are_made_once(tmp_path, store):
    first = ensure_demo_accounts(store, [GRID2, GRID3, GRID1], tmp_path)
    assert [(u, r, g) for u, _, r, g in first] == [
        ("admin", ("admin",), ()), ("planner", ("planner",), ()),
        ("dispatcher", ("dispatcher",), ()), ("grid001", ("grid_staff",), (GRID1,)),
        ("grid002", ("grid_staff",), (GRID2,))]
    for username, password, _, _ in first:
        assert store.verify_password(username, password).username == username
    demo_file = tmp_path / DEMO_FILE
    assert demo_file.stat().st_mode & 0o777 == 0o600
    assert all(password in demo_file.read_text() for _, password, _, _ in first)
    assert ensure_demo_accounts(store, [GRID1, GRID2, GRID3], tmp_path) == first
    assert len(store.list_users()) == 5
    store.disable_user("planner")
    again = ensure_demo_accounts(store, [GRID1, GRID2, GRID3], tmp_path)
    assert [p is None for _, p, _, _ in again] == [False, True, False, False, False]


def test_demo_accounts_leave_existing_users_alone(tmp_path, store):
    store.add_user("admin", PASSWORD, ["admin"])
    accounts = ensure_demo_accounts(store, [GRID1], tmp_path)
    assert [(u, p is None) for u, p, _, _ in accounts] == [
        ("admin", True), ("planner", False), ("dispatcher", False), ("grid001", False)]
    assert store.verify_password("admin", PASSWORD) is not None
    assert "admin\t" not in (tmp_path / DEMO_FILE).read_text()


def test_auth_package_imports_no_flask():
    code = ("import sys, gridmap.auth.accounts, gridmap.auth.throttle, gridmap.auth.demo, "
            "gridmap.audit; print(sorted(m for m in sys.modules if m.split('.')[0] == 'flask'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def until_disk_full(write, limit=2000):
    """Call ``write(i)`` until it raises DiskFull (SQLite reuses its WAL's room for a while)."""
    for i in range(limit):
        try:
            write(i)
        except DiskFull as exc:
            assert exc.status == 503 and "disk is full" in str(exc)
            return i
    raise AssertionError(f"{limit} writes fit on a full disk")


def test_on_a_full_disk_staff_can_still_read_and_writes_are_a_503(small_disk, clock):
    store = AccountStore(small_disk.path / ACCOUNTS_FILE, clock=clock)
    store.add_user("disp", "correct horse battery", ["dispatcher"])
    _, fresh = store.create_token("disp", "never used yet")
    sid = store.create_session("disp")
    small_disk.fill()
    clock.advance(120)  # every use is due to be noted
    until_disk_full(lambda i: store.create_token("disp", f"t{i}"))
    # noting uses is skipped, not the requests: the token and session still work
    assert store.user_for_token(fresh).username == "disp"
    assert store.user_for_session(sid).username == "disp"
    assert store.list_tokens("disp")[0]["last_used_at"] is None
    with pytest.raises(DiskFull):
        store.create_session("disp")
    small_disk.free()
    assert store.user_for_token(fresh).username == "disp"
    assert store.list_tokens("disp")[0]["last_used_at"] is not None
    assert store.user_for_session(store.create_session("disp")).username == "disp"


def test_a_process_opening_the_accounts_on_a_full_disk_can_read(small_disk):
    """Like a worker booted on a full disk: it opens the file after the disk filled, while
    other processes (here, this one) keep theirs open."""
    path = small_disk.path / ACCOUNTS_FILE
    store = AccountStore(path)
    store.add_user("disp", "correct horse battery", ["dispatcher"])
    small_disk.fill()
    code = ("import sys; from gridmap.auth.accounts import AccountStore; "
            "print(AccountStore(sys.argv[1]).get_user('disp').username)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "disp", done.stderr


def test_grid_staff_follow_their_teams_into_new_grids(store):
    c = "500114005001"
    pw = "correct horse battery"
    store.add_user("aaa", pw, ["grid_staff"], grid_codes=[c + "013"])
    store.add_user("bbb", pw, ["grid_staff", "dispatcher"], grid_codes=[c + "002", c + "013"])
    store.add_user("ccc", pw, ["grid_staff"], grid_codes=[c + "003"])
    store.add_user("ddd", pw, ["grid_staff"], grid_codes=[c + "014", c + "013"])  # has one already
    store.add_user("ppp", pw, ["planner"])
    changed = store.follow_teams({c + "014": c + "013", c + "015": c + "013", c + "016": c + "002"})
    assert [(old.username, sorted(old.grid_codes), sorted(new.grid_codes))
            for old, new in changed] == [
        ("aaa", [c + "013"], [c + "013", c + "014", c + "015"]),
        ("bbb", [c + "002", c + "013"], [c + "002", c + "013", c + "014", c + "015", c + "016"]),
        ("ddd", [c + "013", c + "014"], [c + "013", c + "014", c + "015"])]
    assert store.get_user("ccc").grid_codes == {c + "003"}
    assert store.get_user("ppp").grid_codes == frozenset()
    assert store.get_user("bbb").roles == {"grid_staff", "dispatcher"}
    assert store.follow_teams({c + "014": c + "013", c + "015": c + "013"}) == []  # done once
    assert store.follow_teams({}) == []
