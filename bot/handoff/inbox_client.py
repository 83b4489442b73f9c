"""The staff inbox's client of the case service (role staff): open handoffs, messages, replies, end.

The web server holds the case service's staff token (GOVBOT_CASE_STAFF_TOKEN) and acts for the
signed-in staff member; who did what is in the console's audit log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import aiohttp

log = logging.getLogger(__name__)


class CaseServiceError(Exception):
    """The case service refused or could not be reached; `message` is for staff (Chinese)."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.message, self.status = message, status


class InboxClient:
    def __init__(self, case_url: str, staff_token: str) -> None:
        self.case_url = case_url.rstrip("/")
        self.token = staff_token

    async def _call(self, method: str, path: str, *, timeout: float = 15, **kwargs):
        if not self.token:
            raise CaseServiceError("未配置办件系统的工作人员令牌（GOVBOT_CASE_STAFF_TOKEN），无法读取人工服务。", 503)
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
                async with session.request(method, f"{self.case_url}{path}", headers=headers, **kwargs) as response:
                    body = await response.json(content_type=None)
                    if response.status >= 400:
                        message = (body or {}).get("error", {}).get("message") if isinstance(body, dict) else None
                        raise CaseServiceError(message or f"办件系统返回错误（HTTP {response.status}）", response.status)
                    return body
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            log.error("case service call failed: %s", type(exc).__name__)
            raise CaseServiceError("暂时连不上办件系统，请稍后刷新重试。") from None

    async def open_handoffs(self) -> list[dict]:
        body = await self._call("GET", "/cases", params={"kind": "handoff", "status": "received", "limit": "200"})
        return list(body.get("items") or [])

    async def case(self, tracking_number: str) -> dict:
        return await self._call("GET", f"/cases/{tracking_number}")

    async def messages(self, tracking_number: str) -> list[dict]:
        body = await self._call("GET", f"/cases/{tracking_number}/messages")
        return list(body.get("items") or [])

    async def feed(self, after: int, wait: int = 20) -> tuple[list[dict], int]:
        body = await self._call("GET", "/handoff-messages", params={"after": str(after), "wait": str(wait)}, timeout=wait + 15)
        last = body.get("last_id")
        return list(body.get("items") or []), int(last) if isinstance(last, int) else after

    async def reply(self, tracking_number: str, text: str, author: str) -> dict:
        return await self._call("POST", f"/cases/{tracking_number}/messages", json={"text": text, "author": author})

    async def end(self, tracking_number: str, note: str) -> dict:
        return await self._call("POST", f"/cases/{tracking_number}/transitions", json={"action": "close", "note": note})


def waiting_minutes(since: str | None, now: dt.datetime | None = None) -> int:
    """Whole minutes since an ISO time (the handoff's receipt or the person's last unanswered message)."""
    if not since:
        return 0
    try:
        moment = dt.datetime.fromisoformat(since)
    except ValueError:
        return 0
    now = now or dt.datetime.now(dt.timezone.utc)
    return max(0, int((now - moment).total_seconds() // 60))
