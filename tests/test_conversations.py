"""Whole conversations through Rasa's REST channel, against real Rasa and action servers."""

import re
import uuid

import pytest

pytestmark = pytest.mark.e2e

CITATION = re.compile(r"^来源：《[^》]+》，[^，]+(，[^，]+)*$")
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def sender() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def test_knowledge_answer_carries_its_citation(servers):
    reply = "\n".join(servers.texts(sender(), "上海市商务委2020年对政务新媒体提了什么要求"))
    assert "政务新媒体规范化管理" in reply
    last_line = reply.strip().splitlines()[-1]
    assert last_line == "来源：《2020年上海市商务委员会政务公开工作要点》，上海市商务委员会，2020-04-19，第五部分"


@pytest.mark.parametrize(
    "question, title, fact",
    [
        ("楚雄州商务局的文件起草时要怎么确定公开属性", "楚雄州商务局政务公开工作实施方案", "公开属性"),
        ("商务部的政务大厅是哪年设立的", "商务部积极推进政务公开", "政务大厅"),
        ("安徽省商务厅2017年政务公开工作存在哪些问题", "安徽省商务厅关于2017年度政务公开自评工作总结", "工作人员少"),
    ],
)
def test_answers_cite_the_document_they_quote(servers, question, title, fact):
    lines = "\n".join(servers.texts(sender(), question)).strip().splitlines()
    assert CITATION.match(lines[-1]), lines
    assert f"《{title}》" in lines[-1]
    assert fact in "".join(lines[:-1])


def test_unanswerable_question_gets_an_honest_not_found(servers):
    user = sender()
    # In scope for no document (another agency's business such as 公积金 is referred elsewhere instead).
    messages = servers.send(user, "你们局里有没有招聘公务员的计划")
    reply = "\n".join(m.get("text", "") for m in messages)
    assert "没有找到" in reply
    assert "依申请公开" in reply or "政府信息公开申请" in reply
    assert "来源：" not in reply
    # The way forward is offered as a button: it starts the application form.
    payloads = [b["payload"] for m in messages for b in m.get("buttons", [])]
    assert "/apply_disclosure" in payloads and "/request_human" in payloads
    assert "第二十九条" in "".join(servers.texts(user, "/apply_disclosure"))


def test_question_about_a_place_without_documents_is_not_answered_from_another(servers):
    """The person is told plainly that nothing was found (an empty reply or another place's answer fails)."""
    reply = "\n".join(servers.texts(sender(), "北京市商务局2020年政务公开工作要点有哪些"))
    assert "没有找到" in reply, reply
    assert "来源：" not in reply, reply


@pytest.mark.parametrize(
    "message, expected",
    [
        ("你好", "您好"),
        ("谢谢你", "不客气|不用谢"),
        ("再见", "再见"),
        ("你是机器人吗", "智能程序"),
        ("给我写一首关于春天的诗", "超出了我的服务范围|帮不上忙"),
        ("推荐几只能涨的股票", "超出了我的服务范围|帮不上忙"),
        ("你能做什么", "我可以"),
    ],
)
def test_small_talk_gets_short_natural_replies(servers, message, expected):
    reply = "\n".join(servers.texts(sender(), message))
    assert re.search(expected, reply), reply
    assert "来源：" not in reply


def test_a_conversation_keeps_going_after_thanks(servers):
    user = sender()
    assert "您好" in "".join(servers.texts(user, "您好"))
    answer = "\n".join(servers.texts(user, "上海市商务委怎么管政务新媒体"))
    assert "来源：" in answer
    assert re.search("不客气|不用谢", "".join(servers.texts(user, "好的谢谢")))
    follow_up = "\n".join(servers.texts(user, "楚雄州商务局的依申请公开按什么流程办"))
    assert "楚雄州商务局" in follow_up


def test_unsure_classification_asks_in_chinese_with_buttons(servers):
    """The two-stage fallback: 「您是想……吗？」 with buttons, then a request to rephrase."""
    user = sender()
    messages = servers.send(user, "/nlu_fallback")
    text = "".join(m.get("text", "") for m in messages)
    buttons = [b for m in messages for b in m.get("buttons", [])]
    assert text.startswith("我不太确定您的意思，您是想") and text.endswith("吗？")
    assert buttons[0]["payload"] == "/ask_knowledge"
    assert buttons[-1] == {"title": "都不是，我换个说法", "payload": "/out_of_scope"}
    assert "换个说法" in "".join(servers.texts(user, "/out_of_scope"))


def test_button_payload_answers_the_question_typed_before_it(servers):
    user = sender()
    servers.send(user, "上海市商务委对政务新媒体有什么要求")
    reply = "\n".join(servers.texts(user, "/ask_knowledge"))
    assert "政务新媒体" in reply and "来源：《2020年上海市商务委员会政务公开工作要点》" in reply


@pytest.mark.parametrize(
    "message, expected",
    [("", "请输入"), ("   ", "请输入"), ("🙂🙂🙂", CHINESE), ("<script>alert(1)</script>", CHINESE), ("政" * 3000, "太长")],
    ids=["empty", "spaces", "emoji", "script", "too-long"],
)
def test_odd_input_gets_a_reply_not_a_crash(servers, message, expected):
    """Every odd input gets at least one message with readable Chinese text (not an empty list)."""
    texts = servers.texts(sender(), message)
    assert texts and all(CHINESE.search(t) for t in texts), texts
    assert re.search(expected, "\n".join(texts)), texts


def test_service_item_field_answer_and_follow_up_across_turns(servers):
    from bot.knowledge.sources import load_service_catalogue
    from tests.conftest import ROOT

    catalogue = load_service_catalogue(ROOT / "knowledge")
    item = next(i for i in catalogue.items if i.name == "对外贸易经营者备案登记")
    user = sender()
    materials = "\n".join(servers.texts(user, "对外贸易经营者备案要什么材料"))
    assert f"【{item.name}（{item.code}）】" in materials
    assert item.field_text("materials") in materials
    assert materials.strip().splitlines()[-1].endswith(f"{item.name}（{item.code}）")
    follow_up = "\n".join(servers.texts(user, "那要多久？"))
    assert f"【{item.name}（{item.code}）】" in follow_up
    assert item.field_text("time_limit") in follow_up
    assert "申请材料" not in follow_up
