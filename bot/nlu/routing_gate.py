"""Rasa NLU component that applies bot.understanding.routing after the intent classifiers.

It sits after DIETClassifier and FallbackClassifier in config.yml and rewrites the intent a typed
message is acted on; the classifier's own vote stays in the intent ranking and the reason is kept
in the parse data (`routing`), so analytics and debugging see both.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.understanding.referral import ReferralDesk
from bot.understanding.routing import COMPLAIN, FALLBACK, KNOWLEDGE, OUT_OF_SCOPE, SUGGESTION_REASONS, Route, route

# Confidence reported for an intent the gate chose itself: above Rasa's fallback thresholds.
GATE_CONFIDENCE = 0.9


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class RoutingGate(GraphComponent, IntentClassifier):
    @classmethod
    def required_components(cls) -> list[type]:
        return [IntentClassifier]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    def __init__(self, config: dict[str, Any]) -> None:
        self.component_config = config
        self._referrals: ReferralDesk | None = None
        self._desk = None  # the catalogue's item names, loaded on first need (False: no catalogue)

    def _another_agencys(self, text: str) -> bool:
        """「住房公积金怎么提取」 is not chit-chat: the answer action refers it (knowledge/referrals.yml,
        reread when staff edit it)."""
        if self._referrals is None:
            from bot.settings.knowledge import Settings

            self._referrals = ReferralDesk(Settings.from_env().knowledge_dir)
        return self._referrals.find(text) is not None

    def _names_our_item(self, text: str) -> bool:
        """「二手车市场乱收过户服务费」 is this agency's business (二手车) though 车+过户 is a referral topic."""
        if self._desk is None:
            from bot.knowledge.service_items import ServiceItemDesk
            from bot.knowledge.sources import load_service_catalogue
            from bot.settings.knowledge import Settings

            catalogue = load_service_catalogue(Settings.from_env().knowledge_dir)
            self._desk = ServiceItemDesk(catalogue) if catalogue is not None else False
        return bool(self._desk) and self._desk.speaks_of_an_item(text)

    @classmethod
    def create(
        cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource, execution_context: ExecutionContext
    ) -> "RoutingGate":
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            intent = message.get(INTENT) or {}
            if not text or text.startswith("/") or not intent.get(INTENT_NAME_KEY):
                continue  # button payloads are Rasa's RegexMessageHandler's
            ranking = list(message.get(INTENT_RANKING_KEY) or [])
            decision = route(text, intent[INTENT_NAME_KEY], intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0, ranking)
            if decision.intent == OUT_OF_SCOPE and self._another_agencys(text):
                decision = Route(KNOWLEDGE, "another agency's business")
            # 「物业公司乱收停车费 我要你们处理他们」: a grievance this agency does not handle is referred
            # (the answer action says where), not registered here or offered as a request.
            grievance = decision.intent == COMPLAIN and decision.reason not in SUGGESTION_REASONS
            if (grievance or decision.offer is not None) and self._another_agencys(text) and not self._names_our_item(text):
                decision = Route(KNOWLEDGE, "another agency's grievance")
            message.set("routing", {"intent": decision.intent, "reason": decision.reason,
                                    "classifier": intent[INTENT_NAME_KEY]}, add_to_output=True)
            if decision.intent == intent[INTENT_NAME_KEY] and decision.offer is None:
                continue
            if decision.intent == FALLBACK:
                # Two-stage fallback asks about the offered request first, the question second.
                offered = [decision.offer, KNOWLEDGE]
                rest = [r for r in ranking if r.get(INTENT_NAME_KEY) not in (*offered, FALLBACK)]
                confidence = min(intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0, 0.4)
                new_ranking = [{INTENT_NAME_KEY: FALLBACK, PREDICTED_CONFIDENCE_KEY: confidence}]
                new_ranking += [{INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: confidence} for name in offered]
                message.set(INTENT, new_ranking[0], add_to_output=True)
                message.set(INTENT_RANKING_KEY, new_ranking + rest, add_to_output=True)
                continue
            chosen = {INTENT_NAME_KEY: decision.intent, PREDICTED_CONFIDENCE_KEY: GATE_CONFIDENCE}
            rest = [r for r in ranking if r.get(INTENT_NAME_KEY) not in (decision.intent, FALLBACK)]
            message.set(INTENT, chosen, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [chosen] + rest, add_to_output=True)
        return messages

    def process_training_data(self, training_data):
        return training_data
