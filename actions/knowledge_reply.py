"""Answering a question in the chat: shared by the knowledge action and forms (a question asked
while a form waits for an answer is answered, then the form asks again)."""

from __future__ import annotations

import asyncio

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.understanding.dialogue import NOT_FOUND_BUTTONS, typed_question
from bot.ops.monitoring import count_reply
from bot.knowledge.published_index import get_service


async def answer_question(
    dispatcher: CollectingDispatcher, tracker: Tracker, question: str | None = None, form_kind: str | None = None
) -> list[dict]:
    """The knowledge reply; `form_kind` is the request being filled in when the question interrupts its form."""
    question = question or typed_question(tracker.events, tracker.latest_message.get("text"))
    issuers = {e.get("value") for e in tracker.latest_message.get("entities", []) if e.get("entity") == "issuer"}
    # Embedding the question is CPU work: a worker thread keeps the action server's loop free
    # for other conversations (bench: without it, 20 senders were served one at a time).
    reply = await asyncio.to_thread(
        get_service().reply,
        question,
        issuers={i for i in issuers if i},
        previous_item=tracker.get_slot("service_item"),
        chosen_item=next(tracker.get_latest_entity_values("service_item"), None),
        subject=tracker.get_slot("topic"),
        form_kind=form_kind,
    )
    count_reply(reply.found, bool(reply.referral))  # the not-found rate on /metrics (Prometheus)
    buttons = reply.buttons or (NOT_FOUND_BUTTONS if not reply.found and not reply.referral else None)
    # Recorded in the bot event's metadata (not shown to the person) for `govbot analytics`.
    knowledge = {
        "found": reply.found, "doc_id": reply.doc_id, "service_item": reply.service_item, "referral": reply.referral,
        "tentative": reply.tentative,
    }
    dispatcher.utter_message(text=reply.text, buttons=buttons, knowledge=knowledge)
    return [SlotSet("service_item", reply.service_item), SlotSet("topic", reply.subject)]
