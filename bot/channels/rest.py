"""The REST channel (POST /webhooks/rest/webhook), hardened for the public.

Registered in credentials.yml as `bot.channels.rest.RestInput:` in place of Rasa's `rest:`; the
URL and the request/response format stay Rasa's: `{"sender": "...", "message": "..."}` in, a JSON
list of bot messages out. What changes:

- the body is read with a size limit (GOVBOT_REST_MAX_BODY_BYTES, default 256 KB; over it: 413);
- a body that is not a UTF-8 JSON object, or lacks a usable `sender` or a text `message`, is a 400
  with a Chinese explanation (Rasa's own channel answers some of these with a 500);
- each sender is rate limited (bot.access.rate_limit; over the limit: 429 and a polite reply);
- the message is cleaned and length-checked (bot.channels.guard): empty and over-long messages get
  a reply without running the bot, so they are never stored;
- `input_channel` may only name a channel (letters, `_`, `-`), `metadata` must be a small object
  nested at most MAX_METADATA_DEPTH levels: both end up in the tracker, and `input_channel` is
  not redacted there;
- failures are logged without the message text (Rasa's channel logs the text), and streaming
  (`?stream=true`) is not offered;
- whose conversation a message joins is decided by the server (bot.access.conversation_ids). A caller
  with `Authorization: Bearer <GOVBOT_REST_TOKEN>` is a trusted server (the agency's own portal
  backend or app server) that speaks for its users: its `sender` ids are used as they are and
  it is not limited per client address. Anyone else is a public caller: `sender` must be an id
  this channel signed; anything else (a made-up or someone else's id) starts a new conversation,
  and every reply's `recipient_id` (and the X-Govbot-Sender header) carries the signed id to send
  next time. A wrong token is a 401. Public callers are also limited per client address, and
  every caller meets the process's cap on messages in progress (429, 「系统繁忙，请稍后再试。」).

    GOVBOT_REST_TOKEN (or GOVBOT_REST_TOKEN_FILE)   the trusted callers' token (default: none, so
                                                     every caller is a public one)
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from functools import partial
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.access import rate_limit
from bot.access.action_auth import authorized
from bot.channels.guard import (
    MAX_METADATA_DEPTH,
    BodyTooLarge,
    max_message_chars,
    nested_deeper_than,
    read_limited_body,
    screen,
)
from bot.access.conversation_ids import REST, shared_ids
from bot.settings.access import AccessSettings
from bot.settings.limits import LimitSettings

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = LimitSettings.rest_max_body_bytes
MAX_SENDER_CHARS = 128
MAX_METADATA_BYTES = 4096
_CHANNEL_NAME = re.compile(r"[a-z][a-z_-]{0,31}")

ERROR_TEXT = "抱歉，系统暂时繁忙，请稍后再试。"
TOO_LARGE_TEXT = "请求体过大：消息请控制在 {limit} 字以内。"
NOT_JSON_TEXT = "请求格式有误：请求体应为 UTF-8 编码的 JSON 对象，如 {\"sender\": \"用户编号\", \"message\": \"您的问题\"}。"
NO_SENDER_TEXT = "请求格式有误：sender（会话编号）应为 1 到 128 个可见字符的字符串。"
NO_MESSAGE_TEXT = "请求格式有误：message（消息内容）应为字符串。"
BAD_CHANNEL_TEXT = "请求格式有误：input_channel 只能由小写字母、下划线和连字符组成（不超过 32 个字符）。"
BAD_METADATA_TEXT = f"请求格式有误：metadata 应为不超过 4 KB、嵌套不超过 {MAX_METADATA_DEPTH} 层的 JSON 对象。"
BAD_TOKEN_TEXT = "未授权：Authorization 中的令牌不正确。"
SENDER_HEADER = "X-Govbot-Sender"
TOKEN_ENV = AccessSettings.variable("rest_token").name

_dumps = partial(json.dumps, ensure_ascii=False)


def max_body_bytes(environ: dict | None = None) -> int:
    return LimitSettings.from_env(environ).rest_max_body_bytes


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _error(status: int, message: str, **headers: str) -> HTTPResponse:
    code = {400: "bad_request", 401: "unauthorized", 413: "payload_too_large"}.get(status, "error")
    return response.json({"error": {"code": code, "message": message}}, status=status, headers=headers or None, dumps=_dumps)


def _messages(sender: str, text: str, status: int = 200, **headers: str) -> HTTPResponse:
    """A reply in the channel's normal format: a list with one bot message."""
    return response.json([{"recipient_id": sender, "text": text}], status=status, headers=headers or None, dumps=_dumps)


def _addressed(messages: list[dict], reply_to: str) -> list[dict]:
    """The bot's messages addressed to the id the caller must send next (the signed one for public callers)."""
    return [{**message, "recipient_id": reply_to} for message in messages]


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it exceeds `limit` bytes; never buffered whole."""
    try:
        return await read_limited_body(request, limit)
    except BodyTooLarge:
        raise BadRequest(413, TOO_LARGE_TEXT.format(limit=max_message_chars())) from None


def parse_payload(body: bytes) -> tuple[str, str, str | None, dict | None]:
    """(sender, message, input_channel, metadata) of a request body, or BadRequest(400)."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest(400, NOT_JSON_TEXT) from None
    if not isinstance(payload, dict):
        raise BadRequest(400, NOT_JSON_TEXT)
    sender = payload.get("sender")
    if isinstance(sender, int) and not isinstance(sender, bool):
        sender = str(sender)
    if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS or not sender.isprintable():
        raise BadRequest(400, NO_SENDER_TEXT)
    message = payload.get("message")
    if not isinstance(message, str):
        raise BadRequest(400, NO_MESSAGE_TEXT)
    channel = payload.get("input_channel")
    if channel is not None and (not isinstance(channel, str) or not _CHANNEL_NAME.fullmatch(channel)):
        raise BadRequest(400, BAD_CHANNEL_TEXT)
    metadata = payload.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict) or nested_deeper_than(metadata, MAX_METADATA_DEPTH):
            raise BadRequest(400, BAD_METADATA_TEXT)
        if len(_dumps(metadata).encode("utf-8")) > MAX_METADATA_BYTES:
            raise BadRequest(400, BAD_METADATA_TEXT)
    return sender.strip(), message, channel, metadata


class RestInput(RasaRestInput):
    """Rasa's REST channel with input checks, rate limiting and bounded messages (module docstring)."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def __init__(self, max_body: int | None = None) -> None:
        self.max_body = max_body or max_body_bytes()
        self.token = AccessSettings.read("rest_token")
        self.proxies = rate_limit.shared_limiter().config.proxies

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> "RestInput":
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("govbot_rest_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = await read_body(request, self.max_body)
                sender, message, channel, metadata = parse_payload(body)
            except BadRequest as exc:
                return _error(exc.status, exc.message)

            given = request.headers.get("Authorization")
            trusted = given is not None and authorized(given, self.token)
            if given is not None and not trusted:
                return _error(401, BAD_TOKEN_TEXT)
            if trusted:
                conversation, reply_to, address, headers = sender, sender, None, {}
            else:  # a public caller continues only a conversation this channel signed for it
                ids = shared_ids()
                conversation = ids.verify(REST, sender) or ids.new_id()
                reply_to = ids.sign(REST, conversation)
                address = rate_limit.client_address(request.ip, request.headers.get("X-Forwarded-For"), self.proxies)
                headers = {SENDER_HEADER: reply_to}

            checked = await screen(self.name(), conversation, message, address=address)
            if checked.rate_limited:
                limiter = rate_limit.shared_limiter()
                if checked.address_limited:
                    log.info("REST 消息被限流（同一地址每分钟 %d 条）", limiter.config.per_address)
                    retry = limiter.retry_after_address(address or "")
                else:
                    log.info("REST 消息被限流（每分钟 %d 条）", limiter.config.per_minute)
                    retry = limiter.retry_after(self.name(), conversation)
                return _messages(reply_to, checked.reply, status=429, **{"Retry-After": str(retry)}, **headers)
            if not checked.accepted:
                return _messages(reply_to, checked.reply, **headers)

            collector = CollectingOutputChannel()
            with rate_limit.busy_gate().slot() as admitted:
                if not admitted:
                    log.warning("REST 消息因处理中的消息已达上限而被拒绝（%d 条）", rate_limit.busy_gate().limit)
                    retry = str(rate_limit.BUSY_RETRY_SECONDS)
                    return _messages(reply_to, rate_limit.BUSY_TEXT, status=429, **{"Retry-After": retry}, **headers)
                try:
                    await on_new_message(
                        UserMessage(checked.text, collector, conversation, input_channel=channel or self.name(), metadata=metadata)
                    )
                except asyncio.CancelledError:
                    log.error("REST 消息处理被取消（客户端断开或超时）")
                    raise
                except Exception as exc:
                    log.error("处理 REST 消息出错：%s", type(exc).__name__)
                    messages = collector.messages or [{"recipient_id": conversation, "text": ERROR_TEXT}]
                    return response.json(_addressed(messages, reply_to), headers=headers or None, dumps=_dumps)
            return response.json(_addressed(collector.messages, reply_to), headers=headers or None, dumps=_dumps)

        return hook
