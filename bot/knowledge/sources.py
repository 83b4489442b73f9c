"""Everything the index is built from, gathered from knowledge/.

- documents/*.md: documents as published (Markdown with front matter);
- guide/*.md: templates filled from agency.yml, so a real agency edits its details in one place;
- service_items.yml and faq.yml: structured data (agency details filled from agency.yml too),
  rendered as documents for retrieval;
- questions.yml: how people ask for a section (bot.knowledge.questions), joined to its document;
- generated_questions.yml: staff's deletions and corrections of generated phrasings
  (bot.knowledge.phrasings), joined to their document.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import yaml

from bot.knowledge.catalogue import CATALOGUE_FILE, FAQ_FILE, Catalogue, load_catalogue, load_faq_documents
from bot.knowledge.documents import Document, DocumentError, load_document, load_documents
from bot.knowledge.phrasings import EDITS_FILE, load_edits, with_edits
from bot.knowledge.questions import QUESTIONS_FILE, load_questions, with_questions

AGENCY_FILE = "agency.yml"


def load_agency(knowledge_dir: Path) -> dict:
    path = Path(knowledge_dir) / AGENCY_FILE
    if not path.exists():
        return {}
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise DocumentError(f"机关信息文件 {path} 格式有误：{exc}") from exc


def render_template(path: Path, agency: dict) -> str:
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    try:
        return environment.from_string(path.read_text(encoding="utf-8")).render(agency=agency)
    except jinja2.UndefinedError as exc:
        raise DocumentError(f"模板 {path} 用到了 {AGENCY_FILE} 中没有的字段：{exc.message}") from exc
    except jinja2.TemplateError as exc:
        raise DocumentError(f"模板 {path} 有误：{exc}") from exc


def load_guides(knowledge_dir: Path, agency: dict) -> list[Document]:
    guides = []
    for path in sorted((Path(knowledge_dir) / "guide").glob("*.md")):
        guides.append(load_document(path, text=render_template(path, agency)))
    return guides


def load_service_catalogue(knowledge_dir: Path, agency: dict | None = None) -> Catalogue | None:
    path = Path(knowledge_dir) / CATALOGUE_FILE
    if not path.exists():
        return None
    agency = load_agency(knowledge_dir) if agency is None else agency
    return load_catalogue(path, text=render_template(path, agency))


def unknown_form_items(knowledge_dir: Path) -> list[str]:
    """agency.yml `form_service_items` codes the catalogue lacks: a question inside that form is then
    answered as any other, so `govbot kb build` says so."""
    agency = load_agency(knowledge_dir)
    codes = (agency.get("form_service_items") or {}).values()
    catalogue = load_service_catalogue(knowledge_dir, agency)
    known = {item.code for item in catalogue.items} if catalogue else set()
    return [str(code) for code in codes if code not in known]


def load_knowledge(knowledge_dir: Path) -> list[Document]:
    """All documents in id order; two sources claiming one id is an error."""
    knowledge_dir = Path(knowledge_dir)
    agency = load_agency(knowledge_dir)
    documents = load_documents(knowledge_dir / "documents") + load_guides(knowledge_dir, agency)
    catalogue = load_service_catalogue(knowledge_dir, agency)
    agency_name = str(agency.get("name") or (catalogue.agency if catalogue else "") or "本机关")
    if catalogue:
        documents += catalogue.as_documents()
    faq_path = knowledge_dir / FAQ_FILE
    if faq_path.exists():
        documents += load_faq_documents(faq_path, agency_name, text=render_template(faq_path, agency))
    documents = with_questions(documents, load_questions(knowledge_dir / QUESTIONS_FILE))
    documents = with_edits(documents, load_edits(knowledge_dir / EDITS_FILE))
    seen: dict[str, Document] = {}
    for doc in documents:
        if doc.id in seen:
            raise DocumentError(f"文档编号 {doc.id} 重复：{seen[doc.id].path or seen[doc.id].source} 与 {doc.path or doc.source}")
        seen[doc.id] = doc
    return sorted(documents, key=lambda d: d.id)
