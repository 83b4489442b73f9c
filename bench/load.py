"""An aiohttp load generator for Rasa's REST channel: sequential and closed-loop concurrent senders.

A measurement replays *scripts*: short conversations of turns, each in a fresh conversation. Only
the turns marked `measured` count towards latency; unmeasured turns bring the conversation to the
state being measured (「我要申请政府信息公开」→「公民」 before the name slot of the form). A turn may
say what its reply must contain, so a bench never times the wrong path (a fallback instead of the
answer) without saying so: such a reply counts as an error.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import aiohttp

REST_PATH = "/webhooks/rest/webhook"


@dataclass(frozen=True)
class Turn:
    text: str
    measured: bool = True
    # The reply must contain one of these (any reply will do when empty).
    expect: tuple[str, ...] = ()


Script = Sequence[Turn]


def single_turns(messages: Sequence[str], expect: tuple[str, ...] = ()) -> list[list[Turn]]:
    """One measured turn per conversation, for each message."""
    return [[Turn(m, True, expect)] for m in messages]


@dataclass
class Samples:
    latencies: list[float] = field(default_factory=list)  # seconds, successful measured turns only
    errors: int = 0  # measured turns that failed, and scripts abandoned at a failed set-up turn
    seconds: float = 0.0
    turns: int = 0  # every successful turn, set-up turns included (the load the server carried)
    error_examples: list[str] = field(default_factory=list)

    def add(self, other: "Samples") -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.seconds += other.seconds
        self.turns += other.turns
        self.error_examples = (self.error_examples + other.error_examples)[:5]

    def _error(self, exc: BaseException) -> None:
        self.errors += 1
        if len(self.error_examples) < 5:
            self.error_examples.append(f"{type(exc).__name__}: {str(exc)[:160]}")


class UnexpectedReply(RuntimeError):
    """Rasa answered, but not with what the measured path answers."""


async def _post(session: aiohttp.ClientSession, url: str, sender: str, turn: Turn) -> float:
    """One REST turn; raises unless Rasa answered 200 with at least one bot message (the expected one)."""
    start = time.perf_counter()
    from bench.servers import REST_AUTH

    async with session.post(url, json={"sender": sender, "message": turn.text}, headers=REST_AUTH) as response:
        body = await response.json(content_type=None)
        if response.status != 200 or not body:
            raise RuntimeError(f"HTTP {response.status}: {str(body)[:200]}")
    elapsed = time.perf_counter() - start
    if turn.expect:
        text = "\n".join(str(m.get("text") or "") for m in body if isinstance(m, dict))
        if not any(e in text for e in turn.expect):
            raise UnexpectedReply(f"{turn.text!r} → {text[:120]!r}")
    return elapsed


_FAILURES = (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError, ValueError)


def _session(concurrency: int, timeout: float) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=max(concurrency, 1) + 2)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout))


def _conversation(prefix: str = "bench") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def sequential(
    base_url: str,
    scripts: Sequence[Script],
    n: int,
    on_done: Callable[[], None] | None = None,
    timeout: float = 60.0,
) -> Samples:
    """Scripts one after another (cycling through `scripts`), each in a new conversation, until n
    measured turns were sent (a script may be cut short)."""
    samples = Samples()
    url = base_url.rstrip("/") + REST_PATH
    cycle = itertools.cycle(scripts)
    sent = 0
    async with _session(1, timeout) as session:
        start = time.perf_counter()
        while sent < n:
            sender = _conversation()
            for turn in next(cycle):
                if sent >= n:
                    break
                sent += turn.measured
                try:
                    latency = await _post(session, url, sender, turn)
                except _FAILURES as exc:
                    samples._error(exc)
                    sent += not turn.measured  # a failed opening counts as a try: no endless loop
                    break
                samples.turns += 1
                if turn.measured:
                    samples.latencies.append(latency)
                    if on_done:
                        on_done()
        samples.seconds = time.perf_counter() - start
    return samples


async def concurrent(
    base_url: str,
    scripts: Sequence[Script],
    senders: int,
    duration: float,
    warmup: float = 1.0,
    timeout: float = 60.0,
) -> Samples:
    """`senders` closed-loop senders for `duration` seconds after a warm-up (see the window below).

    Each sender plays one script after another, each in a new conversation, taking the next script
    from one queue shared by all senders (so questions differ across senders), and waits for every
    answer before sending its next message (like a person, only faster). Only turns completing inside
    the measured window count: measured turns/s = `len(latencies) / duration`.
    """
    samples = Samples()
    url = base_url.rstrip("/") + REST_PATH
    queue: Iterator[Script] = itertools.cycle(scripts)
    started = time.perf_counter()
    # The window opens after the warm-up and once every sender has had a timed turn answered (or
    # gave up on one), so long untimed openings at 50 senders do not eat the window; at most 60 s.
    window = {"from": math.inf, "to": math.inf}
    served: set[int] = set()

    def open_window_if_ready() -> None:
        now = time.perf_counter()
        if window["from"] == math.inf and (len(served) == senders or now - started > 60):
            window["from"] = max(now, started + warmup)
            window["to"] = window["from"] + duration

    def in_window() -> bool:
        return window["from"] <= time.perf_counter() <= window["to"]

    async def sender(index: int) -> None:
        while time.perf_counter() < window["to"]:
            conversation = _conversation(f"bench-{index}")
            for turn in next(queue):
                if time.perf_counter() >= window["to"]:
                    return
                try:
                    latency = await _post(session, url, conversation, turn)
                except _FAILURES as exc:
                    if in_window():
                        samples._error(exc)
                    served.add(index)
                    open_window_if_ready()
                    break
                if in_window():
                    samples.turns += 1
                    if turn.measured:
                        samples.latencies.append(latency)
                if turn.measured:
                    served.add(index)
                open_window_if_ready()

    async with _session(senders, timeout) as session:
        await asyncio.gather(*(sender(i) for i in range(senders)))
    samples.seconds = duration
    return samples
