"""The outbox against the real case service: real processes, real HTTP, real SQLite and PostgreSQL.

The case service (`python -m bot.case_service`) runs as a subprocess on a free loopback port with its
own SQLite file; "down" means not started or killed with SIGKILL. Cases are counted straight from the
case service's database, so a duplicate filing could not hide behind the API.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from bot.casework.case_client import CaseClient, CaseRejected, CaseSystemUnavailable
from bot.casework.outbox import (
    DELIVERED,
    PENDING,
    REJECTED,
    Outbox,
    derive_idempotency_key,
    new_idempotency_key,
)
from bot.casework.outbox_delivery import Deliverer, deliver_now
from tests.conftest import service_missing

ROOT = Path(__file__).resolve().parent.parent
BOT_TOKEN = "bot-token-" + uuid.uuid4().hex
STAFF_TOKEN = "staff-token-" + uuid.uuid4().hex
TRACKING = re.compile(r"^(GK|TS|JY|RG)\d{12,}$")
ID_NUMBER = "11010519491231002X"
PG_URL = os.environ.get("GOVBOT_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")

# Fast retries for tests; production defaults are 1 s doubling to 5 min.
FAST = dict(retry_base=0.1, retry_cap=0.8)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def payload(i: int, conversation_id: str | None = None) -> dict:
    return {
        "channel": "rest",
        "conversation_id": conversation_id or f"conv-{i}",
        "applicant": {"name": "张三", "phone": f"13800{i:06d}", "id_number": ID_NUMBER},
        "request": {"description": f"申请公开本机关 2025 年第 {i} 号文件", "delivery": "电子邮件"},
        "transcript": [{"role": "user", "text": "我要申请政府信息公开"}, {"role": "bot", "text": "请确认提交"}],
    }


class CaseService:
    """The reference case service as a subprocess; restartable on the same port and database file."""

    def __init__(self, directory: Path) -> None:
        self.db_path = directory / "cases.db"
        self.database_url = f"sqlite:///{self.db_path}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = directory / "case-service.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> None:
        env = dict(os.environ, GOVBOT_CASE_BOT_TOKEN=BOT_TOKEN, GOVBOT_CASE_STAFF_TOKEN=STAFF_TOKEN)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.case_service", "--port", str(self.port), "--database-url", self.database_url],
            cwd=ROOT, env=env, stdout=open(self.log, "a"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"case service exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"case service not up after {timeout}s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, in-flight requests cut off."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def cases(self) -> list[tuple[str, str]]:
        """(idempotency_key, tracking_number) of every case, read from the service's own database."""
        if not self.db_path.exists():
            return []
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text("SELECT idempotency_key, tracking_number FROM cases"))]
        finally:
            engine.dispose()


@pytest.fixture
def service(tmp_path):
    svc = CaseService(tmp_path)
    yield svc
    svc.stop()


def make_outbox(tmp_path: Path, service: CaseService, name: str = "outbox.db", token: str = BOT_TOKEN, **kwargs) -> Outbox:
    client = CaseClient(service.url, token)
    return Outbox(f"sqlite:///{tmp_path / name}", client, **{**FAST, **kwargs})


def assert_exactly_once(service: CaseService, outbox: Outbox, keys: list[str]) -> None:
    cases = service.cases()
    by_key = {}
    for key, tracking in cases:
        assert key not in by_key, f"two cases for one key {key[:8]}"
        by_key[key] = tracking
    assert set(by_key) == set(keys)
    assert len({tracking for _, tracking in cases}) == len(keys) == len(cases)
    for key in keys:
        entry = outbox.status(key)
        assert entry is not None and entry.status == DELIVERED, (key[:8], entry)
        assert entry.tracking_number == by_key[key]


def assert_no_personal_data_logged(caplog, body: dict) -> None:
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "outbox:" in logged  # the capture works
    for secret in (body["applicant"].get("phone"), ID_NUMBER, body["applicant"]["name"], body["request"]["description"]):
        if secret:
            assert secret not in logged


def test_deliver_now_returns_tracking_number_and_scrubs_payload(tmp_path, service, caplog):
    caplog.set_level(logging.DEBUG)
    service.start()
    outbox = make_outbox(tmp_path, service)
    key = new_idempotency_key()
    body = payload(7)
    entry = outbox.enqueue("disclosure", body, key)
    assert entry.status == PENDING and entry.attempts == 0 and entry.payload["applicant"]["id_number"] == ID_NUMBER

    async def scenario():
        try:
            assert await outbox.client.health()
            tracking = await deliver_now(outbox, key, timeout=5)
            found = await outbox.client.get_case(tracking, body["applicant"]["phone"][-4:])
            wrong = await outbox.client.get_case(tracking, "0000")
            return tracking, found, wrong
        finally:
            await outbox.client.close()

    tracking, found, wrong = asyncio.run(scenario())
    assert TRACKING.match(tracking) and tracking.startswith("GK")
    assert found["tracking_number"] == tracking and found["kind"] == "disclosure" and found["status"] == "received"
    assert wrong is None

    entry = outbox.status(key)
    assert entry.status == DELIVERED and entry.tracking_number == tracking and entry.attempts == 1
    assert entry.delivered_at is not None and entry.last_error is None
    # Scrubbed: only kind, channel and conversation id stay in the outbox.
    assert entry.payload == {"kind": "disclosure", "channel": "rest", "conversation_id": "conv-7"}
    assert outbox.entries_for_conversation("conv-7")[0].tracking_number == tracking
    assert outbox.lag() == (0, 0.0)
    assert service.cases() == [(key, tracking)]

    # …and not left behind in the SQLite files either (secure_delete + WAL truncation).
    outbox.checkpoint()
    outbox.close()
    files = b"".join(p.read_bytes() for p in tmp_path.glob("outbox.db*"))
    assert ID_NUMBER.encode() not in files
    assert body["applicant"]["phone"].encode() not in files
    assert "张三".encode() not in files
    assert_no_personal_data_logged(caplog, body)


def test_same_key_twice_is_one_request_and_one_case(tmp_path, service):
    service.start()
    outbox = make_outbox(tmp_path, service)
    body = payload(1, conversation_id="conv-double-click")
    # 「确认提交」 clicked twice: the action derives the key from conversation and form instance.
    key = derive_idempotency_key("conv-double-click", "form-1")
    assert key == derive_idempotency_key("conv-double-click", "form-1")
    assert key != derive_idempotency_key("conv-double-click", "form-2")
    first = outbox.enqueue("disclosure", body, key)
    second = outbox.enqueue("disclosure", body, key)
    assert first.id == second.id
    with outbox.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM outbox")).scalar() == 1

    async def scenario():
        try:
            # Two turns racing to deliver the same entry: one sends, the other waits for its result.
            a, b = await asyncio.gather(deliver_now(outbox, key, timeout=5), deliver_now(outbox, key, timeout=5))
            again = await deliver_now(outbox, key, timeout=5)
            # The case service itself: same key and body → same case; same key, other body → 409.
            replay = await outbox.client.create_case({**body, "kind": "disclosure"}, key)
            with pytest.raises(CaseRejected) as conflict:
                await outbox.client.create_case({**payload(2), "kind": "disclosure"}, key)
            return a, b, again, replay, conflict.value
        finally:
            await outbox.client.close()

    a, b, again, replay, conflict = asyncio.run(scenario())
    assert a == b == again == replay["tracking_number"]
    assert conflict.status == 409
    assert outbox.status(key).attempts == 1
    assert outbox.enqueue("disclosure", body, key).tracking_number == a  # a late third click
    assert service.cases() == [(key, a)]
    outbox.close()


def test_outage_then_recovery_delivers_every_request_exactly_once(tmp_path, service):
    outbox = make_outbox(tmp_path, service)
    keys = [new_idempotency_key() for _ in range(30)]
    late_keys = [new_idempotency_key() for _ in range(40)]
    deliverer = Deliverer(outbox, poll_interval=0.05)

    async def scenario():
        # 1. Case service never started: every confirmation is stored, the person's call returns None fast.
        for i, key in enumerate(keys):
            await outbox.aenqueue("complaint" if i % 3 else "disclosure", payload(i), key)
            started = time.monotonic()
            assert await deliver_now(outbox, key, timeout=2) is None
            assert time.monotonic() - started < 2.5
        deliverer.start()
        await asyncio.sleep(1.0)
        pending, age = await outbox.alag()
        assert pending == 30 and age > 0
        entry = await outbox.astatus(keys[0])
        assert entry.status == PENDING and entry.attempts >= 1 and "CaseSystemUnavailable" in entry.last_error
        assert deliverer.failures >= 2  # backing off, not spinning

        # 2. Case service comes up: the deliverer sends everything.
        await asyncio.to_thread(service.start)
        assert await deliverer.drain(timeout=30)
        assert_exactly_once(service, outbox, keys)

        # 3. Killed with SIGKILL while the deliverer is busy with 40 more.
        for i, key in enumerate(late_keys):
            await outbox.aenqueue("suggestion", payload(100 + i), key)
        deliverer.wake()
        while (await asyncio.to_thread(outbox.counts))[DELIVERED] < 35:
            await asyncio.sleep(0.005)
        service.kill()
        counts_at_kill = await asyncio.to_thread(outbox.counts)
        pending_key = None
        for key in reversed(late_keys):
            if (await outbox.astatus(key)).status == PENDING:
                pending_key = key
                break
        # The person confirming now is told at once that the request is kept (the service is down).
        assert pending_key is not None, f"kill came too late to be mid-run: {counts_at_kill}"
        started = time.monotonic()
        assert await deliver_now(outbox, pending_key, timeout=2) is None
        assert time.monotonic() - started < 2.5
        await asyncio.sleep(0.5)

        # 4. Restarted on the same database: the rest goes through, nothing twice.
        await asyncio.to_thread(service.start)
        assert await deliverer.drain(timeout=30)
        await deliverer.stop()
        await outbox.client.close()
        return counts_at_kill

    counts_at_kill = asyncio.run(scenario())
    assert counts_at_kill[PENDING] > 0, f"kill came too late to be mid-run: {counts_at_kill}"
    assert_exactly_once(service, outbox, keys + late_keys)
    assert outbox.counts() == {PENDING: 0, DELIVERED: 70, REJECTED: 0}
    outbox.close()


def test_fresh_outbox_after_restart_picks_up_pending_work(tmp_path, service):
    # Before the "restart": the case system is down; one entry is even mid-send (claimed) when the process dies.
    before = make_outbox(tmp_path, service, lease_seconds=1.0)
    keys = [new_idempotency_key() for _ in range(10)]

    async def before_restart():
        for i, key in enumerate(keys):
            await before.aenqueue("handoff", payload(i), key)
            assert await deliver_now(before, key, timeout=1) is None
        await before.client.close()

    asyncio.run(before_restart())
    time.sleep(0.2)  # past the first retry backoff
    claimed = before.claim("crashed-worker")
    assert claimed is not None
    before.close()  # the old process is gone; its lease on `claimed` is still in the table

    service.start()
    after = make_outbox(tmp_path, service)
    deliverer = Deliverer(after, poll_interval=0.05)

    async def after_restart():
        deliverer.start()
        assert await deliverer.drain(timeout=20)
        await deliverer.stop()
        await after.client.close()

    asyncio.run(after_restart())
    assert_exactly_once(service, after, keys)
    assert after.status(claimed.idempotency_key).attempts == 3  # deliver_now, the crashed claim, the delivery
    after.close()


DELIVERY_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os, signal, sys
    from bot.casework.outbox import Outbox, new_idempotency_key
    from bot.casework.outbox_delivery import Deliverer, deliver_now

    mode = sys.argv[1]
    outbox = Outbox(retry_base=0.1, retry_cap=0.5)  # everything from GOVBOT_* environment variables

    async def enqueue(n):
        keys = []
        for i in range(n):
            key = new_idempotency_key()
            await outbox.aenqueue("complaint", {"channel": "rest", "conversation_id": f"sub-{i}",
                                  "applicant": {"phone": "13900000000"}, "request": {"text": "噪音投诉"}}, key)
            assert await deliver_now(outbox, key, timeout=1) is None
            keys.append(key)
        print(json.dumps(keys), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # crash: no cleanup at all

    async def deliver():
        deliverer = Deliverer(outbox, poll_interval=0.05)
        deliverer.start()
        drained = await deliverer.drain(timeout=30)
        await deliverer.stop()
        await outbox.client.close()
        print(json.dumps({"drained": drained, "delivered": deliverer.delivered}), flush=True)

    asyncio.run(enqueue(int(sys.argv[2])) if mode == "enqueue" else deliver())
    """
)


def test_action_server_processes_crash_and_two_restart_sharing_the_outbox(tmp_path, service):
    script = tmp_path / "outbox_worker.py"
    script.write_text(DELIVERY_SCRIPT, encoding="utf-8")
    outbox_url = f"sqlite:///{tmp_path / 'outbox.db'}"
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        GOVBOT_OUTBOX_DATABASE_URL=outbox_url,
        GOVBOT_CASE_URL=service.url,
        GOVBOT_CASE_BOT_TOKEN=BOT_TOKEN,
    )
    crashed = subprocess.run(
        [sys.executable, str(script), "enqueue", "20"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    keys = json.loads(crashed.stdout)
    assert len(keys) == 20

    service.start()
    workers = [
        subprocess.Popen([sys.executable, str(script), "deliver"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        results.append(json.loads(out))
    assert all(r["drained"] for r in results)
    assert sum(r["delivered"] for r in results) == 20

    outbox = Outbox(outbox_url, CaseClient(service.url, BOT_TOKEN))
    assert_exactly_once(service, outbox, keys)
    # One failed try while the service was down, then exactly one send: the two workers never shared a row.
    assert [outbox.status(k).attempts for k in keys] == [2] * 20
    outbox.close()


def test_rejected_request_is_marked_and_not_retried(tmp_path, service, caplog):
    caplog.set_level(logging.DEBUG)
    service.start()
    outbox = make_outbox(tmp_path, service)
    key = new_idempotency_key()
    bad = payload(3)
    del bad["applicant"]["phone"]  # a disclosure application needs a contact number
    outbox.enqueue("disclosure", bad, key)
    deliverer = Deliverer(outbox, poll_interval=0.05)

    async def scenario():
        with pytest.raises(CaseRejected) as rejected:
            await deliver_now(outbox, key, timeout=5)
        deliverer.start()
        await asyncio.sleep(0.8)
        await deliverer.stop()
        with pytest.raises(CaseRejected) as again:  # answered from the outbox, no new request
            await deliver_now(outbox, key, timeout=5)
        await outbox.client.close()
        return rejected.value, again.value

    rejected, again = asyncio.run(scenario())
    assert rejected.status == 400 and rejected.code == "invalid_request" and "applicant.phone" in rejected.fields
    assert again.status == 400
    entry = outbox.status(key)
    assert entry.status == REJECTED and entry.attempts == 1 and entry.last_http_status == 400
    assert entry.last_error == "CaseRejected HTTP 400 invalid_request applicant.phone"
    assert deliverer.delivered == deliverer.rejected == 0
    assert outbox.lag() == (0, 0.0)
    assert service.cases() == []
    assert_no_personal_data_logged(caplog, bad)
    outbox.close()


def test_wrong_token_keeps_requests_pending_until_fixed(tmp_path, service):
    service.start()
    misconfigured = make_outbox(tmp_path, service, token="not-the-token")
    key = new_idempotency_key()
    misconfigured.enqueue("complaint", payload(4), key)

    async def attempt(outbox):
        try:
            return await deliver_now(outbox, key, timeout=5)
        finally:
            await outbox.client.close()

    assert asyncio.run(attempt(misconfigured)) is None
    entry = misconfigured.status(key)
    assert entry.status == PENDING and entry.last_http_status in (401, 403)
    misconfigured.close()

    fixed = make_outbox(tmp_path, service)
    tracking = asyncio.run(attempt(fixed))
    assert tracking and fixed.status(key).status == DELIVERED
    assert service.cases() == [(key, tracking)]
    fixed.close()


def test_deliver_now_is_bounded_when_the_case_system_hangs(tmp_path):
    # A port that accepts connections and never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        outbox = Outbox(f"sqlite:///{tmp_path / 'outbox.db'}", CaseClient(url, BOT_TOKEN), **FAST)
        key = new_idempotency_key()
        outbox.enqueue("disclosure", payload(5), key)

        async def scenario():
            started = time.monotonic()
            result = await deliver_now(outbox, key, timeout=1.0)
            elapsed = time.monotonic() - started
            with pytest.raises(CaseSystemUnavailable):
                await outbox.client.create_case({**payload(5), "kind": "disclosure"}, key, timeout=0.3)
            healthy = await outbox.client.health(timeout=0.3)
            await outbox.client.close()
            return result, elapsed, healthy

        result, elapsed, healthy = asyncio.run(scenario())
    assert result is None and elapsed < 1.5 and healthy is False
    entry = outbox.status(key)
    assert entry.status == PENDING and entry.attempts == 1 and "timed out" in entry.last_error
    with outbox.engine.connect() as conn:  # the claim was released, so the deliverer can retry at once
        assert conn.execute(text("SELECT claimed_by FROM outbox")).scalar() is None
    assert outbox.lag()[0] == 1
    outbox.close()


@pytest.fixture
def pg_table():
    engine = create_engine(PG_URL)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means: no PostgreSQL here
        service_missing(f"PostgreSQL at {PG_URL}", type(exc).__name__)
    finally:
        engine.dispose()
    name = f"outbox_test_{uuid.uuid4().hex[:10]}"
    yield name
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    engine.dispose()


def test_postgresql_outbox_claims_with_skip_locked_and_delivers_once(tmp_path, service, pg_table):
    service.start()
    # Two action-server processes: two Outbox objects, two engines, one table.
    first = Outbox(PG_URL, CaseClient(service.url, BOT_TOKEN), table_name=pg_table, **FAST)
    second = Outbox(PG_URL, CaseClient(service.url, BOT_TOKEN), table_name=pg_table, **FAST)
    assert first.is_postgresql
    keys = [new_idempotency_key() for _ in range(20)]
    for i, key in enumerate(keys):
        first.enqueue("disclosure", payload(i), key)
    assert second.enqueue("disclosure", payload(0), keys[0]).id == first.status(keys[0]).id
    assert second.lag()[0] == 20

    # A row locked by another transaction is skipped, not waited for; a leased row is not claimed twice.
    with first.engine.connect() as conn, conn.begin():
        locked = conn.execute(text(f"SELECT id FROM {pg_table} ORDER BY id LIMIT 1 FOR UPDATE")).scalar()
        skipped_to = second.claim("worker-b")
    assert skipped_to.id != locked
    claimed = first.claim("worker-a")
    assert claimed.id == locked
    third = second.claim("worker-b")
    assert third.id not in (locked, skipped_to.id)
    for entry_id, worker in ((locked, "worker-a"), (skipped_to.id, "worker-b"), (third.id, "worker-b")):
        first.release(entry_id, worker)

    async def scenario():
        deliverers = [Deliverer(first, poll_interval=0.05), Deliverer(second, poll_interval=0.05)]
        tracking = await deliver_now(first, keys[5], timeout=5)
        for d in deliverers:
            d.start()
        assert await deliverers[0].drain(timeout=30)
        for d in deliverers:
            await d.stop()
        await first.client.close()
        await second.client.close()
        return tracking, [d.delivered for d in deliverers]

    tracking, delivered = asyncio.run(scenario())
    assert TRACKING.match(tracking)
    assert sum(delivered) == 19
    assert_exactly_once(service, first, keys)
    attempts = {k: first.status(k).attempts for k in keys}
    # Each row sent once; the three rows claimed by hand above carry that extra claim.
    assert sorted(attempts.values()) == [1] * 17 + [2] * 3
    assert first.status(keys[5]).payload == {"kind": "disclosure", "channel": "rest", "conversation_id": "conv-5"}
    first.close()
    second.close()
