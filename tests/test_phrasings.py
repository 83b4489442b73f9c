"""Phrasings generated at indexing time (issue 15 item 1): what they ask, that staff-written ones win,
that staff can delete or correct them, and that an unchanged document is not generated again."""

from dataclasses import replace

import pytest

from bot.knowledge.chunking import METADATA_SECTION, split_document
from bot.knowledge.documents import Document, DocumentError
from bot.knowledge.ingest import to_document
from bot.knowledge.phrasings import (
    CACHE_FILE,
    EDITS_FILE,
    GeneratedCache,
    apply,
    generate,
    load_edits,
    save_edit,
    subjects,
    with_edits,
)
from bot.knowledge.questions import attach_questions
from tests.conftest import ROOT

FRESH_DOCS = ROOT / "tests" / "data" / "fresh" / "docs"

NOTICE = """示商务发〔2026〕9号

各有关企业：

一、申报材料

申报企业应提交以下材料，纸质材料一式两份：

1.项目申报表；

2.营业执照复印件。

二、申报时间

2026年3月10日至2026年4月30日，逾期不予受理。网上申报完成后，于2026年5月8日前将纸质材料报送至所在区商务主管部门。

三、支持标准

| 支持项目 | 支持标准 | 补助上限 |
| --- | --- | --- |
| 境外展会 | 按展位费的70%给予补助 | 每个展会最高5万元 |
| 出口信用保险 | 按实缴保费的50%给予补助 | 每家企业最高30万元 |

四、联系方式

市商务局对外贸易科：王先生，电话0000-12345621

示例市商务局

2026年3月2日
"""


def _notice(**changes) -> Document:
    doc = Document(
        id="notice",
        title="示例市商务局关于组织申报2026年度示例市外贸发展专项资金项目的通知",
        issuer="示例市商务局",
        body=NOTICE,
        date="2026-03-02",
        doc_number="示商务发〔2026〕9号",
    )
    return replace(doc, **changes)


def _generated(doc: Document) -> dict[str, list[str]]:
    passages = split_document(doc)
    return {p.section: found for p, found in zip(passages, generate(doc, passages))}


def test_the_subject_is_the_title_without_issuer_place_and_kind():
    assert subjects("示例市商务局 示例市财政局关于组织申报2026年度示例市外贸发展专项资金项目的通知", "示例市商务局") == (
        "2026年度外贸发展专项资金项目",
        "外贸发展专项资金",
    )
    assert subjects("示例市商务局2025年政府信息公开工作年度报告", "示例市商务局") == (
        "2025年政府信息公开工作年度报告",
        "政府信息公开工作年度报告",
    )
    assert subjects("《示例市促进餐饮业高质量发展若干措施》政策问答", "示例市商务局")[1] == "促进餐饮业高质量发展若干措施"


def test_headings_fields_rows_and_metadata_are_asked_for():
    found = _generated(_notice())
    # a heading naming a topic, asked with the document's subject
    assert "外贸发展专项资金要准备哪些材料" in found["一、申报材料"]
    # a count, a date range and a deadline asked for in their clause
    assert "申报企业应提交以下材料纸质材料一式几份" in found["一、申报材料"]
    assert "纸质材料报送至所在区商务主管部门最晚什么时候" in found["二、申报时间"]
    # a row: its label and each figure's column
    assert {"境外展会补助上限是多少", "出口信用保险支持标准是多少"} <= set(found["三、支持标准"])
    # a phone number
    assert "外贸发展专项资金王先生电话多少" in found["四、联系方式"]
    # the metadata passage: 文号, issuer, date
    assert {"外贸发展专项资金的文号是多少", "2026年度外贸发展专项资金项目是哪天发布的"} <= set(found[METADATA_SECTION])


def test_a_table_row_is_asked_like_staff_would():
    doc = to_document(FRESH_DOCS / "disclosure-annual-report-2025.html")
    passages = split_document(doc)
    found = [q for p, qs in zip(passages, generate(doc, passages)) if "收取信息处理费" in p.section for q in qs]
    assert "收取了多少信息处理费" in found  # 「项目：收取信息处理费；本年情况：0元」


def test_staff_written_phrasings_win_and_edits_apply():
    doc = _notice(questions=(("一、申报材料", ("外贸资金要交哪些东西",)),))
    passages, _ = attach_questions(doc, split_document(doc))
    generated = generate(doc, passages)
    target = next(q for found in generated for q in found if "最晚什么时候" in q)
    doc = replace(doc, generated_edits=((target, ""), ("外贸发展专项资金王先生电话多少", "外贸资金找王先生打什么电话")))
    out = {p.section: p for p in apply(doc, passages, generated)}
    assert out["一、申报材料"].questions == ("外贸资金要交哪些东西",) and out["一、申报材料"].generated == ()
    assert target not in out["二、申报时间"].generated  # deleted
    assert "外贸资金找王先生打什么电话" in out["四、联系方式"].generated  # corrected
    assert "外贸发展专项资金王先生电话多少" not in out["四、联系方式"].generated


def test_edits_file_round_trips_and_refuses_a_bad_entry(tmp_path):
    path = tmp_path / EDITS_FILE
    save_edit(path, "notice", "外贸发展专项资金能给多少钱", None)
    save_edit(path, "notice", "外贸发展专项资金王先生电话多少", "外贸资金找王先生打什么电话")
    save_edit(path, "notice", "外贸发展专项资金能给多少钱", None)  # twice: recorded once
    edits = load_edits(path)
    assert edits == {
        "notice": (("外贸发展专项资金能给多少钱", ""), ("外贸发展专项资金王先生电话多少", "外贸资金找王先生打什么电话"))
    }
    assert with_edits([_notice()], edits)[0].generated_edits == edits["notice"]
    assert with_edits([_notice()], edits)[0].content_hash != _notice().content_hash  # the index is rebuilt
    path.write_text("notice:\n  去掉: [x]\n", encoding="utf-8")
    with pytest.raises(DocumentError, match="删除"):
        load_edits(path)


def test_an_unchanged_document_is_not_generated_again(tmp_path):
    doc = _notice()
    passages = split_document(doc)
    cache = GeneratedCache(tmp_path)
    first = cache.phrasings(doc, passages)
    cache.save()
    assert cache.generated == 1 and (tmp_path / CACHE_FILE).exists()
    again = GeneratedCache(tmp_path)
    assert again.phrasings(doc, passages) == first and again.generated == 0
    changed = replace(doc, body=NOTICE.replace("一式两份", "一式三份"))
    again.phrasings(changed, split_document(changed))
    assert again.generated == 1


def test_metadata_passage_answers_metadata_questions_only(knowledge_service):
    """「……的文号是多少」 finds the document's 文件信息 passage (文号 in the answer); a question that asks
    nothing about metadata never gets it, though it names the document as strongly."""
    hit = knowledge_service.search("商务部2017年政务公开工作要点的文号是多少", top_k=1)[0]
    assert hit.passage.doc_id == "mofcom-2017-disclosure-plan" and hit.passage.section == METADATA_SECTION
    assert "商办厅函〔2017〕177号" in knowledge_service.answer("商务部2017年政务公开工作要点的文号是多少").message
    for question in ("商务部2017年政务公开工作要点讲了哪些任务", "上海市商务委2020年对政务新媒体提了什么要求"):
        assert all(h.passage.section != METADATA_SECTION for h in knowledge_service.search(question, top_k=5))


def test_words_of_few_titles_lift_their_documents_only(knowledge_service):
    """Specific beats generic: a question's words found in the subject of few published documents
    lift those documents' passages; catalogue entries and FAQ answers get no such lift."""
    retriever = knowledge_service.retriever
    passages = retriever.index.passages
    lifted = retriever.title_matches("2017年度政务公开自评总结里说了啥")
    documents = {p.doc_id for p, w in zip(passages, lifted) if w > 0}
    assert documents == {"anhui-commerce-2017-disclosure-review"}  # 「自评」「总结」: only its title
    # the issuer and place are not the subject (the issuer boost handles them), nor are words two
    # documents' subjects share (「政务公开工作实施方案」: 楚雄's and 商务部's)
    assert not retriever.title_matches("楚雄州商务局的政务公开工作实施方案").any()
    generic = retriever.title_matches("申请材料要交哪些")  # words every kind of entry shares
    assert not generic.any()
