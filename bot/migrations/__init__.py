"""Schema migrations (Alembic) of the project's own tables, run when a service opens its database.

Three databases, three migration histories, each with its own version table so they can share one
PostgreSQL database or live apart (SQLite files in the default profile):

* `outbox`  — the outbox database: outbox, request_drafts, erasure_audit (action server, govbot);
* `cases`   — the reference case service: cases, case_events, lookup_failures, handoff_messages;
* `console` — the staff console (web server, `govbot staff`): console_users, console_sessions,
  console_login_failures, console_audit.

`upgrade(engine, "outbox")` brings a database to the newest revision: an empty one gets every table,
one created before migrations existed (tables there, no version table) is adopted by the first
revision (it creates only what is missing) and stamped. Replicas starting together on PostgreSQL
take turns through an advisory lock. Rasa's own tracker tables are Rasa's business, not ours.

A schema change is a new file in bot/migrations/<name>/versions/ whose down_revision is the current
head (tests/test_migrations.py checks that the migrated schema equals the code's tables).
"""

from __future__ import annotations

import logging
import threading
import weakref
import zlib
from functools import lru_cache
from pathlib import Path

from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
HISTORIES = ("outbox", "cases", "console")
# Engines already brought to head in this process, per history (by engine: two in-memory SQLite
# engines share a URL but not a database).
_done: dict[str, "weakref.WeakSet[Engine]"] = {name: weakref.WeakSet() for name in HISTORIES}
_lock = threading.Lock()


def version_table(name: str) -> str:
    return f"alembic_version_{name}"


@lru_cache(maxsize=None)
def config(name: str):
    from alembic.config import Config

    if name not in HISTORIES:
        raise ValueError(f"unknown migration history {name!r}")
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / name))
    cfg.set_main_option("version_table", version_table(name))
    return cfg


@lru_cache(maxsize=None)
def head(name: str) -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config(name)).get_current_head()


def current(connection: Connection, name: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": version_table(name)})
    return context.get_current_revision()


def upgrade(engine: Engine, name: str, revision: str = "head") -> None:
    """Migrate the database behind `engine` to `revision` (once per process and database)."""
    if revision == "head" and engine in _done[name]:
        return
    from alembic import command

    with _lock, engine.connect() as connection:
        if engine.dialect.name == "postgresql":  # one replica migrates, the others wait and find it done
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({_lock_id(name)})")
        try:
            if revision != "head" or current(connection, name) != head(name):
                cfg = config(name)
                cfg.attributes["connection"] = connection
                try:
                    command.upgrade(cfg, revision)
                finally:
                    cfg.attributes.pop("connection", None)
                if connection.in_transaction():
                    connection.commit()
        finally:
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_lock_id(name)})")
                connection.commit()
    if revision == "head":
        _done[name].add(engine)


def _lock_id(name: str) -> int:
    return zlib.crc32(f"govbot-migrations-{name}".encode())
