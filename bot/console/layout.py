"""The console's page frame: navigation, the signed-in account, sign-out, Chinese dates in Beijing time.

`render(request, "x.html", title=..., **context)` renders bot/console/templates/x.html, which
should `{% extends "base.html" %}` and fill `{% block content %}`. Every template gets `user`
(StaffUser), `csrf_token` (put `<input type="hidden" name="csrf_token" value="{{ csrf_token }}">`
in every form), `nav`, `active` (the path of the current section) and `agency`; the filters
`beijing` (an aware datetime or ISO string -> 2025-01-02 09:30) and `day` (a date -> 2025-01-02).
Scripts and styles come from /console/static/ (the page's CSP allows nothing inline).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from .session import csrf_token, current_user

BEIJING = ZoneInfo("Asia/Shanghai")
TEMPLATES_KEY = web.AppKey("console_templates", jinja2.Environment)
AGENCY_KEY = web.AppKey("console_agency", str)

# (path, label, role that may open it)
NAV = (
    ("/console/inbox", "人工服务", "staff"),
    ("/console/cases", "办件", "staff"),
    ("/console/knowledge", "知识库", "admin"),
    ("/console/analytics", "统计", "staff"),
    ("/console/accounts", "账号", "admin"),
)


def beijing(value, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value in (None, ""):
        return "—"
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(BEIJING).strftime(fmt)
    return str(value)


def day(value) -> str:
    if value in (None, ""):
        return "—"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.strftime("%Y-%m-%d")
    return str(value)


def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["beijing"] = beijing
    env.filters["day"] = day
    return env


def _active(path: str) -> str:
    for href, _label, _role in NAV:
        if path == href or path.startswith(href + "/"):
            return href
    return ""


def render(request: web.Request, template: str, *, title: str, status: int = 200, **context) -> web.Response:
    user = current_user(request)
    nav = [(href, label) for href, label, role in NAV if user is not None and (role == "staff" or user.is_admin)]
    html = request.config_dict[TEMPLATES_KEY].get_template(template).render(
        title=title, user=user, csrf_token=csrf_token(request), nav=nav, active=_active(request.path),
        agency=request.config_dict[AGENCY_KEY], **context,
    )
    return web.Response(text=html, content_type="text/html", status=status)
