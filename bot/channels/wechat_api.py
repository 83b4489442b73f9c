"""Client for the two WeChat server APIs the channel needs: access token and customer-service text.

- GET  {api_base}/cgi-bin/token?grant_type=client_credential&appid=…&secret=…
- POST {api_base}/cgi-bin/message/custom/send?access_token=…

The access token is cached and refreshed a few minutes before it expires, or at once when WeChat
says it is invalid or expired (errcode 40001 / 40014 / 42001). One fetch at a time: concurrent
senders wait for the same token. URLs carry the secret or the token, so they are never logged,
and aiohttp errors are reported by class name only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import aiohttp

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.weixin.qq.com"
TOKEN_INVALID_CODES = {40001, 40014, 42001}
SYSTEM_BUSY = -1
REFRESH_MARGIN = 300  # seconds before expiry when a new token is fetched
# What IT staff should know about the errors a customer-service message most often meets.
ERROR_HINTS = {
    40003: "OpenID 无效（不属于本公众号）",
    40125: "AppSecret 错误",
    40164: "调用接口的 IP 不在公众号后台的 IP 白名单中",
    43004: "用户未关注公众号",
    45015: "用户超过 48 小时未与公众号互动，不能再发送客服消息",
    45047: "客服消息下行条数超过上限",
    48001: "公众号没有客服消息接口权限（需为已认证的公众号）",
}


class WeChatApiError(Exception):
    def __init__(self, message: str, errcode: int | None = None) -> None:
        super().__init__(message)
        self.errcode = errcode


class WeChatApi:
    def __init__(
        self,
        app_id: str,
        app_secret: str,
        api_base: str = DEFAULT_API_BASE,
        timeout: float = 10.0,
        attempts: int = 3,
    ) -> None:
        self.app_id, self._secret = app_id, app_secret
        self.api_base = (api_base or DEFAULT_API_BASE).rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.attempts = attempts
        self._session: aiohttp.ClientSession | None = None
        self._token: str = ""
        self._token_expires = 0.0
        self._token_lock: asyncio.Lock | None = None
        self.token_fetches = 0

    @property
    def configured(self) -> bool:
        return bool(self.app_id and self._secret)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # trust_env: an egress proxy from HTTPS_PROXY / NO_PROXY, as government networks often need.
            self._session = aiohttp.ClientSession(timeout=self.timeout, trust_env=True)
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def _call(self, method: str, path: str, params: dict, body: bytes | None = None) -> dict:
        headers = {"Content-Type": "application/json; charset=utf-8"} if body is not None else None
        try:
            async with self._client().request(
                method, f"{self.api_base}{path}", params=params, data=body, headers=headers
            ) as response:
                if response.status != 200:
                    raise WeChatApiError(f"HTTP {response.status}")
                text = await response.text(encoding="utf-8")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise WeChatApiError(f"网络错误 {type(exc).__name__}") from None
        try:
            data = json.loads(text)
        except ValueError:
            raise WeChatApiError("响应不是 JSON") from None
        if not isinstance(data, dict):
            raise WeChatApiError("响应格式有误")
        errcode = int(data.get("errcode") or 0)
        if errcode:
            hint = ERROR_HINTS.get(errcode, str(data.get("errmsg", ""))[:120])
            raise WeChatApiError(f"errcode {errcode}（{hint}）", errcode)
        return data

    async def access_token(self, rejected: str = "") -> str:
        """The cached token, or a new one when it is about to expire or WeChat `rejected` it."""
        if self._token_lock is None:
            self._token_lock = asyncio.Lock()
        async with self._token_lock:
            # Another caller may have refreshed it while this one waited for the lock.
            if self._token and time.monotonic() < self._token_expires and self._token != rejected:
                return self._token
            data = await self._call(
                "GET",
                "/cgi-bin/token",
                {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret},
            )
            token = str(data.get("access_token") or "")
            if not token:
                raise WeChatApiError("响应中没有 access_token")
            lifetime = float(data.get("expires_in") or 7200)
            margin = REFRESH_MARGIN if lifetime > 2 * REFRESH_MARGIN else lifetime / 2
            self._token, self._token_expires = token, time.monotonic() + lifetime - margin
            self.token_fetches += 1
            log.info("微信 access_token 已获取（有效期 %.0f 秒）", lifetime)
            return token

    async def send_text(self, openid: str, content: str) -> None:
        """One customer-service text message; retried on a stale token, a busy server or the network."""
        body = json.dumps(
            {"touser": openid, "msgtype": "text", "text": {"content": content}}, ensure_ascii=False
        ).encode("utf-8")  # WeChat shows \\uXXXX escapes literally: send the characters themselves
        rejected = ""
        for attempt in range(1, self.attempts + 1):
            token = ""
            try:
                token = await self.access_token(rejected=rejected)
                await self._call("POST", "/cgi-bin/message/custom/send", {"access_token": token}, body)
                return
            except WeChatApiError as exc:
                retryable = exc.errcode in TOKEN_INVALID_CODES or exc.errcode in (None, SYSTEM_BUSY)
                if attempt == self.attempts or not retryable:
                    raise
                if exc.errcode in TOKEN_INVALID_CODES:
                    log.info("微信 access_token 已失效（errcode %s），重新获取", exc.errcode)
                    rejected = token
                else:
                    await asyncio.sleep(0.5 * 2 ** (attempt - 1))
