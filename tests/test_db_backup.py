"""`govbot db backup/restore`: a round trip through pg_dump/pg_restore on private PostgreSQL databases."""

from __future__ import annotations

import os
import stat
import subprocess
import uuid

import pytest
import sqlalchemy as sa

from bot.ops.db_backup import BackupError, backup, restore
from tests.conftest import ROOT, VENV_BIN, require_postgres
from tests.test_erasure import populate


@pytest.fixture
def databases():
    """Two fresh databases on the local PostgreSQL, dropped afterwards."""
    user = require_postgres()
    names = [f"govbot_backup_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    admin = sa.create_engine(f"postgresql://{user}@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for name in names:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield [f"postgresql://{user}@127.0.0.1:5432/{name}" for name in names]
    finally:
        with admin.connect() as connection:
            for name in names:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def contents(url: str) -> dict[str, list]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        tables = sorted(sa.inspect(connection).get_table_names())
        result = {t: sorted(map(repr, connection.execute(sa.text(f'SELECT * FROM "{t}"')))) for t in tables}
    engine.dispose()
    return result


def govbot(*args: str, url: str, input: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "GOVBOT_DATABASE_URL": url}
    return subprocess.run([str(VENV_BIN / "govbot"), "db", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, input=input, timeout=120)


def test_backup_restores_every_table_and_row(databases, tmp_path):
    source, target = databases
    populate({"cases": source, "outbox": source, "tracker": source})
    original = contents(source)
    assert {"cases", "case_events", "outbox", "request_drafts", "events"} <= set(original)

    done = govbot("backup", "--out", str(tmp_path / "govbot.dump"), url=source)
    assert done.returncode == 0 and "已备份到" in done.stdout, done.stderr
    dump = tmp_path / "govbot.dump"
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600 and not list(tmp_path.glob("*.partial"))

    cancelled = govbot("restore", str(dump), url=target, input="n\n")
    assert "已取消" in cancelled.stdout and contents(target) == {}
    restored = govbot("restore", str(dump), "--yes", url=target)
    assert restored.returncode == 0 and "已从" in restored.stdout, restored.stderr
    assert contents(target) == original

    # Restoring over a database that changed since: the backup's rows come back, nothing doubled.
    engine = sa.create_engine(source)
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM case_events"))
        connection.execute(sa.text("DELETE FROM cases"))
        connection.execute(sa.text("UPDATE outbox SET status = 'rejected'"))
    engine.dispose()
    assert contents(source) != original
    restore(source, dump)
    assert contents(source) == original


def test_failures_are_explained_and_change_nothing(databases, tmp_path):
    source, _target = databases
    populate({"cases": source, "outbox": source, "tracker": source})
    original = contents(source)
    junk = tmp_path / "junk.dump"
    junk.write_bytes(b"not a dump")
    bad = govbot("restore", str(junk), "--yes", url=source)
    assert bad.returncode == 1 and "pg_restore 失败" in bad.stderr and "Traceback" not in bad.stderr
    assert contents(source) == original
    missing = govbot("restore", str(tmp_path / "none.dump"), "--yes", url=source)
    assert missing.returncode == 1 and "找不到备份文件" in missing.stderr
    with pytest.raises(BackupError, match="只支持 PostgreSQL"):
        backup(f"sqlite:///{tmp_path / 'x.db'}", tmp_path / "x.dump")
    unreachable = govbot("backup", "--out", str(tmp_path / "x.dump"), url="postgresql://postgres@127.0.0.1:1/none")
    assert unreachable.returncode == 1 and "pg_dump 失败" in unreachable.stderr
    assert not (tmp_path / "x.dump").exists() and not list(tmp_path.glob("*.partial"))


def test_password_goes_to_the_environment_not_the_command_line(databases, monkeypatch, tmp_path):
    """The real pg_dump runs, behind a wrapper on PATH that records the arguments and environment it
    was started with (the local server's trust authentication accepts any password)."""
    import shutil
    import sys

    password = f"pw-{uuid.uuid4().hex}"
    url = sa.engine.make_url(databases[0]).set(password=password).render_as_string(hide_password=False)
    wrappers, record = tmp_path / "bin", tmp_path / "started.txt"
    wrappers.mkdir()
    wrapper = wrappers / "pg_dump"
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        f"open({str(record)!r}, 'w').write(repr(sys.argv) + '\\n' + os.environ.get('PGPASSWORD', ''))\n"
        f"os.execv({shutil.which('pg_dump')!r}, [{shutil.which('pg_dump')!r}] + sys.argv[1:])\n"
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrappers}{os.pathsep}{os.environ['PATH']}")
    backup(url, tmp_path / "b.dump")
    arguments, given = record.read_text().split("\n", 1)
    assert password not in arguments and given == password
    assert (tmp_path / "b.dump").stat().st_size > 0
