"""HTTP client for the agency's case system (受理系统), as the action server uses it.

Only three calls: file a case (`POST /cases`, with an idempotency key so a retry never files a
second case), look one up for the applicant (`GET /cases/{tracking_number}?phone_last4=`), and
`GET /health`. Failures come back as two typed errors so callers can decide what to do:

* `CaseSystemUnavailable` — connection refused/reset, timeouts, HTTP 5xx and 429, or a 2xx whose
  body is not the case the contract promises. Try again later with the same idempotency key.
* `CaseRejected` — any other 4xx: the case system looked at the request and said no. Carries the
  HTTP status, the service's error code and message. `CaseAuthRejected` (401/403) is the subclass
  for a wrong or missing bot token — a configuration problem rather than a problem with the request.

Logging never includes personal data: only tracking numbers, kinds, HTTP statuses and the first
eight characters of idempotency keys. Request and response bodies are never logged.

Configuration (environment): `GOVBOT_CASE_URL` (default http://127.0.0.1:8100) and
`GOVBOT_CASE_BOT_TOKEN`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.settings.casework import CaseworkSettings

log = logging.getLogger(__name__)

DEFAULT_CASE_URL = CaseworkSettings.case_url
CONNECT_TIMEOUT = 3.0
TOTAL_TIMEOUT = 10.0
HEALTH_TIMEOUT = 3.0
KEY_MIN_LENGTH, KEY_MAX_LENGTH = 8, 128
_MESSAGE_LIMIT = 300
_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{%d,%d}$" % (KEY_MIN_LENGTH, KEY_MAX_LENGTH))
_FIELD_PATH = re.compile(r"^[A-Za-z0-9_.\[\]-]{1,64}$")


class CaseSystemError(Exception):
    """Base class of the errors `CaseClient` raises.

    `message` is the case service's text (meant for people; do not log it), `code` its machine-readable
    error code, `fields` the request fields it complained about (paths such as "applicant.phone").
    """

    def __init__(
        self, message: str, status: int | None = None, code: str | None = None, fields: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.fields = fields


class CaseSystemUnavailable(CaseSystemError):
    """The case system could not take the request now; retrying with the same key is safe."""


class CaseRejected(CaseSystemError):
    """The case system refused the request (HTTP 4xx other than 429); retrying will not help."""

    status: int

    @property
    def summary(self) -> str:
        """`HTTP 400 invalid_request applicant.phone` — status, error code and field paths: safe to log and store."""
        parts = [f"HTTP {self.status}"] + ([self.code] if self.code else []) + list(self.fields)
        return " ".join(parts)


class CaseLookupLocked(CaseSystemError):
    """Too many failed status look-ups of this number: the case system refuses it for a while."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("lookup locked", status=429, code="lookup_locked")
        self.retry_after = retry_after


class CaseAuthRejected(CaseRejected):
    """401/403: the bot token is missing or wrong. Fix the configuration; the request itself may be fine."""


def key_prefix(key: str) -> str:
    """What of an idempotency key may appear in logs."""
    return (key or "")[:8] + "…"


def validate_key(key: str) -> str:
    """Keys travel in an HTTP header: 8–128 visible ASCII characters."""
    if not isinstance(key, str) or not _KEY_PATTERN.match(key):
        raise ValueError(f"idempotency key must be {KEY_MIN_LENGTH}–{KEY_MAX_LENGTH} visible ASCII characters")
    return key


def _error_details(body: Any) -> tuple[str | None, str, tuple[str, ...]]:
    """(code, message, field paths) from the error body.

    The case service answers {"error": {"code", "message", "details": [{"field", "message"}]}}; flatter
    shapes ({"error": "...", "message"}, {"detail"}) are accepted too.
    """
    fields: tuple[str, ...] = ()
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            code = error.get("code") or error.get("type")
            message = error.get("message") or error.get("detail") or ""
            details = error.get("details")
            if isinstance(details, list):
                fields = tuple(
                    d["field"] for d in details
                    if isinstance(d, dict) and isinstance(d.get("field"), str) and _FIELD_PATH.match(d["field"])
                )[:10]
        else:
            code = body.get("code") or (error if isinstance(error, str) else None)
            message = body.get("message") or body.get("detail") or (error if isinstance(error, str) else "")
        if not isinstance(message, str):
            message = json.dumps(message, ensure_ascii=False)
        code = re.sub(r"[^A-Za-z0-9_.:-]", "", str(code))[:60] if code is not None else None
        return code or None, message[:_MESSAGE_LIMIT], fields
    if isinstance(body, str):
        return None, body[:_MESSAGE_LIMIT], fields
    return None, "", fields


class CaseClient:
    """Async client for the case service. One instance may be shared; it opens its aiohttp session lazily
    in the running event loop (and opens a new one if used from another loop)."""

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        total_timeout: float = TOTAL_TIMEOUT,
    ) -> None:
        self.base_url = (base_url or DEFAULT_CASE_URL).rstrip("/")
        self.token = token or ""
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        if not self.token:
            log.warning("no case-system bot token configured (GOVBOT_CASE_BOT_TOKEN); requests will be refused")

    @classmethod
    def from_env(cls, **kwargs: Any) -> "CaseClient":
        return cls(CaseworkSettings.read("case_url"), CaseworkSettings.read("bot_token"), **kwargs)

    # -- session -----------------------------------------------------------------------------------

    def _timeout(self, total: float | None) -> aiohttp.ClientTimeout:
        total = self.total_timeout if total is None else max(0.05, min(total, self.total_timeout))
        return aiohttp.ClientTimeout(total=total, connect=min(self.connect_timeout, total))

    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            # A session from a loop that has since ended cannot be closed from here; drop it.
            self._session = aiohttp.ClientSession(
                timeout=self._timeout(None),
                headers={"Accept": "application/json"},
                json_serialize=lambda obj: json.dumps(obj, ensure_ascii=False),
            )
            self._session_loop = loop
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            try:
                if self._session_loop is asyncio.get_running_loop():
                    await session.close()
            except RuntimeError:
                pass

    async def __aenter__(self) -> "CaseClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    # -- requests ----------------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> tuple[int, Any]:
        """(status, parsed JSON body or text) for any HTTP answer; CaseSystemUnavailable when there is none."""
        session = self._get_session()
        try:
            async with session.request(
                method, self.base_url + path, timeout=self._timeout(timeout), allow_redirects=False, **kwargs
            ) as response:
                text = await response.text(errors="replace")
                try:
                    body: Any = json.loads(text) if text else None
                except ValueError:
                    body = text
                return response.status, body
        except asyncio.TimeoutError as exc:
            raise CaseSystemUnavailable(f"{what}: timed out") from exc
        except aiohttp.ClientError as exc:
            raise CaseSystemUnavailable(f"{what}: {type(exc).__name__}") from exc
        except OSError as exc:
            raise CaseSystemUnavailable(f"{what}: {type(exc).__name__}") from exc

    @staticmethod
    def _raise_for_status(status: int, body: Any, what: str) -> None:
        if 200 <= status < 300:
            return
        code, message, fields = _error_details(body)
        if status >= 500 or status in (408, 429) or status < 200 or 300 <= status < 400:
            raise CaseSystemUnavailable(f"{what}: HTTP {status}", status=status, code=code)
        error_class = CaseAuthRejected if status in (401, 403) else CaseRejected
        raise error_class(message or f"HTTP {status}", status=status, code=code, fields=fields)

    async def create_case(
        self, payload: dict[str, Any], idempotency_key: str, *, timeout: float | None = None
    ) -> dict[str, Any]:
        """File one case. The same key with the same payload returns the same case (HTTP 200 replay)."""
        validate_key(idempotency_key)
        kind = payload.get("kind")
        headers = {**self._auth(), "Idempotency-Key": idempotency_key}
        try:
            status, body = await self._request(
                "POST", "/cases", what="create case", timeout=timeout, json=payload, headers=headers
            )
        except CaseSystemUnavailable as exc:
            log.info("case system unavailable for %s key %s: %s", kind, key_prefix(idempotency_key), exc)
            raise
        try:
            self._raise_for_status(status, body, "create case")
        except CaseSystemError as exc:
            log.warning(
                "case system answered HTTP %s (%s) for %s key %s",
                status, exc.code or "-", kind, key_prefix(idempotency_key),
            )
            raise
        if not isinstance(body, dict) or not isinstance(body.get("tracking_number"), str) or not body["tracking_number"]:
            log.error("case system answered HTTP %s without a tracking number for key %s", status, key_prefix(idempotency_key))
            raise CaseSystemUnavailable("create case: response without tracking_number", status=status)
        log.info(
            "case %s %s for %s key %s (HTTP %s)",
            body["tracking_number"], "replayed" if status == 200 else "created", kind, key_prefix(idempotency_key), status,
        )
        return body

    async def get_case(
        self, tracking_number: str, phone_last4: str, *, timeout: float | None = None
    ) -> dict[str, Any] | None:
        """The case's status for its applicant; None when unknown or the phone digits do not match."""
        tracking_number = (tracking_number or "").strip()
        phone_last4 = (phone_last4 or "").strip()
        if not tracking_number or len(tracking_number) > 64:
            return None
        if len(phone_last4) != 4 or not phone_last4.isdigit():
            raise ValueError("phone_last4 must be four digits")
        status, body = await self._request(
            "GET",
            f"/cases/{quote(tracking_number, safe='')}",
            what="get case",
            timeout=timeout,
            params={"phone_last4": phone_last4},
            headers=self._auth(),
        )
        if status == 404:
            log.info("case %s: not found or phone digits do not match", tracking_number)
            return None
        error = body.get("error") if isinstance(body, dict) else None
        if status == 429 and isinstance(error, dict) and error.get("code") == "lookup_locked":
            log.info("case %s: look-ups locked after too many failures", tracking_number)
            retry = str(error.get("retry_after") or "")
            raise CaseLookupLocked(int(retry) if retry.isdigit() else 3600)
        self._raise_for_status(status, body, "get case")
        if not isinstance(body, dict):
            raise CaseSystemUnavailable("get case: response is not a JSON object", status=status)
        log.info("case %s looked up: %s", tracking_number, body.get("status"))
        return body

    async def health(self, *, timeout: float = HEALTH_TIMEOUT) -> bool:
        try:
            status, _ = await self._request("GET", "/health", what="health", timeout=timeout)
        except CaseSystemUnavailable:
            return False
        return status == 200
