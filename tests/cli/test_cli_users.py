"""``gridmap users ...`` and ``gridmap tokens ...`` over a real data folder."""

import getpass
import json
import re

import pytest
from click.testing import CliRunner

from gridmap.audit import AUDIT_FILE, AuditLog
from gridmap.auth.accounts import ACCOUNTS_FILE, AccountStore
from gridmap.cli import main

GRID1, GRID2 = "500114005001001", "500114005001002"
PASSWORD = "correct horse battery"
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"  # created from geodata/ by the first command


def run(data_dir, *args, input=None):
    result = CliRunner().invoke(main, [*args, "--data-dir", str(data_dir)], input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def store(data_dir):
    return AccountStore(data_dir / ACCOUNTS_FILE)


def audit_entries(data_dir):
    return AuditLog(data_dir / AUDIT_FILE).read(limit=1000)[::-1]


def add(data_dir, username="alice", *options, password=PASSWORD):
    return run(data_dir, "users", "add", username, *options, "--password-stdin",
               input=password + "\n")


def test_add_with_password_on_stdin_and_list(data_dir):
    result = add(data_dir, "wang", "--role", "grid_staff", "--role", "dispatcher",
                 "--grid", GRID2, "--grid", GRID1, "--name", "王芳")
    assert result.exit_code == 0, result.stderr
    assert PASSWORD not in result.output
    assert store(data_dir).verify_password("wang", PASSWORD).grid_codes == {GRID1, GRID2}
    listed = json.loads(run(data_dir, "users", "list", "--json").stdout)
    assert [(u["username"], u["roles"], u["grid_codes"], u["display_name"], u["enabled"])
            for u in listed] == [("wang", ["dispatcher", "grid_staff"], [GRID1, GRID2], "王芳", True)]
    assert "wang" in run(data_dir, "users", "list").stdout
    (entry,) = audit_entries(data_dir)
    assert entry["action"] == "user_add" and entry["target"] == "wang"
    assert entry["actor"] == f"cli:{getpass.getuser()}"
    assert entry["detail"] == {"roles": ["dispatcher", "grid_staff"], "grid_codes": [GRID1, GRID2]}
    assert PASSWORD not in (data_dir / AUDIT_FILE).read_text()


def test_add_prompts_twice_with_hidden_input(data_dir):
    result = run(data_dir, "users", "add", "alice", "--role", "admin",
                 input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.stderr
    assert PASSWORD not in result.output
    assert store(data_dir).verify_password("alice", PASSWORD) is not None


def test_add_with_generated_password_printed_once(data_dir):
    result = run(data_dir, "users", "add", "alice", "--role", "planner", "--generate-password")
    assert result.exit_code == 0, result.stderr
    password = result.stdout.strip().split()[-1]
    assert result.stdout.count(password) == 1 and len(password) >= 16
    assert store(data_dir).verify_password("alice", password).roles == {"planner"}


def assert_refused(result, data_dir, *fragments, users_before=(), audit_before=0):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert CJK.search(result.stderr), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr
    assert [u.username for u in store(data_dir).list_users()] == list(users_before)
    assert len(audit_entries(data_dir)) == audit_before


@pytest.mark.parametrize("options, password, fragments", [
    (["--role", "boss"], PASSWORD, ["unknown role 'boss'", "grid_staff, dispatcher, planner, admin"]),
    (["--role", "grid_staff", "--grid", "500114005001099"], PASSWORD,
     ["no grid 500114005001099 in the data folder"]),
    (["--role", "grid_staff", "--grid", "5001140050010"], PASSWORD, ["15 digits, got '5001140050010'"]),
    (["--role", "grid_staff"], PASSWORD, ["grid_staff needs at least one grid code"]),
    (["--role", "admin", "--grid", GRID1], PASSWORD, ["only grid_staff accounts name grid codes"]),
    (["--role", "admin"], "short", ["password must have 10-1024 characters, got 5"]),
    (["--role", "admin"], "xxxxxxxxxxxx", ["one character repeated"]),
])
def test_bad_add_exits_2_and_changes_nothing(data_dir, options, password, fragments):
    result = add(data_dir, "alice", *options, password=password)
    assert_refused(result, data_dir, *fragments)
    assert password not in result.output


def test_bad_username_and_duplicate(data_dir):
    assert_refused(add(data_dir, "Al", "--role", "admin"), data_dir, "username must be 3-32")
    assert add(data_dir, "alice", "--role", "admin").exit_code == 0
    result = add(data_dir, "alice", "--role", "planner", password="other password")
    assert_refused(result, data_dir, "'alice' is taken", users_before=["alice"], audit_before=1)
    assert store(data_dir).get_user("alice").roles == {"admin"}
    assert store(data_dir).verify_password("alice", PASSWORD) is not None


def test_a_bad_name_is_refused_before_a_password_is_made(data_dir):
    result = run(data_dir, "users", "add", "bob8", "--role", "planner", "--name", "a\x01b",
                 "--generate-password")
    assert_refused(result, data_dir, "display_name")
    assert "shown once" not in result.output


def test_both_password_sources_refused(data_dir):
    result = run(data_dir, "users", "add", "alice", "--role", "admin", "--password-stdin",
                 "--generate-password", input=PASSWORD + "\n")
    assert_refused(result, data_dir, "--generate-password")


def test_unusable_data_folder_exits_2(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "notes.txt").write_text("not a data folder")  # used as it is: no grids
    result = add(data_dir, "alice", "--role", "grid_staff", "--grid", GRID1)
    assert result.exit_code == 2 and "grid file not found" in result.stderr
    assert not (data_dir / ACCOUNTS_FILE).exists() or store(data_dir).list_users() == []


def test_disable_enable_reset_password(data_dir):
    add(data_dir, "alice", "--role", "dispatcher")
    accounts = store(data_dir)
    sid = accounts.create_session("alice")
    assert run(data_dir, "users", "disable", "alice").exit_code == 0
    assert accounts.user_for_session(sid) is None
    assert accounts.verify_password("alice", PASSWORD) is None
    assert "disabled" in run(data_dir, "users", "list").stdout
    assert run(data_dir, "users", "enable", "alice").exit_code == 0
    sid = accounts.create_session("alice")
    result = run(data_dir, "users", "reset-password", "alice", "--password-stdin",
                 input="brand new passphrase\n")
    assert result.exit_code == 0, result.stderr
    assert accounts.user_for_session(sid) is None
    assert accounts.verify_password("alice", "brand new passphrase") is not None
    result = run(data_dir, "users", "reset-password", "alice", "--generate-password")
    assert accounts.verify_password("alice", result.stdout.strip().split()[-1]) is not None
    assert [e["action"] for e in audit_entries(data_dir)] == [
        "user_add", "user_disable", "user_enable", "password_reset", "password_reset"]
    assert "brand new passphrase" not in (data_dir / AUDIT_FILE).read_text()


def test_user_changes_on_unknown_user_exit_2(data_dir):
    add(data_dir, "alice", "--role", "admin")
    for args in (["disable", "ghost"], ["enable", "ghost"],
                 ["reset-password", "ghost", "--generate-password"]):
        result = run(data_dir, "users", *args)
        assert_refused(result, data_dir, "no user 'ghost'", users_before=["alice"], audit_before=1)
        assert "password" not in result.stdout
    result = run(data_dir, "users", "reset-password", "alice", "--password-stdin", input="short\n")
    assert_refused(result, data_dir, "got 5", users_before=["alice"], audit_before=1)


def test_tokens_create_list_revoke(data_dir):
    add(data_dir, "alice", "--role", "dispatcher")
    result = run(data_dir, "tokens", "create", "--user", "alice", "--name", "nightly export")
    assert result.exit_code == 0, result.stderr
    secret = result.stdout.strip()
    assert secret.startswith("gm_") and result.stdout.count(secret) == 1
    assert store(data_dir).user_for_token(secret).username == "alice"
    (token,) = json.loads(run(data_dir, "tokens", "list", "--json").stdout)
    assert token["username"] == "alice" and token["name"] == "nightly export"
    listing = run(data_dir, "tokens", "list", "--user", "alice").stdout
    assert token["id"] in listing and secret not in listing
    assert json.loads(run(data_dir, "tokens", "list", "--user", "bob", "--json").stdout) == []
    assert run(data_dir, "tokens", "revoke", token["id"]).exit_code == 0
    assert store(data_dir).user_for_token(secret) is None
    entries = audit_entries(data_dir)
    assert [(e["action"], e["target"]) for e in entries[1:]] == [
        ("token_create", token["id"]), ("token_revoke", token["id"])]
    assert secret not in (data_dir / AUDIT_FILE).read_text()


def test_bad_token_commands_exit_2(data_dir):
    add(data_dir, "alice", "--role", "dispatcher")
    assert_refused(run(data_dir, "tokens", "create", "--user", "ghost", "--name", "x"),
                   data_dir, "no user 'ghost'", users_before=["alice"], audit_before=1)
    assert_refused(run(data_dir, "tokens", "revoke", "nope"),
                   data_dir, "no token 'nope'", users_before=["alice"], audit_before=1)
    run(data_dir, "users", "disable", "alice")
    assert_refused(run(data_dir, "tokens", "create", "--user", "alice", "--name", "x"),
                   data_dir, "disabled", users_before=["alice"], audit_before=2)
    assert store(data_dir).list_tokens() == []


def test_data_dir_from_environment(tmp_path, monkeypatch):
    data_dir = tmp_path / "env-data"
    monkeypatch.setenv("GRIDMAP_DATA_DIR", str(data_dir))
    result = CliRunner().invoke(main, ["users", "add", "alice", "--role", "admin",
                                       "--password-stdin"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert store(data_dir).get_user("alice") is not None


def test_serve_demo_lists_accounts_whose_password_it_does_not_know(data_dir, monkeypatch):
    from gunicorn.app.base import BaseApplication

    monkeypatch.setattr(BaseApplication, "run", lambda self: None)  # no server: the listing
    monkeypatch.setenv("GRIDMAP_DATA_DIR", str(data_dir))
    assert CliRunner().invoke(main, ["serve", "--demo"]).exit_code == 0
    assert run(data_dir, "users", "disable", "planner").exit_code == 0
    again = CliRunner().invoke(main, ["serve", "--demo"])
    assert again.exit_code == 0, again.output
    planner = next(line for line in again.output.splitlines() if line.split()[:1] == ["planner"])
    assert planner.split()[1] == "—"
