"""知识库 pages of the staff console (admins only): documents, sections and phrasings, 试一试, and
the questions the assistant could not answer or was given a 👎 for.

Every change is written where `govbot kb …` writes it and followed by an index build in a worker
thread (bot.knowledge.admin); pages show its progress by polling /console/knowledge/jobs/<id>.
The running action servers switch to the published index by themselves: nothing restarts.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.analytics.review import review_items
from bot.knowledge.admin import MAX_UPLOAD_BYTES, AdminError, KnowledgeAdmin
from bot.knowledge.ingest import SUPPORTED

from .auth import audit, require_role
from .config import CONSOLE_CONFIG_KEY
from .layout import render

logger = logging.getLogger(__name__)

ADMIN_KEY = web.AppKey("knowledge_admin", KnowledgeAdmin)
BEIJING = ZoneInfo("Asia/Shanghai")  # staff read times in Beijing time, whatever the server's zone
REVIEW_DAYS = (1, 7, 30)
MAX_REVIEW_ROWS = 100
CHANNELS = {"socketio": "网页挂件 / 自助终端", "rest": "REST 接口", "wechat": "微信公众号", "unknown": "—"}
ACCEPT = ",".join(SUPPORTED)


def _admin(request: web.Request) -> KnowledgeAdmin:
    return request.config_dict[ADMIN_KEY]


def _json(data, status: int = 200) -> web.Response:
    import json

    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


def _error(request: web.Request, message: str, status: int = 400) -> web.Response:
    if "application/json" in request.headers.get("Accept", ""):
        return _json({"error": message}, status)
    return render(request, "error.html", title="无法完成", message=message, status=status)


def _job(request: web.Request) -> dict | None:
    job = _admin(request).jobs.get(request.query.get("job", ""))
    return job.as_dict() if job else None


@require_role("admin")
async def documents_page(request: web.Request) -> web.Response:
    admin = _admin(request)
    try:
        documents = await asyncio.to_thread(admin.documents)
    except Exception as exc:  # noqa: BLE001 - a broken knowledge file: say which
        logger.exception("knowledge console: documents unavailable")
        return _error(request, f"知识库暂时无法读取：{exc}", 503)
    added = [d for d in documents if d["removable"]]
    built_in = [d for d in documents if not d["removable"]]
    return render(
        request, "knowledge/documents.html", title="知识库", section="knowledge", tab="documents",
        added=added, built_in=built_in, job=_job(request), accept=ACCEPT,
        max_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
    )


@require_role("admin")
async def upload(request: web.Request) -> web.Response:
    """One file (field `file`) with optional `title` and `issuer`; streamed, size-capped."""
    admin = _admin(request)
    if not request.content_type.startswith("multipart/"):
        return _error(request, "请用上传表单选择文件")
    fields: dict[str, str] = {}
    filename, data = "", b""
    reader = await request.multipart()
    async for part in reader:
        if part.name == "file":
            filename = part.filename or ""
            chunks, size = [], 0
            while chunk := await part.read_chunk(256 * 1024):
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    return _error(request, f"文件超过 {MAX_UPLOAD_BYTES // (1024 * 1024)} MB，请拆分后上传", 413)
                chunks.append(chunk)
            data = b"".join(chunks)
        elif part.name in ("title", "issuer"):
            fields[part.name] = (await part.text())[:200]
    if not filename:
        return _error(request, "请选择要上传的文件")
    try:
        document = await asyncio.to_thread(admin.add_upload, filename, data, fields.get("issuer", ""), fields.get("title", ""))
    except AdminError as exc:
        return _error(request, str(exc))
    await audit(request, "knowledge_upload", document.id, f"《{document.title}》 {filename}")
    job = admin.start_build(f"添加《{document.title}》")
    if "application/json" in request.headers.get("Accept", ""):
        return _json({"job": job.as_dict(), "document": {"id": document.id, "title": document.title, "issuer": document.issuer}})
    raise web.HTTPSeeOther(f"/console/knowledge?job={job.id}")


@require_role("admin")
async def remove(request: web.Request) -> web.Response:
    admin = _admin(request)
    doc_id = request.match_info["doc_id"]
    try:
        title = await asyncio.to_thread(admin.remove, doc_id)
    except AdminError as exc:
        return _error(request, str(exc))
    await audit(request, "knowledge_remove", doc_id, f"《{title}》")
    job = admin.start_build(f"删除《{title}》")
    raise web.HTTPSeeOther(f"/console/knowledge?job={job.id}")


@require_role("admin")
async def job_status(request: web.Request) -> web.Response:
    job = _admin(request).jobs.get(request.match_info["job_id"])
    if job is None:
        return _json({"error": "没有这个任务（服务重启后任务记录会清空）"}, 404)
    return _json(job.as_dict())


@require_role("admin")
async def document_page(request: web.Request) -> web.Response:
    admin = _admin(request)
    try:
        document = await asyncio.to_thread(admin.sections, request.match_info["doc_id"])
    except AdminError as exc:
        return _error(request, str(exc), 404)
    return render(
        request, "knowledge/document.html", title=f"《{document.get('title', document['id'])}》", section="knowledge",
        tab="documents", document=document, job=_job(request),
    )


@require_role("admin")
async def phrasing(request: web.Request) -> web.Response:
    """Add, change or delete one phrasing of a document (form fields: kind, op, section/source, old, new)."""
    admin = _admin(request)
    doc_id = request.match_info["doc_id"]
    form = await request.post()
    kind, op = str(form.get("kind", "")), str(form.get("op", ""))
    old, new = str(form.get("old", "")).strip(), str(form.get("new", ""))
    try:
        if kind == "staff" and op == "add":
            await asyncio.to_thread(admin.add_staff_phrasing, doc_id, str(form.get("section", "")), new)
        elif kind == "staff" and op in ("edit", "delete"):
            await asyncio.to_thread(
                admin.edit_staff_phrasing, doc_id, str(form.get("source", "")), old, new if op == "edit" else None
            )
        elif kind == "generated" and op in ("edit", "delete"):
            await asyncio.to_thread(admin.edit_generated_phrasing, doc_id, old, new if op == "edit" else None)
        else:
            return _error(request, "不支持的操作")
    except AdminError as exc:
        return _error(request, str(exc))
    detail = f"{old} → {' '.join(new.split())}" if op == "edit" else (old or " ".join(new.split()))
    await audit(request, f"knowledge_phrasing_{op}", doc_id, f"{'工作人员' if kind == 'staff' else '自动'}问法：{detail}")
    job = admin.start_build("更新问法")
    raise web.HTTPSeeOther(f"/console/knowledge/documents/{doc_id}?job={job.id}")


@require_role("admin")
async def try_page(request: web.Request) -> web.Response:
    question = request.query.get("q", "").strip()
    result, error = None, ""
    if question:
        try:
            result = await asyncio.to_thread(_admin(request).try_question, question)
        except AdminError as exc:
            error = str(exc)
    return render(
        request, "knowledge/try.html", title="试一试", section="knowledge", tab="try", question=question,
        result=result, error=error, job=_job(request),
    )


@require_role("admin")
async def review_page(request: web.Request) -> web.Response:
    from .events import EventsUnavailable, period_events

    try:
        days = int(request.query.get("days", "7"))
    except ValueError:
        days = 7
    days = days if days in REVIEW_DAYS else 7
    end = datetime.now(BEIJING)
    start = datetime.combine(date.fromordinal(end.date().toordinal() - days + 1), datetime.min.time(), BEIJING)
    items, error = [], ""
    try:
        # The SQL tracker store, or Rasa's events export for the default in-memory store (bot.console.events).
        events = await period_events(request.config_dict[CONSOLE_CONFIG_KEY], start.timestamp(), (end + timedelta(minutes=1)).timestamp())
        items = await asyncio.to_thread(_review, _admin(request), events)
    except EventsUnavailable as exc:
        error = str(exc)
    return render(
        request, "knowledge/review.html", title="待处理问题", section="knowledge", tab="review", items=items,
        days=days, choices=REVIEW_DAYS, error=error, job=_job(request), channels=CHANNELS,
    )


def _review(admin: KnowledgeAdmin, events: list[dict]) -> list[dict]:
    """The unanswered and 👎 questions, newest first, each with the sections retrieval suggests for it."""
    rows = []
    for item in review_items(events, BEIJING)[:MAX_REVIEW_ROWS]:
        hits = admin.service.search(item.question)
        suggestions = list(dict.fromkeys((h.passage.doc_id, _section(h.passage), h.passage.title) for h in hits))
        rows.append({"item": item, "suggestions": suggestions})
    return rows


def _section(passage) -> str:
    from bot.knowledge.questions import section_key

    return section_key(passage)


@require_role("admin")
async def attach(request: web.Request) -> web.Response:
    """Attach an unanswered (or 👎) question as a staff phrasing of the chosen section."""
    admin = _admin(request)
    form = await request.post()
    target = str(form.get("target", ""))
    question = str(form.get("question", ""))
    doc_id, _, section = target.partition("|")
    try:
        if not doc_id or not section:
            raise AdminError("请选择要加到哪个段落")
        await asyncio.to_thread(admin.add_staff_phrasing, doc_id, section, question)
    except AdminError as exc:
        return _error(request, str(exc))
    await audit(request, "knowledge_attach_question", doc_id, f"{section}：{' '.join(question.split())}")
    job = admin.start_build("加入问法")
    raise web.HTTPSeeOther(f"/console/knowledge/review?days={form.get('days', '7')}&job={job.id}")


def setup(app: web.Application, admin: KnowledgeAdmin | None = None) -> None:
    """Add the pages to the web server's app (bot.console.setup_console); the
    knowledge service (embedding model) is loaded on the first visit, not here."""
    app[ADMIN_KEY] = admin or KnowledgeAdmin()
    app.router.add_get("/console/knowledge", documents_page)
    app.router.add_post("/console/knowledge/upload", upload)
    app.router.add_get("/console/knowledge/jobs/{job_id}", job_status)
    app.router.add_get("/console/knowledge/documents/{doc_id}", document_page)
    app.router.add_post("/console/knowledge/documents/{doc_id}/remove", remove)
    app.router.add_post("/console/knowledge/documents/{doc_id}/phrasings", phrasing)
    app.router.add_get("/console/knowledge/try", try_page)
    app.router.add_get("/console/knowledge/review", review_page)
    app.router.add_post("/console/knowledge/review/attach", attach)
