"""Formal requests end to end: Rasa REST channel → action server → outbox → the reference case service."""

import json
import re
import sqlite3
import time
import uuid

import pytest
import requests

from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.e2e

ID_NUMBER = "11010519491231002X"  # the standard's published sample number
MASKED_ID = "1101**********002X"
PHONE, MASKED_PHONE = "13812345678", "138****5678"
TRACKING = re.compile(r"回执号：((GK|TS|JY|RG)\d{12})")
COMPLAINT_TYPE_QUESTION = "您是要投诉，还是提建议？"  # the complaint form's first question (domain.yml)


def sender() -> str:
    return f"req-{uuid.uuid4().hex[:8]}"


def say(servers, user, message) -> str:
    return "\n".join(servers.texts(user, message))


def fill_disclosure(servers, user, phone=PHONE) -> str:
    """A citizen's application up to the summary; returns the summary."""
    assert "第二十九条" in say(servers, user, "我要申请政府信息公开")
    assert "姓名" in say(servers, user, "公民")
    assert "证件类型" in say(servers, user, "张三")
    assert "证件号码" in say(servers, user, "居民身份证")
    assert "联系电话" in say(servers, user, ID_NUMBER)
    assert "描述" in say(servers, user, phone)
    assert "形式" in say(servers, user, "示例市商务局2020年政务公开工作要点的全文")
    assert "方式" in say(servers, user, "电子")
    assert "邮箱" in say(servers, user, "电子邮件")
    return say(servers, user, "zhangsan@example.com")


def begin_citizen_application(servers, user, name):
    """Up to the ID number question, answered without checks (fill_disclosure checks each prompt)."""
    for answer in ("我要申请政府信息公开", "公民", name, "居民身份证"):
        say(servers, user, answer)


def cases_of(servers, user, kind=None) -> list[dict]:
    params = {"limit": 200, **({"kind": kind} if kind else {})}
    response = servers.cases.staff("GET", "/cases", params=params)
    response.raise_for_status()
    return [c for c in response.json()["items"] if c["conversation_id"] == user]


def test_disclosure_application_happy_path_leaves_no_personal_numbers_in_rasa(servers):
    user = sender()
    summary = fill_disclosure(servers, user)
    assert "请核对" in summary and MASKED_ID in summary and MASKED_PHONE in summary
    assert ID_NUMBER not in summary and PHONE not in summary
    assert "用途" not in summary  # Art. 29 does not require the purpose

    reply = say(servers, user, "/confirm_request")
    tracking = TRACKING.search(reply).group(1)
    assert tracking.startswith("GK")

    [case] = cases_of(servers, user, "disclosure")
    full = servers.cases.staff("GET", f"/cases/{tracking}").json()
    assert case["tracking_number"] == tracking
    assert full["applicant"]["id_number"] == ID_NUMBER
    assert full["applicant"]["phone"] == PHONE
    assert full["applicant"]["email"] == "zhangsan@example.com"
    assert full["request"]["delivery_method"] == "电子邮件"
    assert full["deadline"]

    stored = json.dumps(servers.tracker(user), ensure_ascii=False)
    assert ID_NUMBER not in stored and PHONE not in stored and "zhangsan@example.com" not in stored
    assert MASKED_ID in stored  # what the person typed is kept, masked
    drafts = sqlite3.connect(ARTIFACTS / "state" / "outbox.db")
    assert drafts.execute("select count(*) from request_drafts where conversation_id = ?", (user,)).fetchone()[0] == 0
    outbox_rows = " ".join(str(r) for r in drafts.execute("select payload from outbox").fetchall())
    assert ID_NUMBER not in outbox_rows
    for log in ("action-server.log", "rasa-server.log", "case-service.log"):
        assert ID_NUMBER not in (ARTIFACTS / log).read_text(errors="replace"), log


def test_bad_input_is_asked_again_with_a_hint_and_fields_can_be_corrected(servers):
    user = sender()
    begin_citizen_application(servers, user, "李四")
    hint = say(servers, user, "110105194912310021")  # wrong check character
    assert "校验" in hint and "证件号码" in hint
    say(servers, user, ID_NUMBER)
    assert "11位" in say(servers, user, "12345")
    say(servers, user, PHONE)
    assert "具体" in say(servers, user, "文件")
    say(servers, user, "2020年政务公开工作要点")
    say(servers, user, "纸质")
    assert "收件地址" in say(servers, user, "邮寄")
    summary = say(servers, user, "示例市人民路1号示例小区3栋")
    assert "示例市人民路1号" in summary

    choices = servers.send(user, "/correct_request")
    titles = [b["title"] for m in choices for b in m.get("buttons", [])]
    assert "联系电话" in titles and "证件号码" in titles
    assert "联系电话" in say(servers, user, '/correct_request{"request_field": "phone"}')
    summary = say(servers, user, "13900001111")
    assert "139****1111" in summary and MASKED_PHONE not in summary

    tracking = TRACKING.search(say(servers, user, "确认提交")).group(1)
    full = servers.cases.staff("GET", f"/cases/{tracking}").json()
    assert full["applicant"]["phone"] == "13900001111"
    assert full["applicant"]["postal_address"].startswith("示例市人民路1号")


def test_cancel_at_any_point_discards_the_request(servers):
    user = sender()
    say(servers, user, "我要申请政府信息公开")
    say(servers, user, "公民")
    assert "已取消" in say(servers, user, "算了，不申请了")
    assert "没有待提交" in say(servers, user, "/confirm_request")
    assert "来源：" in say(servers, user, "上海市商务委2020年对政务新媒体提了什么要求")
    assert cases_of(servers, user) == []


def test_duplicate_submit_files_one_request(servers):
    user = sender()
    fill_disclosure(servers, user)
    first = TRACKING.search(say(servers, user, "/confirm_request")).group(1)
    again = say(servers, user, "/confirm_request")
    assert "已经提交过了" in again and first in again
    assert len(cases_of(servers, user)) == 1


def test_case_system_down_request_is_kept_and_delivered_once_then_status_is_reported(servers):
    user = sender()
    fill_disclosure(servers, user, phone="13700002222")
    servers.cases.stop()
    try:
        reply = say(servers, user, "/confirm_request")
        assert "安全保存" in reply and "回执号：" not in reply
    finally:
        servers.cases.start()
    deadline = time.monotonic() + 90
    while not cases_of(servers, user) and time.monotonic() < deadline:
        time.sleep(1)
    [case] = cases_of(servers, user)

    listing = say(servers, user, "我的申请办到哪了")
    assert case["tracking_number"] in listing
    assert "最后4位" in say(servers, user, case["tracking_number"])
    status = say(servers, user, "2222")
    assert "已收到" in status and "答复期限" in status
    assert len(cases_of(servers, user)) == 1

    other = sender()
    say(servers, other, "查询办理进度")
    say(servers, other, case["tracking_number"])
    assert "没有查到" in say(servers, other, "9999")


def test_complaint_in_disguise_is_routed_to_the_complaint_form(servers):
    user = sender()
    begin_citizen_application(servers, user, "王五")
    say(servers, user, ID_NUMBER)
    say(servers, user, PHONE)
    messages = servers.send(user, "我要举报楼下超市卖过期食品，要求你们查处")
    routed = "\n".join(m.get("text", "") for m in messages)
    assert "第三十九条" in routed, routed
    # Either the classifier took it as a complaint and the bot switched forms by itself, or it took
    # it as the information description and the form offers the switch as a button the person taps.
    # (This used to look for 「投诉还是」, which no reply contains, and so always sent the payload.)
    if COMPLAINT_TYPE_QUESTION not in routed:
        payloads = [b["payload"] for m in messages for b in m.get("buttons", [])]
        assert "/file_complaint" in payloads, (routed, payloads)
        routed = say(servers, user, "/file_complaint")
    assert "转为投诉/建议登记" in routed and COMPLAINT_TYPE_QUESTION in routed, routed
    say(servers, user, "投诉")
    say(servers, user, "楼下超市卖过期食品，多次反映没有处理")
    say(servers, user, "市场监管窗口")
    say(servers, user, "王五")
    say(servers, user, PHONE)
    summary = say(servers, user, "同意")
    assert "请核对您的投诉信息" in summary
    tracking = TRACKING.search(say(servers, user, "确认提交")).group(1)
    assert tracking.startswith("TS")


def test_anonymous_suggestion_needs_no_contact_details(servers):
    user = sender()
    assert "投诉" in say(servers, user, "我想提个建议")
    say(servers, user, "建议")
    say(servers, user, "希望政府信息公开栏目按月份归档，方便查找")
    say(servers, user, "门户网站")
    summary = say(servers, user, "匿名")
    assert "请核对您的建议信息" in summary and "联系电话" not in summary
    assert TRACKING.search(say(servers, user, "确认提交")).group(1).startswith("JY")


def test_human_handoff_pauses_the_bot_until_staff_release_it(servers):
    user = sender()
    say(servers, user, "你好")
    reply = say(servers, user, "转人工")
    assert "人工" in reply and "工作日" in reply
    assert servers.texts(user, "你好，有人吗") == []
    [case] = cases_of(servers, user, "handoff")
    assert any("转人工" in turn["text"] for turn in servers.cases.staff("GET", f"/cases/{case['tracking_number']}").json()["transcript"])
    closed = servers.cases.staff(
        "POST", f"/cases/{case['tracking_number']}/transitions", json={"action": "close", "note": "已电话联系"}
    )
    assert closed.status_code == 200, closed.text
    assert "您好" in say(servers, user, "你好")


def set_slots(servers, user, **slots) -> None:
    """Writes slots straight into the tracker, as if the action that set or cleared them had been lost."""
    response = requests.post(
        f"{servers.rasa_url}/conversations/{user}/tracker/events", params={"token": servers.rasa_token},
        json=[{"event": "slot", "name": name, "value": value} for name, value in slots.items()], timeout=30,
    )
    response.raise_for_status()


def slot(servers, user, name):
    return servers.tracker(user)["slots"].get(name)


def test_nothing_is_filed_that_the_person_has_not_seen_summarised(servers):
    # Answers on record but no summary shown (the summary's turn was lost with its action server):
    # 「确认提交」 shows the summary first, and only the next one files it.
    user = sender()
    say(servers, user, "你好")
    set_slots(
        servers, user, request_kind="complaint", complaint_type="suggestion", anonymous="匿名",
        complaint_matter="希望政府信息公开栏目按月份归档，方便查找", complaint_target="门户网站",
        request_instance=uuid.uuid4().hex,
    )
    first = say(servers, user, "/confirm_request")
    assert "提交前请先核对" in first and "按月份归档" in first and "回执号" not in first
    assert cases_of(servers, user) == []
    assert TRACKING.search(say(servers, user, "/confirm_request")).group(1).startswith("JY")
    assert len(cases_of(servers, user)) == 1

    # A changed answer after the summary means a new summary before anything is filed.
    other = sender()
    summary = fill_disclosure(servers, other)
    assert "请核对" in summary
    set_slots(servers, other, info_description="示例市商务局2021年政务公开工作要点")
    again = say(servers, other, "/confirm_request")
    assert "提交前请先核对" in again and "2021年" in again
    assert cases_of(servers, other) == []
    assert TRACKING.search(say(servers, other, "/confirm_request"))
    assert len(cases_of(servers, other)) == 1


def test_confirm_on_an_unfinished_request_goes_on_with_the_form(servers):
    # Half the answers on record and the form no longer active (its turn was lost): nothing is filed,
    # the form asks for what is missing.
    user = sender()
    say(servers, user, "你好")
    set_slots(servers, user, request_kind="complaint", complaint_type="suggestion", request_instance=uuid.uuid4().hex)
    reply = say(servers, user, "/confirm_request")
    assert "还没有填写完整" in reply and "具体说明" in reply and "回执号" not in reply
    assert "单位" in say(servers, user, "希望政府信息公开栏目按月份归档，方便查找")
    assert cases_of(servers, user) == []


def test_a_form_whose_start_was_lost_still_ends_in_a_request_that_can_be_filed(servers):
    user = sender()
    say(servers, user, "我想提个建议")
    set_slots(servers, user, request_kind=None, request_instance=None)  # action_start_request's events lost
    say(servers, user, "建议")
    assert slot(servers, user, "request_kind") == "complaint" and slot(servers, user, "request_instance")
    say(servers, user, "希望政府信息公开栏目按月份归档，方便查找")
    say(servers, user, "门户网站")
    assert "请核对您的建议信息" in say(servers, user, "匿名")
    assert TRACKING.search(say(servers, user, "/confirm_request"))
    assert len(cases_of(servers, user)) == 1


def test_cancel_after_a_submission_whose_turn_was_lost_says_it_was_filed(servers):
    user = sender()
    fill_disclosure(servers, user)
    kind, instance = slot(servers, user, "request_kind"), slot(servers, user, "request_instance")
    number = TRACKING.search(say(servers, user, "/confirm_request")).group(1)
    # The submit turn's events (clearing the request) lost: the conversation still holds the request.
    set_slots(servers, user, request_kind=kind, request_instance=instance)
    reply = say(servers, user, "取消")
    assert "已经确认提交" in reply and number in reply and "不会提交" not in reply
    assert slot(servers, user, "request_instance") is None
    assert len(cases_of(servers, user)) == 1


def test_correcting_one_field_of_a_suggestion_asks_only_that_field_again(servers):
    user = sender()
    for message in ("我想提个建议", "建议", "希望政府信息公开栏目按月份归档，方便查找", "门户网站"):
        say(servers, user, message)
    assert "请核对您的建议信息" in say(servers, user, "匿名")
    asked = say(servers, user, '/correct_request{"request_field": "complaint_target"}')
    assert "涉及的单位或服务" in asked and "投诉」还是「建议" not in asked
    summary = say(servers, user, "政务服务大厅")
    assert "请核对您的建议信息" in summary and "政务服务大厅" in summary and "门户网站" not in summary
    assert TRACKING.search(say(servers, user, "/confirm_request")).group(1).startswith("JY")


def test_a_tracking_number_typed_without_its_letters(servers):
    """A kiosk keypad or a phone's number pad gives the twelve digits only: the number this
    conversation was given is completed; digits nobody here was given get the letters asked for."""
    user = sender()
    fill_disclosure(servers, user, phone="13700003333")
    number = TRACKING.search(say(servers, user, "确认提交")).group(1)
    say(servers, user, "我的申请办到哪了")
    assert "最后4位" in say(servers, user, number[2:])
    assert "已收到" in say(servers, user, "3333")

    other = sender()
    say(servers, other, "查询办理进度")
    reply = say(servers, other, number[2:])
    assert "两个字母" in reply and "最后4位" not in reply, reply
