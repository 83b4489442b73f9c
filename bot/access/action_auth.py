"""A shared secret between the Rasa server and the action server.

The action server's /webhook runs whatever action a caller names on whatever tracker the caller
sends (rasa_sdk checks neither), so anyone who can reach it could read another conversation's
requests, or pretend to be one. Both processes read one secret, GOVBOT_ACTION_TOKEN (or the file
named by GOVBOT_ACTION_TOKEN_FILE):

- in the Rasa process (`install()`, run from bot.rasa_plugins.tracker_store like the other Rasa
  fixes) every custom-action call carries it as `Authorization: Bearer …`, set on the action
  endpoint Rasa read from endpoints.yml; other endpoints (NLG, model server) never see it;
- the action server (`python -m bot.ops.action_server`) refuses to start without it and answers 401
  to any /webhook or /actions request that does not carry it (compared in constant time).
"""

from __future__ import annotations

import hmac
import logging

from bot.settings.access import AccessSettings

log = logging.getLogger(__name__)

TOKEN_ENV = AccessSettings.variable("action_token").name
HEADER = "Authorization"
PROTECTED_PATHS = ("/webhook", "/actions")
REFUSED_TEXT = "未授权：动作服务只接受 Rasa 服务的调用"
_installed = False


def action_token() -> str:
    return AccessSettings.read("action_token")


def install() -> bool:
    """Makes every custom-action call of this Rasa process carry the token; False when none is set."""
    global _installed
    if _installed:
        return True
    token = action_token()
    if not token:
        log.warning("%s 未设置：Rasa 调用动作服务时不带令牌（动作服务 bot.ops.action_server 会拒绝）", TOKEN_ENV)
        return False
    from rasa.core.actions.action import RemoteAction

    value = f"Bearer {token}"
    original_init = RemoteAction.__init__

    def __init__(self, name, action_endpoint) -> None:
        original_init(self, name, action_endpoint)
        # The agent's one endpoint object, changed in place once (its pooled sessions stay shared).
        if action_endpoint is not None and action_endpoint.headers.get(HEADER) != value:
            action_endpoint.headers = {**(action_endpoint.headers or {}), HEADER: value}

    RemoteAction.__init__ = __init__
    _installed = True
    return True


def authorized(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries `token` (constant time, any header text)."""
    if not token or not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8", "surrogateescape"), token.encode("utf-8"))


def protect(app, token: str) -> None:
    """A Sanic request middleware on the action server: /webhook and /actions need the token."""
    from sanic import response

    if not token:
        raise ValueError(f"动作服务须设置 {TOKEN_ENV} 或 {TOKEN_ENV}_FILE（与 Rasa 服务相同的值）")

    @app.middleware("request")
    async def require_token(request):
        path = request.path.rstrip("/") or "/"
        if path in PROTECTED_PATHS and not authorized(request.headers.get(HEADER), token):
            return response.json({"error": REFUSED_TEXT}, status=401, ensure_ascii=False)
        return None
