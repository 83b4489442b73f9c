"""Dialogue helpers: the question behind a button press, and the Chinese clarification prompt."""

from bot.understanding.dialogue import affirmation_prompt, typed_question


def test_typed_question_skips_button_payloads():
    events = [
        {"event": "user", "text": "政务公开指南哪里看"},
        {"event": "bot", "text": "我不太确定您的意思"},
        {"event": "user", "text": "/ask_knowledge"},
    ]
    assert typed_question(events, "/ask_knowledge") == "政务公开指南哪里看"
    assert typed_question(events, "新问题") == "新问题"
    assert typed_question([], "/greet") == ""


def test_affirmation_prompt_offers_top_intents_and_a_way_out():
    ranking = [
        {"name": "nlu_fallback", "confidence": 0.45},
        {"name": "ask_knowledge", "confidence": 0.40},
        {"name": "out_of_scope", "confidence": 0.35},
        {"name": "greet", "confidence": 0.1},
    ]
    prompt = affirmation_prompt(ranking)
    assert prompt["text"].startswith("我不太确定您的意思，您是想") and prompt["text"].endswith("吗？")
    payloads = [b["payload"] for b in prompt["buttons"]]
    assert payloads == ["/ask_knowledge", "/greet", "/out_of_scope"]
    assert all("nlu_fallback" not in b["title"] for b in prompt["buttons"])
