"""Hostile requests against the running default stack (`scripts/run.sh`), issue 16 items 2 and 10.

Each probe is a real HTTP request to the real services on loopback; the suite counts the probes
it sends and which of them got through (any answer other than the refusal expected), prints the
tally, and fails if one did.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests
from wechatpy.utils import WeChatSigner

pytestmark = pytest.mark.e2e


def nested(depth: int) -> dict:
    value: object = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


def wechat_signature(token: str, timestamp: str, nonce: str) -> str:
    signer = WeChatSigner()
    signer.add_data(token, timestamp, nonce)
    return signer.signature


class Tally:
    """Probes sent and those that got through, for the closing report."""

    def __init__(self) -> None:
        self.sent = 0
        self.through: list[str] = []

    def expect(self, name: str, response: requests.Response, status: int, check=lambda r: True) -> None:
        self.sent += 1
        if response.status_code != status or not check(response):
            self.through.append(f"{name}: HTTP {response.status_code} {response.text[:200]!r}")


def test_hostile_requests_are_all_refused(default_stack):
    stack = default_stack
    tally = Tally()
    wechat = f"{stack.rasa_url}/webhooks/wechat/webhook"
    token = stack.wechat_token
    text_xml = (
        "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[o-attacker]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        "<Content><![CDATA[你好]]></Content><MsgId>1234567890123456</MsgId></xml>"
    ).encode("utf-8")

    # Item 10: a signature that is not ASCII made hmac.compare_digest raise (500): 403.
    for forged in ("签名", "é" * 40, "ａ" * 40, "\u202e" + "0" * 39, "0" * 39 + "😀"):
        params = {"signature": forged, "timestamp": str(int(time.time())), "nonce": uuid.uuid4().hex, "echostr": "e"}
        tally.expect(f"GET signature {forged[:4]!r}", requests.get(wechat, params=params, timeout=30), 403)
        tally.expect(f"POST signature {forged[:4]!r}", requests.post(wechat, params=params, data=text_xml, timeout=30), 403)

    # Item 10: a logged URL verification (plaintext mode: the signature covers timestamp and nonce
    # only) replayed as a message within the time window.
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex
    signed = {"signature": wechat_signature(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    verified = requests.get(wechat, params={**signed, "echostr": "hello-verification"}, timeout=30)
    assert verified.status_code == 200 and verified.text == "hello-verification"  # the real verification works
    tally.expect("verification URL replayed as a message", requests.post(wechat, params=signed, data=text_xml, timeout=60), 403)

    # Item 10: JSON nested too deep for the case service's parser was a 500 (RecursionError): 400.
    bot = {"Authorization": f"Bearer {stack.env['GOVBOT_CASE_BOT_TOKEN']}"}
    staff = {"Authorization": f"Bearer {stack.env['GOVBOT_CASE_STAFF_TOKEN']}"}
    phone = "13811112222"
    case = {
        "kind": "disclosure", "channel": "rest", "conversation_id": f"hostile-{uuid.uuid4().hex[:6]}",
        "applicant": {"name": "张三", "phone": phone}, "request": {"description": "2025年本局政务公开工作要点"},
    }
    created = requests.post(f"{stack.case_url}/cases", json=case, headers={**bot, "Idempotency-Key": uuid.uuid4().hex}, timeout=30)
    assert created.status_code == 201, created.text
    number = created.json()["tracking_number"]
    for depth in (30000, 100):
        body = ("[" * depth + "]" * depth).encode() if depth > 1000 else json.dumps({**case, "request": nested(depth)}).encode()
        for role, headers, path in (("bot", bot, "/cases"), ("staff", staff, f"/cases/{number}/transitions")):
            response = requests.post(
                f"{stack.case_url}{path}", data=body, timeout=60,
                headers={**headers, "Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex},
            )
            tally.expect(f"case service {role} JSON nested {depth}", response, 400,
                         lambda r: r.json()["error"]["code"] == "invalid_json")

    # Item 10: staff's internal notes are not in the bot's view of a case.
    note = f"内部备注{uuid.uuid4().hex[:6]}：申请人曾多次来电"
    moved = requests.post(f"{stack.case_url}/cases/{number}/transitions", headers=staff, timeout=30,
                          json={"action": "request_correction", "note": note})
    assert moved.status_code == 200, moved.text
    as_bot = requests.get(f"{stack.case_url}/cases/{number}", params={"phone_last4": phone[-4:]}, headers=bot, timeout=30)
    tally.expect("staff note in the bot view", as_bot, 200, lambda r: note not in r.text and "note" not in r.text)
    as_staff = requests.get(f"{stack.case_url}/cases/{number}", headers=staff, timeout=30)
    assert note in as_staff.text  # staff still see it

    # Item 2: REST metadata nested deeper than the channel allows.
    for depth in (9, 50, 900):
        sender = f"hostile-{uuid.uuid4().hex[:6]}"
        response = stack.rest({"sender": sender, "message": "你好", "metadata": nested(depth)})
        tally.expect(f"REST metadata nested {depth}", response, 400, lambda r: "嵌套" in r.json()["error"]["message"])
    accepted = stack.rest({"sender": f"hostile-{uuid.uuid4().hex[:6]}", "message": "你好", "metadata": nested(7)})
    assert accepted.status_code == 200  # ordinary metadata still goes through

    print(f"\nhostile requests: {tally.sent} sent, {len(tally.through)} got through")
    assert tally.sent == 19  # every probe above was sent
    assert not tally.through, "\n".join(tally.through)
