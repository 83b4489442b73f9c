"""Per-sender rate limiting for the public channels (REST, 微信公众号, socket.io).

One person (or script) must not be able to keep the assistant busy for everyone else. Each channel
asks `allow(channel, sender)` before a message reaches Rasa and, when it says no, answers with
RATE_LIMITED_TEXT instead of running the bot. The counting is the `limits` library's moving window:
in process memory by default, in Redis when several Rasa replicas serve one channel (they must then
share the counts).

    GOVBOT_RATE_LIMIT_PER_MINUTE   messages one sender may send per minute on one channel
                                   (default 30; 0 turns rate limiting off)
    GOVBOT_RATE_LIMIT_STORAGE      memory:// (default) or redis://host:port/db

If Redis cannot be reached the message is let through (and a warning logged): a broken counter
must not silence the assistant.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from bot.envvars import env_number

log = logging.getLogger(__name__)

DEFAULT_PER_MINUTE = 30
DEFAULT_STORAGE = "memory://"
RATE_LIMITED_TEXT = "您发送消息过于频繁，请稍后再试。"
NAMESPACE = "govbot-rate"


@dataclass(frozen=True)
class RateLimitConfig:
    per_minute: int = DEFAULT_PER_MINUTE
    storage_url: str = DEFAULT_STORAGE

    @classmethod
    def from_env(cls, environ: dict | None = None) -> "RateLimitConfig":
        env = os.environ if environ is None else environ
        # 0 means no limit.
        per_minute = env_number("GOVBOT_RATE_LIMIT_PER_MINUTE", DEFAULT_PER_MINUTE, integer=True, environ=env)
        storage_url = str(env.get("GOVBOT_RATE_LIMIT_STORAGE", "")).strip() or DEFAULT_STORAGE
        if not storage_url.startswith(("memory://", "redis://", "rediss://", "redis+unix://")):
            raise ValueError(f"环境变量 GOVBOT_RATE_LIMIT_STORAGE 应为 memory:// 或 redis://…，当前为 {storage_url!r}")
        return cls(per_minute=per_minute, storage_url=storage_url)

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0


class SenderRateLimiter:
    """A moving-window limit of `per_minute` messages for each (channel, sender)."""

    def __init__(self, config: RateLimitConfig | None = None) -> None:
        self.config = config or RateLimitConfig.from_env()
        self._item = RateLimitItemPerMinute(max(self.config.per_minute, 1), namespace=NAMESPACE)
        self._storage = storage_from_string(self.config.storage_url) if self.config.enabled else None
        self._limiter = MovingWindowRateLimiter(self._storage) if self._storage is not None else None
        self._in_memory = self.config.storage_url.startswith("memory://")

    def allow(self, channel: str, sender: str) -> bool:
        """Counts this message; False when the sender is over the limit (then it is not counted)."""
        if self._limiter is None:
            return True
        try:
            return self._limiter.hit(self._item, channel, sender)
        except Exception as exc:  # Redis down or unreachable: let the message through
            log.warning("限流计数不可用（%s），本条消息不限流", type(exc).__name__)
            return True

    async def allow_async(self, channel: str, sender: str) -> bool:
        """`allow` without blocking the event loop on a Redis round trip."""
        if self._in_memory or self._limiter is None:
            return self.allow(channel, sender)
        return await asyncio.to_thread(self.allow, channel, sender)

    def retry_after(self, channel: str, sender: str) -> int:
        """Seconds until the sender may send again (at least 1)."""
        if self._limiter is None:
            return 1
        try:
            reset, _remaining = self._limiter.get_window_stats(self._item, channel, sender)
        except Exception:
            return 60
        return max(1, int(reset - time.time()) + 1)

    def reset(self) -> None:
        """Forget every count (tests, or an operator clearing a false alarm)."""
        if self._storage is not None:
            self._storage.reset()


_shared: SenderRateLimiter | None = None
_shared_lock = threading.Lock()


def shared_limiter() -> SenderRateLimiter:
    """The process-wide limiter, built from the environment on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SenderRateLimiter()
            config = _shared.config
            if config.enabled:
                where = "进程内存" if _shared._in_memory else "Redis"
                log.info("按发送者限流：每分钟 %d 条（计数存于%s）", config.per_minute, where)
            else:
                log.info("按发送者限流已关闭（GOVBOT_RATE_LIMIT_PER_MINUTE=0）")
        return _shared


async def allow(channel: str, sender: str) -> bool:
    """Whether `sender` may send one more message on `channel` now (the message is counted)."""
    return await shared_limiter().allow_async(channel, sender)
