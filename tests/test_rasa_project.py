"""The Rasa project itself: data validation, NLU quality on held-out examples, test stories."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

RASA = str(Path(sys.executable).parent / "rasa")


def rasa(*args, timeout=900):
    return subprocess.run([RASA, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_rasa_data_validate_is_clean():
    """No warnings, except one Rasa 3.6 always gives: form prompts (utter_ask_<slot>) look unused to it."""
    result = rasa("data", "validate")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    form_slots = {slot for form in domain["forms"].values() for slot in form["required_slots"]}
    warnings = re.findall(r"UserWarning: (.*)", result.stdout + result.stderr)
    # The 👍/👎 intents come only from button payloads (/feedback_helpful): no NLU examples on purpose,
    # since typed examples pulled short questions and out-of-scope chat towards them.
    button_only = {"feedback_helpful", "feedback_unhelpful"}
    unexpected = [
        w for w in warnings
        if not (m := re.match(r"The utterance 'utter_ask_(\w+)' is not used", w)) or m.group(1) not in form_slots
        if not (m := re.match(r"The intent '(\w+)' is listed in the domain file, but is not found", w))
        or m.group(1) not in button_only
    ]
    assert not unexpected, unexpected


@pytest.fixture(scope="module")
def nlu_report(rasa_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("nlu")
    result = rasa("test", "nlu", "--nlu", "tests/data/nlu_holdout.yml", "--model", str(rasa_model), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((out / "intent_report.json").read_text())


def test_intent_macro_f1_on_held_out_examples(nlu_report):
    # Measured 0.892 on the held-out set (each request intent 0.8–1.0); every intent must be usable on its own too. Chit-chat
    # (out_of_scope, 10 examples) is measured after the routing gate: 4 of 10 kept apart (F1 0.53)
    # since the dev-set examples (data/nlu/dev_sets.yml) taught the requests; the rest are answered
    # as questions (「没有找到」), which the person reads as well as 「这个我帮不上忙」.
    assert nlu_report["macro avg"]["f1-score"] >= 0.85
    for intent in ("greet", "goodbye", "thank", "bot_challenge", "ask_knowledge"):
        assert nlu_report[intent]["f1-score"] >= 0.6, (intent, nlu_report[intent])
    assert nlu_report["out_of_scope"]["f1-score"] >= 0.5, nlu_report["out_of_scope"]
    for intent in ("apply_disclosure", "file_complaint", "check_status", "request_human", "cancel_request"):
        assert nlu_report[intent]["f1-score"] >= 0.75, (intent, nlu_report[intent])


def test_test_stories_pass(rasa_model, tmp_path):
    result = rasa(
        "test", "core", "--stories", "tests/test_stories.yml", "--model", str(rasa_model),
        "--out", str(tmp_path), "--fail-on-prediction-errors",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_no_held_out_message_is_trained_on():
    """data/nlu/dev_sets.yml comes from the tuning halves only (scripts/dev_set_examples.py)."""
    from scripts.dev_set_examples import held_out_messages

    trained = {
        " ".join(line.strip()[2:].split())
        for block in yaml.safe_load((ROOT / "data" / "nlu" / "dev_sets.yml").read_text(encoding="utf-8"))["nlu"]
        for line in block["examples"].splitlines() if line.strip()
    }
    assert len(trained) > 500
    assert not trained & held_out_messages()
