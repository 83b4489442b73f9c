"""Splitting follows the documents' own numbering and keeps what a citation needs."""

import re

from bot.knowledge.chunking import MAX_CHARS, METADATA_SECTION
from bot.knowledge.chunking import split_document as split_with_metadata
from bot.knowledge.documents import Document, load_documents
from tests.conftest import ROOT


def split_document(doc: Document):
    """The passages of the text (the metadata passage has its own tests)."""
    return [p for p in split_with_metadata(doc) if p.section != METADATA_SECTION]


def _doc(body: str) -> Document:
    return Document(id="t", title="测试文件", issuer="示例局", body=body, date="2020-01-01")


def test_sections_follow_chinese_numbering():
    body = "总体要求是:做好工作。\n\n一、第一部分标题\n\n(一)第一项。内容甲。\n\n（二）第二项。内容乙。\n\n二、第二部分\n\n正文丙。"
    passages = split_document(_doc(body))
    assert [p.section for p in passages] == [
        "",
        "一、第一部分标题 / （一）第一项",
        "一、第一部分标题 / （二）第二项",
        "二、第二部分",
    ]
    assert [p.locator for p in passages] == ["", "第一部分", "第一部分", "第二部分"]
    assert passages[1].text.startswith("(一)第一项。内容甲。")


def test_long_paragraphs_are_split_under_the_limit_without_losing_text():
    sentence = "这是一个用于测试切分长度的句子，内容不断重复以便超过上限。"
    body = "一、长段落\n" + sentence * 40
    passages = split_document(_doc(body))
    assert len(passages) > 1
    assert all(len(p.text) <= MAX_CHARS for p in passages)
    joined = "".join(p.text for p in passages)
    assert joined.count(sentence) >= 40  # overlap may repeat a sentence, never drop one


def test_numbered_list_items_are_not_mistaken_for_headings():
    body = "四、工作流程\n(一)文件公开流程\n1.文件起草人完成文件起草,需在审批签中填写确定公开属性。\n2.科室负责人初审时签署意见。"
    passages = split_document(_doc(body))
    assert {p.section for p in passages} == {"四、工作流程 / （一）文件公开流程"}


def test_every_seed_passage_keeps_title_issuer_and_fits():
    for doc in load_documents(ROOT / "knowledge" / "documents"):
        passages = split_document(doc)
        assert passages, doc.id
        assert all(p.title == doc.title and p.issuer == doc.issuer for p in passages)
        assert all(0 < len(p.text) <= MAX_CHARS for p in passages)
        # article subjects (「第一条【立法目的】」) go to the heading, not the text
        body_chars = sum(len(re.sub(r"【[^【】]*】", " ", line).strip()) for line in doc.body.splitlines())
        assert sum(len(p.text.replace("\n", "")) for p in passages) >= body_chars * 0.95


def test_shanghai_new_media_passage_is_cited_as_part_five():
    docs = {d.id: d for d in load_documents(ROOT / "knowledge" / "documents")}
    passages = split_document(docs["shanghai-commerce-2020-disclosure-points"])
    media = next(p for p in passages if "政务新媒体规范化管理" in p.text)
    assert media.locator == "第五部分"
    assert media.section.endswith("（二）强化新媒体工作")


def test_regulation_articles_are_cited_by_article_number():
    body = (
        "第四章 依申请公开\n"
        "第三十三条 行政机关收到申请后，能够当场答复的当场答复；不能当场答复的，自收到申请之日起20个工作日内答复。\n"
        "第三十四条 联合制作的信息，可以征求其他机关意见。\n"
        "第五章 监督和保障\n"
        "第五十一条 认为权益受到侵害的，可以投诉举报，也可以申请行政复议或者提起行政诉讼。"
    )
    passages = split_document(_doc(body))
    assert [(p.section, p.locator) for p in passages] == [
        ("第四章 依申请公开 / 第三十三条", "第三十三条"),
        ("第四章 依申请公开 / 第三十四条", "第三十四条"),
        ("第五章 监督和保障 / 第五十一条", "第五十一条"),
    ]
    assert passages[0].text.startswith("第三十三条 行政机关收到申请后")


def test_an_article_subject_joins_the_heading_and_leaves_the_text():
    """「第三十三条【答复期限】……」: the subject is searched with the article, the answer quotes the article."""
    body = "第四章 依申请公开\n第三十三条【答复期限及延长】行政机关收到申请后，能够当场答复的当场答复。\n第三十四条 联合制作的信息，可以征求其他机关意见。"
    passages = split_document(_doc(body))
    assert [(p.section, p.locator) for p in passages] == [
        ("第四章 依申请公开 / 第三十三条 答复期限及延长", "第三十三条"),
        ("第四章 依申请公开 / 第三十四条", "第三十四条"),
    ]
    assert passages[0].text == "第三十三条 行政机关收到申请后，能够当场答复的当场答复。"
    assert "答复期限及延长" in passages[0].embedding_text()


def test_every_regulation_article_has_a_subject():
    docs = {d.id: d for d in load_documents(ROOT / "knowledge" / "documents")}
    passages = split_document(docs["gov-info-disclosure-regulation-2019"])
    articles = [p for p in passages if p.locator.endswith("条")]
    assert len({p.locator for p in articles}) == 56
    assert all(p.section.split(" / ")[-1] != p.locator for p in articles)  # 「第X条 主旨」, not 「第X条」
    assert not any("【" in p.text for p in passages)


def test_keywords_are_searched_but_not_embedded():
    doc = Document(id="t", title="洗染业经营者备案办事指南", issuer="示例局", body="一、申请材料\n备案表。", keywords="洗衣店备案、干洗店备案")
    passage = split_document(doc)[0]
    assert "干洗店" not in passage.embedding_text() and "干洗店" in passage.keyword_text()
    assert doc.content_hash != Document(id="t", title=doc.title, issuer="示例局", body=doc.body).content_hash
