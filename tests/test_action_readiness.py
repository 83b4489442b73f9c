"""Readiness that separates answering questions from taking formal requests (issue 20 item 6).

/ready (what nginx, compose and Kubernetes route by) depends on the knowledge index only; an outbox
database outage shows as `requests: degraded` and fails /ready/requests (for alerts), never /ready.
Checked on the function and on a real action server whose outbox database does not exist. An
action server that started while its outbox database was unreachable starts delivery by itself once
the database answers (bot.ops.action_server.DeliveryStarter), without waiting for a message.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from bot.casework.case_client import CaseClient
from bot.casework.outbox import Outbox
from bot.ops.action_server import DeliveryStarter, readiness
from tests.conftest import ROOT, CaseService, free_port

OK_INDEX = {"status": "ok", "key": "k", "passages": 10}
DOWN = {"status": "unreachable", "error": "OperationalError"}
UP = {"status": "ok", "pending": 0, "oldest_pending_seconds": 0.0}


def test_an_outbox_outage_degrades_requests_but_never_answering():
    status, body = readiness(OK_INDEX, DOWN, "unreachable (ClientConnectorError)")
    assert status == 200 and body["status"] == "ready" and body["answering"] == "ok" and body["requests"] == "degraded"
    assert body["outbox"] == DOWN and body["case_service"].startswith("unreachable")
    assert readiness(OK_INDEX, DOWN, "ok", "requests")[0] == 503
    assert readiness(OK_INDEX, UP, "unreachable", "requests")[0] == 200  # the outbox keeps requests for later


def test_no_index_is_not_ready_to_answer_whatever_the_outbox_says():
    for outbox in (UP, DOWN):
        status, body = readiness({"status": "loading"}, outbox, "ok")
        assert status == 503 and body["answering"] == "not_ready"
    assert readiness({"status": "loading"}, UP, "ok", "requests")[0] == 200


def test_delivery_start_retries_with_growing_delays_and_stops_on_shutdown(tmp_path, monkeypatch, caplog):
    blocked = tmp_path / "state"
    blocked.write_text("a file where the outbox's directory should be\n")
    monkeypatch.setenv("GOVBOT_OUTBOX_DATABASE_URL", f"sqlite:///{blocked / 'outbox.db'}")
    delays = []

    async def scenario():
        starter = DeliveryStarter(first_delay=0.02, max_delay=0.08)
        started = time.monotonic()
        starter.start()
        assert time.monotonic() - started < 0.05  # scheduled, not awaited: the server's start goes on
        while starter.attempts < 6:  # the sixth has begun: the first five have failed and logged
            await asyncio.sleep(0.01)
        assert not starter.started
        await asyncio.wait_for(starter.stop(), 1.0)  # cancels the waiting attempt at once
        assert starter._task.done()

    caplog.set_level("WARNING", logger="bot.ops.action_server")
    asyncio.run(scenario())
    for record in caplog.records:
        if record.name != "bot.ops.action_server":
            continue
        delays.append(float(re.search(r"retrying in ([\d.]+) s", record.getMessage()).group(1)))
        assert "NotADirectoryError" in record.getMessage()
    assert delays[:5] == [0.02, 0.04, 0.08, 0.08, 0.08]


def action_server_env(token: str, **overrides: str) -> dict:
    """The action server's environment: published index, one torch thread, offline models; no
    GOVBOT_* or WECHAT_* setting of the developer's own."""
    return dict(
        {k: v for k, v in os.environ.items() if not k.startswith(("GOVBOT_", "WECHAT_"))},
        GOVBOT_ACTION_TOKEN=token, GOVBOT_INDEX_MODE="published", GOVBOT_TORCH_THREADS="1",
        RASA_TELEMETRY_ENABLED="false", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
        **overrides,
    )


def start_action_server(port: int, env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot.ops.action_server", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def need_published_index() -> None:
    if not (ROOT / ".cache" / "govbot" / "index" / "CURRENT").exists():
        pytest.skip("no published index (make index)")


@pytest.mark.e2e
def test_an_action_server_without_its_outbox_database_is_ready_and_answers_questions(tmp_path):
    need_published_index()
    port, token = free_port(), secrets.token_urlsafe(24)
    dead = free_port()  # nothing listens here: the outbox database is "down"
    env = action_server_env(
        token,
        GOVBOT_OUTBOX_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{dead}/outbox",
        GOVBOT_CASE_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{dead}/cases",
        GOVBOT_CASE_URL=f"http://127.0.0.1:{dead}", GOVBOT_CASE_BOT_TOKEN="x",
    )
    log = tmp_path / "action.log"
    process = start_action_server(port, env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline, ready = time.monotonic() + 300, None
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                ready = requests.get(f"{url}/ready", timeout=30)
                if ready.status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(1)
        assert ready is not None and ready.status_code == 200, (ready and ready.text, log.read_text()[-3000:])
        body = ready.json()
        assert body["answering"] == "ok" and body["requests"] == "degraded" and body["outbox"]["status"] == "unreachable"
        assert requests.get(f"{url}/ready/requests", timeout=30).status_code == 503
        # And it answers a question, as Rasa calls it.
        question = "怎么申请政府信息公开"
        tracker = {
            "sender_id": "readiness", "slots": {}, "paused": False, "followup_action": None, "active_loop": {},
            "latest_message": {"text": question, "intent": {"name": "ask_knowledge"}, "entities": []},
            "events": [{"event": "user", "text": question, "parse_data": {"text": question, "entities": []}}],
            "latest_action_name": "action_listen",
        }
        call = {"next_action": "action_answer_knowledge", "sender_id": "readiness", "tracker": tracker, "domain": {},
                "version": "3.6.21"}
        answer = requests.post(f"{url}/webhook", json=call, headers={"Authorization": f"Bearer {token}"}, timeout=120)
        assert answer.status_code == 200, answer.text
        text = "\n".join(r.get("text") or "" for r in answer.json()["responses"])
        assert "第二十九条" in text or "来源" in text, text
    finally:
        stop(process)


@pytest.mark.e2e
def test_delivery_starts_by_itself_once_the_outbox_database_can_be_opened(tmp_path):
    """Started while its outbox database cannot be opened, the action server keeps trying in the
    background; once the database is there, a request already waiting in it reaches the case
    service with no chat message and no call to /webhook."""
    need_published_index()
    port, token = free_port(), secrets.token_urlsafe(24)
    bot_token, staff_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    # The outbox's directory cannot be created: a plain file holds its name (root cannot mkdir under
    # a file either, unlike a directory without write permission).
    blocked = tmp_path / "state"
    blocked.write_text("not a directory\n")
    database_url = f"sqlite:///{blocked / 'outbox.db'}"
    cases = CaseService(free_port(), dict(
        {k: v for k, v in os.environ.items() if not k.startswith(("GOVBOT_", "WECHAT_"))},
        GOVBOT_CASE_BOT_TOKEN=bot_token, GOVBOT_CASE_STAFF_TOKEN=staff_token,
        GOVBOT_CASE_DATABASE_URL=f"sqlite:///{tmp_path / 'cases.db'}",
        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
    ), tmp_path / "case-service.log")
    client = CaseClient(cases.url, bot_token)
    with pytest.raises(OSError):  # really unreachable, not just empty
        Outbox(database_url, client)
    # The request a crashed replica left pending, in an outbox database prepared elsewhere.
    prepared = tmp_path / "prepared"
    outbox = Outbox(f"sqlite:///{prepared / 'outbox.db'}", client)
    key = uuid.uuid4().hex
    outbox.enqueue("suggestion", {"channel": "rest", "conversation_id": "left-pending", "applicant": {},
                                  "request": {"description": "建议在政府网站公开村级财务收支情况"}}, key)
    outbox.close()

    env = action_server_env(token, GOVBOT_OUTBOX_DATABASE_URL=database_url, GOVBOT_CASE_URL=cases.url,
                            GOVBOT_CASE_BOT_TOKEN=bot_token, GOVBOT_CASE_DATABASE_URL=f"sqlite:///{tmp_path / 'cases.db'}")
    log = tmp_path / "action.log"
    process = start_action_server(port, env, log)
    url = f"http://127.0.0.1:{port}"
    cases.start()
    try:
        deadline = time.monotonic() + 300
        while "outbox delivery could not start (attempt 2" not in log.read_text():  # it keeps trying
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        assert requests.get(f"{url}/health", timeout=30).status_code == 200  # the start was not held up
        assert requests.get(f"{url}/ready/requests", timeout=30).status_code == 503
        assert requests.get(f"{url}/metrics", timeout=30).json()["outbox"]["status"] == "unreachable"

        blocked.unlink()
        prepared.rename(blocked)  # the database is there now (as when its volume or server comes back)

        deadline, metrics = time.monotonic() + 120, {}
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()[-3000:]
            metrics = requests.get(f"{url}/metrics", timeout=30).json()
            if metrics.get("deliverer", {}).get("delivered"):
                break
            time.sleep(1)
        assert metrics.get("deliverer", {}).get("running") and metrics["deliverer"]["delivered"] == 1, (
            metrics, log.read_text()[-3000:])
        assert metrics["outbox"]["pending"] == 0
        assert requests.get(f"{url}/ready/requests", timeout=30).status_code == 200
        assert re.search(r"outbox delivery started after \d+ attempts", log.read_text())
        # The case service filed it once, under the key the outbox gave it.
        engine = create_engine(f"sqlite:///{tmp_path / 'cases.db'}")
        try:
            with engine.connect() as conn:
                filed = conn.execute(text("SELECT idempotency_key, tracking_number FROM cases")).fetchall()
        finally:
            engine.dispose()
        assert [row[0] for row in filed] == [key] and filed[0][1].startswith("JY"), filed
    finally:
        stop(process)
        cases.stop()
    shutdown = log.read_text()
    assert re.search(r"outbox deliverer \S+ stopped", shutdown) and "Traceback" not in shutdown, shutdown[-3000:]
