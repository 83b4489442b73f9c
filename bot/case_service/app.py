"""The aiohttp application: routes, bearer-token roles, JSON errors.

Database work is synchronous SQLAlchemy, so every store call goes through asyncio.to_thread to keep
the event loop answering other requests while one waits on the database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import logging
from functools import partial
from typing import Awaitable, Callable

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from sqlalchemy.exc import OperationalError

from bot.ops.monitoring import register_once

from .config import AGENCY_TIMEZONE, CONFIG_KEY, CaseServiceConfig
from .handoff_api import HANDOFF_STORE_KEY, SIGNAL_KEY, Signal, handlers as handoff_handlers, handoff_finished, handoff_started
from .handoff_store import HandoffStore
from .deadlines import WorkingDayCalendar
from .errors import ApiError, lookup_locked, not_found
from .metrics import DeadlineCollector, count_requests, metrics
from .openapi import openapi_document
from .store import CaseStore, IdempotencyConflict, NewCase
from .validation import (
    TRACKING_NUMBER_PATTERN,
    create_request,
    idempotency_key,
    list_query,
    parse_json_object,
    phone_digits,
    request_hash,
    transition_request,
)
from .views import bot_view, staff_view
from .workflow import KIND_PREFIXES, Kind, Status, Workflow

logger = logging.getLogger(__name__)

ROLE_BOT = "bot"
ROLE_STAFF = "staff"

STORE_KEY = web.AppKey("store", CaseStore)
WORKFLOW_KEY = web.AppKey("workflow", Workflow)
CLOCK_KEY = web.AppKey("clock", object)
TOKENS_KEY = web.AppKey("tokens", list)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_dumps = partial(json.dumps, ensure_ascii=False)
READY_TIMEOUT = 3.0  # seconds the readiness probe waits for the database


def json_response(data: dict, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=_dumps)


def requires(role: str) -> Callable[[Handler], Handler]:
    """Mark a handler with the least role that may call it (staff may call everything)."""

    def mark(handler: Handler) -> Handler:
        handler.required_role = role  # type: ignore[attr-defined]
        return handler

    return mark


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _now(request: web.Request) -> dt.datetime:
    return request.app[CLOCK_KEY]().astimezone(AGENCY_TIMEZONE)


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Access log without query strings, which carry phone digits (phone_last4)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %d %.3fs", request.remote, request.method, request.path, response.status, time)


# ---------------------------------------------------------------- middlewares

_HTTP_ERRORS = {
    404: ("not_found", "请求的地址不存在"),
    405: ("method_not_allowed", "该地址不支持此请求方法"),
    413: ("payload_too_large", "请求体过大"),
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as {"error": {code, message}} — aiohttp's own 404/405 included."""
    try:
        return await handler(request)
    except ApiError as exc:
        headers = {"WWW-Authenticate": 'Bearer realm="govbot-cases"'} if exc.status == 401 else {}
        return json_response(exc.body(), status=exc.status, headers={**headers, **exc.headers} or None)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code, message = _HTTP_ERRORS.get(exc.status, ("http_error", "请求无法处理"))
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return json_response({"error": {"code": code, "message": message}}, status=exc.status, headers=headers)
    except asyncio.CancelledError:
        raise
    except OperationalError:
        logger.exception("database error on %s %s", request.method, request.path)
        return json_response({"error": {"code": "database_unavailable", "message": "案件数据库暂时不可用，请稍后重试"}}, status=503)
    except Exception:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return json_response({"error": {"code": "internal_error", "message": "服务内部错误，请稍后重试"}}, status=500)


def _role_for(header: str | None, tokens: list[tuple[str, bytes]]) -> str | None:
    scheme, _, credentials = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    presented = credentials.strip().encode("utf-8")
    role = None
    # Compare against every configured token, in constant time, without an early exit.
    for name, token in tokens:
        if hmac.compare_digest(presented, token):
            role = name
    return role


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    required = getattr(request.match_info.handler, "required_role", None)
    if required is None:
        return await handler(request)
    role = _role_for(request.headers.get("Authorization"), request.app[TOKENS_KEY])
    if role is None:
        raise ApiError(401, "unauthorized", "未提供有效的访问令牌（Authorization: Bearer <token>）")
    if required == ROLE_STAFF and role != ROLE_STAFF:
        raise ApiError(403, "forbidden", "该令牌无权执行此操作")
    request["role"] = role
    return await handler(request)


# ---------------------------------------------------------------- handlers

async def health(request: web.Request) -> web.Response:
    ok = await asyncio.to_thread(request.app[STORE_KEY].ping)
    if ok:
        return json_response({"status": "ok", "database": "ok"})
    return json_response({"status": "unavailable", "database": "unreachable"}, status=503)


async def live(request: web.Request) -> web.Response:
    """Liveness: the process answers. No database check, so a database restart restarts nothing."""
    return json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    """Readiness: the database answers within a few seconds (a hung database must not hang probes)."""
    try:
        ok = await asyncio.wait_for(asyncio.to_thread(request.app[STORE_KEY].ping), READY_TIMEOUT)
    except asyncio.TimeoutError:
        ok = False
    if ok:
        return json_response({"status": "ok", "database": "ok"})
    return json_response({"status": "unavailable", "database": "unreachable"}, status=503)


async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())


async def _read_body(request: web.Request) -> bytes:
    limit = request.app[CONFIG_KEY].max_body_bytes
    too_large = ApiError(413, "payload_too_large", f"请求体不能超过 {limit // 1024} KB")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise too_large from None


@requires(ROLE_BOT)
async def create_case(request: web.Request) -> web.Response:
    key = idempotency_key(request.headers.get("Idempotency-Key"))
    data = parse_json_object(await _read_body(request))
    body = create_request(data)
    now = _now(request)
    new = NewCase(
        idempotency_key=key,
        request_hash=request_hash(data),
        kind=body.kind,
        prefix=KIND_PREFIXES[body.kind],
        channel=body.channel,
        conversation_id=body.conversation_id,
        applicant=body.applicant,
        request=body.request,
        transcript=body.transcript,
        received_at=now,
        deadline=request.app[WORKFLOW_KEY].initial_deadline(body.kind, now.date()),
    )
    try:
        case, created = await asyncio.to_thread(request.app[STORE_KEY].create_case, new)
    except IdempotencyConflict:
        raise ApiError(409, "idempotency_conflict", "该 Idempotency-Key 已用于内容不同的请求，请为新请求使用新的值") from None
    if created:
        logger.info("case %s created (kind=%s, channel=%s)", case.tracking_number, case.kind.value, case.channel)
        if case.kind == Kind.HANDOFF:
            await handoff_started(request.app, case, now)  # the staff inbox hears of it at once
    view = staff_view(case) if request["role"] == ROLE_STAFF else bot_view(case)
    headers = {"Location": f"/cases/{case.tracking_number}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return json_response(view, status=201 if created else 200, headers=headers)


@requires(ROLE_BOT)
async def get_case(request: web.Request) -> web.Response:
    tracking_number = request.match_info["tracking_number"]
    staff = request["role"] == ROLE_STAFF
    last4 = request.query.get("phone_last4")
    if not staff and (last4 is None or len(last4) != 4 or not last4.isascii() or not last4.isdigit()):
        raise ApiError(400, "phone_last4_required", "查询案件须提供申请人手机号后四位 phone_last4",
                       [{"field": "phone_last4", "message": "应为 4 位数字"}])
    if not TRACKING_NUMBER_PATTERN.match(tracking_number):
        raise not_found()
    if staff:
        case = await asyncio.to_thread(request.app[STORE_KEY].get_case, tracking_number)
        if case is None:
            raise not_found()
        return json_response(staff_view(case))

    def phone_matches(case) -> bool:
        digits = phone_digits(case.applicant.get("phone") if isinstance(case.applicant, dict) else None)
        return len(digits) >= 4 and hmac.compare_digest(digits[-4:].encode(), last4.encode())

    # Unknown number and wrong digits: one answer, one failed look-up; a few of them lock the number.
    policy = request.app[CONFIG_KEY].lookup_policy
    result = await asyncio.to_thread(request.app[STORE_KEY].look_up, tracking_number, phone_matches, _now(request), policy)
    if result.locked_seconds > 0:
        raise lookup_locked(result.locked_seconds)
    if result.case is None:
        raise not_found()
    return json_response(bot_view(result.case))


@requires(ROLE_STAFF)
async def list_cases(request: web.Request) -> web.Response:
    status, kind, limit, offset = list_query(request.query)
    cases, total = await asyncio.to_thread(request.app[STORE_KEY].list_cases, status, kind, limit, offset)
    return json_response({
        "items": [staff_view(case, include_transcript=False) for case in cases],
        "total": total,
        "limit": limit,
        "offset": offset,
    })


@requires(ROLE_STAFF)
async def transition_case(request: web.Request) -> web.Response:
    tracking_number = request.match_info["tracking_number"]
    body = transition_request(parse_json_object(await _read_body(request)))
    if not TRACKING_NUMBER_PATTERN.match(tracking_number):
        raise not_found()
    now = _now(request)
    workflow = request.app[WORKFLOW_KEY]

    def decide(state):
        return workflow.decide(state, body.action, body.reply_type, now, now.date())

    case = await asyncio.to_thread(request.app[STORE_KEY].apply_transition, tracking_number, body.action, body.note, now, decide)
    if case is None:
        raise not_found()
    logger.info("case %s: %s -> %s", case.tracking_number, body.action.value, case.status.value)
    if case.kind == Kind.HANDOFF and case.status in (Status.ANSWERED, Status.CLOSED):
        await handoff_finished(request.app, case, now)  # the bot resumes and says so (bot.handoff)
    return json_response(staff_view(case))


# Live handoff (bot.case_service.handoff_api): citizen messages in, staff replies out, a feed.
_citizen_message, _handoff_feed, _case_messages, _staff_message = handoff_handlers(
    requires, _read_body, _now, STORE_KEY, CONFIG_KEY, ROLE_BOT, ROLE_STAFF
)


# The route table; the OpenAPI test checks each of these is documented.
ROUTES = [
    web.get("/health", health),
    web.get("/live", live),
    web.get("/ready", ready),
    web.get("/metrics", metrics),  # Prometheus (bot.case_service.metrics)
    web.get("/openapi.json", openapi),
    web.post("/cases", create_case),
    web.get("/cases", list_cases),
    web.get("/cases/{tracking_number}", get_case),
    web.post("/cases/{tracking_number}/transitions", transition_case),
    web.post("/handoff-messages", _citizen_message),
    web.get("/handoff-messages", _handoff_feed),
    web.get("/cases/{tracking_number}/messages", _case_messages),
    web.post("/cases/{tracking_number}/messages", _staff_message),
]


def create_app(
    config: CaseServiceConfig,
    *,
    clock: Callable[[], dt.datetime] = _utc_now,
    calendar: WorkingDayCalendar | None = None,
) -> web.Application:
    """Build the app; `clock` is injectable so tests can pin the receipt date."""
    app = web.Application(
        middlewares=[count_requests, error_middleware, auth_middleware], client_max_size=config.max_body_bytes
    )
    app[CONFIG_KEY] = config
    app[CLOCK_KEY] = clock
    calendar = calendar if calendar is not None else WorkingDayCalendar.from_file(config.calendar_path)
    app[WORKFLOW_KEY] = Workflow(calendar, config.promise_working_days)
    tokens = []
    for role, token in ((ROLE_BOT, config.bot_token), (ROLE_STAFF, config.staff_token)):
        if token:
            tokens.append((role, token.encode("utf-8")))
        else:
            variable = "GOVBOT_CASE_BOT_TOKEN" if role == ROLE_BOT else "GOVBOT_CASE_STAFF_TOKEN"
            logger.warning("%s is not set: the %s role is disabled", variable, role)
    if config.bot_token and config.bot_token == config.staff_token:
        raise ValueError("GOVBOT_CASE_BOT_TOKEN 与 GOVBOT_CASE_STAFF_TOKEN 不能相同")
    app[TOKENS_KEY] = tokens
    app[STORE_KEY] = CaseStore(config.database_url)
    app[HANDOFF_STORE_KEY] = HandoffStore(app[STORE_KEY])
    app[SIGNAL_KEY] = Signal()
    app.add_routes(ROUTES)
    register_once(DeadlineCollector(app[STORE_KEY], clock))

    async def start(app: web.Application) -> None:
        await asyncio.to_thread(app[STORE_KEY].create_tables)

    async def stop(app: web.Application) -> None:
        await asyncio.to_thread(app[STORE_KEY].dispose)

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app
