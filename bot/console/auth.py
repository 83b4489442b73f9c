"""Who is signed in, what their role lets them open, CSRF, and the sign-in / sign-out pages.

- `console_middleware` runs on every /console request: it loads the session from the cookie, lets
  only /console/login and /console/static/… through without one (pages: redirect to the sign-in
  page; other requests: 401 JSON), and refuses any POST/PUT/PATCH/DELETE whose CSRF token (form
  field `csrf_token` or header `X-CSRF-Token`) is not the session's (403, Chinese page).
- `require_role("staff")` / `require_role("admin")` on a handler: admin pages refuse staff (403).
- `current_user(request)`, `await audit(request, action, target, detail)` (the session itself:
  bot.console.session, which bot.console.layout reads too).

Cookies: HttpOnly, SameSite=Strict, path /console, Secure when the request came over HTTPS (directly
or through a proxy that says X-Forwarded-Proto: https).
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import logging
import math
import secrets
from typing import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

from bot.access.rate_limit import address_key
from bot.access.rate_limit import client_address as rate_limit_address

from .config import CONSOLE_CONFIG_KEY
from .layout import render
from .session import SESSION_KEY, current_user
from .store import ConsoleStore

logger = logging.getLogger(__name__)

SESSION_COOKIE = "govbot_console"
LOGIN_COOKIE = "govbot_console_login"  # double-submit token of the sign-in form (no session yet)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
STORE_KEY = web.AppKey("console_store", ConsoleStore)
PUBLIC_PATHS = ("/console/login",)
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def store(request: web.Request) -> ConsoleStore:
    return request.config_dict[STORE_KEY]


def client_address(request: web.Request) -> str:
    """The client's address (IPv6 by /64); behind a trusted proxy, from its X-Forwarded-For (bot.access.rate_limit)."""
    proxies = request.config_dict[CONSOLE_CONFIG_KEY].trusted_proxies
    return address_key(rate_limit_address(request.remote, request.headers.get("X-Forwarded-For"), proxies))


def is_https(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower() == "https"


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(name, value, path="/console", httponly=True, samesite="Strict", secure=is_https(request))


async def audit(request: web.Request, action: str, target: str = "", detail: str = "") -> None:
    """One row of the audit log: who (the signed-in account), what, on what, from where."""
    user = current_user(request)
    await asyncio.to_thread(
        store(request).audit, user.username if user else "-", action, target, detail, client_address(request)
    )


def wants_html(request: web.Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "text/html")


def _same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


async def _submitted_token(request: web.Request) -> str:
    # Uploads and fetch() calls send the header, so their bodies are left for the handler to stream.
    header = request.headers.get(CSRF_HEADER, "")
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        return str(form.get(CSRF_FIELD, ""))
    return ""


def refuse(request: web.Request, status: int, message: str) -> web.Response:
    """A Chinese error: a page for browsers, JSON for scripts."""
    if "text/html" in request.headers.get("Accept", "") or request.content_type in (
        "application/x-www-form-urlencoded", "multipart/form-data"
    ):
        return render(request, "error.html", title="无法完成", message=message, status=status)
    return web.json_response({"error": message}, status=status, dumps=_dumps)


def _dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False)


@web.middleware
async def console_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if path != "/console" and not path.startswith("/console/"):
        return await handler(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    session = await asyncio.to_thread(store(request).session, token) if token else None
    request[SESSION_KEY] = session
    public = path in PUBLIC_PATHS or path.startswith("/console/static/")
    if session is None and not public:
        if wants_html(request):
            target = "" if path in ("/console", "/console/") else f"?next={quote(request.rel_url.path_qs, safe='/')}"
            raise web.HTTPFound(f"/console/login{target}")
        return web.json_response({"error": "请先登录工作人员控制台"}, status=401, dumps=_dumps)
    if request.method in UNSAFE_METHODS:
        expected = request.cookies.get(LOGIN_COOKIE, "") if path in PUBLIC_PATHS else session.csrf_token
        if not _same(await _submitted_token(request), expected):
            if session is not None:
                await audit(request, "csrf_refused", path)
            return refuse(request, 403, "页面已过期或请求来源不明，操作未执行。请刷新页面后重试。")
    try:
        return await handler(request)
    except web.HTTPNotFound as exc:  # aiohttp's own is English: "404: Not Found"
        given = exc.text or ""
        return refuse(request, 404, given if given and not given.startswith("404") else "没有这个页面。")
    except web.HTTPMethodNotAllowed:
        return refuse(request, 405, "这个页面不接受这种请求。")


def require_role(role: str) -> Callable[[Handler], Handler]:
    """Handler decorator: `staff` lets staff and admins in, `admin` only admins (others get 403)."""
    if role not in ("staff", "admin"):
        raise ValueError(role)

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            user = current_user(request)
            if user is None:  # the middleware already redirected; defence in depth
                raise web.HTTPFound("/console/login")
            if role == "admin" and not user.is_admin:
                await audit(request, "denied", request.path)
                return refuse(request, 403, "您的账号没有权限打开此页面：它只对管理员开放。")
            return await handler(request)

        checked.console_role = role
        return checked

    return wrap


def _safe_next(value: str) -> str:
    return value if value.startswith("/console") and not value.startswith("//") and "\\" not in value else "/console/"


async def login_page(request: web.Request) -> web.Response:
    if current_user(request) is not None:
        raise web.HTTPFound("/console/")
    return _login_form(request, request.query.get("next", ""), "", 200)


def _login_form(request, next_url: str, error: str, status: int, username: str = "") -> web.Response:
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        request, "login.html", title="登录", form_token=token, next_url=_safe_next(next_url) if next_url else "",
        error=error, username=username, status=status,
    )
    set_cookie(request, response, LOGIN_COOKIE, token)
    return response


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    next_url = str(form.get("next", ""))
    if not username or not password:
        return _login_form(request, next_url, "请输入账号和密码。", 400, username)
    result = await asyncio.to_thread(store(request).sign_in, username, password, client_address(request))
    if result is None:
        await asyncio.to_thread(store(request).audit, username, "sign_in_failed", "", "", client_address(request))
        return _login_form(request, next_url, "账号或密码不正确，或账号已停用。", 401, username)
    if isinstance(result, float):
        minutes = max(1, math.ceil(result / 60))
        return _login_form(request, next_url, f"登录失败次数过多，请 {minutes} 分钟后再试。", 429, username)
    token, session = result
    request[SESSION_KEY] = session
    await audit(request, "sign_in")
    response = web.HTTPFound(_safe_next(next_url))
    set_cookie(request, response, SESSION_COOKIE, token)
    response.del_cookie(LOGIN_COOKIE, path="/console")
    raise response


async def logout(request: web.Request) -> web.Response:
    await audit(request, "sign_out")
    await asyncio.to_thread(store(request).sign_out, request.cookies.get(SESSION_COOKIE, ""))
    response = web.HTTPFound("/console/login")
    response.del_cookie(SESSION_COOKIE, path="/console")
    raise response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/console/login", login_page)
    app.router.add_post("/console/login", login)
    app.router.add_post("/console/logout", logout)
