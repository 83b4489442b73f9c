"""Small public routes next to the bundle: /favicon.ico and the widget's suggested questions.

Kept apart from the pages and session code in app.py so each can change on its own.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web

from bot.knowledge.documents import DocumentError

from .config import CONFIG_KEY, WebConfig
from .topics import kiosk_topics

logger = logging.getLogger(__name__)

FAVICON = "favicon.ico"
DEFAULT_SUGGESTIONS = 4
MAX_SUGGESTIONS = 5


def _dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False)


def _config(request: web.Request) -> WebConfig:
    return request.app[CONFIG_KEY]


async def favicon(request: web.Request) -> web.StreamResponse:
    """Browsers ask every page for /favicon.ico; answering it keeps a 404 out of logs and consoles."""
    path = _config(request).dist_dir / FAVICON
    if not path.is_file():
        raise web.HTTPNotFound(text="没有这个文件。")
    response = web.FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})
    response.content_type = "image/x-icon"
    return response


async def suggestions(request: web.Request) -> web.Response:
    """The widget's opening suggestions: the first FAQ questions, as the kiosk shows them.

    Public data fetched by the widget from an agency's own site, hence any origin may read it
    (no cookies or credentials are involved).
    """
    try:
        limit = min(MAX_SUGGESTIONS, max(1, int(request.query.get("limit", DEFAULT_SUGGESTIONS))))
    except ValueError:
        limit = DEFAULT_SUGGESTIONS
    headers = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-cache"}
    try:
        questions = kiosk_topics(_config(request).knowledge_dir, questions=limit)["questions"]
    except (DocumentError, OSError) as exc:
        logger.error("suggested questions unavailable: %s", exc)
        return web.json_response({"error": "推荐问题暂时无法加载。"}, status=503, dumps=_dumps, headers=headers)
    return web.json_response({"questions": questions}, dumps=_dumps, headers=headers)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/api/suggestions", suggestions)
