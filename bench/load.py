"""An aiohttp load generator for Rasa's REST channel: sequential and closed-loop concurrent senders."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Sequence

import aiohttp

REST_PATH = "/webhooks/rest/webhook"


@dataclass
class Samples:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    errors: int = 0
    seconds: float = 0.0


async def _post(session: aiohttp.ClientSession, url: str, sender: str, text: str) -> float:
    """One REST turn; raises unless Rasa answered 200 with at least one bot message."""
    start = time.perf_counter()
    async with session.post(url, json={"sender": sender, "message": text}) as response:
        body = await response.json(content_type=None)
        if response.status != 200 or not body:
            raise RuntimeError(f"HTTP {response.status}: {str(body)[:200]}")
    return time.perf_counter() - start


def _session(concurrency: int, timeout: float) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=max(concurrency, 1) + 2)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout))


async def sequential(
    base_url: str,
    messages: Sequence[str],
    n: int,
    fresh_sender_every: int = 1,
    on_done: Callable[[], None] | None = None,
    timeout: float = 60.0,
) -> Samples:
    """n requests one after another, cycling through `messages`; a new conversation every few turns."""
    samples = Samples()
    url = base_url.rstrip("/") + REST_PATH
    cycle = itertools.cycle(messages)
    sender = ""
    async with _session(1, timeout) as session:
        start = time.perf_counter()
        for i in range(n):
            if i % fresh_sender_every == 0:
                sender = f"bench-{uuid.uuid4().hex[:12]}"
            try:
                samples.latencies.append(await _post(session, url, sender, next(cycle)))
            except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError):
                samples.errors += 1
            if on_done:
                on_done()
        samples.seconds = time.perf_counter() - start
    return samples


async def concurrent(
    base_url: str,
    scripts: Sequence[Sequence[str]],
    senders: int,
    duration: float,
    warmup: float = 1.0,
    timeout: float = 60.0,
) -> Samples:
    """`senders` closed-loop conversations (sender i replays scripts[i % len]) for `duration` seconds after a warm-up.

    Each sender waits for its answer before sending the next message (like a person, only faster);
    only requests completing inside the measured window are counted.
    """
    samples = Samples()
    url = base_url.rstrip("/") + REST_PATH
    loop_start = time.perf_counter()
    measure_from = loop_start + warmup
    deadline = measure_from + duration

    async def sender(index: int) -> None:
        script = scripts[index % len(scripts)]
        conversation = f"bench-{index}-{uuid.uuid4().hex[:8]}"
        for turn in itertools.count():
            now = time.perf_counter()
            if now >= deadline:
                return
            if turn and turn % len(script) == 0:
                conversation = f"bench-{index}-{uuid.uuid4().hex[:8]}"
            try:
                latency = await _post(session, url, conversation, script[turn % len(script)])
                ok = True
            except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError):
                latency, ok = 0.0, False
            # Counted when it completes inside the window: messages/s = completions / duration.
            if measure_from <= time.perf_counter() <= deadline:
                if ok:
                    samples.latencies.append(latency)
                else:
                    samples.errors += 1

    async with _session(senders, timeout) as session:
        await asyncio.gather(*(sender(i) for i in range(senders)))
    samples.seconds = duration
    return samples
