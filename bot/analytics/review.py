"""Questions staff should look at: the unanswered ones and those answered with a 👎, each with the
answer the person was given (pure: tracker events in, rows out; texts redacted as stored).

bot.analytics.metrics counts them for the report; this keeps each question beside its answer so the
knowledge console can attach it as a phrasing to the section that should have answered it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Iterable

from bot.analytics.metrics import FEEDBACK, GIVE_UP_ACTION, KNOWLEDGE_METADATA, NOT_FOUND_PREFIX, _typed
from bot.privacy.validation import redact

KINDS = {
    "not_found": "知识库未找到", "referral": "属其他机关（已告知去处）", "fallback": "未能理解",
    "out_of_scope": "超出服务范围", "unhelpful": "群众点了没有帮助",
    "tentative": "只找到可能相关的内容",
}


@dataclass(frozen=True)
class ReviewItem:
    when: datetime
    channel: str
    kind: str  # a key of KINDS
    question: str
    answer: str
    doc_id: str | None = None  # the document the answer cited (👎)

    @property
    def kind_label(self) -> str:
        return KINDS[self.kind]


def review_items(events: Iterable[dict], tz: tzinfo) -> list[ReviewItem]:
    """Newest first; one row per unanswered question or per 👎, never a sender id."""
    by_sender: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        by_sender[str(event.get("sender_id"))].append(event)
    items: list[ReviewItem] = []
    for sender_events in by_sender.values():
        question, answer, doc_id, channel = "", "", None, "unknown"
        pending_fallback: tuple[str, float] | None = None
        for event in sorted(sender_events, key=lambda e: e.get("timestamp") or 0):
            kind, when = event.get("event"), event.get("timestamp") or 0
            if kind == "user":
                channel = event.get("input_channel") or channel
                intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
                if FEEDBACK.get(intent) == "unhelpful" and question and answer:
                    items.append(_item(when, tz, channel, "unhelpful", question, answer, doc_id))
                elif _typed(event.get("text")):
                    question, answer, doc_id = redact(event["text"]), "", None
                pending_fallback = None
            elif kind == "action" and event.get("name") == GIVE_UP_ACTION and question:
                pending_fallback = (question, when)
            elif kind == "bot":
                text = redact(event.get("text") or "")
                knowledge = (event.get("metadata") or {}).get(KNOWLEDGE_METADATA)
                if pending_fallback is not None:
                    items.append(_item(pending_fallback[1], tz, channel, "fallback", pending_fallback[0], text, None))
                    pending_fallback = None
                if (event.get("metadata") or {}).get("utter_action") == "utter_out_of_scope" and question:
                    items.append(_item(when, tz, channel, "out_of_scope", question, text, None))
                if isinstance(knowledge, dict):
                    answer, doc_id = text, knowledge.get("doc_id")
                    if not knowledge.get("found", not text.startswith(NOT_FOUND_PREFIX)) and question:
                        kind = "referral" if knowledge.get("referral") else "not_found"
                        items.append(_item(when, tz, channel, kind, question, text, None))
                    elif knowledge.get("tentative") and question:
                        items.append(_item(when, tz, channel, "tentative", question, text, doc_id))
    return sorted(items, key=lambda i: i.when, reverse=True)


def _item(ts: float, tz: tzinfo, channel: str, kind: str, question: str, answer: str, doc_id: str | None) -> ReviewItem:
    return ReviewItem(datetime.fromtimestamp(ts, tz), channel, kind, question, answer, doc_id)
