"""Counting a period's conversations from tracker events (pure: events in, numbers out).

Every text kept here has been passed through `bot.privacy.validation.redact`; sender ids are never kept.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone, tzinfo
from typing import Any, Iterable

from bot.rasa_plugins.action_failure import FAILED_ACTION_KEY
from bot.casework.request_kinds import KINDS
from bot.privacy.validation import redact

KNOWLEDGE_ACTION = "action_answer_knowledge"
# Set by the knowledge action on its bot message (actions/actions.py): doc id, item code, found.
KNOWLEDGE_METADATA = "knowledge"
NOT_FOUND_PREFIX = "抱歉，没有找到"
GIVE_UP_ACTION = "action_default_fallback"
HANDOFF_ACTION = "action_handoff"
SUBMIT_ACTION = "action_submit_request"
FEEDBACK = {"feedback_helpful": "helpful", "feedback_unhelpful": "unhelpful"}
REASONS = {"not_found": "知识库未找到", "fallback": "未能理解", "out_of_scope": "超出服务范围"}
KIND_LABELS = {kind.code: kind.short_label for kind in KINDS}
CITED_TITLE = re.compile(r"来源：《([^》]+)》")


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    tz: tzinfo = timezone.utc

    def day_of(self, timestamp: float) -> date:
        return datetime.fromtimestamp(timestamp, self.tz).date()

    def days(self) -> list[date]:
        return [date.fromordinal(d) for d in range(self.start.toordinal(), self.end.toordinal() + 1)]


@dataclass
class Unanswered:
    day: date
    channel: str
    reason: str
    text: str  # redacted


@dataclass
class Stats:
    period: Period
    conversations: int = 0
    user_messages: int = 0
    bot_messages: int = 0
    per_day: dict = field(default_factory=dict)  # date -> {"conversations", "user_messages", "bot_messages"}
    per_channel: dict = field(default_factory=dict)  # channel -> {"conversations", "user_messages"}
    intents: Counter = field(default_factory=Counter)
    topics: Counter = field(default_factory=Counter)
    documents: Counter = field(default_factory=Counter)  # doc id -> answers citing it
    document_titles: dict = field(default_factory=dict)
    service_items: Counter = field(default_factory=Counter)
    knowledge_questions: int = 0
    knowledge_answered: int = 0
    unanswered: list = field(default_factory=list)
    feedback: Counter = field(default_factory=Counter)
    feedback_per_day: dict = field(default_factory=dict)  # date -> Counter
    feedback_documents: dict = field(default_factory=dict)  # doc id -> Counter(helpful/unhelpful)
    handoffs: Counter = field(default_factory=Counter)  # kind -> count
    # Turns answered with bot.rasa_plugins.action_failure's apology (an action server down or failing): an
    # IT matter, not a knowledge gap, so kept apart from `unanswered`.
    failures: Counter = field(default_factory=Counter)  # (date, action name) -> count


# The widget and the kiosk both speak socket.io; each says which it is in the message's metadata.
SURFACES = ("widget", "kiosk")
CHANNEL_LABELS = {
    "widget": "网站挂件", "kiosk": "自助终端", "wechat": "微信公众号", "rest": "REST 接口",
    "socketio": "网页（挂件或终端）", "unknown": "未知",
}


def channel_of(event: dict) -> str | None:
    """widget, kiosk, wechat, rest …: the input channel, with socket.io split by the page that sent it."""
    channel = event.get("input_channel")
    if channel == "socketio":
        surface = (event.get("metadata") or {}).get("surface")
        if surface in SURFACES:
            return surface
    return channel


def _typed(text: str | None) -> bool:
    return bool(text) and not text.startswith("/")


class _Conversation:
    """Walks one sender's events in order, remembering what the latest question and answer were."""

    def __init__(self, stats: Stats, keyword: callable) -> None:
        self.stats, self.keyword = stats, keyword
        self.channel = "unknown"
        self.last_question: str = ""
        self.last_question_day: date | None = None
        self.last_doc: str | None = None
        self.slots: dict[str, Any] = {}
        self.pending_submit = False
        self.submit_kind = "disclosure"

    def user(self, event: dict, day: date) -> None:
        stats = self.stats
        self.channel = channel_of(event) or self.channel
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name") or "unknown"
        stats.user_messages += 1
        stats.per_day[day]["user_messages"] += 1
        stats.per_channel[self.channel]["user_messages"] += 1
        stats.intents[intent] += 1
        text = event.get("text") or ""
        if _typed(text):
            self.last_question, self.last_question_day = redact(text), day
        if intent in FEEDBACK:
            kind = FEEDBACK[intent]
            stats.feedback[kind] += 1
            stats.feedback_per_day.setdefault(day, Counter())[kind] += 1
            if self.last_doc:
                stats.feedback_documents.setdefault(self.last_doc, Counter())[kind] += 1

    def bot(self, event: dict, day: date) -> None:
        stats = self.stats
        stats.bot_messages += 1
        stats.per_day[day]["bot_messages"] += 1
        metadata = event.get("metadata") or {}
        text = event.get("text") or ""
        knowledge = metadata.get(KNOWLEDGE_METADATA)
        if metadata.get(FAILED_ACTION_KEY):
            stats.failures[(day, str(metadata[FAILED_ACTION_KEY]))] += 1
        elif isinstance(knowledge, dict):
            self._knowledge_answer(knowledge, text, day)
        elif metadata.get("utter_action") == "utter_out_of_scope":
            self._unanswered("out_of_scope", day)

    def _knowledge_answer(self, knowledge: dict, text: str, day: date) -> None:
        stats = self.stats
        stats.knowledge_questions += 1
        for word in self.keyword(self.last_question):
            stats.topics[word] += 1
        found = knowledge.get("found", not text.startswith(NOT_FOUND_PREFIX))
        if not found:
            self.last_doc = None
            self._unanswered("not_found", day)
            return
        stats.knowledge_answered += 1
        doc_id, item = knowledge.get("doc_id"), knowledge.get("service_item")
        if doc_id:
            stats.documents[doc_id] += 1
            title = CITED_TITLE.search(text)
            if title and doc_id not in stats.document_titles:
                stats.document_titles[doc_id] = redact(title.group(1))
        if item:
            stats.service_items[item] += 1
        self.last_doc = doc_id or (f"item:{item}" if item else None)

    def _unanswered(self, reason: str, day: date) -> None:
        if self.last_question:
            self.stats.unanswered.append(Unanswered(day, self.channel, reason, self.last_question))

    def action(self, event: dict, day: date) -> None:
        name = event.get("name")
        if name == GIVE_UP_ACTION:
            self._unanswered("fallback", day)
        elif name == HANDOFF_ACTION:
            self.stats.handoffs["handoff"] += 1
        self.pending_submit = name == SUBMIT_ACTION
        if self.pending_submit:
            # The submit action clears the form slots in the same turn: note the kind before that.
            kind = self.slots.get("request_kind") or "disclosure"
            if kind == "complaint" and self.slots.get("complaint_type") in ("建议", "suggestion"):
                kind = "suggestion"
            self.submit_kind = kind

    def slot(self, event: dict) -> None:
        name, value = event.get("name"), event.get("value")
        if self.pending_submit and name == "last_request_key" and value:
            # Only a request that reached the outbox gets its key recorded: one request handed off.
            self.stats.handoffs[self.submit_kind] += 1
            self.pending_submit = False
        if name:
            self.slots[name] = value


def _default_keywords(text: str) -> list[str]:
    return []


def compute(events: Iterable[dict], period: Period, keywords: callable = _default_keywords) -> Stats:
    """The period's numbers from tracker events (each with `sender_id`), ordered per conversation."""
    stats = Stats(period)
    for day in period.days():
        stats.per_day[day] = Counter(conversations=0, user_messages=0, bot_messages=0)
    stats.per_channel = defaultdict(lambda: Counter(conversations=0, user_messages=0))
    by_sender: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        by_sender[str(event.get("sender_id"))].append(event)
    for sender_events in by_sender.values():
        conversation = _Conversation(stats, keywords)
        active_days: set[date] = set()
        channels: set[str] = set()
        for event in sorted(sender_events, key=lambda e: e.get("timestamp") or 0):
            day = period.day_of(event.get("timestamp") or 0)
            if not period.start <= day <= period.end:
                continue
            kind = event.get("event")
            if kind == "user":
                conversation.user(event, day)
                active_days.add(day)
                channels.add(conversation.channel)
            elif kind == "bot":
                conversation.bot(event, day)
            elif kind == "action":
                conversation.action(event, day)
            elif kind == "slot":
                conversation.slot(event)
        for day in active_days:
            stats.per_day[day]["conversations"] += 1
        for channel in channels:
            stats.per_channel[channel]["conversations"] += 1
        stats.conversations += bool(active_days)
    stats.per_channel = dict(stats.per_channel)
    return stats
