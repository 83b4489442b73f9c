"""Bad input through every public channel of the running stack (scripts/run.sh): REST, 微信公众号, socket.io.

Every input gets a clear Chinese reply or a 4xx, the services answer a normal question afterwards,
and nothing reaches the tracker store unbounded or with control characters. The last test scans
every store and log of the stack for the personal numbers typed into the forms here.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
import uuid

import pytest
import requests
import socketio

from bot.channels.guard import DEFAULT_MAX_MESSAGE_CHARS, EMPTY_TEXT, check_message, clean_message
from tests.test_wechat_channel import (
    BILLION_LAUGHS,
    EXTERNAL_DTD,
    XXE,
    WeChat,
    message_xml,
    msg_id,
    openid,
    signature,
    text_xml,
)

pytestmark = pytest.mark.e2e

QUESTION = "上海市商务委2020年对政务新媒体提了什么要求"
CITATION = "来源："
ID_NUMBER = "11010519491231002X"
PHONE = "13987654321"
EMAIL = "lisi.badinput@example.com"
ORIGIN = "https://www.example.gov.cn"  # GOVBOT_WEB_ORIGINS of the default_stack fixture
SENDERS: list[str] = []  # every REST/socket.io conversation this module starts, for the final scan
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def sender(kind: str = "bad") -> str:
    name = f"{kind}-{uuid.uuid4().hex[:10]}"
    SENDERS.append(name)
    return name


def user_texts(stack, who: str) -> list[str]:
    return [e.get("text") or "" for e in stack.tracker(who)["events"] if e["event"] == "user"]


def assert_still_answers(stack) -> None:
    assert CITATION in stack.say(sender("after"), QUESTION)


# --- the checks themselves ------------------------------------------------------------------


def test_clean_message_removes_what_hides_or_breaks_text():
    assert clean_message("  怎么申请\x00政府\u202e信息\u200b公开\x1b[0m\r\n第二行\t！ ") == "怎么申请政府信息公开[0m\n第二行 ！"
    assert clean_message("👨\u200d👩\u200d👧 e\u0301") == "👨\u200d👩\u200d👧 é"  # ZWJ emoji kept, NFC applied
    assert clean_message("\ud800你好\udfff") == "你好"  # lone surrogates (from JSON \\ud800 escapes)
    assert clean_message("\ue000私用区") == "\ue000私用区"  # private-use characters (rare names) stay
    assert clean_message("a\n\n\n\n\nb") == "a\n\nb"
    limit = DEFAULT_MAX_MESSAGE_CHARS
    assert check_message("政" * limit).accepted
    too_long = check_message("政" * (limit + 1))
    assert not too_long.accepted and f"{limit + 1} 字" in too_long.reply and f"{limit} 字以内" in too_long.reply
    assert check_message(" \u200b\x00 ").reply == EMPTY_TEXT


# --- REST ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    ["", "   ", "\n\t \r\n", "\x00\x01\x1b\x7f", "\u200b\u202e\ufeff"],
    ids=["empty", "spaces", "whitespace", "control", "invisible"],
)
def test_rest_empty_messages_get_a_prompt_and_are_not_stored(default_stack, message):
    who = sender()
    response = default_stack.rest({"sender": who, "message": message})
    assert response.status_code == 200
    assert response.json() == [{"recipient_id": who, "text": EMPTY_TEXT}]
    assert user_texts(default_stack, who) == []


def test_rest_ten_thousand_characters_get_a_too_long_reply_and_are_not_stored(default_stack):
    who = sender()
    response = default_stack.rest({"sender": who, "message": "我想问一下政府信息公开的事情。" * 667})  # 10,005 characters
    assert response.status_code == 200
    [reply] = response.json()
    assert "太长" in reply["text"] and "10005 字" in reply["text"] and "2000 字以内" in reply["text"]
    assert user_texts(default_stack, who) == []


def test_rest_emoji_control_characters_and_surrogates(default_stack):
    # The emoji alone may be too unclear for NLU; Rasa's two-stage fallback then records a later
    # rephrasing twice (it re-emits the rephrased message), so the emoji has a conversation of its own.
    emoji_sender = sender()
    emoji = "👍🏻😀👨\u200d👩\u200d👧"
    replies = default_stack.texts(emoji_sender, emoji)
    assert replies and all(CHINESE.search(text) for text in replies)
    assert user_texts(default_stack, emoji_sender) == [emoji]
    who = sender()
    mixed = default_stack.texts(who, "怎么申请\x00政府\u202e信息公开\x07")
    assert mixed and CHINESE.search(mixed[0])
    # A lone surrogate is valid JSON (\ud800) but not encodable text: dropped, the rest answered.
    raw = json.dumps({"sender": who, "message": "\ud800" + QUESTION})
    assert "\\ud800" in raw
    response = default_stack.rest(raw.encode())
    assert response.status_code == 200 and CITATION in response.json()[0]["text"]
    assert user_texts(default_stack, who) == ["怎么申请政府信息公开", QUESTION]


def test_rest_html_and_script_are_plain_text(default_stack):
    who = sender()
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>怎么申请政府信息公开'
    response = default_stack.rest({"sender": who, "message": attack})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    texts = [m.get("text", "") for m in response.json()]
    assert texts and all(CHINESE.search(t) for t in texts), texts  # answered in Chinese, not an empty reply
    assert "<script" not in response.text
    assert user_texts(default_stack, who) == [attack]  # stored as the text it is, never interpreted


@pytest.mark.parametrize(
    "body, expected",
    [
        (b"not json", "JSON"),
        (b'{"sender": "s", "message": "\xff\xfe\xfa"}', "UTF-8"),
        (b"[1, 2, 3]", "JSON"),
        (b'{"message": "hi"}', "sender"),
        (b'{"sender": "", "message": "hi"}', "sender"),
        (json.dumps({"sender": "x" * 129, "message": "hi"}).encode(), "sender"),
        (b'{"sender": "a\\u0000b", "message": "hi"}', "sender"),
        (b'{"sender": "s"}', "message"),
        (b'{"sender": "s", "message": 42}', "message"),
        (b'{"sender": "s", "message": ["a"]}', "message"),
        (b'{"sender": "s", "message": "hi", "input_channel": "13812345678"}', "input_channel"),
        (json.dumps({"sender": "s", "message": "hi", "metadata": {"x": "y" * 5000}}).encode(), "metadata"),
        (b'{"sender": "s", "message": "hi", "metadata": "text"}', "metadata"),
        (b"[" * 100000 + b"]" * 100000, "JSON"),
    ],
    ids=[
        "not-json", "invalid-utf8", "array", "no-sender", "empty-sender", "long-sender", "control-sender",
        "no-message", "number-message", "list-message", "channel-with-digits", "big-metadata", "text-metadata",
        "deep-nesting",
    ],
)
def test_rest_malformed_requests_are_a_400_in_chinese(default_stack, body, expected):
    response = default_stack.rest(body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "bad_request" and expected in error["message"] and CHINESE.search(error["message"])


def test_rest_oversized_body_is_a_413_and_the_server_stays_up(default_stack):
    response = default_stack.rest({"sender": sender(), "message": "政" * 100_000})  # ~600 KB as JSON escapes
    assert response.status_code == 413 and "过大" in response.json()["error"]["message"]
    # Any other route: Sanic's limit for the whole Rasa server (SANIC_REQUEST_MAX_SIZE, 1 MB in scripts/run.sh).
    huge = requests.post(
        f"{default_stack.rasa_url}/model/parse", params={"token": default_stack.rasa_token},
        json={"text": "政" * 1_000_000}, timeout=60,
    )
    assert huge.status_code == 413
    assert_still_answers(default_stack)


def test_rest_sql_injection_and_html_in_form_fields_are_stored_as_plain_text(default_stack):
    who = sender("form")
    name = "张三'); DROP TABLE cases; --"
    description = "<b>2020年</b>政务公开工作要点' OR '1'='1'; DELETE FROM outbox; --"
    say = default_stack.say
    assert "第二十九条" in say(who, "我要申请政府信息公开")
    assert "姓名" in say(who, "公民")
    assert "证件类型" in say(who, name)
    assert "证件号码" in say(who, "居民身份证")
    assert "联系电话" in say(who, ID_NUMBER)
    assert "描述" in say(who, PHONE)
    assert "形式" in say(who, description)
    assert "方式" in say(who, "电子")
    assert "邮箱" in say(who, "电子邮件")
    summary = say(who, EMAIL)
    assert "请核对" in summary and name in summary  # shown back unchanged (JSON, never rendered as HTML)
    tracking = re.search(r"回执号：(GK\d{12})", say(who, "确认提交")).group(1)

    case = default_stack.staff("GET", f"/cases/{tracking}")
    assert case.status_code == 200, case.text
    assert case.json()["applicant"]["name"] == name
    assert case.json()["request"]["description"] == description
    listing = default_stack.staff("GET", "/cases", params={"limit": 200})
    assert listing.status_code == 200 and any(c["tracking_number"] == tracking for c in listing.json()["items"])
    for database, table in (("cases.db", "cases"), ("outbox.db", "outbox")):
        with sqlite3.connect(default_stack.state / database) as db:
            tables = {row[0] for row in db.execute("select name from sqlite_master where type = 'table'")}
            assert table in tables and db.execute(f"select count(*) from {table}").fetchone()[0] >= 1


# --- 微信公众号 (token only: passive replies) ------------------------------------------------


@pytest.fixture(scope="module")
def wechat(default_stack) -> WeChat:
    return WeChat(f"{default_stack.rasa_url}/webhooks/wechat/webhook", default_stack.wechat_token, "", rasa_token=default_stack.rasa_token)


def wechat_reply(wechat: WeChat, xml: str) -> str:
    """The text the person reads. This stack has no WeChat API (token only), so an answer that missed
    the passive-reply window (`success`) never reaches them: that is a failure, not a pass."""
    reply = wechat.reply(wechat.post(xml))
    assert reply != "success", "no passive reply in time, and without WECHAT_APP_SECRET nothing is pushed"
    return reply.content


@pytest.mark.parametrize("content", ["", "   ", "\u200b\u202e"], ids=["empty", "spaces", "invisible"])
def test_wechat_empty_text_gets_a_prompt(wechat, content):
    user = openid()
    assert wechat_reply(wechat, text_xml(user, content)) == EMPTY_TEXT
    assert wechat.user_events(user) == []


def test_wechat_ten_thousand_characters_get_a_too_long_reply(wechat):
    user = openid()
    reply = wechat_reply(wechat, text_xml(user, "政府信息公开" * 1667))  # 10,002 characters, 30 KB
    assert "太长" in reply and "2000 字以内" in reply
    assert wechat.user_events(user) == []


def test_wechat_emoji_and_html_are_answered_and_stored_as_text(wechat):
    user = openid()
    emoji, attack = "👍🏻😀", "<script>alert(1)</script>怎么申请政府信息公开"
    for content in (emoji, attack):
        reply = wechat_reply(wechat, text_xml(user, content))
        assert CHINESE.search(reply) and "<script" not in reply, reply
    assert [e["text"] for e in wechat.user_events(user)] == [emoji, attack]


@pytest.mark.parametrize(
    "body",
    [
        b"<xml><ToUserName>gh</ToUserName><Content>\x01\x1b</Content></xml>",  # control characters: not XML 1.0
        b"<xml><ToUserName><![CDATA[\xff\xfe]]></ToUserName></xml>",  # invalid UTF-8
        BILLION_LAUGHS.encode(),
        XXE.encode(),
        EXTERNAL_DTD.encode(),
        b"",
    ],
    ids=["control-chars", "invalid-utf8", "billion-laughs", "xxe", "external-dtd", "empty"],
)
def test_wechat_hostile_or_broken_xml_is_a_400(wechat, body):
    response = requests.post(wechat.url, params=wechat.params(), data=body, timeout=30)
    assert response.status_code == 400 and response.text == "消息格式有误。"
    assert "root:" not in response.text and "lollol" not in response.text


def test_wechat_forged_stale_and_replayed_signatures_are_refused(wechat):
    user = openid()
    xml = text_xml(user, "你好")
    forged = {**wechat.params(), "signature": signature("guessed-token", "1", "2")}
    assert wechat.post(xml, params=forged).status_code == 403
    stale = wechat.params(timestamp=int(time.time()) - 3600)
    assert wechat.post(xml, params=stale).status_code == 403
    params = wechat.params()
    image = message_xml(user, "image", {"PicUrl": "http://example.invalid/a.jpg", "MediaId": "m"}, msg_id())
    assert wechat.post(image, params=params).status_code == 200
    replay = wechat.post(image, params=params)
    assert replay.status_code == 403 and "重复" in replay.text
    assert wechat.post(text_xml(user, "政" * 30000)).status_code == 413
    assert wechat.user_events(user) == []


# --- socket.io -------------------------------------------------------------------------------


async def _socket_conversation(url: str, payloads: list, quiet: float = 2.0, first_wait: float = 90) -> tuple[str, list[list[dict]]]:
    """Sends each payload as `user_uttered` and collects the `bot_uttered` replies to it."""
    client = socketio.AsyncClient(reconnection=False)
    replies: asyncio.Queue = asyncio.Queue()
    confirmed: asyncio.Queue = asyncio.Queue()
    client.on("bot_uttered", replies.put)
    client.on("session_confirm", confirmed.put)
    await client.connect(url, socketio_path="/socket.io", transports=["polling"], headers={"Origin": ORIGIN})
    try:
        await client.emit("session_request", {"session_id": None})
        session = await asyncio.wait_for(confirmed.get(), 30)
        results = []
        for payload in payloads:
            if isinstance(payload, dict) and "session_id" not in payload:
                payload = {**payload, "session_id": session}
            await client.emit("user_uttered", payload)
            got = [await asyncio.wait_for(replies.get(), first_wait)]
            while True:
                try:
                    got.append(await asyncio.wait_for(replies.get(), quiet))
                except asyncio.TimeoutError:
                    break
            results.append(got)
        return session, results  # the conversation id: the confirmed session (or the socket id without persistence)
    finally:
        await client.disconnect()


def socket_conversation(stack, payloads: list) -> tuple[str, list[list[dict]]]:
    sid, results = asyncio.run(_socket_conversation(stack.rasa_url, payloads))
    SENDERS.append(sid)
    return sid, results


def test_socketio_bad_input_gets_chinese_replies_and_nothing_unbounded_is_stored(default_stack):
    emoji = "👍🏻😀"
    payloads = [
        {"message": ""},
        {"message": "   "},
        {"message": "政府信息公开" * 1667},
        {"message": emoji},
        {"message": "怎么申请\x00政府\u202e信息公开\x07"},
        {"message": "<script>alert(1)</script>你好"},
        {"message": 42},
        ["not", "a", "dict"],
        {"message": QUESTION},
    ]
    sid, results = socket_conversation(default_stack, payloads)
    texts = [" ".join(str(m.get("text", "")) for m in replies) for replies in results]
    for payload, text in zip(payloads, texts):
        assert CHINESE.search(text), (payload, text)
    assert "请输入" in texts[0] and "请输入" in texts[1]
    assert "太长" in texts[2] and "2000 字以内" in texts[2]
    assert CITATION in texts[-1]
    stored = user_texts(default_stack, sid)
    assert emoji in stored and QUESTION in stored
    assert all(len(t) <= DEFAULT_MAX_MESSAGE_CHARS for t in stored)
    assert all(not re.search(r"[\x00-\x08\x0b-\x1f\u202e]", t) for t in stored), stored


# --- afterwards: still up, and no personal numbers anywhere but the case system ---------------


def test_services_still_answer_and_no_personal_numbers_are_stored_or_logged(default_stack):
    assert_still_answers(default_stack)
    wechat = WeChat(f"{default_stack.rasa_url}/webhooks/wechat/webhook", default_stack.wechat_token, "")
    assert CITATION in wechat_reply(wechat, text_xml(openid(), QUESTION))
    for url in (f"{default_stack.action_url}/health", f"{default_stack.case_url}/health"):
        assert requests.get(url, timeout=10).status_code == 200

    secrets = (ID_NUMBER, PHONE, EMAIL)
    trackers = json.dumps([default_stack.tracker(who) for who in SENDERS], ensure_ascii=False)
    assert "1101**********002X" in trackers  # the form's tracker is there, masked
    places = {"tracker store": trackers, "logs": default_stack.all_logs(), "audit log": default_stack.audit_log.read_text()}
    with sqlite3.connect(default_stack.state / "outbox.db") as db:  # drafts and outbox (payload scrubbed after delivery)
        for (table,) in db.execute("select name from sqlite_master where type = 'table'"):
            rows = db.execute(f'select * from "{table}"').fetchall()
            places[f"outbox.db:{table}"] = json.dumps(rows, ensure_ascii=False, default=str)
    for place, text in places.items():
        for secret in secrets:
            assert secret not in text, f"{secret} found in {place}"
