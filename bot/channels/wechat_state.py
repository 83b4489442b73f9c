"""Bounded in-memory state of the WeChat channel: replay guard, retry ledger, offered options.

All three live in the Rasa server process and forget entries after a time limit, so memory stays
bounded however many messages arrive. Everything here runs on the server's event loop; no locks
are needed. With several Rasa replicas (GOVBOT_WECHAT_STATE_STORAGE=redis://…) the channel shares
them through wechat_shared_state.py, which falls back to these when Redis is unreachable.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Generic, Hashable, TypeVar

from bot.channels.wechat_format import Option

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ExpiringMap(Generic[K, V]):
    """A dict whose entries expire `ttl` seconds after they are set; at most `max_size` entries.

    When full, the oldest entry is dropped first. Entries are kept in insertion order, and every
    entry lives equally long, so expired entries are always at the front.
    """

    def __init__(self, ttl: float, max_size: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.max_size, self.clock = ttl, max_size, clock
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self.evicted = 0  # entries dropped before they expired (the map was full)

    def _purge(self) -> None:
        now = self.clock()
        while self._data:
            key, (expires, _) = next(iter(self._data.items()))
            if expires > now:
                break
            del self._data[key]

    def get(self, key: K) -> V | None:
        self._purge()
        item = self._data.get(key)
        return item[1] if item else None

    def set(self, key: K, value: V) -> None:
        self._purge()
        self._data.pop(key, None)
        while len(self._data) >= self.max_size:
            self._data.popitem(last=False)
            self.evicted += 1
        self._data[key] = (self.clock() + self.ttl, value)

    def pop(self, key: K) -> V | None:
        self._purge()
        item = self._data.pop(key, None)
        return item[1] if item else None

    def __contains__(self, key: K) -> bool:
        return self.get(key) is not None

    def __len__(self) -> int:
        self._purge()
        return len(self._data)


class ReplayGuard:
    """Remembers (timestamp, nonce) of signed requests; the same pair twice is a replay.

    A request older than the timestamp window is refused anyway, so a pair has to be kept only
    as long as the window is open (twice the tolerance covers clock skew either way).
    """

    def __init__(self, tolerance: float, max_size: int = 100_000) -> None:
        self._seen: ExpiringMap[tuple[str, str], bool] = ExpiringMap(ttl=2 * tolerance + 60, max_size=max_size)

    def first_time(self, timestamp: str, nonce: str) -> bool:
        """True the first time a pair is seen (and remembers it); False for a replay."""
        key = (timestamp, nonce)
        if key in self._seen:
            return False
        self._seen.set(key, True)
        return True

    @property
    def evicted(self) -> int:
        return self._seen.evicted


# States of one incoming message (ledger entry).
RUNNING = "running"  # the bot is working on it
PASSIVE = "passive"  # answered (or to be answered) in the HTTP reply; `reply` holds the text
PUSH = "push"  # answered through the customer-service message API


@dataclass
class Turn:
    """One user message as the channel processes it, shared by WeChat's retries of it."""

    key: str
    state: str = RUNNING
    reply: str = ""  # the passive reply text once state == PASSIVE
    push_requested: bool = False  # a request gave up waiting: the answer must be pushed
    deciding: bool = False  # the decision is being stored in Redis (shared state only)
    decided: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    task: asyncio.Task | None = None


class RetryLedger:
    """Messages by their retry key (MsgId): a retry joins the first delivery, never reruns the bot.

    WeChat retries a message three times within about 15 s when it gets no answer in 5 s; the
    ledger keeps each key for `ttl` seconds, far longer than that.
    """

    def __init__(self, ttl: float = 600, max_size: int = 20_000) -> None:
        self._turns: ExpiringMap[str, Turn] = ExpiringMap(ttl=ttl, max_size=max_size)

    def get(self, key: str) -> Turn | None:
        return self._turns.get(key)

    def add(self, turn: Turn) -> Turn:
        self._turns.set(turn.key, turn)
        return turn


class OptionMemory:
    """The numbered options last offered to each user (OpenID), for a reply of just 「1」."""

    def __init__(self, ttl: float = 3600, max_size: int = 20_000) -> None:
        self._options: ExpiringMap[str, list[Option]] = ExpiringMap(ttl=ttl, max_size=max_size)

    def remember(self, user: str, options: list[Option]) -> None:
        if options:
            self._options.set(user, list(options))
        else:
            self._options.pop(user)

    def take(self, user: str, number: int | None) -> Option | None:
        """The option with this number, if one was offered; the offer is used up either way."""
        options = self._options.pop(user)
        if not options or number is None or not 1 <= number <= len(options):
            return None
        return options[number - 1]
