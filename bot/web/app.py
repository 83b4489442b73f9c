"""aiohttp application: portal demo page (/), kiosk (/kiosk), bundle (/static/…), topics API,
staff console (/console, bot.console).

Pages carry a Content-Security-Policy that allows scripts, styles and images only from this server
and connections only to it and to Rasa: the widget and kiosk load nothing from anywhere else.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from aiohttp import web

from bot.ops import monitoring
from bot.console import setup_console
from bot.knowledge.documents import DocumentError
from bot.knowledge.sources import load_agency

from . import assets
from .config import CONFIG_KEY, WebConfig
from .topics import kiosk_topics

logger = logging.getLogger(__name__)

BUNDLE_FILES = ("govbot-widget.js", "govbot-widget.css", "govbot-kiosk.js", "govbot-kiosk.css", "demo-portal.css")
TEMPLATES_KEY = web.AppKey("templates", jinja2.Environment)
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css"}


def _socket_origins(rasa_url: str) -> str:
    """CSP connect-src for Rasa: its HTTP origin (polling) and its WebSocket origin."""
    parts = urlsplit(rasa_url)
    ws = "wss" if parts.scheme == "https" else "ws"
    return f"{parts.scheme}://{parts.netloc} {ws}://{parts.netloc}"


def _csp(config: WebConfig) -> str:
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {_socket_origins(config.rasa_url)}; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'self'; object-src 'none'"
    )


# Requests by route for Prometheus; outermost, so it sees every status.
count_requests = monitoring.aiohttp_request_counter("web")


async def metrics(request: web.Request) -> web.Response:
    body, content_type = monitoring.exposition(request.headers.get("Accept"))  # no collector queries anything
    return web.Response(body=body, headers={"Content-Type": content_type})


@web.middleware
async def security_headers(request: web.Request, handler):
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if response.content_type == "text/html":
        response.headers["Content-Security-Policy"] = _csp(request.config_dict[CONFIG_KEY])
        response.headers["Cache-Control"] = "no-store"
    return response


def _agency_name(config: WebConfig) -> str:
    try:
        return str(load_agency(config.knowledge_dir).get("name") or "本机关")
    except DocumentError:
        return "本机关"


def _page(request: web.Request, template: str, **context) -> web.Response:
    config = request.app[CONFIG_KEY]
    html = request.app[TEMPLATES_KEY].get_template(template).render(
        config=config, agency=_agency_name(config), bundle_ready=_bundle_ready(config), **context
    )
    return web.Response(text=html, content_type="text/html")


def _bundle_ready(config: WebConfig) -> bool:
    return all((config.dist_dir / name).is_file() for name in BUNDLE_FILES)


async def portal(request: web.Request) -> web.Response:
    return _page(request, "portal.html")


async def kiosk(request: web.Request) -> web.Response:
    return _page(request, "kiosk.html")


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    config = request.app[CONFIG_KEY]
    path = config.dist_dir / name
    if name not in BUNDLE_FILES or not path.is_file():
        raise web.HTTPNotFound(text="没有这个文件。")
    response = web.FileResponse(path, headers={"Cache-Control": "no-cache"})
    response.content_type = CONTENT_TYPES[Path(name).suffix]
    response.charset = "utf-8"
    return response


async def topics(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    try:
        return web.json_response(kiosk_topics(config.knowledge_dir), dumps=_dumps)
    except (DocumentError, OSError) as exc:
        logger.error("kiosk topics unavailable: %s", exc)
        return web.json_response({"error": "常见问题暂时无法加载。"}, status=503, dumps=_dumps)


async def health(request: web.Request) -> web.Response:
    if not _bundle_ready(request.app[CONFIG_KEY]):
        return web.json_response({"status": "error", "error": "网页挂件尚未构建：请运行 make web"}, status=503, dumps=_dumps)
    return web.json_response({"status": "ok"})


def _dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False)


def create_app(config: WebConfig) -> web.Application:
    app = web.Application(middlewares=[count_requests, security_headers])
    app[CONFIG_KEY] = config
    app[TEMPLATES_KEY] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    app.router.add_get("/", portal)
    app.router.add_get("/kiosk", kiosk)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/api/kiosk/topics", topics)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    assets.add_routes(app)
    setup_console(app, config.console, _agency_name(config))
    return app
