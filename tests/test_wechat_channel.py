"""The 微信公众号 channel end to end: real Rasa and action servers, wechatpy playing WeChat's side.

Two Rasa servers share one action server:
- `plain`: plaintext mode, the normal reply deadline — passive replies;
- `safe`: safe mode (current and previous EncodingAESKey), deadline 0 — every bot answer goes
  out through the customer-service API of a fake WeChat API server on loopback.
A third, model-less process (Rasa's own app factory) shows the endpoint without WECHAT_TOKEN.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import xmltodict
from aiohttp import web
from wechatpy.crypto import WeChatCrypto
from wechatpy.replies import TextReply, deserialize_reply
from wechatpy.utils import WeChatSigner

from bot.channels.wechat import WeChatConfig, WeChatConfigError, WeChatInput
from bot.channels.wechat_format import (
    TEXT_LIMIT_BYTES,
    Option,
    mask_openid,
    option_number,
    render_messages,
    split_text,
    utf8_len,
)
from bot.channels.wechat_state import ExpiringMap, OptionMemory, ReplayGuard
from tests.conftest import ARTIFACTS, ROOT, VENV_BIN, free_port, wait_until

pytestmark = pytest.mark.e2e

# In scope, answered by no document: the not-found reply with its numbered options (another
# agency's business such as 住房公积金 gets a referral instead).
NOT_FOUND_QUESTION = "你们局里有没有招聘公务员的计划"

ACCOUNT = "gh_0123456789ab"  # the official account's original ID (ToUserName)
KNOWLEDGE_QUESTION = "上海市商务委2020年对政务新媒体提了什么要求"
CITATION = "来源：《2020年上海市商务委员会政务公开工作要点》"
WAIT = 90  # seconds to wait for a pushed answer (CPU contention on a busy machine)
QUIET = 3.0  # seconds to watch for a second (wrong) push after the expected ones
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def aes_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()[:-1]  # 43 characters, as the backend makes


def openid() -> str:
    return "oTest" + uuid.uuid4().hex[:23]  # 28 characters like a real OpenID


def msg_id() -> int:
    return secrets.randbelow(10**18) + 10**18


def signature(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def cdata(tag: str, value: str) -> str:
    return f"<{tag}><![CDATA[{value}]]></{tag}>"


def message_xml(user: str, msg_type: str, fields: dict, mid: int | None = None, created: int | None = None) -> str:
    body = "".join(
        [cdata("ToUserName", ACCOUNT), cdata("FromUserName", user), f"<CreateTime>{created or int(time.time())}</CreateTime>"]
        + [cdata("MsgType", msg_type)]
        + [cdata(k, v) if isinstance(v, str) else f"<{k}>{v}</{k}>" for k, v in fields.items()]
        + ([f"<MsgId>{mid}</MsgId>"] if mid is not None else [])
    )
    return f"<xml>{body}</xml>"


def text_xml(user: str, content: str, mid: int | None = None) -> str:
    return message_xml(user, "text", {"Content": content}, mid or msg_id())


# --- the fake WeChat API (token + customer-service messages) -------------------------------


class FakeWeChatApi:
    """api.weixin.qq.com on loopback: issues tokens, records customer-service messages."""

    def __init__(self, app_id: str, secret: str) -> None:
        self.app_id, self.secret = app_id, secret
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tokens: list[str] = []
        self.revoked: set[str] = set()
        self.messages: list[dict] = []
        self.raw_bodies: list[bytes] = []
        self.rejected_sends = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None

    async def _token(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("grant_type") != "client_credential" or query.get("appid") != self.app_id or query.get("secret") != self.secret:
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        with self._lock:
            token = f"TOKEN-{len(self.tokens) + 1}-{secrets.token_hex(8)}"
            self.tokens.append(token)
        return web.json_response({"access_token": token, "expires_in": 7200})

    async def _send(self, request: web.Request) -> web.Response:
        token = request.query.get("access_token", "")
        with self._lock:
            valid = token in self.tokens and token not in self.revoked
            if not valid:
                self.rejected_sends += 1
        if not valid:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"})
        raw = await request.read()
        data = json.loads(raw.decode("utf-8"))
        with self._lock:
            self.raw_bodies.append(raw)
            self.messages.append(data)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def start(self) -> None:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._send)
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            self._runner = web.AppRunner(app)
            self._loop.run_until_complete(self._runner.setup())
            self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=serve, daemon=True).start()
        assert ready.wait(10)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def pushes(self, user: str) -> list[str]:
        with self._lock:
            return [m["text"]["content"] for m in self.messages if m["touser"] == user and m["msgtype"] == "text"]

    def wait_for(self, user: str, count: int = 1) -> list[str]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            found = self.pushes(user)
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise AssertionError(f"expected {count} pushed message(s) for the user, got {len(self.pushes(user))}")


# --- WeChat's side of the webhook ----------------------------------------------------------


class WeChat:
    """Signs (and in safe mode encrypts) requests to the channel the way WeChat's servers do."""

    def __init__(self, url: str, token: str, app_id: str, crypto: WeChatCrypto | None = None, rasa_token: str = "") -> None:
        self.url, self.token, self.app_id, self.crypto = url, token, app_id, crypto
        self.rasa_url = url.split("/webhooks/")[0]
        self.rasa_token = rasa_token

    def params(self, timestamp: int | None = None, nonce: str | None = None) -> dict:
        timestamp = str(timestamp or int(time.time()))
        nonce = nonce or secrets.token_hex(5)
        return {"timestamp": timestamp, "nonce": nonce, "signature": signature(self.token, timestamp, nonce)}

    def verify_url(self, **overrides) -> requests.Response:
        params = {**self.params(), "echostr": "8734526187362517863", **overrides}
        return requests.get(self.url, params=params, timeout=30)

    def post(self, xml: str, crypto: WeChatCrypto | None = None, params: dict | None = None) -> requests.Response:
        params = dict(self.params() if params is None else params)
        sender = re.search(r"<FromUserName><!\[CDATA\[([^\]]+)\]\]>", xml)
        if sender:
            params.setdefault("openid", sender.group(1))  # WeChat names the sender in the URL too
        crypto = crypto or self.crypto
        body = xml.encode("utf-8")
        if crypto is not None:
            envelope = xmltodict.parse(crypto.encrypt_message(xml, params["nonce"], params["timestamp"]))["xml"]
            body = f"<xml>{cdata('ToUserName', ACCOUNT)}{cdata('Encrypt', envelope['Encrypt'])}</xml>".encode()
            params.update(encrypt_type="aes", msg_signature=envelope["MsgSignature"])
        return requests.post(self.url, params=params, data=body, headers={"Content-Type": "text/xml"}, timeout=60)

    def reply(self, response: requests.Response, crypto: WeChatCrypto | None = None) -> TextReply | str:
        """The reply as WeChat reads it: "success", or the (decrypted) text reply."""
        assert response.status_code == 200, (response.status_code, response.text)
        if response.text == "success":
            return "success"
        crypto = crypto or self.crypto
        xml = response.text
        if crypto is not None:
            envelope = xmltodict.parse(xml)["xml"]
            xml = crypto.decrypt_message(xml, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"])
        reply = deserialize_reply(xml)
        assert isinstance(reply, TextReply)
        return reply

    def ask(self, user: str, content: str, mid: int | None = None) -> str:
        reply = self.reply(self.post(text_xml(user, content, mid)))
        if reply == "success":
            return reply
        assert reply.target == user and reply.source == ACCOUNT
        return reply.content

    def user_events(self, user: str) -> list[dict]:
        response = requests.get(
            f"{self.rasa_url}/conversations/{user}/tracker", params={"token": self.rasa_token}, timeout=30
        )
        response.raise_for_status()
        return [e for e in response.json()["events"] if e["event"] == "user"]


def received(api: FakeWeChatApi, channel: WeChat, user: str, content: str, mid: int | None = None) -> str:
    """What the person reads for a message: the passive reply, or, when the bot missed its
    passive-reply deadline (`success`), the answer pushed through the customer-service API."""
    before = len(api.pushes(user))
    reply = channel.ask(user, content, mid)
    if reply != "success":
        return reply
    return api.wait_for(user, before + 1)[before]


# --- servers -------------------------------------------------------------------------------


class Processes:
    def __init__(self) -> None:
        self.running: list[subprocess.Popen] = []

    def start(self, args: list[str], env: dict, log: Path) -> subprocess.Popen:
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
        self.running.append(process)
        return process

    def stop(self) -> None:
        for process in self.running:
            process.terminate()
        for process in self.running:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


NO_TOKEN_APP = """
import sys
from rasa.core.run import configure_app
from bot.channels.wechat import WeChatInput
port = int(sys.argv[1])
app = configure_app([WeChatInput.from_credentials(None)], enable_api=False, port=port)
app.run(host="127.0.0.1", port=port, access_log=False)
"""


@pytest.fixture(scope="module")
def wechat(rasa_model, tmp_path_factory):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path_factory.mktemp("wechat")
    credentials = tmp / "credentials.yml"
    credentials.write_text("rest:\nbot.channels.wechat.WeChatInput:\n", encoding="utf-8")
    token, app_id, secret = secrets.token_hex(16), "wx" + secrets.token_hex(8), secrets.token_hex(16)
    current_key, previous_key = aes_key(), aes_key()
    api = FakeWeChatApi(app_id, secret)
    api.start()

    action_port, plain_port, safe_port, bare_port = free_port(), free_port(), free_port(), free_port()
    rasa_token = secrets.token_urlsafe(24)
    base = {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")}
    env = dict(
        base,
        SANIC_HOST="127.0.0.1",
        RASA_TELEMETRY_ENABLED="false",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook",
        # Only knowledge answers matter here: the case service is not started, requests stay queued.
        GOVBOT_CASE_URL=f"http://127.0.0.1:{free_port()}",
        GOVBOT_CASE_BOT_TOKEN=secrets.token_urlsafe(24),
        GOVBOT_OUTBOX_DATABASE_URL=f"sqlite:///{tmp / 'outbox.db'}",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    wechat_env = dict(WECHAT_TOKEN=token, WECHAT_APP_ID=app_id, WECHAT_APP_SECRET=secret, WECHAT_API_BASE=api.url)
    plain_env = dict(env, **wechat_env)
    safe_env = dict(
        env, **wechat_env, WECHAT_AES_KEY=current_key, WECHAT_AES_KEY_PREVIOUS=previous_key, WECHAT_REPLY_DEADLINE="0"
    )

    def rasa(port: int) -> list[str]:
        return [
            str(VENV_BIN / "rasa"), "run", "--model", str(rasa_model), "--endpoints", "endpoints.yml",
            "--credentials", str(credentials), "--interface", "127.0.0.1", "--port", str(port),
            "--enable-api", f"--auth-token={rasa_token}",
        ]

    processes = Processes()
    logs = {name: ARTIFACTS / f"wechat-{name}.log" for name in ("actions", "plain", "safe", "bare")}
    try:
        actions = processes.start(
            [str(VENV_BIN / "rasa"), "run", "actions", "--actions", "actions", "--port", str(action_port)],
            env, logs["actions"],
        )
        plain = processes.start(rasa(plain_port), plain_env, logs["plain"])
        safe = processes.start(rasa(safe_port), safe_env, logs["safe"])
        bare = processes.start([str(VENV_BIN / "python"), "-c", NO_TOKEN_APP, str(bare_port)], env, logs["bare"])
        wait_until(f"http://127.0.0.1:{bare_port}/", bare, logs["bare"])
        wait_until(f"http://127.0.0.1:{action_port}/health", actions, logs["actions"])
        wait_until(f"http://127.0.0.1:{plain_port}/", plain, logs["plain"])
        wait_until(f"http://127.0.0.1:{safe_port}/", safe, logs["safe"])
        hook = "/webhooks/wechat/webhook"
        yield dict(
            plain=WeChat(f"http://127.0.0.1:{plain_port}{hook}", token, app_id, rasa_token=rasa_token),
            safe=WeChat(
                f"http://127.0.0.1:{safe_port}{hook}", token, app_id, WeChatCrypto(token, current_key, app_id), rasa_token
            ),
            previous=WeChatCrypto(token, previous_key, app_id),
            stranger=WeChatCrypto(token, aes_key(), app_id),
            bare=f"http://127.0.0.1:{bare_port}{hook}",
            api=api,
            logs=logs,
        )
    finally:
        processes.stop()
        api.stop()


@pytest.fixture(scope="module")
def plain(wechat) -> WeChat:
    return wechat["plain"]


@pytest.fixture(scope="module")
def safe(wechat) -> WeChat:
    return wechat["safe"]


# --- URL verification, signatures, replays -------------------------------------------------


def test_url_verification_echoes_echostr(plain):
    response = plain.verify_url(echostr="1234567890abc")
    assert response.status_code == 200 and response.text == "1234567890abc"


def test_forged_signature_is_refused(plain):
    forged = {**plain.params(), "signature": signature("not-the-token", "1", "2")}
    assert plain.verify_url(**forged).status_code == 403
    assert plain.post(text_xml(openid(), "你好"), params=forged).status_code == 403
    assert plain.post(text_xml(openid(), "你好"), params={}).status_code == 403


def test_stale_or_future_timestamp_is_refused_even_when_signed(plain):
    for timestamp in (int(time.time()) - 3600, int(time.time()) + 3600):
        params = plain.params(timestamp=timestamp)
        assert plain.verify_url(**params).status_code == 403
        assert plain.post(text_xml(openid(), "你好"), params=params).status_code == 403


def test_replayed_timestamp_and_nonce_are_refused(plain):
    params = plain.params()
    xml = message_xml(openid(), "image", {"PicUrl": "http://example.invalid/a.jpg", "MediaId": "m"}, msg_id())
    assert plain.post(xml, params=params).status_code == 200
    replay = plain.post(xml, params=params)
    assert replay.status_code == 403 and "success" not in replay.text


def test_endpoint_without_wechat_token_answers_503(wechat, plain):
    response = requests.post(wechat["bare"], params=plain.params(), data=text_xml(openid(), "你好").encode(), timeout=30)
    assert response.status_code == 503 and "WECHAT_TOKEN" in response.text
    assert requests.get(wechat["bare"], params=plain.params(), timeout=30).status_code == 503


# --- messages ------------------------------------------------------------------------------


def test_text_question_gets_a_passive_reply_with_its_citation(plain):
    user = openid()
    started = time.monotonic()
    response = plain.post(text_xml(user, KNOWLEDGE_QUESTION))
    elapsed = time.monotonic() - started
    reply = plain.reply(response)
    assert response.headers["Content-Type"].startswith("application/xml")
    assert reply.target == user and reply.source == ACCOUNT
    assert "政务新媒体" in reply.content and CITATION in reply.content
    print(f"\npassive reply to a knowledge question: {elapsed:.2f} s")


def test_subscribe_gets_a_welcome_and_its_numbers_ask_the_questions(wechat, plain):
    user = openid()
    welcome = plain.reply(plain.post(message_xml(user, "event", {"Event": "subscribe", "EventKey": ""})))
    assert welcome.target == user
    assert "欢迎关注" in welcome.content and "回复 1：" in welcome.content
    assert "需要什么材料" in welcome.content  # service items read from the knowledge base
    answer = received(wechat["api"], plain, user, "3")
    assert "材料" in answer and "来源：" in answer
    # Other events (unsubscribe, menu clicks) get the empty answer.
    assert plain.reply(plain.post(message_xml(user, "event", {"Event": "unsubscribe", "EventKey": ""}))) == "success"


def test_voice_is_answered_from_its_recognition(plain):
    user = openid()
    voice = {"MediaId": "media", "Format": "amr", "Recognition": KNOWLEDGE_QUESTION + "。"}
    reply = plain.reply(plain.post(message_xml(user, "voice", voice, msg_id())))
    assert CITATION in reply.content
    unrecognised = plain.reply(plain.post(message_xml(user, "voice", {"MediaId": "m", "Format": "amr"}, msg_id())))
    assert "请发送文字" in unrecognised.content
    assert plain.user_events(user)[0]["text"].startswith(KNOWLEDGE_QUESTION)
    assert len(plain.user_events(user)) == 1  # the unrecognised voice never reached the bot


@pytest.mark.parametrize(
    "msg_type, fields",
    [
        ("image", {"PicUrl": "http://example.invalid/a.jpg", "MediaId": "m"}),
        ("location", {"Location_X": 23.1, "Location_Y": 113.3, "Scale": 20, "Label": "某地"}),
        ("link", {"Title": "标题", "Description": "描述", "Url": "http://example.invalid/"}),
        ("video", {"MediaId": "m", "ThumbMediaId": "t"}),
        ("shortvideo", {"MediaId": "m", "ThumbMediaId": "t"}),
    ],
)
def test_other_message_types_get_a_polite_text_only_reply(plain, msg_type, fields):
    user = openid()
    reply = plain.reply(plain.post(message_xml(user, msg_type, fields, msg_id())))
    assert "只能处理文字和语音" in reply.content
    assert plain.user_events(user) == []


def test_typed_intent_commands_do_not_reach_rasa_as_commands(wechat, plain):
    user = openid()
    reply = received(wechat["api"], plain, user, '/apply_disclosure{"applicant_name": "张三"}')
    assert CHINESE.search(reply) and "第二十九条" not in reply, reply  # answered as text, no form started
    assert not plain.user_events(user)[0]["text"].startswith("/")


def test_buttons_become_numbered_options_and_a_number_follows_them(wechat, plain):
    user = openid()
    reply = received(wechat["api"], plain, user, NOT_FOUND_QUESTION)
    assert "没有找到" in reply
    assert "回复 1：申请政府信息公开" in reply and "回复 2：转人工服务" in reply
    assert "第二十九条" in received(wechat["api"], plain, user, "1")
    assert plain.user_events(user)[-1]["text"] == "/apply_disclosure"


# --- malformed and hostile XML -------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<xml><ToUserName>gh_x</ToUserName><FromUserName>oBomb</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&lol9;</Content><MsgId>1</MsgId></xml>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><ToUserName>gh_x</ToUserName><FromUserName>oXxe</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>&xxe;</Content><MsgId>2</MsgId></xml>"""

EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd">
<xml><ToUserName>gh_x</ToUserName><FromUserName>oDtd</FromUserName><CreateTime>1</CreateTime>
<MsgType>text</MsgType><Content>hi</Content><MsgId>3</MsgId></xml>"""


@pytest.mark.parametrize(
    "body",
    [
        "<xml><ToUserName>gh_x</ToUserName><Content>unclosed",
        "not xml at all",
        "",
        "<html><body>hi</body></html>",
        "<xml><ToUserName>gh_x</ToUserName></xml>",  # well-formed, but not a message
        message_xml("oNested", "text", {}, 1).replace("</MsgType>", "</MsgType><Content><a>1</a><b>2</b></Content>"),
        message_xml("oBadId", "text", {"Content": "你好"}).replace("</xml>", "<MsgId>abc</MsgId></xml>"),
    ],
    ids=["unclosed", "not-xml", "empty", "wrong-root", "no-message", "nested-content", "bad-msgid"],
)
def test_malformed_xml_is_a_400(plain, body):
    assert plain.post(body).status_code == 400


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE, EXTERNAL_DTD], ids=["billion-laughs", "xxe", "external-dtd"])
def test_entity_attacks_are_refused_and_the_server_stays_up(wechat, plain, body):
    response = plain.post(body)
    assert response.status_code == 400
    assert "root:" not in response.text and "lollol" not in response.text
    assert "政务新媒体" in received(wechat["api"], plain, openid(), KNOWLEDGE_QUESTION)


def test_oversized_body_is_a_413(plain):
    assert plain.post(text_xml(openid(), "政" * 30000)).status_code == 413


# --- retries: the bot runs once per MsgId --------------------------------------------------


def test_retried_message_is_answered_again_without_rerunning_the_bot(plain):
    user, mid = openid(), msg_id()
    replies = [plain.ask(user, KNOWLEDGE_QUESTION, mid) for _ in range(3)]
    assert CITATION in replies[0] and replies[1] == replies[0] and replies[2] == replies[0]
    assert len(plain.user_events(user)) == 1


def test_concurrent_retries_share_one_run(wechat, plain):
    user, mid = openid(), msg_id()
    with ThreadPoolExecutor(3) as pool:
        replies = list(pool.map(lambda _: plain.ask(user, KNOWLEDGE_QUESTION, mid), range(3)))
    api = wechat["api"]
    # The person gets the answer exactly once: normally all three requests carry it as the passive
    # reply; if the bot missed the deadline, all three are `success` and it is pushed once.
    if "success" in replies:
        assert replies == ["success"] * 3, replies
        [pushed] = api.wait_for(user)
        assert CITATION in pushed
        time.sleep(QUIET)
        assert api.pushes(user) == [pushed]
    else:
        assert CITATION in replies[0] and replies == [replies[0]] * 3, replies
        assert api.pushes(user) == []
    # A later message queues behind any run for this user, so once it is answered, every run is over.
    assert re.search("不客气|不用谢", received(api, plain, user, "谢谢"))
    assert [e["text"] for e in plain.user_events(user)] == [KNOWLEDGE_QUESTION, "谢谢"]


# --- safe mode, key rotation and late answers (deadline 0: every bot answer is pushed) ------


def test_safe_mode_round_trip(safe):
    user = openid()
    reply = safe.reply(safe.post(message_xml(user, "event", {"Event": "subscribe", "EventKey": ""})))
    assert reply.target == user and "欢迎关注" in reply.content
    image = message_xml(user, "image", {"PicUrl": "http://example.invalid/a.jpg", "MediaId": "m"}, msg_id())
    raw = safe.post(image)
    assert "<Encrypt>" in raw.text and "只能处理" not in raw.text  # the reply itself is encrypted
    assert "只能处理文字和语音" in safe.reply(raw).content


def test_message_under_the_previous_key_is_still_accepted(wechat, safe):
    user = openid()
    image = message_xml(user, "image", {"PicUrl": "http://example.invalid/a.jpg", "MediaId": "m"}, msg_id())
    reply = safe.reply(safe.post(image, crypto=wechat["previous"]), crypto=wechat["previous"])
    assert "只能处理文字和语音" in reply.content
    assert safe.reply(safe.post(text_xml(user, KNOWLEDGE_QUESTION), crypto=wechat["previous"])) == "success"
    assert CITATION in wechat["api"].wait_for(user)[0]


def test_safe_mode_refuses_plaintext_foreign_keys_and_bad_msg_signature(wechat, safe):
    user = openid()
    plaintext = requests.post(safe.url, params=safe.params(), data=text_xml(user, "你好").encode(), timeout=30)
    assert plaintext.status_code == 403
    assert safe.post(text_xml(user, "你好"), crypto=wechat["stranger"]).status_code == 400
    params = safe.params()
    envelope = xmltodict.parse(safe.crypto.encrypt_message(text_xml(user, "你好"), params["nonce"], params["timestamp"]))["xml"]
    body = f"<xml>{cdata('ToUserName', ACCOUNT)}{cdata('Encrypt', envelope['Encrypt'])}</xml>"
    forged = dict(params, encrypt_type="aes", msg_signature=signature("other", params["timestamp"], params["nonce"], "x"))
    assert requests.post(safe.url, params=forged, data=body.encode(), timeout=30).status_code == 403
    assert safe.user_events(user) == []


def test_late_answer_is_pushed_through_the_customer_service_api(wechat, safe):
    api, user = wechat["api"], openid()
    fetched = len(api.tokens)
    assert safe.reply(safe.post(text_xml(user, KNOWLEDGE_QUESTION))) == "success"
    [answer] = api.wait_for(user)
    assert "政务新媒体" in answer and CITATION in answer
    assert "政务新媒体".encode() in api.raw_bodies[-1]  # UTF-8 characters, not \\u escapes
    assert safe.reply(safe.post(text_xml(user, NOT_FOUND_QUESTION))) == "success"
    second = api.wait_for(user, 2)[1]
    assert "回复 1：申请政府信息公开" in second
    assert len(api.tokens) == max(fetched, 1)  # one token, fetched once and reused


def test_retries_of_a_late_answer_never_push_twice(wechat, safe):
    api, user, mid = wechat["api"], openid(), msg_id()
    assert [safe.reply(safe.post(text_xml(user, KNOWLEDGE_QUESTION, mid))) for _ in range(2)] == ["success"] * 2
    api.wait_for(user)
    assert safe.reply(safe.post(text_xml(user, KNOWLEDGE_QUESTION, mid))) == "success"  # after the push
    # A second message queues behind any run for this user: once it is pushed, all runs are over.
    assert safe.reply(safe.post(text_xml(user, "谢谢"))) == "success"
    pushes = api.wait_for(user, 2)
    time.sleep(QUIET)
    assert api.pushes(user) == pushes  # nothing arrives after the two answers
    # The second push is the answer to 「谢谢」, not the first answer pushed again.
    assert CITATION in pushes[0] and CITATION not in pushes[1] and re.search("不客气|不用谢", pushes[1]), pushes
    assert [e["text"] for e in safe.user_events(user)] == [KNOWLEDGE_QUESTION, "谢谢"]


def test_rejected_token_is_refreshed_and_the_push_retried(wechat, safe):
    api, user = wechat["api"], openid()
    assert api.tokens, "runs after a push has fetched a token"
    api.revoked.update(api.tokens)  # as when another system fetched a new token for the same AppID
    fetched, rejected = len(api.tokens), api.rejected_sends
    assert safe.reply(safe.post(text_xml(user, KNOWLEDGE_QUESTION))) == "success"
    assert CITATION in api.wait_for(user)[0]
    assert len(api.tokens) == fetched + 1 and api.rejected_sends == rejected + 1


# --- the text helpers ----------------------------------------------------------------------


def test_long_answers_are_split_under_the_byte_limit():
    text = "\n".join(f"第{i}条：" + "依法公开政府信息，保障公民知情权。" * 12 for i in range(1, 9)) + "\n" + "政" * 1500
    parts = split_text(text)
    assert len(parts) > 1 and all(utf8_len(p) <= TEXT_LIMIT_BYTES for p in parts)
    assert parts[0].endswith(f"（1/{len(parts)}）")
    joined = "".join(p.rsplit("\n（", 1)[0] for p in parts)
    assert joined.replace("\n", "") == text.replace("\n", "")
    assert split_text("短回答") == ["短回答"] and split_text("  ") == []


def test_buttons_render_as_numbered_lines():
    text, options = render_messages(
        [
            {"text": "抱歉，没有找到。"},
            {"text": "您可以：", "buttons": [{"title": "申请政府信息公开", "payload": "/apply_disclosure"}, {"title": "转人工服务", "payload": "/request_human"}]},
        ]
    )
    assert text == "抱歉，没有找到。\n\n您可以：\n回复 1：申请政府信息公开\n回复 2：转人工服务"
    assert options == [Option("申请政府信息公开", "/apply_disclosure"), Option("转人工服务", "/request_human")]
    assert [option_number(t) for t in ("1", "１", " 2 ", "回复3", "1。", "12345", "一")] == [1, 1, 2, 3, 1, None, None]
    assert "]]>" not in render_messages([{"text": "a]]>b"}])[0]


def test_options_are_used_once_and_state_stays_bounded():
    memory = OptionMemory()
    memory.remember("u", [Option("A", "/a"), Option("B", "/b")])
    assert memory.take("u", 2) == Option("B", "/b")
    assert memory.take("u", 1) is None  # the offer was used up
    clock = [0.0]
    bounded = ExpiringMap(ttl=10, max_size=3, clock=lambda: clock[0])
    for i in range(5):
        bounded.set(i, i)
    assert len(bounded) == 3 and bounded.get(0) is None and bounded.evicted == 2
    clock[0] = 11
    assert len(bounded) == 0
    guard = ReplayGuard(tolerance=300)
    assert guard.first_time("1", "n") and not guard.first_time("1", "n") and guard.first_time("1", "m")
    assert mask_openid("oTestOpenId1234567890") != "oTestOpenId1234567890" and "oTest" not in mask_openid("oTestOpenId")


def test_logs_never_carry_message_text_or_openids(wechat, plain):
    user = openid()
    plain.ask(user, "住房公积金怎么提取出来")
    logs = "".join(wechat["logs"][name].read_text(encoding="utf-8", errors="replace") for name in ("plain", "safe"))
    assert "微信" in logs  # the channel does log
    assert user not in logs and "住房公积金" not in logs and "oTest" not in logs


def test_configuration_comes_from_the_environment_only(monkeypatch):
    for name in [k for k in os.environ if k.startswith("WECHAT_")]:
        monkeypatch.delenv(name)
    for credentials in (None, {}):
        channel = WeChatInput.from_credentials(credentials)
        assert channel.name() == "wechat" and channel.config.token == "" and not channel.api.configured
    monkeypatch.setenv("WECHAT_TOKEN", "t")
    monkeypatch.setenv("WECHAT_APP_ID", "wx1")
    assert WeChatInput.from_credentials({"token": "ignored"}).config.token == "t"
    key = aes_key()
    good = {"WECHAT_TOKEN": "t", "WECHAT_APP_ID": "wx1", "WECHAT_AES_KEY": key}
    assert WeChatConfig.from_env(good).safe_mode
    assert WeChatConfig.from_env({"WECHAT_REPLY_DEADLINE": "9"}).token == ""  # unset token: nothing checked
    for bad in (
        {"WECHAT_AES_KEY": key[:-1]},
        {"WECHAT_AES_KEY": "!" * 43},
        {"WECHAT_APP_ID": ""},
        {"WECHAT_AES_KEY": "", "WECHAT_AES_KEY_PREVIOUS": key},
        {"WECHAT_REPLY_DEADLINE": "5"},
        {"WECHAT_REPLY_DEADLINE": "soon"},
        {"WECHAT_TIMESTAMP_TOLERANCE": "0"},
        {"WECHAT_API_BASE": "ftp://example.invalid"},
    ):
        with pytest.raises(WeChatConfigError):
            WeChatConfig.from_env({**good, **bad})


# --- live 转人工: a staff reply reaches a WeChat user (bot.handoff) ------------------------------


def test_staff_reply_and_end_of_handoff_reach_the_wechat_user_as_customer_service_messages(wechat, plain):
    """The case service writes a staff reply into the conversation through Rasa's HTTP API
    (bot.handoff.rasa_push, output channel `wechat`): the channel sends it with the customer-service
    API, as it would have no passive reply to carry it. The end of the handoff goes the same way,
    and the bot answers the next message again."""
    from bot.handoff.rasa_push import end_handoff, send_staff_message

    api, user = wechat["api"], openid()
    assert plain.post(text_xml(user, "转人工")).status_code == 200  # the conversation is now paused for staff
    before = len(api.pushes(user))
    delivered = asyncio.run(send_staff_message(plain.rasa_url, plain.rasa_token, user, "wechat", "您好，我是信息公开办的小王。"))
    assert delivered
    pushed = api.wait_for(user, before + 1)
    assert pushed[before] == "【工作人员】您好，我是信息公开办的小王。"
    assert asyncio.run(end_handoff(plain.rasa_url, plain.rasa_token, user, "wechat"))
    pushed = api.wait_for(user, before + 2)
    assert "人工服务已结束" in pushed[before + 1]
    reply = plain.reply(plain.post(text_xml(user, "你好")))
    assert "您好" in str(getattr(reply, "content", reply))
