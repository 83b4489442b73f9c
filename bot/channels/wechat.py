"""微信公众号 channel: WeChat's server pushes messages to /webhooks/wechat/webhook.

Registered in credentials.yml as `bot.channels.wechat.WeChatInput:` (no settings there); all
configuration, secrets included, comes from the environment:

    WECHAT_TOKEN                 the Token entered in the 公众号 backend (unset: endpoint answers 503)
    WECHAT_APP_ID                AppID (safe mode and the customer-service API need it)
    WECHAT_APP_SECRET            AppSecret (customer-service API: late and long answers)
    WECHAT_AES_KEY               EncodingAESKey; when set, only safe-mode (encrypted) messages are accepted
    WECHAT_AES_KEY_PREVIOUS      the previous EncodingAESKey, still accepted while the backend switches
    WECHAT_API_BASE              default https://api.weixin.qq.com
    WECHAT_REPLY_DEADLINE        seconds the bot may take for a passive reply (default 4; 0 = always push)
    WECHAT_TIMESTAMP_TOLERANCE   accepted clock difference of signed requests in seconds (default 300)
    GOVBOT_WECHAT_STATE_STORAGE  memory:// (default) or redis://host:port/db: where the replay guard,
                                 retry ledger and offered options live (production profile: Redis,
                                 shared by all Rasa replicas; keys under GOVBOT_REDIS_KEY_PREFIX,
                                 password from GOVBOT_REDIS_PASSWORD unless the URL has one)

Request checks, in order: size (64 KB, else 413), timestamp window and signature (403), in safe mode
msg_signature (403), replayed (timestamp, nonce) (403; a URL verification's pair counts as used),
XML parsed by defusedxml with DTDs forbidden (400: no entity expansion, no external entities),
then decryption and the same parse of the decrypted message. Only then does wechatpy read the
message.

WeChat waits 5 s for an answer and retries a message three times. The bot gets
WECHAT_REPLY_DEADLINE seconds: an answer ready in time is the passive reply (XML, encrypted in safe
mode); otherwise the channel answers `success` at once and delivers the answer later through the
customer-service message API. Retries are recognised by MsgId and join the first delivery, so the
bot never runs twice for one message. With several Rasa replicas (production profile) that state is
in Redis (wechat_shared_state.py): the replica that claims a message runs the bot, a retry reaching
another replica waits for its decision (the passive reply text, or a push it asks the owner for) or,
if the owner died before deciding, runs the bot itself, a
replayed (timestamp, nonce) is refused by every replica, and 「1」 picks an option offered by any of
them. Without Redis the channel falls back to this process's memory. Logs carry hashed OpenIDs and
never message text.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Awaitable, Callable
from xml.etree.ElementTree import ParseError

import binascii

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from wechatpy.crypto import WeChatCrypto
from wechatpy.parser import parse_message
from wechatpy.replies import TextReply
from wechatpy.utils import WeChatSigner

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage

from bot.access import rate_limit
from bot.channels.guard import BodyTooLarge, read_limited_body, screen
from bot.channels.wechat_api import DEFAULT_API_BASE, WeChatApi, WeChatApiError
from bot.channels.wechat_format import (
    TEXT_LIMIT_BYTES,
    Option,
    clean_text,
    mask_openid,
    option_number,
    render_messages,
    split_text,
    truncate_text,
)
from bot.channels.wechat_shared_state import OWNER_LOST, RENEW_EVERY, Decision, SharedWeChatState
from bot.channels.wechat_state import PASSIVE, PUSH, OptionMemory, ReplayGuard, RetryLedger, Turn
from bot.settings.wechat import WeChatSettings

log = logging.getLogger(__name__)

CHANNEL_NAME = "wechat"
SUCCESS = "success"  # WeChat's "received, nothing to show" answer
MAX_BODY_BYTES = 64 * 1024
MAX_ECHOSTR = 512
WECHAT_TIMEOUT = 5.0  # WeChat gives up on a passive reply after this many seconds
STATE_STORAGES = ("memory://", "redis://", "rediss://", "unix://")
DECIDING_GRACE = 0.5  # seconds a request waits past its deadline for a decision already being stored

NOT_CONFIGURED_TEXT = "微信公众号接入尚未配置（未设置 WECHAT_TOKEN），暂不提供服务。"
FORBIDDEN_TEXT = "签名校验失败或请求已过期。"
REPLAY_TEXT = "重复的请求。"
BAD_REQUEST_TEXT = "消息格式有误。"
TOO_LARGE_TEXT = "消息过大。"
PLAINTEXT_REFUSED_TEXT = "已启用安全模式，只接收加密消息。"
SAFE_MODE_NOT_CONFIGURED_TEXT = "未配置消息加解密密钥（WECHAT_AES_KEY），无法处理加密消息。"

UNSUPPORTED_TEXT = "抱歉，目前只能处理文字和语音消息。请直接用文字描述您的问题，例如「怎么申请政府信息公开」。"
VOICE_UNRECOGNISED_TEXT = "抱歉，没能识别这条语音，请发送文字消息。"
ERROR_TEXT = "抱歉，系统暂时繁忙，请稍后再试。"


class WeChatConfigError(ValueError):
    pass


def _check_aes_key(name: str, key: str) -> None:
    try:
        valid = len(key) == 43 and len(base64.b64decode(key + "=", validate=True)) == 32
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise WeChatConfigError(f"环境变量 {name} 应为公众号后台生成的 43 位 EncodingAESKey")


@dataclass(frozen=True)
class WeChatConfig:
    token: str = ""
    app_id: str = ""
    app_secret: str = ""
    aes_key: str = ""
    aes_key_previous: str = ""
    api_base: str = DEFAULT_API_BASE
    reply_deadline: float = 4.0
    timestamp_tolerance: float = 300.0
    max_body_bytes: int = MAX_BODY_BYTES
    state_storage: str = "memory://"
    redis_key_prefix: str = "govbot"
    redis_password: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, environ: dict | None = None) -> "WeChatConfig":
        try:
            settings = WeChatSettings.from_env(environ)
        except ValueError as exc:
            raise WeChatConfigError(str(exc)) from None
        config = cls(**{f.name: getattr(settings, f.name) for f in fields(WeChatSettings)})
        config.validate()
        return config

    def validate(self) -> None:
        """Values that are set must be usable: a wrong key should stop the start, not every message."""
        if not self.token:
            return
        if self.aes_key:
            _check_aes_key("WECHAT_AES_KEY", self.aes_key)
            if not self.app_id:
                raise WeChatConfigError("安全模式（WECHAT_AES_KEY）需要同时设置 WECHAT_APP_ID")
        if self.aes_key_previous:
            _check_aes_key("WECHAT_AES_KEY_PREVIOUS", self.aes_key_previous)
            if not self.aes_key:
                raise WeChatConfigError("设置了 WECHAT_AES_KEY_PREVIOUS 却没有设置当前密钥 WECHAT_AES_KEY")
        if not 0 <= self.reply_deadline < WECHAT_TIMEOUT:
            raise WeChatConfigError("WECHAT_REPLY_DEADLINE 应在 0 到 5 秒之间（微信 5 秒内收不到回复即重试）")
        if self.timestamp_tolerance <= 0:
            raise WeChatConfigError("WECHAT_TIMESTAMP_TOLERANCE 应为正数（秒）")
        if not self.api_base.startswith(("https://", "http://")):
            raise WeChatConfigError("WECHAT_API_BASE 应为 http(s):// 开头的地址")
        if not self.state_storage.startswith(STATE_STORAGES):
            raise WeChatConfigError(
                f"环境变量 GOVBOT_WECHAT_STATE_STORAGE 应为 memory:// 或 redis://主机:端口/库号，当前为 {self.state_storage!r}"
            )

    @property
    def safe_mode(self) -> bool:
        return bool(self.aes_key)


def build_welcome(knowledge_dir: Path | None = None) -> tuple[str, list[Option]]:
    """The answer to a new follower: what the assistant does, and questions to pick by number."""
    agency = ""
    questions = ["怎么申请政府信息公开", "政府信息公开申请多久答复"]
    try:
        from bot.knowledge.sources import load_agency, load_service_catalogue
        from bot.settings import Settings

        knowledge_dir = knowledge_dir or Settings.from_env().knowledge_dir
        agency = str(load_agency(knowledge_dir).get("name") or "")
        catalogue = load_service_catalogue(knowledge_dir)
        if catalogue is not None:
            agency = agency or catalogue.agency
            questions += [f"{item.name}需要什么材料" for item in catalogue.items[:2]]
    except Exception as exc:  # the welcome must not depend on the knowledge base being readable
        log.warning("欢迎语未能读取知识库（%s），使用默认内容", type(exc).__name__)
    options = [Option(q, q) for q in questions]
    lines = [
        f"您好，欢迎关注！我是{agency + '的' if agency else ''}政务公开咨询助手，可以帮您：",
        "· 查询政府信息公开的政策文件和工作要点（回答注明来源）",
        "· 了解政务服务事项的办理条件、材料、流程和时限",
        "· 提交政府信息公开申请、投诉建议，或转人工服务",
        "请直接发送文字或语音提问，也可以回复数字：",
    ]
    lines += [f"回复 {i}：{option.title}" for i, option in enumerate(options, 1)]
    return "\n".join(lines), options


def _parse_xml(data: bytes | str):
    """The XML root, parsed with DTDs forbidden (no entity expansion, no external entities)."""
    root = defused_fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    if root.tag != "xml":
        raise ParseError("root element is not <xml>")
    return root


def _signature(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


@dataclass(frozen=True)
class _Incoming:
    """The parts of a parsed WeChat message the channel uses, checked to be what they claim."""

    message: Any  # the wechatpy message, for the reply's From/To
    user: str  # FromUserName: the sender's OpenID
    kind: str  # MsgType
    event: str = ""  # Event, for kind == "event"
    text: str = ""  # Content of a text message, Recognition of a voice message
    msg_id: str = ""  # MsgId (retry key), or CreateTime when a message has none

    @classmethod
    def read(cls, message: Any) -> "_Incoming":
        def text_of(value: Any) -> str:
            if value is not None and not isinstance(value, str):
                raise ValueError("expected text")
            return value or ""

        user, kind = text_of(message.source), text_of(message.type)
        if not user or not kind:
            raise ValueError("no sender or type")
        fields = {}
        if kind == "event":
            fields["event"] = text_of(getattr(message, "event", ""))
        elif kind in ("text", "voice"):
            fields["text"] = text_of(message.content if kind == "text" else message.recognition)
            fields["msg_id"] = str(int(message.id) or f"t{int(message.time)}")
        return cls(message=message, user=user, kind=kind, **fields)


def _text(status: int, body: str) -> HTTPResponse:
    return response.text(body, status=status, content_type="text/plain; charset=utf-8")


class WeChatInput(InputChannel):
    """WeChat official account (微信公众号) input channel; see the module docstring."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> "WeChatInput":
        if credentials:
            log.warning("微信渠道只从环境变量读取配置，credentials.yml 中的 %s 项被忽略", sorted(credentials))
        return cls()

    def __init__(self, config: WeChatConfig | None = None) -> None:
        self.config = config or WeChatConfig.from_env()
        cfg = self.config
        self.cryptos: list[tuple[str, WeChatCrypto]] = []
        if cfg.token and cfg.aes_key:
            self.cryptos.append(("current", WeChatCrypto(cfg.token, cfg.aes_key, cfg.app_id)))
            if cfg.aes_key_previous:
                self.cryptos.append(("previous", WeChatCrypto(cfg.token, cfg.aes_key_previous, cfg.app_id)))
        self.api = WeChatApi(cfg.app_id, cfg.app_secret, cfg.api_base)
        self.replays = ReplayGuard(cfg.timestamp_tolerance)
        self.ledger = RetryLedger()
        self.options = OptionMemory()
        # Several replicas: the same state in Redis, with the in-memory objects above as fallback.
        self.shared = SharedWeChatState.create(
            cfg.state_storage, cfg.redis_key_prefix, cfg.redis_password, self.replays, self.options,
            cfg.timestamp_tolerance,
        )
        self.welcome_text, self.welcome_options = build_welcome()
        self._background: set[asyncio.Task] = set()
        if not cfg.token:
            log.info("微信公众号渠道未启用：未设置 WECHAT_TOKEN（/webhooks/wechat/webhook 将返回 503）")
        else:
            log.info(
                "微信公众号渠道已启用：%s，被动回复时限 %.2f 秒，客服消息接口%s",
                "安全模式" + ("（含上一密钥）" if cfg.aes_key_previous else "") if cfg.safe_mode else "明文模式",
                cfg.reply_deadline,
                "已配置" if self.api.configured else "未配置（超时或过长的回答将无法送达）",
            )
            if self.shared is not None:
                log.info("微信渠道状态（防重放、重试去重、编号选项）存于 Redis，供所有 Rasa 副本共享")

    def get_output_channel(self):
        """Messages written in from outside (a staff reply, bot.handoff) go out as customer-service messages."""
        from bot.handoff.wechat_push import WeChatPushOutput

        return WeChatPushOutput(self.api) if self.api.configured else None

    # --- request authentication -------------------------------------------------------------

    def _fresh(self, timestamp: str) -> bool:
        if not timestamp.isdigit():
            return False
        return abs(time.time() - int(timestamp)) <= self.config.timestamp_tolerance

    def _signed(self, signature: str, *parts: str) -> bool:
        """Whether `signature` is the SHA-1 signature of the token and `parts`. Compared as bytes:
        hmac.compare_digest raises on a str that is not ASCII, and any signature that cannot be
        right (non-ASCII, undecodable parts) is simply wrong: 403, never a 500."""
        if not signature or not signature.isascii():
            return False
        try:
            expected = _signature(self.config.token, *parts)
        except (TypeError, ValueError):  # e.g. a nonce with lone surrogates: cannot be encoded
            return False
        return hmac.compare_digest(expected.encode("ascii"), signature.lower().encode("ascii"))

    def _decrypt(self, encrypted: str, msg_signature: str, timestamp: str, nonce: str):
        """(plain XML, the crypto that opened it): the current key first, then the previous one."""
        for label, crypto in self.cryptos:
            try:
                xml = crypto.decrypt_message({"Encrypt": encrypted}, msg_signature, timestamp, nonce)
            except Exception:  # wrong key: bad padding, wrong AppID or undecodable bytes
                continue
            if label != "current":
                log.info("消息由上一 EncodingAESKey 加密，已用旧密钥解密（公众号后台切换密钥期间属正常）")
            return xml, crypto
        return None, None

    # --- Sanic blueprint ---------------------------------------------------------------------

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("wechat_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.config.token else "not configured"})

        @hook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            """URL verification in the 公众号 backend: echo `echostr` when the signature is right."""
            if not self.config.token:
                return _text(503, NOT_CONFIGURED_TEXT)
            args = request.args
            timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
            echostr = args.get("echostr", "")
            if not self._fresh(timestamp) or not self._signed(args.get("signature", ""), timestamp, nonce):
                log.warning("微信 URL 验证被拒绝：签名无效或时间戳过期")
                return _text(403, FORBIDDEN_TEXT)
            if not echostr or len(echostr) > MAX_ECHOSTR:
                return _text(400, BAD_REQUEST_TEXT)
            # In plaintext mode a message's signature covers only (timestamp, nonce), exactly what a
            # verification URL carries: recorded, a logged verification URL cannot be replayed as a
            # message. The echo itself is harmless and answered again (WeChat may retry it).
            await self._first_time(timestamp, nonce)
            return _text(200, echostr)

        @hook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            started = asyncio.get_running_loop().time()
            if not self.config.token:
                return _text(503, NOT_CONFIGURED_TEXT)
            try:
                body = await read_limited_body(request, self.config.max_body_bytes)
            except BodyTooLarge:
                log.warning("微信消息被拒绝：超过 %d 字节", self.config.max_body_bytes)
                return _text(413, TOO_LARGE_TEXT)
            return await self._receive(request, body, started, on_new_message)

        @hook.listener("after_server_stop")
        async def close_api(app, loop) -> None:  # noqa: ANN001 (Sanic listener signature)
            await self.api.close()
            if self.shared is not None:
                await self.shared.store.close()

        return hook

    async def _receive(
        self, request: Request, body: bytes, started: float, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> HTTPResponse:
        args = request.args
        timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
        if not self._fresh(timestamp) or not self._signed(args.get("signature", ""), timestamp, nonce):
            log.warning("微信消息被拒绝：签名无效或时间戳过期")
            return _text(403, FORBIDDEN_TEXT)
        encrypted = args.get("encrypt_type", "").lower() == "aes"
        if self.config.safe_mode and not encrypted:
            log.warning("微信消息被拒绝：已启用安全模式，但收到明文消息")
            return _text(403, PLAINTEXT_REFUSED_TEXT)
        if encrypted and not self.cryptos:
            log.error("收到加密消息，但未设置 WECHAT_AES_KEY：请在公众号后台改回明文模式或配置密钥")
            return _text(503, SAFE_MODE_NOT_CONFIGURED_TEXT)
        try:
            outer = _parse_xml(body)
        except (DefusedXmlException, ParseError, ValueError) as exc:
            log.warning("微信消息被拒绝：XML 无效（%s）", type(exc).__name__)
            return _text(400, BAD_REQUEST_TEXT)
        msg_signature = args.get("msg_signature", "")
        ciphertext = (outer.findtext("Encrypt") or "").strip() if encrypted else ""
        if encrypted and not ciphertext:
            return _text(400, BAD_REQUEST_TEXT)
        if encrypted and not self._signed(msg_signature, timestamp, nonce, ciphertext):
            log.warning("微信消息被拒绝：msg_signature 无效")
            return _text(403, FORBIDDEN_TEXT)
        if not await self._first_time(timestamp, nonce):
            log.warning("微信消息被拒绝：重放的 timestamp/nonce")
            return _text(403, REPLAY_TEXT)

        crypto = None
        if encrypted:
            xml, crypto = self._decrypt(ciphertext, msg_signature, timestamp, nonce)
            if xml is None:
                log.error("微信消息无法解密：EncodingAESKey 与公众号后台不一致？")
                return _text(400, BAD_REQUEST_TEXT)
            try:
                _parse_xml(xml)
            except (DefusedXmlException, ParseError, ValueError) as exc:
                log.warning("解密后的微信消息 XML 无效（%s）", type(exc).__name__)
                return _text(400, BAD_REQUEST_TEXT)
        else:
            try:
                xml = body.decode("utf-8")
            except UnicodeDecodeError:
                return _text(400, BAD_REQUEST_TEXT)
        try:
            incoming = _Incoming.read(parse_message(xml))
        except Exception as exc:  # a well-formed XML that is not a WeChat message
            log.warning("微信消息无法解析（%s）", type(exc).__name__)
            return _text(400, BAD_REQUEST_TEXT)

        reply = await self._handle(incoming, started, on_new_message)
        return self._render(reply, incoming.message, crypto, nonce)

    def _render(self, text: str | None, message: Any, crypto: WeChatCrypto | None, nonce: str) -> HTTPResponse:
        if not text:
            return _text(200, SUCCESS)
        xml = TextReply(message=message, content=clean_text(text), time=int(time.time())).render()
        if crypto is not None:
            xml = crypto.encrypt_message(xml, nonce, str(int(time.time())))
        return response.text(xml, content_type="application/xml; charset=utf-8")

    # --- messages ----------------------------------------------------------------------------

    async def _handle(
        self, incoming: "_Incoming", started: float, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> str | None:
        """The passive reply text, or None for `success`."""
        user, kind = incoming.user, incoming.kind
        if kind == "event":
            if incoming.event in ("subscribe", "subscribe_scan"):
                log.info("微信关注事件 用户 %s：发送欢迎语", mask_openid(user))
                await self._remember_options(user, self.welcome_options)
                return self.welcome_text
            return None
        if kind not in ("text", "voice"):
            log.info("微信 %s 消息 用户 %s：不支持的类型", kind, mask_openid(user))
            return UNSUPPORTED_TEXT
        if kind == "voice" and not incoming.text.strip():
            return VOICE_UNRECOGNISED_TEXT
        return await self._answer(user, incoming.msg_id, incoming.text, kind, started, on_new_message)

    # --- state: this process's memory, or Redis shared by the replicas ------------------------

    async def _first_time(self, timestamp: str, nonce: str) -> bool:
        if self.shared is None:
            return self.replays.first_time(timestamp, nonce)
        return await self.shared.replays.first_time(timestamp, nonce)

    async def _remember_options(self, user: str, options: list[Option]) -> None:
        if self.shared is None:
            self.options.remember(user, options)
        else:
            await self.shared.options.remember(user, options)

    async def _take_option(self, user: str, number: int | None) -> Option | None:
        if self.shared is None:
            return self.options.take(user, number)
        return await self.shared.options.take(user, number)

    async def _decide(self, turn: Turn, state: str, reply: str) -> tuple[str, str]:
        """How the answer goes out; with Redis, a replica that gave up waiting turns it into a push."""
        if self.shared is None:
            return state, reply
        turn.deciding = True
        decision = await self.shared.ledger.decide(turn.key, Decision(state, reply))
        if decision.state == PASSIVE and turn.push_requested:
            # This process's request gave up during the Redis round trip (past DECIDING_GRACE): push,
            # even though a retry on another replica might in this rare case also show the text.
            return PUSH, ""
        return decision.state, decision.reply

    async def _text_for_bot(self, user: str, text: str) -> str:
        """What Rasa receives: a numbered option's payload, or the typed text."""
        option = await self._take_option(user, option_number(text))
        if option is not None:
            return option.payload
        # Typed text never reaches Rasa as an intent command (「/intent{"slot": …}」): only button
        # payloads may set intents and slots directly.
        return text.strip().lstrip("/").strip() or text.strip().replace("/", "／")

    async def _answer(
        self,
        user: str,
        msg_id: str,
        text: str,
        kind: str,
        started: float,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> str | None:
        key = f"{user}:{msg_id}"
        turn = self.ledger.get(key)
        if turn is None and self.shared is not None and not await self.shared.ledger.claim(key):
            turn = self.ledger.get(key)  # claimed meanwhile by a delivery to this same process?
            if turn is None:
                answer = await self._answer_from_other_replica(user, msg_id, kind, started)
                if answer is not OWNER_LOST:
                    return answer
                if not await self.shared.ledger.claim(key):  # another replica took it over first
                    answer = await self._answer_from_other_replica(user, msg_id, kind, started)
                    return None if answer is OWNER_LOST else answer
                log.warning("微信消息 用户 %s 消息 %s：处理它的副本已失联，由本副本接手", mask_openid(user), msg_id)
        if turn is None:
            checked = await screen(CHANNEL_NAME, user, text)  # rate limit, length, control characters
            if checked.accepted and rate_limit.busy_gate().full:  # the process is at its cap (bot.access.rate_limit)
                log.warning("微信消息 用户 %s：处理中的消息已达上限，回复系统繁忙", mask_openid(user))
                checked = type(checked)("", rate_limit.BUSY_TEXT)
            if not checked.accepted:
                log.info("微信消息 用户 %s：%s", mask_openid(user), "发送过于频繁，已限流" if checked.rate_limited else "空消息或过长，已提示")
                if self.shared is not None:  # retries on other replicas give the same answer
                    await self.shared.ledger.decide(key, Decision(PASSIVE, checked.reply))
                return checked.reply
            turn = self.ledger.add(Turn(key))
            text_for_bot = await self._text_for_bot(user, checked.text)
            turn.task = asyncio.create_task(self._run(turn, user, msg_id, text_for_bot, on_new_message))
            self._background.add(turn.task)
            turn.task.add_done_callback(self._background.discard)
        else:
            log.info("微信重试 用户 %s 消息 %s：不再重复处理（状态 %s）", mask_openid(user), msg_id, turn.state)

        if not turn.decided.done():
            remaining = self.config.reply_deadline - (asyncio.get_running_loop().time() - started)
            try:
                if remaining > 0:
                    await asyncio.wait({turn.decided}, timeout=remaining)
                if not turn.decided.done() and turn.deciding:  # decided, being stored in Redis
                    await asyncio.wait({turn.decided}, timeout=DECIDING_GRACE)
            except asyncio.CancelledError:  # WeChat hung up: this connection cannot carry the answer
                if not turn.decided.done():
                    turn.push_requested = True
                raise
            if not turn.decided.done():
                turn.push_requested = True
                log.info("微信 %s 消息 用户 %s：超过被动回复时限，先回复 success，稍后以客服消息送达", kind, mask_openid(user))
                return None
        return turn.reply if turn.state == PASSIVE else None

    async def _answer_from_other_replica(self, user: str, msg_id: str, kind: str, started: float) -> str | None:
        """A retry of a message another replica runs: its passive reply, or `success` and a push;
        OWNER_LOST if that replica's claim expired before it decided."""
        log.info("微信重试 用户 %s 消息 %s：由另一副本处理，等待其结果", mask_openid(user), msg_id)
        remaining = self.config.reply_deadline - (asyncio.get_running_loop().time() - started)
        decision = await self.shared.ledger.settle(f"{user}:{msg_id}", remaining)
        if decision is OWNER_LOST:
            return OWNER_LOST
        if decision is None:
            log.info("微信 %s 消息 用户 %s：超过被动回复时限，由处理它的副本以客服消息送达", kind, mask_openid(user))
            return None
        return decision.reply if decision.state == PASSIVE else None

    async def _run(
        self, turn: Turn, user: str, msg_id: str, text: str, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        """Runs the bot once for a message, then decides how the answer goes out."""
        began = time.monotonic()
        collector = CollectingOutputChannel()
        state, passive = PASSIVE, ""  # what a failure below leaves: an empty passive reply
        keeper = self._keep_claim(turn.key)
        try:
            try:
                with rate_limit.busy_gate().held():
                    await on_new_message(
                        UserMessage(text, collector, user, input_channel=CHANNEL_NAME, message_id=f"wechat-{msg_id}")
                    )
                messages = collector.messages
            except Exception as exc:
                log.error("处理微信消息出错 用户 %s 消息 %s：%s", mask_openid(user), msg_id, type(exc).__name__)
                messages = collector.messages or [{"text": ERROR_TEXT}]
            reply, options = render_messages(messages)
            await self._remember_options(user, options)
            parts = split_text(reply, TEXT_LIMIT_BYTES)
            if turn.push_requested or (len(parts) > 1 and self.api.configured):
                state = PUSH
            else:
                passive = parts[0] if len(parts) == 1 else truncate_text(reply) if parts else ""
        finally:
            if not turn.decided.done():
                # In memory mode nothing here waits, so no request can give up between check and decision.
                turn.state, turn.reply = await self._decide(turn, state, passive)
                turn.decided.set_result(None)
            if keeper is not None:
                keeper.cancel()
        log.info(
            "微信消息 用户 %s 消息 %s：机器人用时 %.2f 秒，%s",
            mask_openid(user), msg_id, time.monotonic() - began,
            "客服消息送达" if turn.state == PUSH else "被动回复",
        )
        if turn.state == PUSH and parts:
            await self._push(user, msg_id, parts)

    def _keep_claim(self, key: str) -> "asyncio.Task | None":
        """Renews this replica's claim on a message while the bot runs (shared state only), so the
        claim outlives a slow answer but not a dead replica."""
        if self.shared is None:
            return None

        async def renew() -> None:
            while True:
                await asyncio.sleep(RENEW_EVERY)
                if not await self.shared.ledger.renew(key):
                    return

        return asyncio.create_task(renew())

    async def _push(self, user: str, msg_id: str, parts: list[str]) -> None:
        if not self.api.configured:
            log.error(
                "回答无法送达 用户 %s 消息 %s：未设置 WECHAT_APP_ID / WECHAT_APP_SECRET（客服消息接口）",
                mask_openid(user), msg_id,
            )
            return
        for number, part in enumerate(parts, 1):
            try:
                await self.api.send_text(user, part)
            except WeChatApiError as exc:
                log.error("客服消息发送失败 用户 %s 消息 %s 第 %d 段：%s", mask_openid(user), msg_id, number, exc)
                return
        log.info("客服消息已送达 用户 %s 消息 %s（%d 段）", mask_openid(user), msg_id, len(parts))
