"""Durable outbox between the action server and the agency's case system: the store.

A confirmed request (disclosure application, complaint, suggestion, human handoff) is first written
here — committed before the bot says anything — and only then sent to the case system (by
bot.casework.outbox_delivery). That way no request is lost when the case system is down or the action
server crashes, and none is filed twice:

* every entry has an idempotency key, unique in the table. The caller chooses it: a fresh
  `new_idempotency_key()` when the person confirms, or `derive_idempotency_key(conversation_id,
  form_instance_id)` so a double-clicked 「确认提交」 maps to the same key. Enqueuing a key that is
  already there returns the existing entry instead of adding a second one;
* the same key goes to the case system on every attempt, so even a retry after a lost response (or two
  workers racing) gets the same case back (HTTP 200 replay) rather than a new one;
* a sender claims an entry with a lease (`Outbox.claim`: `claimed_until`, plus `SELECT … FOR UPDATE
  SKIP LOCKED` on PostgreSQL) before sending, so several action-server processes sharing one outbox
  never send the same entry at the same time; `mark_delivered`, `mark_retry` (with the backoff) and
  `mark_rejected` record what the case system answered.

The outbox keeps the case client its entries go to: a lease must outlast one attempt through it, and
delivery sends through it.

Personal data: the full payload stays in the outbox only until delivery; then it is replaced by a stub
(kind, channel, conversation_id). `last_error` holds HTTP statuses, error codes and exception class
names, never the case system's free-text message or anything from the payload. SQLite runs with
`secure_delete`, and every path that removes personal data (a delivered payload replaced by its
stub, drafts forgotten: bot/casework/drafts.py) checkpoints the WAL with TRUNCATE right away and checks that
the WAL file is empty, so the removed data lingers neither in the database file nor in the WAL. The
database files are created readable by their owner only (bot/privacy/private_files.py).

Storage: SQLite `var/outbox.db` by default, or any SQLAlchemy URL in `GOVBOT_OUTBOX_DATABASE_URL`
(PostgreSQL: `postgresql+psycopg2://user@host/db`). The engine is synchronous (SQLAlchemy 1.4); async
methods run it in `asyncio.to_thread`.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import re
import time
import uuid
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import QueuePool

from bot.casework.case_client import (
    CaseClient,
    CaseRejected,
    CaseSystemUnavailable,
    key_prefix,
    validate_key,
)
from bot.privacy.private_files import private_sqlite_file
from bot.casework.request_kinds import KINDS as REQUEST_KINDS
from bot.settings.casework import CaseworkSettings

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # bot/casework/ -> the project
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'outbox.db'}"

PENDING, DELIVERED, REJECTED = "pending", "delivered", "rejected"
KINDS = tuple(kind.code for kind in REQUEST_KINDS)
STUB_FIELDS = ("kind", "channel", "conversation_id")
# 4xx answers that say the bot is misconfigured (token, URL), not that the request is bad: keep retrying.
CONFIGURATION_STATUSES = frozenset({401, 403, 404, 405})
SQLITE_BUSY_TIMEOUT = 10.0
_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")  # index names stay under 63 chars
DEFAULT_TABLE_NAME = "outbox"  # the table bot.migrations manages


def new_idempotency_key() -> str:
    """A fresh key for a request the person has just confirmed."""
    return uuid.uuid4().hex


def derive_idempotency_key(conversation_id: str, form_instance_id: str, kind: str = "") -> str:
    """The same key for the same conversation and form instance (so a double click is one request).

    Hashed, so the conversation id (which may be a channel user id) is not what appears in headers and logs.
    """
    if not conversation_id or not form_instance_id:
        raise ValueError("conversation_id and form_instance_id are both required")
    material = "\x1f".join(("govbot-outbox-v1", kind, str(conversation_id), str(form_instance_id)))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _utcnow() -> datetime:
    """Naive UTC, as stored (SQLite has no time zones; PostgreSQL columns are `timestamp`)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def _stub(payload: dict[str, Any]) -> dict[str, Any]:
    return {name: payload.get(name) for name in STUB_FIELDS}


def _safe_error(exc: BaseException) -> str:
    """What of an error may be stored: class, HTTP status, error code, field paths — no free text from outside."""
    if isinstance(exc, CaseRejected):
        return f"{type(exc).__name__} {exc.summary}"[:200]
    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    parts = [type(exc).__name__]
    if status:
        parts.append(f"HTTP {status}")
    if code:
        parts.append(re.sub(r"[^A-Za-z0-9_.:-]", "", str(code))[:60])
    elif isinstance(exc, CaseSystemUnavailable):
        # Our own messages ("create case: timed out", "…: ClientConnectorError"), no outside text.
        parts.append(str(exc).split(": ", 1)[-1][:80])
    return " ".join(parts)[:200]


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    idempotency_key: str
    kind: str
    status: str
    attempts: int
    tracking_number: str | None
    last_error: str | None
    last_http_status: int | None
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    conversation_id: str | None
    payload: dict[str, Any] = field(repr=False, compare=False)

    @property
    def pending(self) -> bool:
        return self.status == PENDING

    @property
    def delivered(self) -> bool:
        return self.status == DELIVERED

    @property
    def rejected(self) -> bool:
        return self.status == REJECTED


def _table(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("idempotency_key", String(128), nullable=False, unique=True),
        Column("kind", String(32), nullable=False),
        Column("conversation_id", String(255)),
        Column("payload", Text, nullable=False),
        Column("status", String(16), nullable=False, default=PENDING),
        Column("attempts", Integer, nullable=False, default=0),
        Column("next_attempt_at", DateTime, nullable=False),
        Column("claimed_until", DateTime),
        Column("claimed_by", String(64)),
        Column("last_error", String(200)),
        Column("last_http_status", Integer),
        Column("tracking_number", String(64)),
        Column("created_at", DateTime, nullable=False),
        Column("updated_at", DateTime, nullable=False),
        Column("delivered_at", DateTime),
        Index(f"ix_{name}_due", "status", "next_attempt_at"),
        Index(f"ix_{name}_conversation", "conversation_id"),
    )


def create_schema(metadata: MetaData, engine: Engine) -> None:
    """CREATE TABLE IF NOT EXISTS, safe when several replicas start at once.

    SQLAlchemy checks for the table and then creates it; a second replica in between makes
    PostgreSQL refuse the CREATE (duplicate pg_type row). The table then exists, so once more suffices.
    """
    try:
        metadata.create_all(engine)
    except (IntegrityError, DBAPIError):
        metadata.create_all(engine)


def make_engine(database_url: str) -> Engine:
    """The engine the outbox and the draft store share (SQLite: WAL, busy timeout, secure delete)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(database_url, future=True, pool_pre_ping=True)
    private_sqlite_file(url.database)  # 0600, and so its -wal and -shm files
    engine = create_engine(
        database_url,
        future=True,
        # Keep connections open (SQLAlchemy 1.4 would open the file for every transaction): with the last
        # connection closing, SQLite checkpoints and deletes the WAL each time, which costs fsyncs.
        poolclass=QueuePool,
        pool_size=4,
        max_overflow=8,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _sqlite_connect(dbapi_connection, _record) -> None:  # pragma: no cover - exercised via engine
        # Let SQLAlchemy (the "begin" hook below) issue BEGIN, not pysqlite's lazy, deferred one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}")
        cursor.execute("PRAGMA synchronous=FULL")  # a committed entry survives power loss, not only a crash
        cursor.execute("PRAGMA secure_delete=ON")  # scrubbed payloads are overwritten, not just unlinked
        cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(connection) -> None:  # pragma: no cover - exercised via engine
        # Take the write lock up front: no read-then-upgrade races between processes claiming entries.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


# Engines whose last WAL checkpoint did not finish (a reader held on): the deliverer retries when idle.
_UNFINISHED_CHECKPOINTS: "weakref.WeakSet[Engine]" = weakref.WeakSet()
CHECKPOINT_ATTEMPTS = 3
CHECKPOINT_WAIT_MS = 200


def checkpoint_wal(engine: Engine, attempts: int = CHECKPOINT_ATTEMPTS) -> bool:
    """SQLite in WAL mode: copy the WAL into the database file and truncate the WAL to zero bytes.

    Called right after personal data is deleted or overwritten, so that it stays in neither file
    (`secure_delete` zeroes it in the database file once the checkpoint copies the pages there).
    Checks that it worked: SQLite reports no busy reader and the -wal file is empty. A reader in
    another connection can hold it up; then it is tried again a few times, and when it still fails
    it is logged and `checkpoint_pending(engine)` stays true until a later checkpoint succeeds.
    Other databases: nothing to do (True).
    """
    if engine.dialect.name != "sqlite":
        return True
    path = engine.url.database
    wal = Path(f"{path}-wal") if path and path != ":memory:" and not path.startswith("file:") else None
    for attempt in range(max(1, attempts)):
        raw = engine.raw_connection()  # autocommit: a checkpoint cannot run inside a transaction
        try:
            cursor = raw.cursor()
            # TRUNCATE waits for readers through the busy handler: briefly, not the 10 s writers get.
            cursor.execute(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS}")
            try:
                busy, _frames, _copied = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}")
                cursor.close()
        finally:
            raw.close()
        if busy == 0 and (wal is None or not wal.exists() or wal.stat().st_size == 0):
            _UNFINISHED_CHECKPOINTS.discard(engine)
            return True
        time.sleep(0.05 * (attempt + 1))
    _UNFINISHED_CHECKPOINTS.add(engine)
    log.warning("outbox: WAL checkpoint did not finish (a reader holds the WAL); retried when idle")
    return False


def checkpoint_pending(engine: Engine) -> bool:
    """Whether the last checkpoint of this engine's WAL did not finish."""
    return engine in _UNFINISHED_CHECKPOINTS


class Outbox:
    """The outbox table and the operations on it. Thread-safe; share one per process."""

    def __init__(
        self,
        database_url: str | None = None,
        client: CaseClient | None = None,
        *,
        table_name: str = DEFAULT_TABLE_NAME,
        retry_base: float = 1.0,
        retry_cap: float = 300.0,
        lease_seconds: float | None = None,
    ) -> None:
        if not _TABLE_NAME.match(table_name):
            raise ValueError(f"invalid outbox table name {table_name!r}")
        self.database_url = (
            database_url or CaseworkSettings.read("outbox_database_url") or DEFAULT_DATABASE_URL
        )
        self.client = client if client is not None else CaseClient.from_env()
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        # A claim must outlast one HTTP attempt, or a second sender could start while the first is still waiting.
        self.lease_seconds = lease_seconds if lease_seconds is not None else self.client.total_timeout + 20.0
        self.engine = make_engine(self.database_url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.is_postgresql = self.engine.dialect.name == "postgresql"
        self.metadata = MetaData()
        self.table = _table(self.metadata, table_name)
        self._create_schema()

    def _create_schema(self) -> None:
        """The outbox database's tables by its migrations (bot.migrations); a table of another
        name (tests keep theirs apart) is created directly."""
        if self.table.name == DEFAULT_TABLE_NAME:
            from bot import migrations

            migrations.upgrade(self.engine, "outbox")
        else:
            create_schema(self.metadata, self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def drop(self) -> None:
        """Drop the table (tests)."""
        self.metadata.drop_all(self.engine)

    # -- reading -----------------------------------------------------------------------------------

    def _entry(self, row: Any) -> OutboxEntry:
        m = row._mapping
        return OutboxEntry(
            id=m["id"],
            idempotency_key=m["idempotency_key"],
            kind=m["kind"],
            status=m["status"],
            attempts=m["attempts"],
            tracking_number=m["tracking_number"],
            last_error=m["last_error"],
            last_http_status=m["last_http_status"],
            created_at=_aware(m["created_at"]),
            next_attempt_at=_aware(m["next_attempt_at"]) if m["status"] == PENDING else None,
            delivered_at=_aware(m["delivered_at"]),
            conversation_id=m["conversation_id"],
            payload=json.loads(m["payload"]),
        )

    def status(self, idempotency_key: str) -> OutboxEntry | None:
        """The entry for a key, e.g. to tell the person their tracking number once delivery went through."""
        with self.engine.begin() as conn:
            row = conn.execute(select(self.table).where(self.table.c.idempotency_key == idempotency_key)).first()
        return self._entry(row) if row is not None else None

    def entries_for_conversation(self, conversation_id: str, limit: int = 10) -> list[OutboxEntry]:
        """The conversation's requests, newest first (「我的申请办到哪了」 without a tracking number)."""
        t = self.table
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(t).where(t.c.conversation_id == conversation_id).order_by(t.c.id.desc()).limit(limit)
            ).all()
        return [self._entry(row) for row in rows]

    def lag(self) -> tuple[int, float]:
        """(pending entries, age in seconds of the oldest pending one) — for health and readiness checks."""
        t = self.table
        with self.engine.begin() as conn:
            count, oldest = conn.execute(
                select(func.count(t.c.id), func.min(t.c.created_at)).where(t.c.status == PENDING)
            ).one()
        age = max(0.0, (_utcnow() - oldest).total_seconds()) if oldest is not None else 0.0
        return int(count or 0), age

    def counts(self) -> dict[str, int]:
        t = self.table
        with self.engine.begin() as conn:
            rows = conn.execute(select(t.c.status, func.count(t.c.id)).group_by(t.c.status)).all()
        return {PENDING: 0, DELIVERED: 0, REJECTED: 0, **{status: int(n) for status, n in rows}}

    # -- writing -----------------------------------------------------------------------------------

    def enqueue(self, kind: str, payload: dict[str, Any], idempotency_key: str) -> OutboxEntry:
        """Store a confirmed request durably (committed when this returns). The same key twice → the same entry."""
        validate_key(idempotency_key)
        if kind not in KINDS:
            raise ValueError(f"unknown request kind {kind!r}")
        if payload.get("kind", kind) != kind:
            raise ValueError("payload kind differs from kind")
        body = {**payload, "kind": kind}
        text = json.dumps(body, ensure_ascii=False)
        conversation_id = body.get("conversation_id")
        now = _utcnow()
        values = dict(
            idempotency_key=idempotency_key,
            kind=kind,
            conversation_id=str(conversation_id)[:255] if conversation_id is not None else None,
            payload=text,
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        t = self.table
        with self.engine.begin() as conn:
            if self.is_sqlite or self.is_postgresql:
                if self.is_sqlite:
                    from sqlalchemy.dialects.sqlite import insert
                else:
                    from sqlalchemy.dialects.postgresql import insert
                result = conn.execute(
                    insert(t).values(**values).on_conflict_do_nothing(index_elements=[t.c.idempotency_key])
                )
                created = result.rowcount == 1
            else:  # pragma: no cover - other databases
                try:
                    with conn.begin_nested():
                        conn.execute(t.insert().values(**values))
                    created = True
                except IntegrityError:
                    created = False
            row = conn.execute(select(t).where(t.c.idempotency_key == idempotency_key)).one()
        entry = self._entry(row)
        if created:
            log.info("outbox: queued %s key %s (entry %s)", kind, key_prefix(idempotency_key), entry.id)
        else:
            log.info(
                "outbox: %s key %s already queued as entry %s (%s)",
                kind, key_prefix(idempotency_key), entry.id, entry.status,
            )
            if entry.kind != kind:
                log.warning("outbox: key %s re-used for a different kind; kept the first", key_prefix(idempotency_key))
        return entry

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failure: base doubling to the cap, with jitter (½–1×)."""
        delay = min(self.retry_cap, self.retry_base * (2 ** min(max(attempts, 1) - 1, 30)))
        return delay / 2 + random.uniform(0, delay / 2)

    # -- claiming and recording results (sync; used through asyncio.to_thread) -----------------------

    def claim(self, worker: str, idempotency_key: str | None = None) -> OutboxEntry | None:
        """Lease one pending entry to `worker`: the given key (whatever its backoff), or the oldest due one."""
        t = self.table
        now = _utcnow()
        free = or_(t.c.claimed_until.is_(None), t.c.claimed_until < now)
        with self.engine.begin() as conn:
            query = select(t.c.id).where(t.c.status == PENDING, free)
            if idempotency_key is not None:
                query = query.where(t.c.idempotency_key == idempotency_key)
            else:
                query = query.where(t.c.next_attempt_at <= now).order_by(t.c.id).limit(1)
            if self.is_postgresql:
                query = query.with_for_update(skip_locked=True)
            row_id = conn.execute(query).scalar()
            if row_id is None:
                return None
            # Conditional update: on any database, only one claimer can win the lease.
            claimed = conn.execute(
                update(t)
                .where(t.c.id == row_id, t.c.status == PENDING, free)
                .values(
                    claimed_until=now + timedelta(seconds=self.lease_seconds),
                    claimed_by=worker,
                    attempts=t.c.attempts + 1,
                    updated_at=now,
                )
            ).rowcount
            if claimed != 1:
                return None
            row = conn.execute(select(t).where(t.c.id == row_id)).one()
        return self._entry(row)

    def mark_delivered(self, entry: OutboxEntry, case: dict[str, Any]) -> None:
        t = self.table
        now = _utcnow()
        with self.engine.begin() as conn:
            done = conn.execute(
                update(t)
                .where(t.c.id == entry.id, t.c.status == PENDING)
                .values(
                    status=DELIVERED,
                    tracking_number=case["tracking_number"],
                    delivered_at=now,
                    updated_at=now,
                    payload=json.dumps(_stub(entry.payload), ensure_ascii=False),
                    claimed_until=None,
                    claimed_by=None,
                    last_error=None,
                    last_http_status=None,
                )
            ).rowcount
            if not done:
                current = conn.execute(select(t.c.status, t.c.tracking_number).where(t.c.id == entry.id)).one()
        if done:
            self.checkpoint()  # the full payload must not stay behind in the WAL
        if not done and current.tracking_number != case["tracking_number"]:
            log.error(
                "outbox: entry %s is %s with %s but the case system returned %s",
                entry.id, current.status, current.tracking_number, case["tracking_number"],
            )

    def mark_retry(self, entry: OutboxEntry, worker: str, exc: BaseException) -> None:
        t = self.table
        now = _utcnow()
        with self.engine.begin() as conn:
            conn.execute(
                update(t)
                .where(t.c.id == entry.id, t.c.status == PENDING, t.c.claimed_by == worker)
                .values(
                    next_attempt_at=now + timedelta(seconds=self.backoff(entry.attempts)),
                    claimed_until=None,
                    claimed_by=None,
                    last_error=_safe_error(exc),
                    last_http_status=getattr(exc, "status", None),
                    updated_at=now,
                )
            )

    def mark_rejected(self, entry: OutboxEntry, exc: CaseRejected) -> None:
        t = self.table
        now = _utcnow()
        with self.engine.begin() as conn:
            conn.execute(
                update(t)
                .where(t.c.id == entry.id, t.c.status == PENDING)
                .values(
                    status=REJECTED,
                    claimed_until=None,
                    claimed_by=None,
                    last_error=_safe_error(exc),
                    last_http_status=exc.status,
                    updated_at=now,
                )
            )

    def release(self, entry_id: int, worker: str) -> None:
        t = self.table
        with self.engine.begin() as conn:
            conn.execute(
                update(t)
                .where(t.c.id == entry_id, t.c.claimed_by == worker, t.c.status == PENDING)
                .values(claimed_until=None, claimed_by=None)
            )

    def checkpoint(self) -> bool:
        """SQLite: fold the WAL into the database and truncate it, so scrubbed payloads leave the WAL
        file; True when it worked (`checkpoint_wal`)."""
        return checkpoint_wal(self.engine)

    # async conveniences for the action server
    async def aenqueue(self, kind: str, payload: dict[str, Any], idempotency_key: str) -> OutboxEntry:
        return await asyncio.to_thread(self.enqueue, kind, payload, idempotency_key)

    async def astatus(self, idempotency_key: str) -> OutboxEntry | None:
        return await asyncio.to_thread(self.status, idempotency_key)

    async def alag(self) -> tuple[int, float]:
        return await asyncio.to_thread(self.lag)
