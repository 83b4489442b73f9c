"""The signed-in session of a /console request, as the middleware (bot.console.auth) left it.

Its own module because both sides read it: auth (which sets it and renders the sign-in and refusal
pages through bot.console.layout) and layout (which shows the account and the CSRF token on every page).
"""

from __future__ import annotations

from aiohttp import web

from .store import StaffSession, StaffUser

SESSION_KEY = "console_session"


def current_session(request: web.Request) -> StaffSession | None:
    return request.get(SESSION_KEY)


def current_user(request: web.Request) -> StaffUser | None:
    """The signed-in staff member (None only on the sign-in page)."""
    session = current_session(request)
    return session.user if session is not None else None


def csrf_token(request: web.Request) -> str:
    """The token every form of this session carries in a hidden field named `csrf_token`."""
    session = current_session(request)
    return session.csrf_token if session is not None else ""
