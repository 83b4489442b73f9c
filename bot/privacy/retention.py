"""Tracker retention: conversations idle for longer than the retention period are deleted.

Even redacted, a conversation tells what a person asked about and when. The tracker store keeps a
conversation only while it may still be useful (follow-up questions, status queries, staff
review): once its latest event is older than GOVBOT_TRACKER_RETENTION_DAYS days (default 180;
0 keeps everything), all of its events are deleted. Cases themselves live in the case system,
which has its own retention rules.

Two ways it runs:
- the tracker store (bot.rasa_plugins.tracker_store) purges in the background at most once per
  GOVBOT_TRACKER_PURGE_INTERVAL seconds (default 3600), triggered by a save;
- `govbot tracker purge --older-than DAYS` for a cron job or by hand (SQL backends).

Personal data outside the tracker expires too (`expire_personal_data`), in the action server's
outbox database:
- form drafts (bot.casework.drafts: full ID numbers, phones, emails typed into a form never confirmed nor
  cancelled) are deleted once the conversation's latest draft is older than
  GOVBOT_DRAFT_RETENTION_DAYS (default 1: a Rasa session expires after 60 minutes without carrying
  slots over, so an older draft can no longer be submitted; 0 keeps them);
- a rejected outbox entry keeps its full payload for GOVBOT_REJECTED_PAYLOAD_DAYS (default 30: staff
  may need to see what was refused and contact the person), then only the stub (kind, channel,
  conversation_id) a delivered entry keeps; 0 keeps payloads.
The outbox deliverer runs it when idle, at most once per EXPIRY_INTERVAL; `govbot data expire` runs
it by hand or from cron.

With the SQL backend a conversation's age is the largest `timestamp` among its rows in Rasa's
`events` table; the in-memory backend looks at the last event of each stored tracker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime, timezone
from typing import Any, Optional

import sqlalchemy as sa

from bot.settings.retention import RetentionSettings

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = RetentionSettings.tracker_days
DEFAULT_DRAFT_DAYS = RetentionSettings.draft_days
DEFAULT_REJECTED_PAYLOAD_DAYS = RetentionSettings.rejected_payload_days
EXPIRY_INTERVAL = 3600.0
DEFAULT_PURGE_INTERVAL = RetentionSettings.purge_interval
DAY = 86400.0


def retention_days(environ: dict | None = None) -> float:
    """GOVBOT_TRACKER_RETENTION_DAYS; 0 means conversations are never purged."""
    return RetentionSettings.read("tracker_days", environ)


def draft_retention_days(environ: dict | None = None) -> float:
    """GOVBOT_DRAFT_RETENTION_DAYS; 0 keeps abandoned drafts."""
    return RetentionSettings.read("draft_days", environ)


def rejected_payload_days(environ: dict | None = None) -> float:
    """GOVBOT_REJECTED_PAYLOAD_DAYS; 0 keeps rejected entries' payloads."""
    return RetentionSettings.read("rejected_payload_days", environ)


def purge_interval(environ: dict | None = None) -> float:
    return RetentionSettings.read("purge_interval", environ) or DEFAULT_PURGE_INTERVAL


def cutoff_for(days: float, now: float | None = None) -> float:
    """The epoch time before which a conversation's last event makes it stale."""
    return (time.time() if now is None else now) - days * DAY


_events = sa.table("events", sa.column("sender_id"), sa.column("timestamp"))


def _stale_senders(cutoff: float):
    return (
        sa.select(_events.c.sender_id)
        .group_by(_events.c.sender_id)
        .having(sa.func.max(_events.c.timestamp) < cutoff)
    )


def purge_sql(engine: sa.engine.Engine, cutoff: float, dry_run: bool = False) -> int:
    """Deletes every conversation in Rasa's `events` table whose latest event is before `cutoff`.

    Returns the number of conversations deleted (or, with `dry_run`, that would be). One DELETE
    statement with the staleness test inside, so a conversation written to meanwhile keeps its
    new events.
    """
    with engine.begin() as connection:
        if not sa.inspect(connection).has_table("events"):
            return 0
        stale = _stale_senders(cutoff).subquery()
        count = connection.execute(sa.select(sa.func.count()).select_from(stale)).scalar() or 0
        if count and not dry_run:
            connection.execute(sa.delete(_events).where(_events.c.sender_id.in_(sa.select(stale.c.sender_id))))
    return int(count)


def _last_timestamp(serialised: str | bytes) -> float | None:
    """Time of the tracker's last event; None for a tracker without events (just created: no data, no age)."""
    try:
        events = json.loads(serialised).get("events") or []
        return float(events[-1].get("timestamp") or 0) if events else None
    except (ValueError, TypeError, AttributeError):
        return 0.0


def purge_memory(store: Any, cutoff: float, dry_run: bool = False) -> int:
    """The same for Rasa's InMemoryTrackerStore (its `store` dict of serialised trackers)."""
    stale = [
        (key, value) for key, value in list(store.store.items())
        if (last := _last_timestamp(value)) is not None and last < cutoff
    ]
    if not dry_run:
        for key, value in stale:
            if store.store.get(key) is value:  # not saved again since it was read
                del store.store[key]
    return len(stale)


def purge_tracker_store(store: Any, days: float, now: float | None = None, dry_run: bool = False) -> int:
    """Purges a Rasa tracker store (RedactingTrackerStore, SQLTrackerStore or InMemoryTrackerStore)."""
    from rasa.core.tracker_store import InMemoryTrackerStore, SQLTrackerStore

    inner = getattr(store, "inner", store)
    cutoff = cutoff_for(days, now)
    if isinstance(inner, SQLTrackerStore):
        return purge_sql(inner.engine, cutoff, dry_run)
    if isinstance(inner, InMemoryTrackerStore):
        return purge_memory(inner, cutoff, dry_run)
    raise ValueError(f"不支持清理 {type(inner).__name__} 类型的对话存储（支持 SQL 与内存存储）")


class PeriodicPurge:
    """Runs `purge_tracker_store` in the background at most once per interval (store saves call `due`)."""

    def __init__(self, store: Any, days: float | None = None, interval: float | None = None) -> None:
        self.store = store
        self.days = retention_days() if days is None else days
        self.interval = purge_interval() if interval is None else interval
        self._last = float("-inf")
        self._task: asyncio.Task | None = None

    def maybe_start(self) -> Optional[asyncio.Task]:
        """Starts a purge when one is due and none is running; returns its task."""
        if self.days <= 0 or (self._task is not None and not self._task.done()):
            return None
        now = time.monotonic()
        if now - self._last < self.interval:
            return None
        self._last = now
        self._task = asyncio.create_task(self._run())
        return self._task

    async def _run(self) -> None:
        try:
            deleted = await asyncio.to_thread(purge_tracker_store, self.store, self.days)
        except Exception as exc:  # a failed purge must not affect conversations; try again next interval
            log.warning("清理过期对话失败（%s）：%s", type(exc).__name__, exc)
            return
        if deleted:
            log.info("已删除 %d 个超过 %g 天未活动的对话", deleted, self.days)


_drafts = sa.table("request_drafts", sa.column("conversation_id"), sa.column("updated_at"))


def _naive_utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None)


def expire_drafts(engine: sa.engine.Engine, days: float, now: float | None = None, dry_run: bool = False) -> int:
    """Deletes the drafts of every conversation whose latest draft is older than `days`; returns
    the number of conversations. A conversation still typing (a newer field) keeps all its fields."""
    if days <= 0:
        return 0
    cutoff = _naive_utc(cutoff_for(days, now))
    if engine.dialect.name != "sqlite":
        cutoff = cutoff.replace(tzinfo=timezone.utc)  # timestamptz
    with engine.begin() as connection:
        if not sa.inspect(connection).has_table("request_drafts"):
            return 0
        stale = (
            sa.select(_drafts.c.conversation_id)
            .group_by(_drafts.c.conversation_id)
            .having(sa.func.max(_drafts.c.updated_at) < cutoff)
        ).subquery()
        count = connection.execute(sa.select(sa.func.count()).select_from(stale)).scalar() or 0
        if count and not dry_run:
            connection.execute(
                sa.delete(_drafts).where(_drafts.c.conversation_id.in_(sa.select(stale.c.conversation_id)))
            )
    if count and not dry_run:
        from bot.casework.outbox import checkpoint_wal

        checkpoint_wal(engine)
    return int(count)


def scrub_rejected_payloads(engine: sa.engine.Engine, days: float, now: float | None = None, dry_run: bool = False,
                            table: str = "outbox") -> int:
    """Replaces the payload of rejected entries last updated more than `days` ago by its stub
    (as delivery does); returns how many entries were (or, with `dry_run`, would be) scrubbed."""
    from bot.casework.outbox import REJECTED, STUB_FIELDS, _stub, checkpoint_wal

    if days <= 0:
        return 0
    t = sa.table(table, sa.column("id"), sa.column("status"), sa.column("payload"), sa.column("updated_at"))
    cutoff = _naive_utc(cutoff_for(days, now))
    scrubbed = 0
    with engine.begin() as connection:
        if not sa.inspect(connection).has_table(table):
            return 0
        rows = connection.execute(
            sa.select(t.c.id, t.c.payload).where(t.c.status == REJECTED, t.c.updated_at < cutoff)
        ).all()
        for row in rows:
            try:
                payload = json.loads(row.payload)
            except ValueError:
                payload = {}
            if isinstance(payload, dict) and set(payload) <= set(STUB_FIELDS):
                continue  # already a stub
            scrubbed += 1
            if not dry_run:
                stub = _stub(payload) if isinstance(payload, dict) else {name: None for name in STUB_FIELDS}
                connection.execute(
                    sa.update(t).where(t.c.id == row.id).values(payload=json.dumps(stub, ensure_ascii=False))
                )
    if scrubbed and not dry_run:
        checkpoint_wal(engine)
    return scrubbed


def expire_personal_data(engine: sa.engine.Engine, now: float | None = None, dry_run: bool = False,
                         draft_days: float | None = None, rejected_days: float | None = None,
                         table: str = "outbox") -> dict[str, int]:
    """Both expiries on the outbox's database, with the configured ages unless given."""
    draft_days = draft_retention_days() if draft_days is None else draft_days
    rejected_days = rejected_payload_days() if rejected_days is None else rejected_days
    return {
        "drafts": expire_drafts(engine, draft_days, now, dry_run),
        "rejected": scrub_rejected_payloads(engine, rejected_days, now, dry_run, table),
    }
