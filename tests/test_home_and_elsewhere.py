"""A knowledge base that also holds other places' documents answers from home unless asked otherwise.

The scale check (bench/distractors.py, issue 15) adds hundreds of other agencies' notices, plans and
reports that reuse the same model sentences; among them one usually embeds a little closer to a
short question than this agency's own text. Here the knowledge base gets a neighbouring city's
disclosure guide, the same template as this agency's with its own phone, fax and address: a
question that names no agency is answered from this agency's guide, one that names the other city's
bureau from that one's (bot.knowledge.retriever, ELSEWHERE_PENALTY).
"""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from bot.knowledge.sources import load_agency, render_template
from bot.text import tokenize
from tests.conftest import ROOT

NEIGHBOUR = {
    "name": "青禾市商务局",
    "short_name": "青禾市商务局",
    "office": "青禾市商务局办公室",
    "address": "青禾市建设大道18号行政中心5楼512室",
    "postcode": "200000",
    "phone": "0000-87654321",
    "fax": "0000-87654322",
    "email": "xxgk@qinghe.example.gov.cn",
    "website": "https://swj.qinghe.example.gov.cn",
    "online_application": "https://swj.qinghe.example.gov.cn/ysqgk",
}


@pytest.fixture(scope="module")
def two_cities(knowledge_service, tmp_path_factory):
    """A copy of knowledge/ plus the neighbour's guide, indexed with the session's model."""
    from bot.knowledge.service import KnowledgeService

    base = tmp_path_factory.mktemp("two-cities")
    knowledge, cache = base / "knowledge", base / "cache"
    shutil.copytree(ROOT / "knowledge", knowledge)
    index = knowledge_service.retriever.index  # its vectors are reused by text
    shutil.copytree(knowledge_service.settings.index_dir / index.key, cache / "index" / index.key)
    (cache / "index" / "CURRENT").write_text(index.key + "\n")
    (cache / "models").symlink_to(knowledge_service.settings.models_dir, target_is_directory=True)
    agency = {**load_agency(knowledge), **NEIGHBOUR}
    guide = render_template(knowledge / "guide" / "disclosure-guide.md", agency)
    guide = guide.replace('id: "sample-agency-disclosure-guide"', 'id: "qinghe-commerce-disclosure-guide"')
    guide = guide.replace("template: true\n", "")
    (knowledge / "documents" / "qinghe-commerce-disclosure-guide.md").write_text(guide, encoding="utf-8")
    service = KnowledgeService(replace(knowledge_service.settings, knowledge_dir=knowledge, cache_dir=cache))
    service.__dict__["embedder"] = knowledge_service.embedder
    service.build()
    assert any(p.doc_id == "qinghe-commerce-disclosure-guide" for p in service.retriever.index.passages)
    return service


@pytest.mark.parametrize("question, fact", [
    ("有没有邮箱能问问公开的事", "gongkai@example.gov.cn"),
    ("信息公开办在哪里办公", "示例市人民路100号"),  # without the rule: the neighbour's address
    ("信息公开的咨询电话是多少", "0000-12345678"),
])
def test_a_question_that_names_no_agency_is_answered_from_home(two_cities, question, fact):
    answer = two_cities.answer(question)
    assert answer.found and answer.hits[0].passage.doc_id == "sample-agency-disclosure-guide", answer.hits[0].passage.doc_id
    assert fact in answer.message


def test_the_neighbours_number_is_never_given_for_a_question_that_names_no_agency(two_cities):
    """Without the rule 「传真号是多少」 was answered with the neighbour's fax (its generated phrasing
    「…传真至多少」 is closer to the question than this agency's text). Now this agency's guide ranks
    first; that alone is not close enough to answer, and the neighbour's does not count for that."""
    hits = two_cities.search("传真号是多少")
    assert hits[0].passage.doc_id == "sample-agency-disclosure-guide"
    assert "0000-87654322" not in two_cities.answer("传真号是多少").message


@pytest.mark.parametrize("question, fact", [
    ("青禾市商务局的传真号是多少", "0000-87654322"),
    ("青禾市商务局信息公开办在哪里办公", "青禾市建设大道18号"),
])
def test_a_question_that_names_the_other_agency_is_answered_from_its_document(two_cities, question, fact):
    answer = two_cities.answer(question)
    assert answer.found and answer.hits[0].passage.doc_id == "qinghe-commerce-disclosure-guide", answer.hits[0].passage.doc_id
    assert fact in answer.message


def test_national_documents_are_not_elsewhere(two_cities):
    """The regulation (国务院) and 商务部's documents hold everywhere; 楚雄's and the neighbour's do not."""
    retriever = two_cities.retriever
    elsewhere = {p.issuer for p, e in zip(retriever.index.passages, retriever._elsewhere) if e}
    assert {"青禾市商务局", "楚雄州商务局", "上海市商务委员会", "安徽省商务厅"} <= elsewhere
    assert not elsewhere & {"示例市商务局", "国务院", "国务院办公厅", "商务部"}


@pytest.mark.parametrize("question", ["传真号是多少", "政府信息公开申请多久答复", "依申请公开要交费吗"])
def test_other_places_documents_leave_home_keyword_scores_unchanged(knowledge_service, two_cities, question):
    """The neighbour's guide repeats every word of this agency's; counted together, its passages would
    change the word statistics by which this agency's own passages rank against each other (the scale
    check lost dev-set questions that way among this agency's own near ties)."""
    def home_scores(service):
        retriever = service.retriever
        expanded = retriever.expand(question)
        scores = retriever.keyword_scores(expanded, tokenize(expanded))
        return {p.passage_id: round(float(s), 6) for p, s, away in zip(retriever.index.passages, scores, retriever._elsewhere) if not away}

    alone, with_neighbour = home_scores(knowledge_service), home_scores(two_cities)
    assert alone == with_neighbour
    assert sum(v > 0.5 for v in alone.values()) >= 1  # the question does match home passages
