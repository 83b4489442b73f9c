"""Backup and restore of a PostgreSQL database with pg_dump/pg_restore (`govbot db backup/restore`).

The production database holds cases, the outbox, form drafts and conversations: a backup is as
sensitive as the database, so the file is created readable by its owner only. pg_dump's custom
format is compressed and lets pg_restore drop and recreate exactly what it contains. The
password never appears on a command line (`ps` would show it): it is taken out of the URL and
handed to the tools in PGPASSWORD.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from sqlalchemy.engine import URL, make_url


class BackupError(Exception):
    """A failed backup or restore, explained in Chinese."""


def _libpq(database_url: str) -> tuple[str, dict[str, str]]:
    """(connection URI without password, environment with PGPASSWORD) for the libpq tools."""
    try:
        url = make_url(database_url)
    except Exception as exc:  # noqa: BLE001 - any unparsable URL
        raise BackupError(f"数据库地址无法解析：{type(exc).__name__}") from None
    if url.get_backend_name() != "postgresql":
        raise BackupError(
            f"只支持 PostgreSQL（收到 {url.get_backend_name()}）；SQLite 数据库请在停止服务后直接复制 var/*.db 文件"
        )
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    # URL.set ignores None, so the URL is rebuilt without its password.
    uri = URL.create("postgresql", url.username, None, url.host, url.port, url.database, url.query)
    uri = uri.render_as_string(hide_password=False)
    return uri, env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"找不到 {name}；请安装 PostgreSQL 客户端（Debian：apt-get install postgresql-client）")
    return path


def _run(command: list[str], env: dict[str, str], **kwargs) -> None:
    result = subprocess.run(command, env=env, stderr=subprocess.PIPE, text=True, **kwargs)
    if result.returncode != 0:
        detail = " ".join((result.stderr or "").split())[:400]
        raise BackupError(f"{Path(command[0]).name} 失败（退出码 {result.returncode}）：{detail}")


def backup(database_url: str, out: Path) -> int:
    """Dumps the whole database to `out` (custom format, mode 0600); returns its size in bytes."""
    uri, env = _libpq(database_url)
    pg_dump = _tool("pg_dump")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            _run([pg_dump, "--format=custom", "--no-owner", "--no-privileges", f"--dbname={uri}"], env, stdout=handle)
        os.chmod(partial, 0o600)
        partial.replace(out)  # a failed dump never leaves a file that looks like a backup
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return out.stat().st_size


def restore(database_url: str, path: Path) -> None:
    """Restores `path` into the database in one transaction: objects in the backup are dropped and
    recreated with the backup's rows; anything else in the database is left alone."""
    uri, env = _libpq(database_url)
    pg_restore = _tool("pg_restore")
    if not Path(path).is_file():
        raise BackupError(f"找不到备份文件 {path}")
    _run([pg_restore, "--list", str(path)], env, stdout=subprocess.DEVNULL)  # a real custom-format dump?
    _run(
        [pg_restore, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
         "--exit-on-error", f"--dbname={uri}", str(path)],
        env,
        stdout=subprocess.DEVNULL,
    )
