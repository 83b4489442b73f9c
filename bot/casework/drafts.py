"""Full personal numbers of a request still being filled in, kept outside Rasa's tracker.

Rasa stores slots and messages in its tracker store; there they are masked (see
bot.rasa_plugins.tracker_store). The full ID number, phone and email a person types are written here in
the turn they are typed, read once when the request is confirmed and put into the outbox, then
deleted. The table lives in the outbox's database and uses its engine, so several action-server
replicas share it when that is PostgreSQL. With SQLite, deleting drafts checkpoints the WAL at
once (bot.casework.outbox.checkpoint_wal): a submitted or cancelled request's numbers stay in no file.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, delete, select
from sqlalchemy.engine import Engine

from bot.casework.outbox import checkpoint_pending, checkpoint_wal, create_schema


class DraftStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata = MetaData()
        self.table = Table(
            "request_drafts",
            metadata,
            Column("conversation_id", String(255), primary_key=True),
            Column("field", String(64), primary_key=True),
            Column("value", Text, nullable=False),
            Column("updated_at", DateTime(timezone=True), nullable=False),
        )
        create_schema(metadata, self.engine)

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
        """Deletes the conversation's drafts (or one field of them), from the WAL too."""
        condition = self.table.c.conversation_id == conversation_id
        if field:
            condition = condition & (self.table.c.field == field)
        with self.engine.begin() as connection:
            deleted = connection.execute(delete(self.table).where(condition)).rowcount
        if deleted or checkpoint_pending(self.engine):
            checkpoint_wal(self.engine)
