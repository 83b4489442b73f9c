"""bot.knowledge.admin and bot.analytics.review on a copy of the knowledge base: what the console's
knowledge pages do, without a browser. Bad input is refused in Chinese and changes nothing; the
staff phrasings file keeps its comments; the review pairs each question with the answer given."""

from __future__ import annotations

from dataclasses import replace
from datetime import timezone

import pytest

from bot.analytics.review import review_items
from bot.knowledge.admin import AdminError, KnowledgeAdmin
from tests.conftest import copy_knowledge

NOTICE = (
    "示例市档案馆关于调整查档服务时间的通知\n\n"
    "一、服务时间\n\n自2027年3月1日起，查档服务时间调整为工作日上午九时至下午四时。\n\n"
    "二、预约方式\n\n查档请提前一个工作日拨打0871-65550188预约。\n\n"
    "示例市档案局\n2027年2月20日\n"
)


@pytest.fixture(scope="module")
def admin(knowledge_service, tmp_path_factory):
    knowledge, cache = copy_knowledge(knowledge_service, tmp_path_factory.mktemp("kb-admin"))
    settings = replace(knowledge_service.settings, knowledge_dir=knowledge, cache_dir=cache)
    return KnowledgeAdmin(settings)


def test_upload_build_sections_and_try(admin):
    document = admin.add_upload("档案馆通知.txt", NOTICE.encode("gb18030"))
    assert document.title == "示例市档案馆关于调整查档服务时间的通知" and document.issuer == "示例市档案局"
    stats = admin.build()
    assert stats["rebuilt"] and document.id in {d["id"] for d in admin.documents() if d["removable"]}
    sections = {s["key"]: s for s in admin.sections(document.id)["sections"]}
    assert {"一、服务时间", "二、预约方式"} <= set(sections)
    assert sections["一、服务时间"]["generated"] and not sections["一、服务时间"]["staff"]
    result = admin.try_question("档案馆查档现在几点到几点")
    assert result["found"] and "下午四时" in result["answer"] and "来源：《示例市档案馆" in result["answer"]
    assert result["passages"][0]["doc_id"] == document.id
    assert [p["score"] for p in result["passages"]] == sorted((p["score"] for p in result["passages"]), reverse=True)

    with pytest.raises(AdminError, match="已有编号为"):
        admin.add_upload("档案馆通知.txt", NOTICE.encode("utf-8"))


def test_bad_uploads_are_refused_in_chinese_and_nothing_is_written(admin):
    before = sorted(p.name for p in admin.documents_dir.iterdir())
    for name, data, message in (
        ("报表.xls", b"\xd0\xcf\x11\xe0", "不支持的文件类型 .xls"),
        ("空白.txt", b"", "是空的"),
        ("损坏.pdf", b"%PDF-1.4 not really", "无法读取 损坏.pdf"),
        ("无落款.txt", "一些没有标题和落款的文字".encode(), "请在「发布机关」中填写"),
    ):
        with pytest.raises(AdminError, match=message):
            admin.add_upload(name, data)
    assert sorted(p.name for p in admin.documents_dir.iterdir()) == before
    with pytest.raises(AdminError, match="不能在这里删除"):
        admin.remove("gov-info-disclosure-regulation-2019")
    with pytest.raises(AdminError, match="文档编号不正确"):
        admin.remove("../agency")


def test_staff_phrasings_keep_the_file_comments_and_refuse_bad_input(admin):
    path = admin.settings.knowledge_dir / "questions.yml"
    original = path.read_text(encoding="utf-8")
    admin.add_staff_phrasing("gov-info-disclosure-regulation-2019", "第三十三条", "申请以后最多等几天")
    text = path.read_text(encoding="utf-8")
    assert text.startswith(original.split("\n", 1)[0]) and "  - 申请以后最多等几天\n" in text
    admin.edit_staff_phrasing("gov-info-disclosure-regulation-2019", "第三十三条", "申请以后最多等几天", "申请后最长要等多少天")
    assert "申请后最长要等多少天" in path.read_text(encoding="utf-8")
    admin.edit_staff_phrasing("gov-info-disclosure-regulation-2019", "第三十三条", "申请后最长要等多少天", None)
    assert path.read_text(encoding="utf-8") == original

    for section, phrasing, message in (
        ("第三十三条", "  ", "不能为空"),
        ("第三十三条", "问" * 101, "问法过长"),
        ("第九十九条", "条例有第九十九条吗", "没有段落"),
    ):
        with pytest.raises(AdminError, match=message):
            admin.add_staff_phrasing("gov-info-disclosure-regulation-2019", section, phrasing)
    with pytest.raises(AdminError, match="没有找到这条工作人员问法"):
        admin.edit_staff_phrasing("gov-info-disclosure-regulation-2019", "第三十三条", "从没写过的问法", None)
    assert path.read_text(encoding="utf-8") == original

    path.write_text(original + "\nfaq-001: [broken\n", encoding="utf-8")
    try:
        with pytest.raises(Exception, match="常见问法文件"):
            admin.add_staff_phrasing("gov-info-disclosure-regulation-2019", "第三十三条", "申请以后最多等几天")
    finally:
        path.write_text(original, encoding="utf-8")


def test_review_pairs_each_question_with_the_answer_given():
    def user(ts, text, intent, sender="a", channel="socketio"):
        return {"sender_id": sender, "event": "user", "timestamp": ts, "text": text, "input_channel": channel,
                "parse_data": {"intent": {"name": intent}}}

    def bot(ts, text, sender="a", **metadata):
        return {"sender_id": sender, "event": "bot", "timestamp": ts, "text": text, "metadata": metadata}

    events = [
        user(1, "条例第三十三条说了什么", "ask_knowledge"),
        bot(2, "行政机关收到申请……\n来源：《条例》", knowledge={"found": True, "doc_id": "reg"}),
        user(3, "/feedback_unhelpful", "feedback_unhelpful"),
        bot(4, "抱歉没能帮到您"),
        user(5, "我的手机13800138000能查社保吗", "ask_knowledge", sender="b", channel="rest"),
        bot(6, "抱歉，没有找到相关内容", sender="b", knowledge={"found": False}),
        user(7, "讲个笑话", "out_of_scope", sender="c"),
        bot(8, "这个问题超出了我的服务范围", sender="c", utter_action="utter_out_of_scope"),
        user(8.5, "住房公积金怎么提取", "ask_knowledge", sender="e"),
        bot(8.6, "住房公积金的提取属于住房公积金管理中心的职责……", sender="e", knowledge={"found": False, "referral": True}),
        user(9, "您好", "greet", sender="d"),
        bot(10, "您好！", sender="d"),
        user(11, "答复能发我邮箱不", "ask_knowledge", sender="f"),
        bot(12, "以下内容与您的问题可能不完全对应，仅供参考：\n……", sender="f",
            knowledge={"found": True, "doc_id": "guide", "tentative": True}),
    ]
    items = review_items(events, timezone.utc)
    assert [(i.kind, i.channel) for i in items] == [
        ("tentative", "socketio"), ("referral", "socketio"), ("out_of_scope", "socketio"), ("not_found", "rest"),
        ("unhelpful", "socketio"),
    ]
    assert items[0].kind_label == "只找到可能相关的内容" and items[0].doc_id == "guide" and items[0].question == "答复能发我邮箱不"
    items = items[1:]
    assert items[0].kind_label == "属其他机关（已告知去处）"
    unhelpful = items[3]
    assert unhelpful.question == "条例第三十三条说了什么" and unhelpful.answer.startswith("行政机关收到申请") and unhelpful.doc_id == "reg"
    assert "13800138000" not in items[2].question and items[2].answer == "抱歉，没有找到相关内容"
