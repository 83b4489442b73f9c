"""The staff console under /console on the web server (bot.web): sign-in, roles, pages, audit log.

How a page module plugs in (bot/console/inbox.py, knowledge.py, cases.py …):

    from aiohttp import web
    from bot.console.auth import require_role, current_user, audit, store
    from bot.console.layout import render

    @require_role("staff")            # or "admin": staff accounts then get a 403 page
    async def inbox(request: web.Request) -> web.Response:
        await audit(request, "inbox_view")                  # who did what, in console_audit
        return render(request, "inbox.html", title="人工服务", items=[])

    def setup(app: web.Application) -> None:              # called by setup_console
        app.router.add_get("/console/inbox", inbox)        # the web server's app: full paths

Templates live in bot/console/templates/ and extend "base.html" (see bot.console.layout for the
variables). Every POST/PUT/PATCH/DELETE is checked by the middleware: forms carry a hidden
`csrf_token` field, fetch()/uploads send the `X-CSRF-Token` header (read it from the page, e.g. a
`<meta name="csrf-token" content="{{ csrf_token }}">` in `{% block head %}`). Static files: put them
in bot/console/static/ and link /console/static/NAME (CSS and JS must not be inline: the CSP).
`request.config_dict[CONSOLE_CONFIG_KEY]` (bot.console.config) is the ConsoleConfig (case-service URL and staff token).

Page modules are listed in PAGE_MODULES; a module that does not exist (yet) is skipped. The routes go
on the web server's own app (aiohttp 3.9's sub-apps cannot resolve a Host with a port under the
installed yarl), and the console middleware acts on /console paths only.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import mimetypes
from pathlib import Path

from aiohttp import web

from . import auth
from .config import CONSOLE_CONFIG_KEY, FIRST_ADMIN, ConsoleConfig
from .layout import AGENCY_KEY, TEMPLATES_KEY, templates
from .store import ConsoleStore, new_password

logger = logging.getLogger(__name__)

PAGE_MODULES = (
    "bot.console.inbox", "bot.console.cases", "bot.console.knowledge", "bot.console.analytics", "bot.console.accounts",
)
STATIC_DIR = Path(__file__).parent / "static"


def ensure_first_admin(store: ConsoleStore, password: str = "") -> tuple[str, str] | None:
    """On a machine without accounts: the admin account, with `password` or a random one.

    Returns (username, password) when it was created (the caller shows a random password once),
    None when accounts exist already.
    """
    chosen = password or new_password()
    user = store.create_first_admin(chosen, FIRST_ADMIN)
    return (user.username, chosen) if user is not None else None


def first_admin_notice(created: tuple[str, str], from_env: bool) -> str:
    username, password = created
    if from_env:
        return f"工作人员控制台：已创建管理员账号 {username}，密码取自 GOVBOT_CONSOLE_ADMIN_PASSWORD。"
    return (
        f"工作人员控制台：已创建首个管理员账号 {username}，密码 {password}\n"
        "（只显示这一次；登录后请在「修改密码」中更换，或用 govbot staff reset-password 重设）"
    )


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = STATIC_DIR / name
    if "/" in name or name.startswith(".") or not path.is_file():
        raise web.HTTPNotFound(text="没有这个文件。")
    response = web.FileResponse(path, headers={"Cache-Control": "no-cache"})
    response.content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return response


async def home(request: web.Request) -> web.Response:
    """The first section the account may open: the inbox when it exists, else the cases."""
    for resource in request.app.router.resources():
        if resource.canonical == "/console/inbox":
            raise web.HTTPFound("/console/inbox")
    raise web.HTTPFound("/console/cases")


def setup_console(app: web.Application, config: ConsoleConfig, agency: str = "本机关", store: ConsoleStore | None = None) -> None:
    """Add the console's routes, middleware, database and templates to the web server's app."""
    app.middlewares.append(auth.console_middleware)
    app[CONSOLE_CONFIG_KEY] = config
    app[auth.STORE_KEY] = store or ConsoleStore(config.database_url)
    app[TEMPLATES_KEY] = templates()
    app[AGENCY_KEY] = agency
    app.router.add_get("/console", home)
    app.router.add_get("/console/", home)
    app.router.add_get("/console/static/{name}", static)
    auth.add_routes(app)
    for name in PAGE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.setup(app)

    async def start(app: web.Application) -> None:
        store = app[auth.STORE_KEY]
        await asyncio.to_thread(store.create_tables)
        created = await asyncio.to_thread(ensure_first_admin, store, config.admin_password)
        if created is not None:
            # Printed, not logged: the password must not end up in log files kept for months.
            print(first_admin_notice(created, bool(config.admin_password)), flush=True)

    async def stop(app: web.Application) -> None:
        await asyncio.to_thread(app[auth.STORE_KEY].dispose)

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
