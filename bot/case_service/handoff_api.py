"""HTTP side of live handoffs: citizen messages in (role bot), staff replies out, a live feed.

    POST /handoff-messages              bot    a message the person typed after the handoff
    GET  /handoff-messages?after&wait   staff  messages newer than `after` (waits up to `wait` s)
    GET  /cases/{n}/messages            staff  one handoff's messages
    POST /cases/{n}/messages            staff  a staff reply, delivered into the person's conversation

The feed is a long poll: it answers at once when there is something newer, otherwise it waits for
a message stored by this process (woken at once) or, from another replica, found by looking again
every second, until `wait` runs out.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web

from bot.handoff.rasa_push import end_handoff, send_staff_message
from bot.privacy.validation import check_phone

from .config import CONFIG_KEY
from .errors import ApiError, not_found
from .handoff_store import CITIZEN, STAFF, SYSTEM, HandoffStore
from .validation import TRACKING_NUMBER_PATTERN, parse_json_object
from .workflow import Kind, Status

logger = logging.getLogger(__name__)

HANDOFF_STORE_KEY = web.AppKey("handoff_store", HandoffStore)
SIGNAL_KEY = web.AppKey("handoff_signal", object)
MAX_TEXT_CHARS = 2000
MAX_WAIT_SECONDS = 25
ENDED_NOTE = "人工服务已结束，已恢复智能助手。"


class Signal:
    """Wakes the feed's waiters when this process stores a message."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except asyncio.TimeoutError:
            pass


def _text(data: dict, key: str = "text") -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, "invalid_request", f"请求内容不符合要求：{key} 应为非空字符串", [{"field": key, "message": "应为非空字符串"}])
    if len(value) > MAX_TEXT_CHARS:
        raise ApiError(400, "invalid_request", f"请求内容不符合要求：{key} 不能超过 {MAX_TEXT_CHARS} 个字符",
                       [{"field": key, "message": f"不能超过 {MAX_TEXT_CHARS} 个字符"}])
    return value.strip()


def _tracking(request: web.Request) -> str:
    number = request.match_info["tracking_number"]
    if not TRACKING_NUMBER_PATTERN.match(number):
        raise not_found()
    return number


def _int(raw: str | None, name: str, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit():
        raise ApiError(400, "invalid_request", f"请求内容不符合要求：{name} 应为非负整数", [{"field": name, "message": "应为非负整数"}])
    return min(int(raw), maximum)


def handlers(requires, read_body, now, store_key, config_key, role_bot, role_staff):
    """The four handlers, bound to app.py's helpers (roles, body limit, clock) without importing app.py."""

    @requires(role_bot)
    async def citizen_message(request: web.Request) -> web.Response:
        data = parse_json_object(await read_body(request))
        conversation_id = data.get("conversation_id")
        if not isinstance(conversation_id, str) or not conversation_id.strip() or len(conversation_id) > 128:
            raise ApiError(400, "invalid_request", "请求内容不符合要求：conversation_id 应为 1 到 128 个字符",
                           [{"field": "conversation_id", "message": "应为 1 到 128 个字符"}])
        text = _text(data)
        phone = data.get("phone")
        phone = check_phone(phone).value if isinstance(phone, str) and check_phone(phone).ok else None
        found = await asyncio.to_thread(request.app[HANDOFF_STORE_KEY].add_citizen_message, conversation_id, text, phone, now(request))
        if found is None:
            raise ApiError(404, "no_open_handoff", "该对话没有进行中的人工服务")
        case, message = found
        request.app[SIGNAL_KEY].notify()
        return web.json_response({"tracking_number": case.tracking_number, "id": message.id}, status=201)

    @requires(role_staff)
    async def feed(request: web.Request) -> web.Response:
        after = _int(request.query.get("after"), "after", 0, 2**62)
        wait = _int(request.query.get("wait"), "wait", 0, MAX_WAIT_SECONDS)
        store: HandoffStore = request.app[HANDOFF_STORE_KEY]
        deadline = time.monotonic() + wait
        while True:
            items = await asyncio.to_thread(store.messages_after, after)
            left = deadline - time.monotonic()
            if items or left <= 0:
                break
            await request.app[SIGNAL_KEY].wait(min(1.0, left))
        # Nothing newer: the feed's current end, so a client can start from "now" (after=a huge number).
        last = items[-1].id if items else min(after, await asyncio.to_thread(store.last_id))
        return web.json_response({"items": [m.view() for m in items], "last_id": last}, dumps=_dumps)

    @requires(role_staff)
    async def case_messages(request: web.Request) -> web.Response:
        number = _tracking(request)
        case = await asyncio.to_thread(request.app[store_key].get_case, number)
        if case is None or case.kind != Kind.HANDOFF:
            raise not_found()
        items = await asyncio.to_thread(request.app[HANDOFF_STORE_KEY].case_messages, number)
        return web.json_response({"items": [m.view() for m in items]}, dumps=_dumps)

    @requires(role_staff)
    async def staff_message(request: web.Request) -> web.Response:
        number = _tracking(request)
        data = parse_json_object(await read_body(request))
        text = _text(data)
        author = data.get("author") if isinstance(data.get("author"), str) else ""
        case = await asyncio.to_thread(request.app[store_key].get_case, number)
        if case is None or case.kind != Kind.HANDOFF:
            raise not_found()
        if case.status != Status.RECEIVED:
            raise ApiError(409, "handoff_ended", "该人工服务已结束，不能再回复")
        _, message = await asyncio.to_thread(request.app[HANDOFF_STORE_KEY].add_message, number, STAFF, author[:64], text, now(request))
        request.app[SIGNAL_KEY].notify()
        config = request.app[config_key]
        delivered = False
        if config.rasa_url:
            delivered = await send_staff_message(config.rasa_url, config.rasa_token or "", case.conversation_id, case.channel, text)
        logger.info("case %s: staff reply stored (delivered=%s)", number, delivered)
        return web.json_response({"message": message.view(), "delivered": delivered}, status=201, dumps=_dumps)

    return citizen_message, feed, case_messages, staff_message


STARTED_NOTE = "群众请求人工服务，等待工作人员接入。"


async def handoff_started(app: web.Application, case, now) -> None:
    """A new handoff: a system message, so the inbox's live feed hears of it without a reload."""
    await asyncio.to_thread(app[HANDOFF_STORE_KEY].add_message, case.tracking_number, SYSTEM, "", STARTED_NOTE, now)
    app[SIGNAL_KEY].notify()


async def handoff_finished(app: web.Application, case, now) -> None:
    """After 答复/办结 of a handoff: the bot resumes, the person is told, the inbox shows it ended."""
    config = app[CONFIG_KEY]
    await asyncio.to_thread(app[HANDOFF_STORE_KEY].add_message, case.tracking_number, SYSTEM, "", ENDED_NOTE, now)
    app[SIGNAL_KEY].notify()
    if config.rasa_url:
        await end_handoff(config.rasa_url, config.rasa_token or "", case.conversation_id, case.channel)


def _dumps(data) -> str:
    import json

    return json.dumps(data, ensure_ascii=False)


__all__ = ["CITIZEN", "HANDOFF_STORE_KEY", "SIGNAL_KEY", "Signal", "handlers", "handoff_finished", "handoff_started"]
