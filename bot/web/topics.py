"""What the kiosk offers to tap, taken from the knowledge base so staff change it by editing data.

- questions: the first FAQ entries in knowledge/faq.yml (staff order the file by how often each
  question is asked), each sent as its own question text;
- items: every service item in knowledge/service_items.yml, sent by name (the assistant answers a
  bare item name with the item's summary and offers its fields);
- phrases: the words of the kiosk's phrase keyboard — item short names, questions about the
  catalogue's fields, and common words of disclosure requests.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.knowledge.catalogue import FAQ_FILE, FIELD_TITLES
from bot.knowledge.documents import DocumentError
from bot.knowledge.sources import load_agency, load_service_catalogue, render_template

DEFAULT_QUESTIONS = 8

# How a citizen asks about each catalogue field (keys of FIELD_TITLES; the assistant's
# bot.knowledge.service_items.FIELD_KEYWORDS recognise every one of these).
FIELD_PHRASES = {
    "materials": "需要什么材料",
    "time_limit": "要多久",
    "fee": "收费吗",
    "location": "在哪里办",
    "procedure": "办理流程",
    "conditions": "办理条件",
    "online": "能网上办吗",
    "result": "办理结果",
    "contact": "咨询电话",
}
COMMON_WORDS = ["政府信息公开", "怎么申请", "我要申请", "办到哪了", "投诉", "建议", "转人工", "什么", "怎么", "？"]


def _faq_questions(knowledge_dir: Path, agency: dict, limit: int) -> list[str]:
    path = knowledge_dir / FAQ_FILE
    if not path.exists():
        return []
    try:
        data = yaml.safe_load(render_template(path, agency)) or {}
        questions = [str(raw["question"]).strip() for raw in data.get("faqs") or [] if raw.get("question")]
    except (yaml.YAMLError, AttributeError, TypeError) as exc:
        raise DocumentError(f"常见问题文件 {path} 格式有误：{exc}") from exc
    return questions[:limit]


def _short_name(name: str, aliases: list[str]) -> str:
    """The shortest common name for the phrase keyboard: 「外贸备案」 rather than the full title."""
    return min([name, *aliases], key=len)


def kiosk_topics(knowledge_dir: Path, questions: int = DEFAULT_QUESTIONS) -> dict:
    knowledge_dir = Path(knowledge_dir)
    agency = load_agency(knowledge_dir)
    catalogue = load_service_catalogue(knowledge_dir, agency)
    items = catalogue.items if catalogue else []
    phrases = []
    if items:
        phrases.append({"title": "想了解", "phrases": [FIELD_PHRASES[k] for k in FIELD_TITLES if k in FIELD_PHRASES]})
    phrases.append({"title": "常用", "phrases": COMMON_WORDS})
    if items:
        phrases.append({"title": "事项", "phrases": [_short_name(i.name, i.aliases) for i in items]})
    return {
        "agency": str(agency.get("name") or (catalogue.agency if catalogue else "")),
        "questions": [{"label": q, "message": q} for q in _faq_questions(knowledge_dir, agency, questions)],
        "items": [{"label": i.name, "message": i.name, "code": i.code} for i in items],
        "phrases": phrases,
    }
