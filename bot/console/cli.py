"""`govbot staff …`: staff console accounts from the terminal (create, list, disable, reset password).

Passwords are never taken from the command line (`ps` shows it to every local user): a random one
is printed once, or `--password-stdin` reads it from standard input. Every change is written to the
console's audit log as `cli:<login name>`.
"""

from __future__ import annotations

import getpass
import sys

import click

DB_HELP = "控制台数据库（默认 GOVBOT_CONSOLE_DATABASE_URL，未设置时 var/console.db）"


def _store(db_url: str | None):
    from .config import ConsoleConfig
    from .store import ConsoleStore

    store = ConsoleStore(db_url or ConsoleConfig.from_env().database_url)
    store.create_tables()
    return store


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "cli"


def _password(from_stdin: bool) -> tuple[str, bool]:
    from .store import new_password

    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return new_password(), True


def _run(action):
    from .store import AccountError

    try:
        return action()
    except AccountError as exc:
        click.echo(f"错误：{exc}", err=True)
        sys.exit(1)


@click.group()
def staff() -> None:
    """Staff console accounts (roles: staff, admin)."""


@staff.command("init")
@click.option("--db-url", help=DB_HELP)
def staff_init(db_url: str | None) -> None:
    """On a machine without accounts, create the admin (GOVBOT_CONSOLE_ADMIN_PASSWORD or a random password, printed once)."""
    from . import ensure_first_admin, first_admin_notice
    from .config import ConsoleConfig

    config = ConsoleConfig.from_env()
    store = _store(db_url)
    created = _run(lambda: ensure_first_admin(store, config.admin_password))
    if created is not None:
        store.audit(_operator(), "account_create", created[0], "role=admin (first admin)")
        click.echo(first_admin_notice(created, bool(config.admin_password)))


@staff.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(["staff", "admin"]), default="staff", show_default=True)
@click.option("--name", "display_name", default="", help="显示名（如 张三）")
@click.option("--password-stdin", is_flag=True, help="从标准输入读取密码（否则随机生成并显示一次）")
@click.option("--db-url", help=DB_HELP)
def staff_create(username: str, role: str, display_name: str, password_stdin: bool, db_url: str | None) -> None:
    """Create an account."""
    store = _store(db_url)
    password, generated = _password(password_stdin)
    user = _run(lambda: store.create_user(username, password, role, display_name))
    store.audit(_operator(), "account_create", user.username, f"role={role}")
    click.echo(f"已创建账号 {user.username}（{user.role_label}）" + (f"，密码 {password}（只显示这一次）" if generated else ""))


@staff.command("list")
@click.option("--db-url", help=DB_HELP)
def staff_list(db_url: str | None) -> None:
    """List the accounts."""
    from .layout import beijing

    users = _store(db_url).list_users()
    if not users:
        click.echo("还没有账号：运行 govbot staff init 或 govbot staff create")
    for user in users:
        state = "已停用" if user.disabled else "可用"
        click.echo(f"{user.username}\t{user.role_label}\t{state}\t{user.display_name or '-'}\t创建于 {beijing(user.created_at)}")


def _set_disabled(username: str, disabled: bool, db_url: str | None) -> None:
    store = _store(db_url)
    user = _run(lambda: store.set_disabled(username, disabled))
    store.audit(_operator(), "account_disable" if disabled else "account_enable", user.username)
    click.echo(f"账号 {user.username} 已{'停用（已登录的会话同时失效）' if disabled else '启用'}")


@staff.command("disable")
@click.argument("username")
@click.option("--db-url", help=DB_HELP)
def staff_disable(username: str, db_url: str | None) -> None:
    """Disable an account (its sessions end at once)."""
    _set_disabled(username, True, db_url)


@staff.command("enable")
@click.argument("username")
@click.option("--db-url", help=DB_HELP)
def staff_enable(username: str, db_url: str | None) -> None:
    """Enable a disabled account again."""
    _set_disabled(username, False, db_url)


@staff.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="从标准输入读取新密码（否则随机生成并显示一次）")
@click.option("--db-url", help=DB_HELP)
def staff_reset_password(username: str, password_stdin: bool, db_url: str | None) -> None:
    """Set a new password (its sessions end at once)."""
    store = _store(db_url)
    password, generated = _password(password_stdin)
    user = _run(lambda: store.set_password(username, password))
    store.audit(_operator(), "password_reset", user.username)
    click.echo(f"账号 {user.username} 的密码已重设" + (f"：{password}（只显示这一次）" if generated else ""))
