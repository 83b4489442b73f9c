"""Full personal numbers of a request still being filled in, kept outside Rasa's tracker.

Rasa stores slots and messages in its tracker store; there they are masked (see
bot.redacting_tracker_store). The full ID number, phone and email a person types are written here in
the turn they are typed, read once when the request is confirmed and put into the outbox, then
deleted. Several action-server replicas share it when it lives in PostgreSQL.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, create_engine, delete, event, select

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'outbox.db'}"


class DraftStore:
    def __init__(self, database_url: str | None = None) -> None:
        url = database_url or os.environ.get("GOVBOT_OUTBOX_DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url, future=True, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata = MetaData()
        self.table = Table(
            "request_drafts",
            metadata,
            Column("conversation_id", String(255), primary_key=True),
            Column("field", String(64), primary_key=True),
            Column("value", Text, nullable=False),
            Column("updated_at", DateTime(timezone=True), nullable=False),
        )
        metadata.create_all(self.engine)

    def put(self, conversation_id: str, field: str, value: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                delete(self.table).where(
                    self.table.c.conversation_id == conversation_id, self.table.c.field == field
                )
            )
            connection.execute(
                self.table.insert().values(
                    conversation_id=conversation_id, field=field, value=value, updated_at=datetime.now(timezone.utc)
                )
            )

    def get_all(self, conversation_id: str) -> dict[str, str]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(self.table.c.field, self.table.c.value).where(self.table.c.conversation_id == conversation_id)
            )
            return {field: value for field, value in rows}

    def forget(self, conversation_id: str, field: str | None = None) -> None:
        condition = self.table.c.conversation_id == conversation_id
        if field:
            condition = condition & (self.table.c.field == field)
        with self.engine.begin() as connection:
            connection.execute(delete(self.table).where(condition))


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()
