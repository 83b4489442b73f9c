"""The Rasa-process fix keeps Rasa's own validation result: good responses pass, bad ones raise."""

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

import bot.redacting_tracker_store  # noqa: F401  (loading the store installs the fix, as in Rasa)
from bot import rasa_speedups


def test_loading_the_tracker_store_installs_the_fix():
    assert rasa_speedups.install() is True
    assert RemoteAction._validate_action_result.__module__ == "bot.rasa_speedups"


def test_a_valid_response_passes():
    action = RemoteAction("action_answer_knowledge", None)
    assert action._validate_action_result({"events": [], "responses": [{"text": "您好"}]})


def test_an_invalid_response_still_raises_rasas_error():
    action = RemoteAction("action_answer_knowledge", None)
    with pytest.raises(ValidationError):
        action._validate_action_result({"events": "not a list", "responses": []})
