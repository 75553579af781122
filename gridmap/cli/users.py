"""``gridmap users ...`` and ``gridmap tokens ...``: staff accounts and API tokens.

Both work on the configured data folder (``GRIDMAP_DATA_DIR``, or
``--data-dir``), creating it from ``geodata/`` if it is missing. Every change
is written to the audit log with actor ``cli:<os user>``. Exit status: 0
done, 1 the data folder cannot be read or written, 2 bad input (a message on
stderr; nothing changed). Messages go to stderr; what a script reads
(listings, a token secret, a generated password) to stdout.
"""

import getpass
import json
import os
import sys
from pathlib import Path

import click

from gridmap.errors import BadInput, Conflict, GridmapError

EXIT_FAILED, EXIT_BAD_INPUT = 1, 2

data_dir_option = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path),
    help="数据目录 / data folder [default: GRIDMAP_DATA_DIR or instance/data].")


class _Accounts:
    """The data folder's account store and audit log, opened once per command."""

    def __init__(self, data_dir):
        from gridmap.audit import AUDIT_FILE, AuditLog
        from gridmap.auth.accounts import ACCOUNTS_FILE, AccountStore
        from gridmap.config import load_config
        from gridmap.datafolder import init_data_folder

        config = load_config({"DATA_DIR": str(data_dir)} if data_dir is not None else None)
        self.config = config
        self.data_dir = init_data_folder(config)
        self.store = AccountStore(self.data_dir / ACCOUNTS_FILE)
        self.audit = AuditLog(self.data_dir / AUDIT_FILE)
        self.actor = f"cli:{_os_user()}"

    def grid_codes(self):
        """The active generation's codes (grids.geojson's before the first start)."""
        from gridmap.datafolder import generation_store
        from gridmap.geo.grids import GridSet

        store = generation_store(self.config, self.data_dir)
        if store.exists():
            return store.grid_set(store.active().number).codes
        return GridSet.load(self.data_dir / "grids.geojson").codes

    def record(self, action, target, detail=None):
        self.audit.record(action, self.actor, target=target, detail=detail)


def _os_user():
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in a bare container
        return f"uid{os.getuid()}"


def _run(body):
    """Run ``body()``: a GridmapError becomes a message and exit 2, a file or
    database failure a message and exit 1; never a traceback."""
    import sqlite3

    try:
        return body()
    except GridmapError as exc:
        click.echo(f"gridmap: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except (OSError, sqlite3.Error) as exc:
        click.echo(f"gridmap: 数据目录无法读写 / cannot use the data folder: {exc}", err=True)
        sys.exit(EXIT_FAILED)


def _new_password(password_stdin, generate):
    """The password from stdin, generated (and printed once), or asked twice."""
    if password_stdin and generate:
        raise BadInput("error.users.one_password_source")
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if generate:
        from gridmap.auth.users import generate_password

        password = generate_password()
        click.echo(f"密码 / password (只显示这一次 / shown once): {password}")
        return password
    return click.prompt("密码 / password", hide_input=True, confirmation_prompt=True, err=True)


password_options = [
    click.option("--password-stdin", is_flag=True, help="从标准输入读一行密码 / read the password "
                                                        "from the first line of stdin."),
    click.option("--generate-password", is_flag=True, help="生成随机密码并显示一次 / make a random "
                                                           "password and print it once."),
]


def _with_password_options(func):
    for option in reversed(password_options):
        func = option(func)
    return func


@click.group()
def users():
    """员工账号 / staff accounts."""


@users.command("add")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, metavar="ROLE",
              help="grid_staff | dispatcher | planner | admin (可重复 / repeatable).")
@click.option("--grid", "grids", multiple=True, metavar="CODE",
              help="网格编码，网格员必填 / grid code, required for grid_staff (repeatable).")
@click.option("--name", default="", help="显示名 / display name.")
@_with_password_options
@data_dir_option
def add(username, roles, grids, name, password_stdin, generate_password, data_dir):
    """新建账号 / add a staff account."""
    from gridmap.audit import USER_ADD
    from gridmap.auth.roles import check_grid_codes, check_roles
    from gridmap.auth.users import check_label, check_password, check_username

    def body():
        ctx = _Accounts(data_dir)
        check_username(username)
        checked = check_roles(roles)
        check_grid_codes(checked, grids, known=ctx.grid_codes() if grids else None)
        check_label(name, "display_name")
        if ctx.store.get_user(username) is not None:  # before asking for a password
            raise Conflict("error.users.username_taken", username=repr(username))
        password = _new_password(password_stdin, generate_password)
        check_password(password)
        user = ctx.store.add_user(username, password, checked, grids, display_name=name)
        ctx.record(USER_ADD, username, {"roles": sorted(user.roles),
                                        "grid_codes": sorted(user.grid_codes)})
        click.echo(f"已添加 / added {username} ({', '.join(sorted(user.roles))})", err=True)
    _run(body)


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON.")
@data_dir_option
def list_(as_json, data_dir):
    """列出账号 / list staff accounts."""
    def body():
        found = _Accounts(data_dir).store.list_users()
        if as_json:
            click.echo(json.dumps([u.to_dict() for u in found], ensure_ascii=False, indent=1))
            return
        for u in found:
            state = "" if u.enabled else "  [停用 disabled]"
            grids = f"  grids {','.join(sorted(u.grid_codes))}" if u.grid_codes else ""
            click.echo(f"{u.username:<16} {','.join(sorted(u.roles)):<24} {u.display_name}{grids}{state}")
    _run(body)


def _switch_command(name, enabled, help_text):
    """``gridmap users disable|enable USERNAME``: the two differ only in direction."""

    @users.command(name, help=help_text)
    @click.argument("username")
    @data_dir_option
    def command(username, data_dir):
        from gridmap.audit import USER_DISABLE, USER_ENABLE

        def body():
            ctx = _Accounts(data_dir)
            (ctx.store.enable_user if enabled else ctx.store.disable_user)(username)
            ctx.record(USER_ENABLE if enabled else USER_DISABLE, username)
            click.echo(f"{'已恢复 / enabled' if enabled else '已停用 / disabled'} {username}",
                       err=True)
        _run(body)
    return command


disable = _switch_command("disable", False, "停用账号，结束其会话并吊销其令牌 / disable an account; "
                          "ends its sessions, revokes its tokens.")
enable = _switch_command("enable", True, "恢复账号（旧会话和令牌不恢复）/ enable an account again "
                         "(not its old sessions or tokens).")


@users.command("reset-password")
@click.argument("username")
@_with_password_options
@data_dir_option
def reset_password(username, password_stdin, generate_password, data_dir):
    """重设密码并结束其会话 / set a new password; ends the user's sessions."""
    from gridmap.audit import PASSWORD_RESET
    from gridmap.auth.users import check_password
    from gridmap.errors import NotFound

    def body():
        ctx = _Accounts(data_dir)
        if ctx.store.get_user(username) is None:
            raise NotFound("error.users.no_such_user", username=repr(username))
        password = _new_password(password_stdin, generate_password)
        check_password(password)
        ctx.store.reset_password(username, password)
        ctx.record(PASSWORD_RESET, username)
        click.echo(f"已重设密码 / password reset: {username}", err=True)
    _run(body)


@click.group()
def tokens():
    """API 令牌 / API tokens for machine clients."""


@tokens.command("create")
@click.option("--user", "username", required=True, help="令牌所属账号 / the account it acts as.")
@click.option("--name", required=True, help="用途 / what the token is for.")
@data_dir_option
def create_token(username, name, data_dir):
    """新建令牌，只显示一次 / create a token; the secret is printed once."""
    from gridmap.audit import TOKEN_CREATE

    def body():
        ctx = _Accounts(data_dir)
        token_id, secret = ctx.store.create_token(username, name)
        ctx.record(TOKEN_CREATE, token_id, {"username": username, "name": name.strip()})
        click.echo(f"令牌 / token {token_id} for {username} (只显示这一次 / shown once):", err=True)
        click.echo(secret)
    _run(body)


@tokens.command("list")
@click.option("--user", "username", help="只列出此账号的 / only this account's tokens.")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON / print JSON.")
@data_dir_option
def list_tokens(username, as_json, data_dir):
    """列出令牌（不含密钥）/ list tokens (never their secrets)."""
    def body():
        found = _Accounts(data_dir).store.list_tokens(username)
        if as_json:
            click.echo(json.dumps(found, ensure_ascii=False, indent=1))
            return
        for t in found:
            state = f"revoked {t['revoked_at']}" if t["revoked_at"] else \
                f"last used {t['last_used_at'] or 'never'}"
            click.echo(f"{t['id']}  {t['username']:<16} {t['name']:<24} {state}")
    _run(body)


@tokens.command("revoke")
@click.argument("token_id")
@data_dir_option
def revoke_token(token_id, data_dir):
    """吊销令牌 / revoke a token."""
    from gridmap.audit import TOKEN_REVOKE

    def body():
        ctx = _Accounts(data_dir)
        token = ctx.store.revoke_token(token_id)
        ctx.record(TOKEN_REVOKE, token_id, {"username": token["username"], "name": token["name"]})
        click.echo(f"已吊销 / revoked {token_id} ({token['username']}, {token['name']})", err=True)
    _run(body)
