"""Persistence: SQLAlchemy 1.4 models and the repository the HTTP layer calls (in a worker thread).

Correctness under concurrency rests on the database, not on the process:
- `cases.idempotency_key` is UNIQUE, so two concurrent requests with one key cannot both insert;
  the loser's IntegrityError is answered with the winner's case.
- tracking numbers are random (bot.casework.tracking_numbers: date, five random digits, check digit), so
  they cannot be listed; `cases.tracking_number` is UNIQUE and a number drawn twice makes the
  transaction fail and start again with a new one;
- failed status look-ups are counted per number in `lookup_failures` in the same transaction that
  checks the phone digits, so a number is locked after a few wrong guesses even when they arrive
  all at once (BEGIN IMMEDIATE on SQLite, a row lock on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import declarative_base, relationship, sessionmaker
from sqlalchemy.types import TypeDecorator

from bot.privacy.private_files import private_sqlite_file
from bot.casework.tracking_numbers import new_number

from .config import AGENCY_TIMEZONE, LookupPolicy
from .errors import ApiError
from .workflow import CREATE_ACTION, Action, CaseState, Decision, Kind, Status

logger = logging.getLogger(__name__)

Base = declarative_base()

# Attempts at creating one case before giving up (each conflict means another request just won).
MAX_CREATE_ATTEMPTS = 20


class AwareDateTime(TypeDecorator):
    """Timezone-aware datetimes on every backend: UTC in the database, agency time when read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the case service stores aware datetimes only")
        value = value.astimezone(dt.timezone.utc)
        # SQLite has no timezone type: store naive UTC and re-attach UTC when reading.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(AGENCY_TIMEZONE)


class CaseRow(Base):
    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("tracking_number", name="uq_cases_tracking_number"),
        UniqueConstraint("idempotency_key", name="uq_cases_idempotency_key"),
    )

    id = Column(Integer, primary_key=True)
    tracking_number = Column(String(24), nullable=False)
    idempotency_key = Column(String(128), nullable=False)
    # SHA-256 of the canonical request body: a replay must carry the same body.
    request_hash = Column(String(64), nullable=False)
    kind = Column(String(16), nullable=False, index=True)
    status = Column(String(32), nullable=False, index=True)
    channel = Column(String(64), nullable=False)
    conversation_id = Column(String(128), nullable=False)
    applicant = Column(JSON, nullable=False)
    request = Column(JSON, nullable=False)
    transcript = Column(JSON, nullable=True)
    received_at = Column(AwareDateTime, nullable=False, index=True)
    # The day the answer period runs from: receipt, or receipt of the corrected application.
    clock_started_on = Column(Date, nullable=True)
    deadline = Column(Date, nullable=True)
    extended = Column(Boolean, nullable=False, default=False)
    correction_requested_at = Column(AwareDateTime, nullable=True)
    correction_received_at = Column(AwareDateTime, nullable=True)
    answered_at = Column(AwareDateTime, nullable=True)
    reply_type = Column(String(40), nullable=True)
    closed_at = Column(AwareDateTime, nullable=True)
    updated_at = Column(AwareDateTime, nullable=False)

    events = relationship("CaseEventRow", order_by="CaseEventRow.id", lazy="selectin", cascade="all, delete-orphan")


class CaseEventRow(Base):
    __tablename__ = "case_events"

    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    action = Column(String(32), nullable=False)
    status = Column(String(32), nullable=False)
    note = Column(Text, nullable=False, default="")
    at = Column(AwareDateTime, nullable=False)


class LookupFailureRow(Base):
    """Failed status look-ups of one tracking number (existing or not: both are counted alike)."""

    __tablename__ = "lookup_failures"

    tracking_number = Column(String(64), primary_key=True)
    failures = Column(Integer, nullable=False, default=0)
    first_failed_at = Column(AwareDateTime, nullable=False)
    locked_until = Column(AwareDateTime, nullable=True)


@dataclass(frozen=True)
class LookupResult:
    case: "CaseRecord | None"
    locked_seconds: float = 0.0  # > 0: refused because the number is locked


@dataclass(frozen=True)
class CaseEvent:
    action: str
    status: Status
    note: str
    at: dt.datetime


@dataclass(frozen=True)
class CaseRecord:
    """A case detached from the session, safe to hand to the event-loop thread."""

    tracking_number: str
    idempotency_key: str
    request_hash: str
    kind: Kind
    status: Status
    channel: str
    conversation_id: str
    applicant: dict
    request: dict
    transcript: list | None
    received_at: dt.datetime
    clock_started_on: dt.date | None
    deadline: dt.date | None
    extended: bool
    correction_requested_at: dt.datetime | None
    correction_received_at: dt.datetime | None
    answered_at: dt.datetime | None
    reply_type: str | None
    closed_at: dt.datetime | None
    updated_at: dt.datetime
    history: tuple[CaseEvent, ...]

    def state(self) -> CaseState:
        return CaseState(self.kind, self.status, self.deadline, self.extended, self.correction_requested_at)


@dataclass(frozen=True)
class NewCase:
    idempotency_key: str
    request_hash: str
    kind: Kind
    prefix: str
    channel: str
    conversation_id: str
    applicant: dict
    request: dict
    transcript: list | None
    received_at: dt.datetime
    deadline: dt.date | None


def _record(row: CaseRow) -> CaseRecord:
    return CaseRecord(
        tracking_number=row.tracking_number,
        idempotency_key=row.idempotency_key,
        request_hash=row.request_hash,
        kind=Kind(row.kind),
        status=Status(row.status),
        channel=row.channel,
        conversation_id=row.conversation_id,
        applicant=row.applicant,
        request=row.request,
        transcript=row.transcript,
        received_at=row.received_at,
        clock_started_on=row.clock_started_on,
        deadline=row.deadline,
        extended=bool(row.extended),
        correction_requested_at=row.correction_requested_at,
        correction_received_at=row.correction_received_at,
        answered_at=row.answered_at,
        reply_type=row.reply_type,
        closed_at=row.closed_at,
        updated_at=row.updated_at,
        history=tuple(CaseEvent(e.action, Status(e.status), e.note, e.at) for e in row.events),
    )


class IdempotencyConflict(Exception):
    """The key was used before with a different body."""


def _json_dumps(value) -> str:
    # Readable Chinese in the database; the values read back are identical either way.
    return json.dumps(value, ensure_ascii=False)


def make_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        private_sqlite_file(url.database)  # 0600, and so its -wal and -shm files: it holds every applicant's data
        engine = create_engine(url, future=True, json_serializer=_json_dumps, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record):
            # Take transaction control from pysqlite so BEGIN IMMEDIATE below is what runs.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection):
            # One writer at a time, decided at BEGIN: no lost updates, no lock upgrades that fail.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, future=True, json_serializer=_json_dumps, pool_pre_ping=True)


class CaseStore:
    """The repository: every method is synchronous and runs one short transaction."""

    def __init__(self, database_url: str):
        self.engine = make_engine(database_url)
        self._sessions = sessionmaker(self.engine, future=True, expire_on_commit=False)

    def create_tables(self) -> None:
        """Brings the database to the newest schema: the migrations (bot.migrations, history "cases")
        are the only source of the tables; a new model table needs a new revision."""
        from bot import migrations

        migrations.upgrade(self.engine, "cases")

    def dispose(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            logger.warning("case database unreachable", exc_info=True)
            return False

    def _find_by_key(self, session, key: str) -> CaseRow | None:
        return session.execute(select(CaseRow).where(CaseRow.idempotency_key == key)).scalar_one_or_none()

    @staticmethod
    def _replay(row: CaseRow, request_hash: str) -> CaseRecord:
        if row.request_hash != request_hash:
            raise IdempotencyConflict(row.tracking_number)
        return _record(row)

    def create_case(self, new: NewCase) -> tuple[CaseRecord, bool]:
        """Insert the case, or return the one already made with this key; True if newly created."""
        day = new.received_at.astimezone(AGENCY_TIMEZONE).strftime("%Y%m%d")
        for _attempt in range(MAX_CREATE_ATTEMPTS):
            with self._sessions() as session:
                try:
                    with session.begin():
                        existing = self._find_by_key(session, new.idempotency_key)
                        if existing is not None:
                            return self._replay(existing, new.request_hash), False
                        row = CaseRow(
                            tracking_number=new_number(new.prefix, day),
                            idempotency_key=new.idempotency_key,
                            request_hash=new.request_hash,
                            kind=new.kind.value,
                            status=Status.RECEIVED.value,
                            channel=new.channel,
                            conversation_id=new.conversation_id,
                            applicant=new.applicant,
                            request=new.request,
                            transcript=new.transcript,
                            received_at=new.received_at,
                            clock_started_on=new.received_at.astimezone(AGENCY_TIMEZONE).date(),
                            deadline=new.deadline,
                            extended=False,
                            updated_at=new.received_at,
                            events=[CaseEventRow(action=CREATE_ACTION, status=Status.RECEIVED.value, note="", at=new.received_at)],
                        )
                        session.add(row)
                        session.flush()
                        record = _record(row)
                    return record, True
                except IntegrityError:
                    # Another transaction won the key, or the random number was taken.
                    logger.debug("create conflict, retrying", exc_info=True)
                    continue
        raise ApiError(503, "busy", "系统繁忙，请稍后重试")

    def get_case(self, tracking_number: str) -> CaseRecord | None:
        with self._sessions() as session, session.begin():
            row = session.execute(select(CaseRow).where(CaseRow.tracking_number == tracking_number)).scalar_one_or_none()
            return _record(row) if row is not None else None

    def look_up(
        self,
        tracking_number: str,
        matches: Callable[[CaseRecord], bool],
        now: dt.datetime,
        policy: LookupPolicy,
    ) -> LookupResult:
        """The case when it exists and `matches` (the applicant's phone digits); every other answer
        counts as one failed look-up of this number, and a locked number is refused outright."""
        for _attempt in range(MAX_CREATE_ATTEMPTS):
            with self._sessions() as session:
                try:
                    with session.begin():
                        failures = session.execute(
                            select(LookupFailureRow).where(LookupFailureRow.tracking_number == tracking_number).with_for_update()
                        ).scalar_one_or_none()
                        if failures is not None and failures.locked_until is not None and failures.locked_until > now:
                            return LookupResult(None, (failures.locked_until - now).total_seconds())
                        row = session.execute(select(CaseRow).where(CaseRow.tracking_number == tracking_number)).scalar_one_or_none()
                        record = _record(row) if row is not None else None
                        if record is not None and matches(record):
                            if failures is not None:
                                session.delete(failures)
                            return LookupResult(record)
                        window = dt.timedelta(seconds=policy.lock_seconds)
                        if failures is None:
                            failures = LookupFailureRow(tracking_number=tracking_number, failures=0, first_failed_at=now)
                            session.add(failures)
                        elif failures.locked_until is not None or failures.first_failed_at + window <= now:
                            failures.failures, failures.first_failed_at, failures.locked_until = 0, now, None
                        failures.failures += 1
                        if failures.failures >= policy.max_failures:
                            failures.locked_until = now + window
                            logger.warning("tracking number %s locked after %d failed look-ups", tracking_number, failures.failures)
                        session.flush()
                    return LookupResult(None)
                except IntegrityError:  # a concurrent first failure of the same number: count again
                    continue
        raise ApiError(503, "busy", "系统繁忙，请稍后重试")

    def open_deadlines(self) -> list[tuple[str, dt.date, int]]:
        """(kind, deadline, number of open cases) for cases whose answer period is running (metrics)."""
        open_statuses = [Status.RECEIVED.value, Status.CORRECTION_REQUESTED.value, Status.EXTENDED.value]
        with self._sessions() as session, session.begin():
            rows = session.execute(
                select(CaseRow.kind, CaseRow.deadline, func.count())
                .where(CaseRow.status.in_(open_statuses), CaseRow.deadline.isnot(None))
                .group_by(CaseRow.kind, CaseRow.deadline)
            ).all()
        return [(kind, deadline, int(n)) for kind, deadline, n in rows]

    def list_cases(self, status: Status | None, kind: Kind | None, limit: int, offset: int) -> tuple[list[CaseRecord], int]:
        conditions = []
        if status is not None:
            conditions.append(CaseRow.status == status.value)
        if kind is not None:
            conditions.append(CaseRow.kind == kind.value)
        with self._sessions() as session, session.begin():
            total = session.execute(select(func.count()).select_from(CaseRow).where(*conditions)).scalar_one()
            rows = session.execute(
                select(CaseRow).where(*conditions).order_by(CaseRow.received_at.desc(), CaseRow.id.desc()).limit(limit).offset(offset)
            ).scalars().all()
            return [_record(row) for row in rows], total

    def apply_transition(
        self,
        tracking_number: str,
        action: Action,
        note: str,
        now: dt.datetime,
        decide: Callable[[CaseState], Decision],
    ) -> CaseRecord | None:
        """Lock the case, let `decide` judge the action (it may raise), and record the result."""
        with self._sessions() as session, session.begin():
            row = session.execute(
                select(CaseRow).where(CaseRow.tracking_number == tracking_number).with_for_update()
            ).scalar_one_or_none()
            if row is None:
                return None
            decision = decide(_record(row).state())
            for column, value in decision.changes.items():
                setattr(row, column, value)
            row.status = decision.status.value
            row.updated_at = now
            row.events.append(CaseEventRow(action=action.value, status=decision.status.value, note=note, at=now))
            session.flush()
            return _record(row)
