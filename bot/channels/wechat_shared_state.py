"""The WeChat channel's state in Redis, shared by every Rasa replica (production profile).

Behind a round-robin balancer a WeChat retry, a replayed request or the reply 「1」 can reach a
different replica than the message before it, so the in-process state of wechat_state.py is not
enough there. With GOVBOT_WECHAT_STATE_STORAGE=redis://host:port/db the channel keeps, under
`{GOVBOT_REDIS_KEY_PREFIX}:wechat:`:

    replay:{timestamp}:{hash of nonce}   SET NX EX: the first replica to see a pair accepts it
    turn:{OpenID}:{MsgId}                SET NX EX 6 "running:{replica}": the replica that claims
                                         a message runs the bot, renewing the 6-second lease while it
                                         does; it then replaces the value with its decision (kept
                                         600 s), JSON {"state": "passive", "reply": …} or "push"
    push:{OpenID}:{MsgId}                a replica that gave up waiting for another's decision: the
                                         answer must go out through the customer-service API
    options:{OpenID}                     JSON list of the numbered options offered, taken by GETDEL

The owner's decision and a waiter's giving up are each one Lua script, so either the waiter reads
the passive reply or the owner sees the push flag, never neither and never both: an answer goes
out exactly once. Same-process retries still join the local Turn (wechat_state.RetryLedger).

An owner that dies (SIGKILL, a crashed machine) stops renewing its lease: the claim expires within
CLAIM_LEASE seconds and the replica holding a retry then claims the message and runs the bot itself
(OWNER_LOST), answering passively or, if a retry already gave up waiting, by push. An owner that
only stalled that long may then also answer: the bot may run twice, which is better than never.

Redis unreachable: every operation falls back to this process's in-memory state (with a warning,
at most one every 30 s) and Redis is not tried again for a few seconds, so a broken Redis never
fails or stalls a person's message; it only loses the sharing between replicas meanwhile.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar

from bot.channels.wechat_format import Option
from bot.channels.wechat_state import PASSIVE, PUSH, OptionMemory, ReplayGuard

log = logging.getLogger(__name__)

T = TypeVar("T")

LEDGER_TTL = 600  # seconds a decision and a push flag are kept (WeChat retries within ~15 s)
CLAIM_LEASE = 6  # seconds a running claim lives unless its owner renews it
RENEW_EVERY = 2.0  # seconds between an owner's renewals
OPTIONS_TTL = 3600  # as OptionMemory
POLL_INTERVAL = 0.05  # seconds between a waiter's reads of the owner's decision
RETRY_AFTER_FAILURE = 5.0  # seconds Redis is not tried after an error
WARN_EVERY = 30.0  # seconds between two "Redis unavailable" warnings
RUNNING_PREFIX = "running:"

# KEYS: turn, push flag. ARGV: the owner's decision (JSON), the push decision (JSON), ttl.
# The owner's answer goes out passively only if no other replica gave up waiting for it.
_DECIDE = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return ARGV[2]
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return ARGV[1]
"""

# KEYS: turn, push flag. ARGV: ttl, RUNNING_PREFIX, LOST. The decision if there is one; LOST if the
# claim is gone (its owner died); otherwise raise the push flag, which the owner's _DECIDE will see.
_GIVE_UP = """
local current = redis.call('GET', KEYS[1])
if not current then
  return ARGV[3]
end
if string.sub(current, 1, string.len(ARGV[2])) ~= ARGV[2] then
  return current
end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[1])
return false
"""

# KEYS: turn. ARGV: this replica's running value, lease. Extends the lease only while it is ours.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_LOST = "lost"
# What settle() returns when the owner's claim expired without a decision: claim it and run the bot.
OWNER_LOST = object()


class RedisStore:
    """One async Redis client for the channel, with the fallback bookkeeping.

    The client is made on first use, inside the server's event loop (redis.asyncio connections
    belong to the loop that opened them).
    """

    def __init__(self, url: str, key_prefix: str = "govbot", password: str = "", timeout: float = 1.0) -> None:
        self.url, self.password, self.timeout = url, password, timeout
        self.prefix = f"{key_prefix or 'govbot'}:wechat"
        self.replica = uuid.uuid4().hex[:12]  # names this process in its claims
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._down_until = 0.0
        self._warned_at = -WARN_EVERY
        self.failures = 0  # operations that fell back to memory (tests, diagnostics)

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            import redis.asyncio as redis

            # The password from the URL wins; otherwise GOVBOT_REDIS_PASSWORD (kept out of URLs and logs).
            extra = {"password": self.password} if self.password and "@" not in self.url else {}
            self._client = redis.from_url(
                self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout, **extra
            )
            self._loop = loop
        return self._client

    async def run(self, what: str, operation: Callable[[Any], Awaitable[T]], fallback: Callable[[], T]) -> T:
        """`operation(client)`, or `fallback()` when Redis fails or failed a moment ago."""
        if time.monotonic() < self._down_until:
            self.failures += 1
            return fallback()
        try:
            return await operation(self.client())
        except Exception as exc:  # redis errors, timeouts, refused connections: never fail the message
            self.failures += 1
            self._down_until = time.monotonic() + RETRY_AFTER_FAILURE
            if time.monotonic() - self._warned_at >= WARN_EVERY:
                self._warned_at = time.monotonic()
                log.warning("微信渠道共享状态（Redis）不可用（%s，%s），暂用本进程内存", type(exc).__name__, what)
            return fallback()

    async def close(self) -> None:
        if self._client is not None:
            try:
                await self._client.close()
                await self._client.connection_pool.disconnect()
            except Exception:
                pass
        self._client = None


class RedisReplayGuard:
    """ReplayGuard across replicas: a (timestamp, nonce) pair is accepted once by all of them."""

    def __init__(self, store: RedisStore, fallback: ReplayGuard, tolerance: float) -> None:
        self.store, self.fallback = store, fallback
        self.ttl = int(2 * tolerance + 60)

    async def first_time(self, timestamp: str, nonce: str) -> bool:
        # The nonce is whatever the request carried: hash it to keep keys short.
        key = self.store.key("replay", timestamp, hashlib.sha256(nonce.encode("utf-8", "replace")).hexdigest()[:32])

        async def claim(client: Any) -> bool:
            return bool(await client.set(key, b"1", nx=True, ex=self.ttl))

        return await self.store.run("重放检查", claim, lambda: self.fallback.first_time(timestamp, nonce))


class RedisOptionMemory:
    """OptionMemory across replicas: options offered by one replica can be picked on another."""

    def __init__(self, store: RedisStore, fallback: OptionMemory, ttl: int = OPTIONS_TTL) -> None:
        self.store, self.fallback, self.ttl = store, fallback, ttl

    async def remember(self, user: str, options: list[Option]) -> None:
        key = self.store.key("options", user)

        async def save(client: Any) -> None:
            if options:
                data = json.dumps([[o.title, o.payload] for o in options], ensure_ascii=False)
                await client.set(key, data.encode("utf-8"), ex=self.ttl)
            else:
                await client.delete(key)
            self.fallback.remember(user, [])  # a stale local offer must not outlive the shared one

        await self.store.run("记录选项", save, lambda: self.fallback.remember(user, options))

    async def take(self, user: str, number: int | None) -> Option | None:
        """As OptionMemory.take: the offer is used up either way."""
        key = self.store.key("options", user)
        local = self.fallback.take(user, number)  # offered while Redis was down, if at all

        async def take(client: Any) -> Option | None:
            raw = await client.getdel(key)
            if raw is None:
                return local
            try:
                options = [Option(str(title), str(payload)) for title, payload in json.loads(raw)]
            except (ValueError, TypeError):
                return local
            if number is None or not 1 <= number <= len(options):
                return None
            return options[number - 1]

        return await self.store.run("读取选项", take, lambda: local)


@dataclass(frozen=True)
class Decision:
    state: str  # PASSIVE or PUSH
    reply: str = ""

    def encode(self) -> bytes:
        return json.dumps({"state": self.state, "reply": self.reply}, ensure_ascii=False).encode("utf-8")

    @classmethod
    def decode(cls, raw: bytes | str | None) -> "Decision | None":
        """The decision stored in a turn key; None while the owner is still running the bot."""
        if raw is None:
            return None
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if text.startswith(RUNNING_PREFIX):
            return None
        try:
            data = json.loads(text)
            state = data["state"] if data["state"] in (PASSIVE, PUSH) else PASSIVE
            return cls(state, str(data.get("reply") or ""))
        except (ValueError, TypeError, KeyError):
            return cls(PASSIVE, "")


class RedisRetryLedger:
    """Which replica runs the bot for a message (OpenID:MsgId) and how its answer goes out.

    The in-memory RetryLedger still holds the owner's Turn; this adds the claim and the decision
    that other replicas see.
    """

    def __init__(self, store: RedisStore, ttl: int = LEDGER_TTL, lease: int = CLAIM_LEASE) -> None:
        self.store, self.ttl, self.lease = store, ttl, lease

    def _keys(self, key: str) -> tuple[str, str]:
        return self.store.key("turn", key), self.store.key("push", key)

    def _running(self) -> bytes:
        return f"{RUNNING_PREFIX}{self.store.replica}".encode()

    async def claim(self, key: str) -> bool:
        """True when this replica is the first to see the message and must run the bot.

        Without Redis every replica runs its own deliveries, as in the in-memory mode.
        """
        turn, _ = self._keys(key)

        async def claim(client: Any) -> bool:
            return bool(await client.set(turn, self._running(), nx=True, ex=self.lease))

        return await self.store.run("认领消息", claim, lambda: True)

    async def renew(self, key: str) -> bool:
        """Extends this replica's claim while it runs the bot; False once the claim is not ours."""
        turn, _ = self._keys(key)

        async def renew(client: Any) -> bool:
            script = client.register_script(_RENEW)
            return bool(await script(keys=[turn], args=[self._running(), self.lease]))

        return await self.store.run("续期认领", renew, lambda: True)

    async def decide(self, key: str, decision: Decision) -> Decision:
        """The owner's decision, turned into PUSH if another replica gave up waiting for it."""
        turn, flag = self._keys(key)

        async def decide(client: Any) -> Decision:
            script = client.register_script(_DECIDE)
            raw = await script(keys=[turn, flag], args=[decision.encode(), Decision(PUSH).encode(), self.ttl])
            return Decision.decode(raw) or decision

        return await self.store.run("记录处理结果", decide, lambda: decision)

    async def settle(self, key: str, wait: float) -> Any:
        """The owner's decision, waiting up to `wait` seconds for it; OWNER_LOST if its claim expired
        undecided; None if it was not made in time (the owner is then told to push the answer) or
        cannot be read."""
        turn, flag = self._keys(key)

        async def settle(client: Any) -> Any:
            deadline = time.monotonic() + max(0.0, wait)
            while True:
                raw = await client.get(turn)
                if raw is None:
                    return OWNER_LOST
                decision = Decision.decode(raw)
                if decision is not None:
                    return decision
                if time.monotonic() + POLL_INTERVAL > deadline:
                    break
                await asyncio.sleep(POLL_INTERVAL)
            script = client.register_script(_GIVE_UP)
            raw = await script(keys=[turn, flag], args=[self.ttl, RUNNING_PREFIX, _LOST])
            return OWNER_LOST if raw in (_LOST, _LOST.encode()) else Decision.decode(raw)

        return await self.store.run("等待其他副本的处理结果", settle, lambda: None)


class SharedWeChatState:
    """The Redis-backed replay guard, retry ledger and option memory of one channel instance."""

    def __init__(
        self, store: RedisStore, replays: ReplayGuard, options: OptionMemory, tolerance: float
    ) -> None:
        self.store = store
        self.replays = RedisReplayGuard(store, replays, tolerance)
        self.ledger = RedisRetryLedger(store)
        self.options = RedisOptionMemory(store, options)

    @classmethod
    def create(
        cls, url: str, key_prefix: str, password: str, replays: ReplayGuard, options: OptionMemory, tolerance: float
    ) -> "SharedWeChatState | None":
        """None for memory:// (the default): the channel then keeps everything in this process."""
        if not url or url.startswith("memory://"):
            return None
        return cls(RedisStore(url, key_prefix, password), replays, options, tolerance)
