"""Common phrasings (knowledge/questions.yml): loaded with clear errors, attached to the sections
they name, embedded once, and used to find a section the text alone does not."""

import shutil

import numpy as np
import pytest

from bot.knowledge.catalogue import FIELD_TITLES
from bot.knowledge.documents import Document, DocumentError
from bot.knowledge.index import build_index, load_current
from bot.knowledge.questions import QUESTIONS_FILE, attach_questions, load_questions, with_questions
from bot.knowledge.retriever import Retriever
from bot.knowledge.chunking import split_document
from bot.knowledge.sources import load_knowledge
from tests.conftest import ROOT
from tests.test_index import CountingEmbedder

GUIDE_LIKE = Document(
    id="guide",
    title="示例指南",
    issuer="示例局",
    body="为方便申请，制定本指南。\n\n一、主动公开\n\n（一）公开方式。在网站公开。\n\n（二）查阅场所。到大厅查阅。\n\n二、依申请公开\n\n第三十三条 二十个工作日内答复。",
)


def test_sections_are_named_by_article_heading_path_last_heading_or_opening():
    doc = GUIDE_LIKE
    doc = Document(**{**doc.__dict__, "questions": (
        ("开头", ("为什么有这个指南",)),
        ("一、主动公开", ("政府自己晒哪些信息",)),  # covers both of its subsections
        ("（二）查阅场所", ("去哪能看到",)),
        ("第三十三条", ("多久答复",)),
        ("五、没有这一部分", ("问了也白问",)),
    )})
    passages, unmatched = attach_questions(doc, split_document(doc))
    by_section = {p.section: p.questions for p in passages}
    assert by_section[""] == ("为什么有这个指南",)
    assert by_section["一、主动公开 / （一）公开方式"] == ("政府自己晒哪些信息",)
    assert by_section["一、主动公开 / （二）查阅场所"] == ("政府自己晒哪些信息", "去哪能看到")
    assert by_section["二、依申请公开 / 第三十三条"] == ("多久答复",)
    assert unmatched == ["五、没有这一部分"]


def test_questions_file_errors_name_the_file_and_the_place(tmp_path, caplog):
    path = tmp_path / QUESTIONS_FILE
    path.write_text("guide: [不是映射]\n", encoding="utf-8")
    with pytest.raises(DocumentError, match="guide"):
        load_questions(path)
    path.write_text("guide:\n  开头: 只有一句\n", encoding="utf-8")
    with pytest.raises(DocumentError, match="问法列表"):
        load_questions(path)
    path.write_text("guide:\n  开头: [\n", encoding="utf-8")
    with pytest.raises(DocumentError, match="格式有误"):
        load_questions(path)
    path.write_text("guide:\n  开头: [问一]\nother:\n  开头: [问二]\nguide:\n  全文: [问三]\n", encoding="utf-8")
    with pytest.raises(DocumentError, match="“guide”出现了两次"):
        load_questions(path)  # YAML alone would keep only the second guide: and lose 问一
    path.write_text("guide:\n  开头: ['  要  多久 ', 要 多久, '']\n", encoding="utf-8")
    assert load_questions(path) == {"guide": {"开头": ("要 多久",)}}  # spaces tidied, repeats dropped
    assert load_questions(tmp_path / "missing.yml") == {}
    # A removed document's phrasings are left out with a warning; the index can still be rebuilt.
    assert with_questions([GUIDE_LIKE], {"nosuchdoc": {"开头": ("问",)}}) == [GUIDE_LIKE]
    assert "nosuchdoc" in caplog.text


def test_project_phrasings_all_name_real_sections():
    """Every key in knowledge/questions.yml, every FAQ entry and every service-item field finds its passages."""
    documents = load_knowledge(ROOT / "knowledge")
    staff = load_questions(ROOT / "knowledge" / QUESTIONS_FILE)
    assert staff, "knowledge/questions.yml has phrasings"
    for doc in documents:
        passages, unmatched = attach_questions(doc, split_document(doc))
        assert unmatched == [], (doc.id, unmatched)
        if doc.id.startswith(("faq-", "service-item-")):
            assert all(p.questions for p in passages), doc.id
    item = next(d for d in documents if d.id.startswith("service-item-"))
    assert len(item.questions) == len(FIELD_TITLES)


def _copy_knowledge(tmp_path):
    target = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", target)
    return target


def test_editing_one_phrasing_embeds_only_that_phrasing_and_it_is_found(knowledge_service, embedder, tmp_path):
    knowledge = _copy_knowledge(tmp_path)
    index_dir = tmp_path / "index"
    shutil.copytree(knowledge_service.settings.index_dir, index_dir)  # the published index, as on a server
    counting = CountingEmbedder(embedder)
    first, stats = build_index(load_knowledge(knowledge), counting, index_dir)
    asked = sum(len(p.phrasings) for p in first.passages)  # staff-written and generated
    assert len(first.question_vectors) == asked > 500
    assert counting.passages == counting.questions == 0  # nothing changed: all vectors reused

    question = "我家楼下那个菜市场突然关门了，谁来管"
    retriever = Retriever(first, embedder)
    before = retriever.search(question, top_k=1)[0]

    path = knowledge / QUESTIONS_FILE
    path.write_text(
        path.read_text(encoding="utf-8")
        + "\nservice-item-sw-gg-005:\n  一、基本信息:\n    - 我家楼下那个菜市场突然关门了，谁来管\n",
        encoding="utf-8",
    )
    counting.passages = counting.questions = 0
    second, stats = build_index(load_knowledge(knowledge), counting, index_dir)
    assert stats["rebuilt"] and counting.passages == 0 and counting.questions == stats["questions_embedded"] == 1
    assert load_current(index_dir).key == second.key
    assert np.allclose(load_current(index_dir).question_vectors, second.question_vectors)

    hit = Retriever(second, embedder).search(question, top_k=1)[0]
    assert hit.passage.doc_id == "service-item-sw-gg-005" and hit.passage.section == "一、基本信息"
    assert before.passage.passage_id != hit.passage.passage_id or before.dense < hit.dense
