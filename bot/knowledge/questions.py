"""Common phrasings (常见问法): how people ask for a section, written by staff, used only to find it.

A small embedding model matches a question to the document's own wording poorly when the two share
few words (「政府得自己晒出来的信息」 vs 「主动公开的范围」). Staff know how citizens ask, so
knowledge/questions.yml lists, per document and section, a few questions that section answers:

    gov-info-disclosure-regulation-2019:
      第三十三条: [申请了多久给答复, 过了期限还没回音怎么办]
    sample-agency-disclosure-guide:
      二、依申请公开 / （二）申请方式: [能不能写信申请]

A section is named by its article (「第三十三条」), its heading path as `govbot kb list` and the
citations show it, or its last heading (「（二）申请方式」); 「开头」 is the text before the first
heading and 「全文」 every passage of the document. Each question is embedded as a question and the
section is scored by the closest of them as well as by its text (bot.knowledge.retriever); the
questions are never quoted. An FAQ entry's question and variants are its questions automatically.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import YAMLError

from bot.knowledge.chunking import Passage
from bot.knowledge.documents import WHOLE_DOCUMENT, Document, DocumentError

log = logging.getLogger(__name__)

QUESTIONS_FILE = "questions.yml"
OPENING = "开头"  # the text before a document's first heading
MAX_QUESTION_CHARS = 100


def load_questions(path: Path) -> dict[str, dict[str, tuple[str, ...]]]:
    """{document id: {section key: questions}} from knowledge/questions.yml ({} when absent)."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        # ruamel.yaml refuses a key written twice, where PyYAML keeps the last one and a document or
        # section written twice would silently lose its first list.
        data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8")) or {}
    except DuplicateKeyError as exc:
        repeated = re.search(r'duplicate key "(.*?)"', str(exc.problem))
        name = repeated.group(1) if repeated else str(exc.problem)
        raise DocumentError(f"常见问法文件 {path} 中“{name}”出现了两次，请合并为一处") from exc
    except (YAMLError, UnicodeDecodeError) as exc:
        raise DocumentError(f"常见问法文件 {path} 格式有误：{exc}") from exc
    if not isinstance(data, dict):
        raise DocumentError(f"常见问法文件 {path} 应为“文档编号 → 段落 → 问法列表”的映射")
    questions: dict[str, dict[str, tuple[str, ...]]] = {}
    for doc_id, sections in data.items():
        if not isinstance(sections, dict):
            raise DocumentError(f"常见问法文件 {path} 中 {doc_id} 下应为“段落: [问法, ……]”")
        for key, phrasings in sections.items():
            if not isinstance(phrasings, list):
                raise DocumentError(f"常见问法文件 {path} 中 {doc_id} / {key} 应为问法列表")
            cleaned = tuple(dict.fromkeys(" ".join(str(q).split()) for q in phrasings if str(q or "").strip()))
            too_long = [q for q in cleaned if len(q) > MAX_QUESTION_CHARS]
            if too_long:
                raise DocumentError(
                    f"常见问法文件 {path} 中 {doc_id} / {key} 的问法过长（超过 {MAX_QUESTION_CHARS} 字）：{too_long[0][:20]}……"
                )
            if cleaned:
                questions.setdefault(str(doc_id), {})[str(key).strip()] = cleaned
    return questions


def with_questions(documents: list[Document], questions: dict[str, dict[str, tuple[str, ...]]]) -> list[Document]:
    """The documents with their sections' questions. Phrasings for a document that is not in the
    knowledge base (removed, or a typo in its id) are left out with a warning naming it: removing a
    document must not stop the index from being rebuilt."""
    known = {d.id for d in documents}
    unknown = sorted(set(questions) - known)
    if unknown:
        log.warning("%s: phrasings for documents not in the knowledge base, not used: %s", QUESTIONS_FILE, ", ".join(unknown))
    return [
        replace(doc, questions=doc.questions + tuple(questions[doc.id].items())) if doc.id in questions else doc
        for doc in documents
    ]


def section_key(passage: Passage) -> str:
    """The name `govbot kb sections` shows for a passage's section: its article, heading path or 开头."""
    if passage.locator.startswith("第") and passage.locator.endswith("条"):
        return passage.locator
    return passage.section or OPENING


def section_matches(key: str, passage: Passage) -> bool:
    if key == WHOLE_DOCUMENT:
        return True
    if key == OPENING:
        return not passage.section
    section = passage.section
    return (
        key in (passage.locator, section)
        or section.startswith(f"{key} / ")  # a heading covers its subsections
        or (bool(section) and section.split(" / ")[-1] == key)
    )


def attach_questions(doc: Document, passages: list[Passage]) -> tuple[list[Passage], list[str]]:
    """(passages carrying their section's questions, the keys that named no section)."""
    unmatched = []
    attached: dict[int, list[str]] = {}
    for key, phrasings in doc.questions:
        hits = [i for i, p in enumerate(passages) if section_matches(key, p)]
        if not hits:
            unmatched.append(key)
        for i in hits:
            attached.setdefault(i, []).extend(q for q in phrasings if q not in attached.get(i, []))
    out = [replace(p, questions=tuple(attached[i])) if i in attached else p for i, p in enumerate(passages)]
    return out, unmatched
