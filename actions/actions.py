"""Custom Rasa actions. Kept thin: the work happens in the `bot` package."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge_reply import answer_question
from bot.understanding.dialogue import ASK_REPHRASE_TEXT, GIVE_UP_TEXT, affirmation_prompt
from bot.knowledge.published_index import get_service

log = logging.getLogger(__name__)

# Load the embedding model and index when the action server starts, not on the first question;
# likewise the traced query encoder (bot.embeddings.encoder.Embedder.prepare_queries) and the vectors
# of the sentences that answers choose among (bot.knowledge.sentence_relevance).
get_service().build()
get_service().embedder.prepare_queries()
get_service().warm_sentences()


class ActionAnswerKnowledge(Action):
    """Answers from the knowledge base, quoting the passage and citing its source."""

    def name(self) -> str:
        return "action_answer_knowledge"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return await answer_question(dispatcher, tracker)


class ActionAskAffirmation(Action):
    """Two-stage fallback, first stage: 「您是想……吗？」 with the likeliest intents as buttons."""

    def name(self) -> str:
        return "action_default_ask_affirmation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        prompt = affirmation_prompt(tracker.latest_message.get("intent_ranking", []))
        dispatcher.utter_message(text=prompt["text"], buttons=prompt["buttons"])
        return []


class ActionAskRephrase(Action):
    """Two-stage fallback, second stage: ask the person to say it another way."""

    def name(self) -> str:
        return "action_default_ask_rephrase"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=ASK_REPHRASE_TEXT)
        return []


class ActionGiveUp(Action):
    """Fallback after clarification failed: point to people who can help, forget the message."""

    def name(self) -> str:
        return "action_default_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(text=GIVE_UP_TEXT)
        return [UserUtteranceReverted()]
