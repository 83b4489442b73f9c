"""Rasa NLU component that reads a message in traditional characters as simplified ones.

People in the service hall and on WeChat sometimes type 繁體字 (「護照過期了在哪裡換」,
「我要申請政府資訊公開」). The training examples, the routing words and the referral list are all
simplified, so the first component of the pipeline converts the text (bot.text.simplify); the
classifier, the entity extractor and the routing gate then read what they were built for. Only the
parse data changes: the conversation keeps the message as it was typed.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.text import simplify


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SimplifiedText(GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {}

    @classmethod
    def create(
        cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource, execution_context: ExecutionContext
    ) -> "SimplifiedText":
        return cls()

    @staticmethod
    def _convert(messages: list[Message]) -> None:
        for message in messages:
            text = message.get(TEXT)
            if text and not text.startswith("/"):  # a button payload names an intent
                converted = simplify(text)
                if converted != text:
                    message.set(TEXT, converted)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._convert(training_data.training_examples)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        self._convert(messages)
        return messages
