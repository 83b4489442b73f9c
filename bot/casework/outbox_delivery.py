"""Delivery: sending what the outbox holds to the agency's case system (bot.casework.outbox is the store).

`deliver_now` tries one entry once, right away, so the person usually gets the tracking number in the
same turn; `Deliverer` is the background task that delivers whatever is still pending — in order, with
exponential backoff and jitter — and picks everything up again after a restart. Both claim an entry
with a lease before sending it (`Outbox.claim`), send it through the outbox's case client with the
entry's idempotency key, and record the outcome in the store. A request the case system refuses (HTTP
4xx) is marked `rejected` with its status and error code and not retried; a wrong bot token or URL
(401/403/404/405) is a configuration problem and stays pending.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid

from bot.casework.case_client import CaseAuthRejected, CaseRejected, CaseSystemUnavailable, key_prefix
from bot.casework.outbox import CONFIGURATION_STATUSES, Outbox, OutboxEntry, checkpoint_pending

log = logging.getLogger(__name__)


async def send(outbox: Outbox, entry: OutboxEntry, worker: str, timeout: float | None) -> str:
    """Send one claimed entry and record the outcome: 'delivered', 'rejected' or 'retry'."""
    try:
        case = await outbox.client.create_case(entry.payload, entry.idempotency_key, timeout=timeout)
    except CaseAuthRejected as exc:
        log.error("outbox: case system refused the bot token (HTTP %s); entry %s stays pending", exc.status, entry.id)
        await asyncio.to_thread(outbox.mark_retry, entry, worker, exc)
        return "retry"
    except CaseRejected as exc:
        if exc.status in CONFIGURATION_STATUSES:
            log.error("outbox: HTTP %s from the case system — check GOVBOT_CASE_URL; entry %s stays pending", exc.status, entry.id)
            await asyncio.to_thread(outbox.mark_retry, entry, worker, exc)
            return "retry"
        await asyncio.to_thread(outbox.mark_rejected, entry, exc)
        log.warning(
            "outbox: %s entry %s key %s rejected (%s), not retried",
            entry.kind, entry.id, key_prefix(entry.idempotency_key), exc.summary,
        )
        raise
    except CaseSystemUnavailable as exc:
        await asyncio.to_thread(outbox.mark_retry, entry, worker, exc)
        return "retry"
    except asyncio.CancelledError:
        # Deadline hit mid-request. Free the lease without waiting (the case may or may not exist: the
        # idempotency key makes the next attempt safe either way).
        asyncio.get_running_loop().run_in_executor(None, outbox.release, entry.id, worker)
        raise
    except Exception as exc:  # a bug or a malformed answer: keep the entry, retry later
        log.exception("outbox: unexpected error delivering entry %s", entry.id)
        await asyncio.to_thread(outbox.mark_retry, entry, worker, exc)
        return "retry"
    await asyncio.to_thread(outbox.mark_delivered, entry, case)
    log.info(
        "outbox: %s entry %s key %s delivered as %s (attempt %s)",
        entry.kind, entry.id, key_prefix(entry.idempotency_key), case["tracking_number"], entry.attempts,
    )
    return "delivered"


async def deliver_now(outbox: Outbox, idempotency_key: str, timeout: float = 5.0) -> str | None:
    """Try to deliver one entry within `timeout` seconds, for the person waiting in this turn.

    Returns the tracking number, or None when the case system did not answer in time (the entry stays
    pending and the `Deliverer` carries on). Raises `CaseRejected` if the case system refused the
    request, now or earlier, and KeyError for an unknown key.
    """
    deadline = time.monotonic() + timeout
    try:
        return await asyncio.wait_for(_deliver_now(outbox, idempotency_key, deadline), timeout)
    except asyncio.TimeoutError:
        log.info("outbox: key %s not delivered within %.1fs; left to the deliverer", key_prefix(idempotency_key), timeout)
        return None


async def _deliver_now(outbox: Outbox, key: str, deadline: float) -> str | None:
    worker = f"now-{uuid.uuid4().hex[:12]}"
    while True:
        entry = await asyncio.to_thread(outbox.claim, worker, key)
        if entry is None:
            current = await asyncio.to_thread(outbox.status, key)
            if current is None:
                raise KeyError(f"no outbox entry for key {key_prefix(key)}")
            if current.delivered:
                return current.tracking_number
            if current.rejected:
                raise CaseRejected(current.last_error or "rejected", status=current.last_http_status or 400)
            # Someone else holds the lease: wait for their result.
            if time.monotonic() + 0.2 >= deadline:
                return None
            await asyncio.sleep(0.2)
            continue
        # Leave a little of the budget for recording the outcome.
        remaining = deadline - time.monotonic() - 0.05
        if remaining <= 0:
            await asyncio.to_thread(outbox.release, entry.id, worker)
            return None
        outcome = await send(outbox, entry, worker, timeout=remaining)
        if outcome == "delivered":
            current = await asyncio.to_thread(outbox.status, key)
            return current.tracking_number if current else None
        return None


class Deliverer:
    """Background task delivering pending entries, oldest first, until stopped.

    Start it in the action server's event loop (`deliverer.start()`); on start it picks up everything
    pending, including entries left by a crashed process once their lease expires. While the case system
    is unavailable it backs off exponentially (outbox.retry_base doubling to outbox.retry_cap, jittered);
    each entry also carries its own next_attempt_at, so several deliverers sharing one outbox spread out.
    """

    def __init__(
        self, outbox: Outbox, *, poll_interval: float = 1.0, worker_id: str | None = None, expiry_interval: float = 3600.0
    ) -> None:
        self.outbox = outbox
        self.poll_interval = poll_interval
        self.worker_id = worker_id or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.delivered = 0
        self.rejected = 0
        self.failures = 0  # consecutive attempts without an answer
        self._task: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._dirty = False  # payloads scrubbed since the last WAL checkpoint
        # Abandoned drafts and old rejected payloads expire when idle (bot.privacy.retention), first on start.
        self.expiry_interval = expiry_interval
        self._last_expiry = float("-inf")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> asyncio.Task:
        if self.running:
            assert self._task is not None
            return self._task
        self._stop, self._wake = asyncio.Event(), asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"outbox-deliverer-{self.worker_id}")
        log.info("outbox deliverer %s started", self.worker_id)
        return self._task

    def wake(self) -> None:
        """Look for due entries now instead of at the next poll (does not cut short a failure backoff)."""
        if self._wake is not None:
            self._wake.set()

    async def stop(self, timeout: float = 5.0) -> None:
        if self._task is None:
            return
        assert self._stop is not None and self._wake is not None
        self._stop.set()
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except asyncio.TimeoutError:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        except Exception:
            pass
        self._task = None
        log.info("outbox deliverer %s stopped", self.worker_id)

    async def run_once(self) -> str | None:
        """Claim and send the oldest due entry: 'delivered', 'rejected', 'retry', or None when none is due."""
        entry = await asyncio.to_thread(self.outbox.claim, self.worker_id)
        if entry is None:
            return None
        try:
            outcome = await send(self.outbox, entry, self.worker_id, timeout=None)
        except CaseRejected:
            self.rejected += 1
            return "rejected"
        if outcome == "delivered":
            self.delivered += 1
            self._dirty = True
        return outcome

    async def _sleep(self, seconds: float, wakeable: bool) -> None:
        assert self._stop is not None and self._wake is not None
        events = [self._stop.wait()] + ([self._wake.wait()] if wakeable else [])
        tasks = [asyncio.ensure_future(e) for e in events]
        try:
            await asyncio.wait(tasks, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
        self._wake.clear()

    async def _run(self) -> None:
        assert self._stop is not None
        while not self._stop.is_set():
            try:
                outcome = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # database unreachable, etc.: keep going
                log.exception("outbox deliverer %s: error while delivering", self.worker_id)
                outcome = "error"
            if outcome in ("delivered", "rejected"):
                self.failures = 0
                continue
            if outcome in ("retry", "error"):
                self.failures += 1
                delay = self.outbox.backoff(self.failures)
                log.info("outbox deliverer %s: case system unavailable, next try in %.1fs", self.worker_id, delay)
                await self._sleep(delay, wakeable=False)
                continue
            # Nothing due: tidy up (a checkpoint that could not finish earlier), then wait for the
            # next poll or a wake-up.
            if time.monotonic() - self._last_expiry >= self.expiry_interval:
                self._last_expiry = time.monotonic()
                await self._expire()
            if self._dirty or checkpoint_pending(self.outbox.engine):
                self._dirty = False
                try:
                    await asyncio.to_thread(self.outbox.checkpoint)
                except Exception:
                    log.warning("outbox deliverer %s: WAL checkpoint failed", self.worker_id, exc_info=True)
            await self._sleep(self.poll_interval, wakeable=True)

    async def _expire(self) -> None:
        """Runs the expiry of drafts and rejected payloads; a failure waits for the next interval."""
        from bot.privacy.retention import expire_personal_data

        try:
            done = await asyncio.to_thread(
                expire_personal_data, self.outbox.engine, table=self.outbox.table.name
            )
        except Exception as exc:
            log.warning("outbox deliverer %s: expiry failed (%s)", self.worker_id, type(exc).__name__)
            return
        if any(done.values()):
            log.info("过期个人数据：删除未提交草稿 %d 个对话，清除被拒请求内容 %d 条", done["drafts"], done["rejected"])

    async def drain(self, timeout: float) -> bool:
        """Wait until nothing is pending (or `timeout` passes); True when drained. For tests and shutdown."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pending, _ = await self.outbox.alag()
            if pending == 0:
                return True
            self.wake()
            await asyncio.sleep(0.05)
        return (await self.outbox.alag())[0] == 0
