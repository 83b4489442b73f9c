"""Rate limits for the public channels (REST, 微信公众号, socket.io): per sender, per client address,
and a cap on the messages one Rasa process works on at once.

One person (or script) must not be able to keep the assistant busy for everyone else. Each channel
asks `allow(channel, sender)` before a message reaches Rasa and, when it says no, answers with
RATE_LIMITED_TEXT instead of running the bot. A script that makes up a new sender id for every
message is caught by the limit per client address (`allow_address`), which REST (public callers)
and socket.io apply; WeChat is exempt (every message comes from WeChat's servers) and so is REST
called with GOVBOT_REST_TOKEN (a trusted server that speaks for many people). The counting is the
`limits` library's moving window: in process memory by default, in Redis when several Rasa
replicas serve one channel (they must then share the counts). Whatever the counts, no process works
on more than GOVBOT_MAX_CONCURRENT_MESSAGES messages at once (`busy_gate`): the next one is answered
BUSY_TEXT (REST: 429) at once instead of queueing until every reply is late.

    GOVBOT_RATE_LIMIT_PER_MINUTE   messages one sender may send per minute on one channel
                                   (default 30; 0 turns rate limiting off)
    GOVBOT_RATE_LIMIT_PER_ADDRESS  messages one client address may send per minute, public channels
                                   together (default 120; 0 off); IPv6 addresses count per /64
    GOVBOT_TRUSTED_PROXIES         comma-separated addresses or networks of the reverse proxies in
                                   front of Rasa; only their X-Forwarded-For is believed (default none)
    GOVBOT_MAX_CONCURRENT_MESSAGES messages one Rasa process handles at once (default 64; 0 no cap)
    GOVBOT_RATE_LIMIT_STORAGE      memory:// (default) or redis://host:port/db

If Redis cannot be reached the message is let through (and a warning logged): a broken counter
must not silence the assistant.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import threading
import time
from dataclasses import dataclass, field

from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from bot.settings.limits import LimitSettings

log = logging.getLogger(__name__)

DEFAULT_PER_MINUTE = LimitSettings.per_minute
DEFAULT_PER_ADDRESS = LimitSettings.per_address
DEFAULT_MAX_CONCURRENT = LimitSettings.max_concurrent
DEFAULT_STORAGE = LimitSettings.storage_url
RATE_LIMITED_TEXT = "您发送消息过于频繁，请稍后再试。"
BUSY_TEXT = "系统繁忙，请稍后再试。"
BUSY_RETRY_SECONDS = 5
NAMESPACE = "govbot-rate"
ADDRESS_NAMESPACE = "govbot-rate-address"


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_proxies(value: str) -> tuple[Network, ...]:
    """GOVBOT_TRUSTED_PROXIES parsed: addresses or networks, comma-separated."""
    networks = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"环境变量 GOVBOT_TRUSTED_PROXIES 中的 {item!r} 不是 IP 地址或网段") from exc
    return tuple(networks)


@dataclass(frozen=True)
class RateLimitConfig:
    per_minute: int = DEFAULT_PER_MINUTE
    storage_url: str = DEFAULT_STORAGE
    per_address: int = DEFAULT_PER_ADDRESS
    proxies: tuple[Network, ...] = field(default=())
    max_concurrent: int = DEFAULT_MAX_CONCURRENT

    @classmethod
    def from_env(cls, environ: dict | None = None) -> "RateLimitConfig":
        limits = LimitSettings.from_env(environ)
        # 0 means no limit.
        if not limits.storage_url.startswith(("memory://", "redis://", "rediss://", "redis+unix://")):
            raise ValueError(f"环境变量 GOVBOT_RATE_LIMIT_STORAGE 应为 memory:// 或 redis://…，当前为 {limits.storage_url!r}")
        proxies = trusted_proxies(limits.trusted_proxies)
        return cls(limits.per_minute, limits.storage_url, limits.per_address, proxies, limits.max_concurrent)

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0


def client_address(peer: str | None, forwarded_for: str | None, proxies: tuple[Network, ...]) -> str:
    """The address a message came from: the peer, or when the peer is a trusted proxy, the nearest
    X-Forwarded-For entry that is not one (a client can prepend anything, never append)."""

    def trusted(value: str) -> bool:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return False
        return any(address in network for network in proxies)

    peer = (peer or "").strip() or "unknown"
    if not proxies or not trusted(peer):
        return peer
    hops = [hop.strip() for hop in (forwarded_for or "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not trusted(hop):
            return hop[:64]
    return hops[0][:64] if hops else peer


def address_key(address: str) -> str:
    """What one client counts as: an IPv4 address, an IPv6 /64 (one household or host gets a whole /64)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


class SenderRateLimiter:
    """A moving-window limit of `per_minute` messages for each (channel, sender), and of
    `per_address` messages for each client address."""

    def __init__(self, config: RateLimitConfig | None = None) -> None:
        self.config = config or RateLimitConfig.from_env()
        self._item = RateLimitItemPerMinute(max(self.config.per_minute, 1), namespace=NAMESPACE)
        self._address_item = RateLimitItemPerMinute(max(self.config.per_address, 1), namespace=ADDRESS_NAMESPACE)
        needed = self.config.enabled or self.config.per_address > 0
        self._storage = storage_from_string(self.config.storage_url) if needed else None
        self._limiter = MovingWindowRateLimiter(self._storage) if self._storage is not None else None
        self._in_memory = self.config.storage_url.startswith("memory://")

    def allow(self, channel: str, sender: str) -> bool:
        """Counts this message; False when the sender is over the limit (then it is not counted)."""
        if self._limiter is None or not self.config.enabled:
            return True
        try:
            return self._limiter.hit(self._item, channel, sender)
        except Exception as exc:  # Redis down or unreachable: let the message through
            log.warning("限流计数不可用（%s），本条消息不限流", type(exc).__name__)
            return True

    def allow_address(self, address: str) -> bool:
        """Counts this message for its client address; False when that address is over its limit."""
        if self._limiter is None or self.config.per_address <= 0:
            return True
        try:
            return self._limiter.hit(self._address_item, address_key(address))
        except Exception as exc:
            log.warning("限流计数不可用（%s），本条消息不限流", type(exc).__name__)
            return True

    async def allow_address_async(self, address: str) -> bool:
        if self._in_memory or self._limiter is None:
            return self.allow_address(address)
        return await asyncio.to_thread(self.allow_address, address)

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

    def retry_after_address(self, address: str) -> int:
        """Seconds until `address` may send again (at least 1)."""
        if self._limiter is None:
            return 1
        try:
            reset, _remaining = self._limiter.get_window_stats(self._address_item, address_key(address))
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


async def allow_address(address: str) -> bool:
    """Whether `address` may send one more message now (the message is counted)."""
    return await shared_limiter().allow_address_async(address)


class BusyGate:
    """At most `limit` messages in progress in this process (its one event loop); 0 means no cap."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0

    @property
    def full(self) -> bool:
        return self.limit > 0 and self.active >= self.limit

    @contextlib.contextmanager
    def held(self):
        """Counts a message already admitted (e.g. one WeChat retries would otherwise run again)."""
        self.active += 1
        try:
            yield
        finally:
            self.active -= 1

    @contextlib.contextmanager
    def slot(self):
        """Yields True with a slot held until the block ends, or False at once when all are taken."""
        if self.limit > 0 and self.active >= self.limit:
            yield False
            return
        self.active += 1
        try:
            yield True
        finally:
            self.active -= 1


_gate: BusyGate | None = None


def busy_gate() -> BusyGate:
    """The process-wide cap on messages in progress, from GOVBOT_MAX_CONCURRENT_MESSAGES."""
    global _gate
    if _gate is None:
        _gate = BusyGate(shared_limiter().config.max_concurrent)  # one event loop: no race
    return _gate
