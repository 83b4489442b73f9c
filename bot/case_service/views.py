"""What each role may see of a case.

The bot talks to the public, so its view has status and dates only: no applicant data, no request
text, no transcript (personal information stays inside the agency's case system), and no staff
notes in the history (they are internal working notes).
"""

from __future__ import annotations

import datetime as dt

from .store import CaseRecord
from .workflow import KIND_LABELS, REPLY_TYPE_LABELS, STATUS_LABELS, ReplyType


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    return value.isoformat()


def _reply_type_label(value: str | None) -> str | None:
    return REPLY_TYPE_LABELS[ReplyType(value)] if value else None


def _history(case: CaseRecord, notes: bool) -> list[dict]:
    entries = []
    for event in case.history:
        entry = {
            "action": event.action,
            "status": event.status.value,
            "status_label": STATUS_LABELS[event.status],
            "at": _iso(event.at),
        }
        if notes:
            entry["note"] = event.note
        entries.append(entry)
    return entries


def bot_view(case: CaseRecord) -> dict:
    return {
        "tracking_number": case.tracking_number,
        "kind": case.kind.value,
        "status": case.status.value,
        "status_label": STATUS_LABELS[case.status],
        "received_at": _iso(case.received_at),
        "deadline": _iso(case.deadline),
        "extended": case.extended,
        "correction_requested_at": _iso(case.correction_requested_at),
        "answered_at": _iso(case.answered_at),
        "reply_type": case.reply_type,
        "reply_type_label": _reply_type_label(case.reply_type),
        "history": _history(case, notes=False),
    }


def staff_view(case: CaseRecord, *, include_transcript: bool = True) -> dict:
    view = bot_view(case)
    view.update(
        {
            "kind_label": KIND_LABELS[case.kind],
            "channel": case.channel,
            "conversation_id": case.conversation_id,
            "applicant": case.applicant,
            "request": case.request,
            "clock_started_on": _iso(case.clock_started_on),
            "correction_received_at": _iso(case.correction_received_at),
            "closed_at": _iso(case.closed_at),
            "updated_at": _iso(case.updated_at),
            "history": _history(case, notes=True),
        }
    )
    if include_transcript:
        view["transcript"] = case.transcript
    return view
