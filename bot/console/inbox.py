"""/console/inbox (role staff): live 转人工 conversations — read, reply, end (bot.handoff).

    GET  /console/inbox                    open handoffs: channel, waiting time, masked transcript
    GET  /console/inbox/events?after=N     server-sent events: each new handoff message, live
    POST /console/inbox/{n}/reply          a reply (form field `text`), into the person's conversation
    POST /console/inbox/{n}/end            结束人工服务: the bot resumes and tells the person
    POST /console/inbox/canned             the canned replies (one a line)

Forms carry the console's CSRF token (the middleware checks it); replies sent by the page's script
use the X-CSRF-Token header and get JSON back. The events stream long-polls the case service's feed
and keeps the browser's connection alive with comments; the browser's EventSource reconnects with
Last-Event-ID, so nothing is missed across a dropped connection.
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web

from bot.handoff import canned
from bot.handoff.inbox_client import CaseServiceError, InboxClient, waiting_minutes
from bot.privacy.validation import mask_phone

from .auth import audit, current_user, refuse, require_role
from .config import CONSOLE_CONFIG_KEY
from .layout import render

logger = logging.getLogger(__name__)

CHANNEL_LABELS = {"socketio": "网站挂件 / 自助终端", "rest": "REST 接口", "wechat": "微信公众号"}
ROLE_LABELS = {"user": "群众", "bot": "智能助手", "citizen": "群众", "staff": "工作人员", "system": "系统"}
MAX_REPLY_CHARS = 2000
KEEPALIVE_SECONDS = 15


def client(request: web.Request) -> InboxClient:
    config = request.config_dict[CONSOLE_CONFIG_KEY]
    return InboxClient(config.case_url, config.case_staff_token)


SURFACE_LABELS = {"widget": "网站咨询挂件", "kiosk": "政务大厅自助终端"}


def channel_label(case: dict) -> str:
    """Widget and kiosk share the socket.io channel; the page says which it is (request.surface)."""
    surface = (case.get("request") or {}).get("surface")
    if case.get("channel") == "socketio" and surface in SURFACE_LABELS:
        return SURFACE_LABELS[surface]
    return CHANNEL_LABELS.get(case.get("channel", ""), case.get("channel") or "未知渠道")


def _thread(case: dict, messages: list[dict]) -> list[dict]:
    """The masked transcript up to the handoff, then the messages since (citizen text arrives masked)."""
    entries = [
        {"role": turn.get("role", "bot"), "label": ROLE_LABELS.get(turn.get("role"), "群众"), "text": turn.get("text", ""), "at": None}
        for turn in case.get("transcript") or []
    ]
    entries += [
        {"role": m["role"], "label": ROLE_LABELS.get(m["role"], m["role"]) + (f"（{m['author']}）" if m.get("author") else ""),
         "text": m["text"], "at": m["at"]}
        for m in messages
    ]
    return entries


def _waiting_since(case: dict, messages: list[dict]) -> str:
    """The person's oldest message that no staff reply has followed; else the handoff itself."""
    since = case.get("received_at")
    for message in messages:
        if message["role"] == "staff":
            since = None
        elif message["role"] == "citizen" and since is None:
            since = message["at"]
    return since or ""


async def _view(request: web.Request) -> tuple[list[dict], int, str]:
    api = client(request)
    try:
        cases = await api.open_handoffs()
        detailed = await asyncio.gather(*(api.case(c["tracking_number"]) for c in cases))
        threads = await asyncio.gather(*(api.messages(c["tracking_number"]) for c in cases))
        _, last_id = await api.feed(2**62, wait=0)  # nothing is newer: just where the feed stands
    except CaseServiceError as exc:
        return [], 0, exc.message
    items = []
    for case, messages in zip(detailed, threads):
        since = _waiting_since(case, messages)
        phone = (case.get("applicant") or {}).get("phone")
        items.append({
            "number": case["tracking_number"], "channel": channel_label(case), "received_at": case.get("received_at"),
            "waiting_since": since, "waiting": waiting_minutes(since) if since else None,
            "contact": mask_phone(phone) if phone else "", "thread": _thread(case, messages),
        })
    items.sort(key=lambda item: item["received_at"] or "")
    return items, max(last_id, max((m["id"] for t in threads for m in t), default=0)), ""


@require_role("staff")
async def inbox(request: web.Request) -> web.Response:
    items, last_id, error = await _view(request)
    notice = {"sent": "回复已发送。", "ended": "已结束人工服务，智能助手已恢复并告知对方。", "canned": "常用回复已保存。"}.get(
        request.query.get("done", ""), ""
    )
    return render(
        request, "inbox/inbox.html", title="人工服务", items=items, last_id=last_id, error=error, notice=notice,
        canned=canned.load_replies(), canned_text="\n".join(canned.load_replies()),
    )


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _number(request: web.Request) -> str:
    number = request.match_info["number"]
    if not (2 < len(number) <= 24 and number.isascii() and number.isalnum()):
        raise web.HTTPNotFound(text="没有这个人工服务。")
    return number


@require_role("staff")
async def reply(request: web.Request) -> web.StreamResponse:
    number = _number(request)
    form = await request.post()
    text = str(form.get("text") or "").strip() or str(form.get("canned") or "").strip()
    if not text:
        return _fail(request, 400, "回复内容不能为空：请输入回复，或选一条常用回复。")
    if len(text) > MAX_REPLY_CHARS:
        return _fail(request, 400, f"回复不能超过 {MAX_REPLY_CHARS} 字。")
    user = current_user(request)
    try:
        result = await client(request).reply(number, text, user.username)
    except CaseServiceError as exc:
        return _fail(request, exc.status if exc.status < 500 else 502, exc.message)
    await audit(request, "handoff_reply", number, "delivered" if result.get("delivered") else "stored")
    if _wants_json(request):
        return web.json_response({"message": result.get("message"), "delivered": bool(result.get("delivered"))}, dumps=_dumps)
    raise web.HTTPSeeOther(f"/console/inbox?done=sent#case-{number}")


@require_role("staff")
async def end(request: web.Request) -> web.StreamResponse:
    number = _number(request)
    user = current_user(request)
    try:
        await client(request).end(number, f"{user.name} 在控制台结束人工服务")
    except CaseServiceError as exc:
        return _fail(request, exc.status if exc.status < 500 else 502, exc.message)
    await audit(request, "handoff_end", number)
    if _wants_json(request):
        return web.json_response({"ended": True}, dumps=_dumps)
    raise web.HTTPSeeOther("/console/inbox?done=ended")


@require_role("staff")
async def save_canned(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        replies = canned.parse_replies(str(form.get("replies") or ""))
        await asyncio.to_thread(canned.save_replies, replies)
    except ValueError as exc:
        return _fail(request, 400, str(exc))
    except OSError:
        return _fail(request, 500, "常用回复没能保存（文件无法写入），请联系系统管理员。")
    await audit(request, "canned_replies_saved", "", f"{len(replies)} 条")
    raise web.HTTPSeeOther("/console/inbox?done=canned")


def _fail(request: web.Request, status: int, message: str) -> web.Response:
    if _wants_json(request):
        return web.json_response({"error": message}, status=status, dumps=_dumps)
    return refuse(request, status, message)


@require_role("staff")
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: `message` with each new handoff message (JSON), comments as keep-alive."""
    raw = request.headers.get("Last-Event-ID") or request.query.get("after") or "0"
    after = int(raw) if raw.isascii() and raw.isdigit() else 0
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store", "X-Accel-Buffering": "no",
    })
    await response.prepare(request)
    api = client(request)
    try:
        await response.write(b"retry: 3000\n\n")
        while True:
            try:
                items, after = await api.feed(after, wait=KEEPALIVE_SECONDS)
            except CaseServiceError as exc:
                await response.write(f"event: problem\ndata: {_dumps({'error': exc.message})}\n\n".encode())
                await asyncio.sleep(5)
                continue
            for item in items:
                item["label"] = ROLE_LABELS.get(item["role"], item["role"]) + (f"（{item['author']}）" if item.get("author") else "")
                await response.write(f"id: {item['id']}\nevent: message\ndata: {_dumps(item)}\n\n".encode())
            if not items:
                await response.write(b": keep-alive\n\n")
    except ConnectionResetError:  # the page was closed
        pass
    return response


def _dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False)


def setup(app: web.Application) -> None:
    app.router.add_get("/console/inbox", inbox)
    app.router.add_get("/console/inbox/events", events)
    app.router.add_post("/console/inbox/canned", save_canned)
    app.router.add_post("/console/inbox/{number}/reply", reply)
    app.router.add_post("/console/inbox/{number}/end", end)
