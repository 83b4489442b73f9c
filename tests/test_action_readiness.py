"""Readiness that separates answering questions from taking formal requests (issue 20 item 6).

/ready (what nginx, compose and Kubernetes route by) depends on the knowledge index only; an outbox
database outage shows as `requests: degraded` and fails /ready/requests (for alerts), never /ready.
Checked on the function and on a real action server whose outbox database does not exist.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time

import pytest
import requests

from bot.ops.action_server import readiness
from tests.conftest import ROOT, free_port

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


@pytest.mark.e2e
def test_an_action_server_without_its_outbox_database_is_ready_and_answers_questions(tmp_path):
    index = ROOT / ".cache" / "govbot" / "index" / "CURRENT"
    if not index.exists():
        pytest.skip("no published index (make index)")
    port, token = free_port(), secrets.token_urlsafe(24)
    dead = free_port()  # nothing listens here: the outbox database is "down"
    env = dict(
        {k: v for k, v in os.environ.items() if not k.startswith(("GOVBOT_", "WECHAT_"))},
        GOVBOT_ACTION_TOKEN=token, GOVBOT_INDEX_MODE="published", GOVBOT_TORCH_THREADS="1",
        GOVBOT_OUTBOX_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{dead}/outbox",
        GOVBOT_CASE_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{dead}/cases",
        GOVBOT_CASE_URL=f"http://127.0.0.1:{dead}", GOVBOT_CASE_BOT_TOKEN="x",
        RASA_TELEMETRY_ENABLED="false", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
    )
    log = tmp_path / "action.log"
    process = subprocess.Popen([sys.executable, "-m", "bot.ops.action_server", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
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
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
