"""A Rasa server whose action server is down answers with a clear Chinese reply, and recovers.

Real processes: Rasa on the trained model, its action endpoint on a loopback port where nothing
listens at first; then the real action server is started on that port.
"""

from __future__ import annotations

import secrets
import subprocess
import uuid

import pytest

from bot.rasa_plugins.action_failure import FAILURE_REPLY
from tests.conftest import ARTIFACTS, ROOT, VENV_BIN, Servers, free_port, local_services_env, wait_until

pytestmark = pytest.mark.e2e

QUESTION = "上海市商务委2020年对政务新媒体提了什么要求"


@pytest.fixture(scope="module")
def rasa_without_actions(rasa_model, knowledge_service, tmp_path_factory):
    """Rasa up, its action server not (yet): yields (servers, start_action_server)."""
    rasa_port, action_port, case_port = free_port(), free_port(), free_port()
    state = tmp_path_factory.mktemp("action-failure")
    token = secrets.token_urlsafe(24)
    env = local_services_env(rasa_port, action_port, case_port, state, GOVBOT_RASA_TOKEN=token)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    rasa_log, action_log = ARTIFACTS / "action-failure-rasa.log", ARTIFACTS / "action-failure-actions.log"
    processes = [subprocess.Popen(
        [str(VENV_BIN / "rasa"), "run", "--model", str(rasa_model), "--endpoints", "endpoints.yml",
         "--credentials", "credentials.yml", "--interface", "127.0.0.1", "--port", str(rasa_port),
         "--enable-api", f"--auth-token={token}"],
        cwd=ROOT, env=env, stdout=open(rasa_log, "w"), stderr=subprocess.STDOUT,
    )]

    def start_action_server() -> None:
        processes.append(subprocess.Popen(
            [str(VENV_BIN / "rasa"), "run", "actions", "--actions", "actions", "--port", str(action_port)],
            cwd=ROOT, env=env, stdout=open(action_log, "w"), stderr=subprocess.STDOUT,
        ))
        wait_until(f"http://127.0.0.1:{action_port}/health", processes[-1], action_log)

    try:
        wait_until(f"http://127.0.0.1:{rasa_port}/", processes[0], rasa_log)
        yield Servers(rasa_port, action_port, rasa_token=token), start_action_server
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def test_a_failed_action_gets_one_clear_reply_and_the_question_is_answered_once_it_is_back(rasa_without_actions):
    servers, start_action_server = rasa_without_actions
    user = f"fail-{uuid.uuid4().hex[:8]}"

    assert servers.texts(user, QUESTION) == [FAILURE_REPLY]
    # Rasa's own responses need no action server and still work.
    greeting = servers.texts(user, "你好")
    assert any("您好" in text for text in greeting) and FAILURE_REPLY not in greeting, greeting
    # A request whose start and form both fail in one turn: still one apology, not two.
    assert servers.texts(user, "我要申请政府信息公开").count(FAILURE_REPLY) == 1
    events = servers.tracker(user)["events"]
    failed = [e for e in events if e.get("event") == "bot" and e.get("text") == FAILURE_REPLY]
    assert len(failed) == 2 and all(e["metadata"].get("govbot_action_failed") for e in failed)

    start_action_server()
    answer = "\n".join(servers.texts(f"back-{uuid.uuid4().hex[:8]}", QUESTION))
    assert "来源：" in answer and "政务新媒体" in answer and FAILURE_REPLY not in answer
