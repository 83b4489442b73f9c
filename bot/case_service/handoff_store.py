"""Messages of a live 转人工 case: what the person typed after the handoff and what staff replied.

Kept beside the cases (table `handoff_messages`, deleted with its case) so that the conversation
with staff is part of the case record. Citizen text arrives already masked by the Rasa process
(bot.privacy.validation.redact); a contact phone found in it is stored in full on the case's applicant,
as for every other kind of case, so the handoff's own tracking number can be looked up.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Column, ForeignKey, Integer, String, Text, func, select

from .store import AwareDateTime, Base, CaseRow, CaseStore, _record
from .workflow import Kind, Status

CITIZEN, STAFF, SYSTEM = "citizen", "staff", "system"
ROLES = (CITIZEN, STAFF, SYSTEM)


class HandoffMessageRow(Base):
    __tablename__ = "handoff_messages"

    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    role = Column(String(16), nullable=False)
    author = Column(String(64), nullable=False, default="")
    text = Column(Text, nullable=False)
    at = Column(AwareDateTime, nullable=False)


@dataclass(frozen=True)
class HandoffMessage:
    id: int
    tracking_number: str
    role: str
    author: str
    text: str
    at: dt.datetime

    def view(self) -> dict:
        return {
            "id": self.id, "tracking_number": self.tracking_number, "role": self.role,
            "author": self.author, "text": self.text, "at": self.at.isoformat(timespec="seconds"),
        }


def _message(row: HandoffMessageRow, tracking_number: str) -> HandoffMessage:
    return HandoffMessage(row.id, tracking_number, row.role, row.author, row.text, row.at)


class HandoffStore:
    """Handoff messages on top of the case store's engine; each method is one short transaction."""

    def __init__(self, cases: CaseStore) -> None:
        self._sessions = cases._sessions

    def add_citizen_message(self, conversation_id: str, text: str, phone: str | None, now: dt.datetime):
        """(case, message) for the conversation's open handoff case, or None when it has none."""
        with self._sessions() as session, session.begin():
            row = session.execute(
                select(CaseRow)
                .where(CaseRow.conversation_id == conversation_id, CaseRow.kind == Kind.HANDOFF.value,
                       CaseRow.status == Status.RECEIVED.value)
                .order_by(CaseRow.id.desc()).limit(1).with_for_update()
            ).scalar_one_or_none()
            if row is None:
                return None
            if phone and not (row.applicant or {}).get("phone"):
                row.applicant = {**(row.applicant or {}), "phone": phone}
            message = HandoffMessageRow(case_id=row.id, role=CITIZEN, author="", text=text, at=now)
            session.add(message)
            row.updated_at = now
            session.flush()
            return _record(row), _message(message, row.tracking_number)

    def add_message(self, tracking_number: str, role: str, author: str, text: str, now: dt.datetime):
        """(case, message) for a staff or system message on a handoff case; None if no such case."""
        with self._sessions() as session, session.begin():
            row = session.execute(
                select(CaseRow).where(CaseRow.tracking_number == tracking_number, CaseRow.kind == Kind.HANDOFF.value)
            ).scalar_one_or_none()
            if row is None:
                return None
            message = HandoffMessageRow(case_id=row.id, role=role, author=author, text=text, at=now)
            session.add(message)
            session.flush()
            return _record(row), _message(message, row.tracking_number)

    def messages_after(self, after: int, limit: int = 200) -> list[HandoffMessage]:
        with self._sessions() as session, session.begin():
            rows = session.execute(
                select(HandoffMessageRow, CaseRow.tracking_number)
                .join(CaseRow, CaseRow.id == HandoffMessageRow.case_id)
                .where(HandoffMessageRow.id > after).order_by(HandoffMessageRow.id).limit(limit)
            ).all()
            return [_message(row, number) for row, number in rows]

    def case_messages(self, tracking_number: str) -> list[HandoffMessage]:
        with self._sessions() as session, session.begin():
            rows = session.execute(
                select(HandoffMessageRow, CaseRow.tracking_number)
                .join(CaseRow, CaseRow.id == HandoffMessageRow.case_id)
                .where(CaseRow.tracking_number == tracking_number).order_by(HandoffMessageRow.id)
            ).all()
            return [_message(row, number) for row, number in rows]

    def last_id(self) -> int:
        with self._sessions() as session, session.begin():
            return int(session.execute(select(func.max(HandoffMessageRow.id))).scalar_one() or 0)
