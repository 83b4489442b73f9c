"""The console as a staff client of the case service (bot.case_service's HTTP API, token role `staff`).

The console holds no case data of its own: lists, case pages and transitions are calls to the case
service, so a real deployment that points GOVBOT_CASE_URL at the agency's own system works the same.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import aiohttp
from aiohttp import web

from .config import CONSOLE_CONFIG_KEY, ConsoleConfig

logger = logging.getLogger(__name__)

TIMEOUT = aiohttp.ClientTimeout(total=30)  # a busy host: staff would rather wait than retry
SESSION_KEY = web.AppKey("console_case_http", aiohttp.ClientSession)


class CaseServiceError(Exception):
    """A refusal or an outage, with the Chinese sentence to show staff."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class CaseClient:
    def __init__(self, config: ConsoleConfig, session: aiohttp.ClientSession):
        self.base = config.case_url
        self.headers = {"Authorization": f"Bearer {config.case_staff_token}"}
        self.configured = bool(config.case_staff_token)
        self.session = session

    async def _call(self, method: str, path: str, **kwargs) -> dict:
        if not self.configured:
            raise CaseServiceError(503, "未配置办件系统的工作人员令牌（GOVBOT_CASE_STAFF_TOKEN），无法读取办件。")
        try:
            async with self.session.request(method, self.base + path, headers=self.headers, timeout=TIMEOUT, **kwargs) as response:
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
                if response.status >= 400:
                    message = (body or {}).get("error", {}).get("message") if isinstance(body, dict) else None
                    if response.status == 401:
                        message = "办件系统拒绝了控制台的令牌，请检查 GOVBOT_CASE_STAFF_TOKEN。"
                    raise CaseServiceError(response.status, message or f"办件系统返回错误（HTTP {response.status}）。")
                if not isinstance(body, dict):
                    raise CaseServiceError(502, "办件系统的应答无法识别。")
                return body
        except aiohttp.ClientError as exc:
            logger.warning("case service unreachable: %s", exc)
            raise CaseServiceError(503, "办件系统暂时无法访问，请稍后再试。") from exc
        except TimeoutError as exc:
            raise CaseServiceError(504, "办件系统响应超时，请稍后再试。") from exc

    async def list_cases(self, status: str = "", kind: str = "", limit: int = 50, offset: int = 0) -> dict:
        params = {"limit": str(limit), "offset": str(offset)}
        if status:
            params["status"] = status
        if kind:
            params["kind"] = kind
        return await self._call("GET", "/cases", params=params)

    async def get_case(self, tracking_number: str) -> dict:
        return await self._call("GET", f"/cases/{quote(tracking_number, safe='')}")

    async def transition(self, tracking_number: str, action: str, note: str = "", reply_type: str | None = None) -> dict:
        body: dict = {"action": action, "note": note}
        if reply_type:
            body["reply_type"] = reply_type
        return await self._call("POST", f"/cases/{quote(tracking_number, safe='')}/transitions", json=body)


def case_client(request: web.Request) -> CaseClient:
    return CaseClient(request.config_dict[CONSOLE_CONFIG_KEY], request.config_dict[SESSION_KEY])


def setup_http(app: web.Application) -> None:
    """One client session for the web server's lifetime."""

    async def start(app: web.Application) -> None:
        app[SESSION_KEY] = aiohttp.ClientSession()

    async def stop(app: web.Application) -> None:
        await app[SESSION_KEY].close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
