"""Erasure of one person's data on request (PIPL art. 47): `govbot erase`.

A person is found by a phone number, or by a case (tracking) number, which stands for the phone
of that case's applicant (plus the case itself when its phone is missing). What belongs to them:
- cases in the case service's database whose number matches, or whose applicant phone matches
  (their history rows and live-handoff messages go with them; failed look-ups of the number too);
- outbox entries whose tracking number is one of those cases, or whose payload names the phone;
- the conversations those cases and entries came from: their form drafts and their tracker events;
  drafts whose phone field matches add their conversation too.
Nothing else is touched: other people's cases, entries and conversations stay as they are.

Every erasure (not a dry run) writes one row to `erasure_audit` in the outbox database: when, who
(the operator), which kind of identifier, and how many rows of each store were deleted — never
the identifier, the conversation ids or any content, so the audit itself holds no personal data.

SQLite files are scrubbed: deletes run with `secure_delete`, then the WAL is truncated and the
file vacuumed, so the erased bytes remain in neither the database file nor its WAL.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

AUDIT_TABLE = "erasure_audit"

_cases = sa.table(
    "cases", sa.column("id"), sa.column("tracking_number"), sa.column("conversation_id"), sa.column("applicant")
)
_case_events = sa.table("case_events", sa.column("case_id"))
_handoff_messages = sa.table("handoff_messages", sa.column("case_id"))  # live 转人工 (bot.handoff)
_lookup_failures = sa.table("lookup_failures", sa.column("tracking_number"))
_outbox = sa.table(
    "outbox", sa.column("id"), sa.column("tracking_number"), sa.column("conversation_id"), sa.column("payload")
)
_drafts = sa.table("request_drafts", sa.column("conversation_id"), sa.column("field"), sa.column("value"))
_events = sa.table("events", sa.column("sender_id"))


def phone_key(phone: str) -> str:
    """Digits of a phone number, without a leading +86/0086, so 「138-0013-8000」 matches 「+86 13800138000」."""
    digits = re.sub(r"\D", "", phone or "")
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            return digits[len(prefix):]
    return digits


def _json(value: Any) -> Any:
    if isinstance(value, (str, bytes)):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _payload_phone(payload: Any) -> str:
    applicant = (_json(payload) or {}).get("applicant") if isinstance(_json(payload), dict) else None
    return phone_key(applicant.get("phone", "")) if isinstance(applicant, dict) and isinstance(applicant.get("phone"), str) else ""


@dataclass
class ErasurePlan:
    """What one erasure deletes: ids per store (shown in a dry run, counted in the audit)."""

    case_ids: list[int] = field(default_factory=list)
    tracking_numbers: set[str] = field(default_factory=set)
    outbox_ids: list[int] = field(default_factory=list)
    conversation_ids: set[str] = field(default_factory=set)
    drafts: int = 0
    tracker_events: int = 0
    tracker_checked: bool = False

    @property
    def empty(self) -> bool:
        return not (self.case_ids or self.outbox_ids or self.drafts or self.tracker_events)

    def counts(self) -> dict[str, int]:
        return {
            "cases": len(self.case_ids),
            "outbox": len(self.outbox_ids),
            "drafts": self.drafts,
            "tracker_events": self.tracker_events,
            "conversations": len(self.conversation_ids),
        }

    def lines(self) -> list[str]:
        """Chinese summary for the operator (the tracking numbers are the operator's own reference)."""
        numbers = "、".join(sorted(self.tracking_numbers)) or "无"
        tracker = f"{self.tracker_events} 条" if self.tracker_checked else "未检查（对话存于 Rasa 进程内存或未配置）"
        return [
            f"办理案件：{len(self.case_ids)} 件（编号：{numbers}）",
            f"发件箱记录（待发送、已发送、被拒）：{len(self.outbox_ids)} 条",
            f"未提交的表单草稿：{self.drafts} 项",
            f"涉及对话：{len(self.conversation_ids)} 个，对话记录事件：{tracker}",
        ]


def _has(connection, name: str) -> bool:
    return sa.inspect(connection).has_table(name)


def _engine(url: str) -> sa.engine.Engine:
    """A plain engine; SQLite connections overwrite deleted content (secure_delete)."""
    engine = sa.create_engine(url, future=True)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _secure(dbapi_connection, _record) -> None:  # pragma: no cover - exercised via engine
            dbapi_connection.execute("PRAGMA secure_delete=ON")

    return engine


def _scrub_sqlite(engine: sa.engine.Engine) -> None:
    """Truncate the WAL and rebuild the file, so no freed page keeps erased bytes."""
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()
    try:
        raw.isolation_level = None
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.execute("VACUUM")
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


class Eraser:
    """Finds and erases one person's data across the case, outbox (+drafts) and tracker databases."""

    def __init__(self, case_url: str | None, outbox_url: str | None, tracker_url: str | None) -> None:
        self.engines = {
            name: _engine(url) for name, url in (("cases", case_url), ("outbox", outbox_url), ("tracker", tracker_url)) if url
        }

    def close(self) -> None:
        for engine in self.engines.values():
            engine.dispose()

    def plan(self, tracking_number: str | None = None, phone: str | None = None) -> ErasurePlan:
        if bool(tracking_number) == bool(phone):
            raise ValueError("请给出案件编号或手机号码之一")
        plan = ErasurePlan()
        wanted_phone = phone_key(phone) if phone else ""
        if phone and len(wanted_phone) < 7:
            raise ValueError("手机号码至少应有 7 位数字")
        if tracking_number:
            plan.tracking_numbers.add(tracking_number.strip().upper())
        cases = self.engines.get("cases")
        if cases is not None:
            with cases.connect() as connection:
                rows = connection.execute(sa.select(_cases)).all() if _has(connection, "cases") else []
                phones = {}
                for row in rows:
                    applicant = _json(row.applicant)
                    phones[row.id] = phone_key(applicant.get("phone", "")) if isinstance(applicant, dict) else ""
                    if not wanted_phone and row.tracking_number in plan.tracking_numbers:
                        wanted_phone = phones[row.id]  # the case's applicant: the rest of their data too
                if rows:
                    for row in rows:
                        row_phone = phones[row.id]
                        if row.tracking_number in plan.tracking_numbers or (wanted_phone and row_phone == wanted_phone):
                            plan.case_ids.append(row.id)
                            plan.tracking_numbers.add(row.tracking_number)
                            plan.conversation_ids.add(row.conversation_id)
        outbox = self.engines.get("outbox")
        if outbox is not None:
            with outbox.connect() as connection:
                if _has(connection, "outbox"):
                    for row in connection.execute(sa.select(_outbox)):
                        if row.tracking_number in plan.tracking_numbers or (
                            wanted_phone and _payload_phone(row.payload) == wanted_phone
                        ):
                            plan.outbox_ids.append(row.id)
                            if row.tracking_number:
                                plan.tracking_numbers.add(row.tracking_number)
                            if row.conversation_id:
                                plan.conversation_ids.add(row.conversation_id)
                if _has(connection, "request_drafts"):
                    rows = connection.execute(sa.select(_drafts)).all()
                    if wanted_phone:
                        plan.conversation_ids |= {
                            r.conversation_id for r in rows if r.field == "phone" and phone_key(r.value) == wanted_phone
                        }
                    plan.drafts = sum(1 for r in rows if r.conversation_id in plan.conversation_ids)
        tracker = self.engines.get("tracker")
        if tracker is not None:
            plan.tracker_checked = True
            with tracker.connect() as connection:
                if _has(connection, "events") and plan.conversation_ids:
                    plan.tracker_events = connection.execute(
                        sa.select(sa.func.count()).select_from(_events).where(_events.c.sender_id.in_(plan.conversation_ids))
                    ).scalar() or 0
        return plan

    def erase(self, plan: ErasurePlan, operator: str, identifier_kind: str, reason: str = "") -> dict[str, int]:
        """Deletes what `plan` found, store by store, and records the audit entry; returns the counts."""
        conversations = list(plan.conversation_ids)
        numbers = list(plan.tracking_numbers)
        done = {"cases": 0, "outbox": 0, "drafts": 0, "tracker_events": 0, "conversations": len(conversations)}
        if "cases" in self.engines:
            engine = self.engines["cases"]
            with engine.begin() as connection:
                if plan.case_ids:
                    connection.execute(sa.delete(_case_events).where(_case_events.c.case_id.in_(plan.case_ids)))
                    if _has(connection, "handoff_messages"):
                        connection.execute(sa.delete(_handoff_messages).where(_handoff_messages.c.case_id.in_(plan.case_ids)))
                    done["cases"] = connection.execute(sa.delete(_cases).where(_cases.c.id.in_(plan.case_ids))).rowcount
                if numbers and _has(connection, "lookup_failures"):
                    connection.execute(sa.delete(_lookup_failures).where(_lookup_failures.c.tracking_number.in_(numbers)))
            _scrub_sqlite(engine)
        if "outbox" in self.engines:
            engine = self.engines["outbox"]
            with engine.begin() as connection:
                if plan.outbox_ids:
                    done["outbox"] = connection.execute(sa.delete(_outbox).where(_outbox.c.id.in_(plan.outbox_ids))).rowcount
                if conversations and _has(connection, "request_drafts"):
                    done["drafts"] = connection.execute(
                        sa.delete(_drafts).where(_drafts.c.conversation_id.in_(conversations))
                    ).rowcount
            _scrub_sqlite(engine)
        if "tracker" in self.engines and conversations:
            engine = self.engines["tracker"]
            with engine.begin() as connection:
                if _has(connection, "events"):
                    done["tracker_events"] = connection.execute(
                        sa.delete(_events).where(_events.c.sender_id.in_(conversations))
                    ).rowcount
            _scrub_sqlite(engine)
        self._audit(operator, identifier_kind, reason, done)
        return done

    def _audit(self, operator: str, identifier_kind: str, reason: str, counts: dict[str, int]) -> None:
        engine = self.engines.get("outbox") or next(iter(self.engines.values()))
        metadata = sa.MetaData()
        table = audit_table(metadata)
        metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(
                table.insert().values(
                    erased_at=datetime.now(timezone.utc).replace(tzinfo=None),
                    operator=operator[:128],
                    identifier_kind=identifier_kind,
                    reason=reason[:200],
                    counts=json.dumps(counts, sort_keys=True),
                )
            )

    def audit_entries(self) -> list[dict[str, Any]]:
        engine = self.engines.get("outbox") or next(iter(self.engines.values()))
        with engine.connect() as connection:
            if not _has(connection, AUDIT_TABLE):
                return []
            table = audit_table(sa.MetaData())
            return [dict(row._mapping) for row in connection.execute(sa.select(table).order_by(table.c.id))]


def audit_table(metadata: sa.MetaData) -> sa.Table:
    """One row per erasure: when, who, by which kind of identifier, how many rows — no personal data."""
    return sa.Table(
        AUDIT_TABLE,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("erased_at", sa.DateTime, nullable=False),
        sa.Column("operator", sa.String(128), nullable=False),
        sa.Column("identifier_kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False, default=""),
        sa.Column("counts", sa.Text, nullable=False),
    )

