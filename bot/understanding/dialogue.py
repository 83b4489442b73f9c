"""Dialogue helpers that read Rasa tracker events as plain dicts (no Rasa import needed).

After a two-stage-fallback button such as "/ask_knowledge", the latest user text is the button
payload, not the question; the question is the last thing the person actually typed.
"""

from __future__ import annotations

# Shown on the two-stage-fallback buttons: what each intent means to a citizen.
INTENT_DESCRIPTIONS = {
    "ask_knowledge": "咨询政务公开或办事方面的问题",
    "greet": "打个招呼",
    "goodbye": "结束对话",
    "thank": "表示感谢",
    "bot_challenge": "确认我是不是人工客服",
    "ask_capabilities": "了解我能做什么",
    "affirm": "表示同意",
    "deny": "表示否定",
    # Offered when a message reads both as a request and as a question (bot.understanding.routing).
    "apply_disclosure": "现在就在线提交政府信息公开申请",
    "file_complaint": "现在就登记投诉或建议",
    "check_status": "查询已提交事项的办理进度",
    "request_human": "转人工服务",
}
DENY_PAYLOAD_INTENT = "out_of_scope"
ASK_REPHRASE_TEXT = "抱歉，我没能理解您的意思。能换个说法再说一次吗？例如写明您想了解的事项或文件名称。"
GIVE_UP_TEXT = (
    "抱歉，我还是没能理解。您可以换个说法提问，或者联系本机关政府信息公开工作机构获得人工帮助。"
)

# Offered under 「没有找到」: the two ways forward the regulation gives a person (Art. 27) and a human.
NOT_FOUND_BUTTONS = [
    {"title": "申请政府信息公开", "payload": "/apply_disclosure"},
    {"title": "转人工服务", "payload": "/request_human"},
]


def typed_question(events: list[dict], latest_text: str | None = None) -> str:
    """The most recent user text that is not a button payload ("/intent…")."""
    if latest_text and not latest_text.startswith("/"):
        return latest_text
    for event in reversed(events):
        if event.get("event") != "user":
            continue
        text = (event.get("text") or "").strip()
        if text and not text.startswith("/"):
            return text
    return ""


def affirmation_prompt(intent_ranking: list[dict], max_options: int = 2) -> dict:
    """Message asking which of the likeliest intents was meant, with one button each."""
    # out_of_scope is what Rasa's fallback loop reads as "no", so it is only the last button.
    candidates = [
        item["name"]
        for item in intent_ranking
        if item.get("name") in INTENT_DESCRIPTIONS and item["name"] != DENY_PAYLOAD_INTENT
    ][:max_options]
    if not candidates:
        candidates = ["ask_knowledge"]
    first = INTENT_DESCRIPTIONS[candidates[0]]
    buttons = [{"title": INTENT_DESCRIPTIONS[name], "payload": f"/{name}"} for name in candidates]
    buttons.append({"title": "都不是，我换个说法", "payload": f"/{DENY_PAYLOAD_INTENT}"})
    return {"text": f"我不太确定您的意思，您是想{first}吗？", "buttons": buttons}
