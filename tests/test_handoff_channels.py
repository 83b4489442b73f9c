"""Live 转人工 over the REST channel and outside service hours, against real stacks.

REST cannot be pushed to: a staff reply waits in the tracker and comes with the caller's next
message, ahead of that turn's replies (session stack `servers`, staffed around the clock). Outside
service hours (the `default_stack` of scripts/run.sh, GOVBOT_HANDOFF_HOURS=none) the bot says at
once that nobody is in, the person leaves a message with a phone, and staff answer it later.
"""

from __future__ import annotations

import time
import uuid

import pytest

pytestmark = pytest.mark.e2e
PHONE = "13912345678"


def until(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def texts(messages: list[dict]) -> list[str]:
    """The text messages of a REST reply (the 「人工服务中」 marker comes as a custom message of its own)."""
    return [m["text"] for m in messages if "text" in m]


def handoff_of(stack_staff, user: str) -> dict:
    items = stack_staff("GET", "/cases", params={"kind": "handoff", "limit": 200}).json()["items"]
    [case] = [c for c in items if c["conversation_id"] == user]
    return stack_staff("GET", f"/cases/{case['tracking_number']}").json()


def test_rest_caller_gets_staff_replies_with_the_next_message_and_the_bot_back_after_the_end(servers):
    user = f"handoff-{uuid.uuid4().hex[:8]}"
    staff = servers.cases.staff
    reply = servers.send(user, "转人工")
    assert "已为您转接人工服务" in reply[0]["text"]
    assert {"recipient_id": user, "custom": {"data": {"govbot_handoff": "active", "staffed": True}}} in reply
    assert servers.send(user, "有人在吗？") == []  # the bot stays quiet; the message reaches the case
    number = handoff_of(staff, user)["tracking_number"]
    assert until(lambda: [m for m in staff("GET", f"/cases/{number}/messages").json()["items"] if m["text"] == "有人在吗？"])

    sent = staff("POST", f"/cases/{number}/messages", json={"text": "在的，请讲。", "author": "clerk"})
    assert sent.status_code == 201 and sent.json()["delivered"] is True, sent.text
    assert texts(servers.send(user, "我想查一个申请")) == ["【工作人员】在的，请讲。"]
    assert servers.send(user, "谢谢") == []  # handed out once only

    assert staff("POST", f"/cases/{number}/transitions", json={"action": "close", "note": "已答复"}).status_code == 200
    late = staff("POST", f"/cases/{number}/messages", json={"text": "还有吗？"})
    assert late.status_code == 409 and late.json()["error"]["code"] == "handoff_ended"
    said = texts(servers.send(user, "你好"))
    assert "人工服务已结束" in said[0] and any("您好" in t for t in said[1:]), said
    kinds = [m["role"] for m in staff("GET", f"/cases/{number}/messages").json()["items"]]
    assert kinds == ["system", "citizen", "staff", "citizen", "citizen", "system"]  # started ... ended


def test_bad_handoff_messages_get_chinese_errors(servers):
    staff = servers.cases.staff
    assert staff("POST", "/cases/RG261206000000/messages", json={"text": "你好"}).status_code == 404
    empty = staff("POST", "/cases/RG261206000000/messages", json={"text": "  "})
    assert empty.status_code == 400 and "text" in empty.json()["error"]["message"]
    feed = staff("GET", "/handoff-messages", params={"after": "abc"})
    assert feed.status_code == 400 and "after" in feed.json()["error"]["message"]


def test_outside_service_hours_the_bot_says_so_and_takes_a_message_with_a_contact(default_stack):
    stack, user = default_stack, f"closed-{uuid.uuid4().hex[:8]}"
    reply = stack.say(user, "转人工")
    assert "现在是非工作时间" in reply and "留言" in reply and "联系电话" in reply, reply
    assert "工作日上午9:00" in reply  # the agency's hours from knowledge/agency.yml
    assert stack.texts(user, f"想问申请的事，请回电{PHONE}") == []
    case = until(lambda: (c := handoff_of(stack.staff, user)) and c["applicant"].get("phone") and c)
    assert case["applicant"]["phone"] == PHONE
    [message] = [m for m in stack.staff("GET", f"/cases/{case['tracking_number']}/messages").json()["items"] if m["role"] == "citizen"]
    assert PHONE not in message["text"] and "139****5678" in message["text"]
    # Later a clerk answers; the reply comes with the person's next message.
    assert stack.staff("POST", f"/cases/{case['tracking_number']}/messages", json={"text": "您好，已收到留言。"}).status_code == 201
    assert [t for t in stack.texts(user, "在吗") if t] == ["【工作人员】您好，已收到留言。"]
