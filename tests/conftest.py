"""Shared fixtures: the real embedding model, a real index, and real Rasa + action servers."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
MODEL_PATH = ROOT / "models" / "govbot.tar.gz"
ARTIFACTS = ROOT / "tests" / "artifacts"

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def load_yaml(relative: str) -> dict:
    return yaml.safe_load((ROOT / relative).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def settings():
    from bot.settings import Settings

    return Settings.from_env()


@pytest.fixture(scope="session")
def knowledge_service(settings):
    """The service the action server uses, on the project's own knowledge base and cache."""
    from bot.service import KnowledgeService

    service = KnowledgeService(settings)
    service.build()
    return service


@pytest.fixture(scope="session")
def embedder(knowledge_service):
    return knowledge_service.embedder


@pytest.fixture(scope="session")
def rasa_model() -> Path:
    """The trained model `make test` builds; trained here when pytest is run on its own."""
    if not MODEL_PATH.exists():
        subprocess.run(
            [str(VENV_BIN / "rasa"), "train", "--fixed-model-name", "govbot", "--out", "models"],
            cwd=ROOT,
            check=True,
        )
    return MODEL_PATH


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(url: str, process: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}; log:\n{log.read_text()[-4000:]}")
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not up after {timeout}s; log:\n{log.read_text()[-4000:]}")


class CaseService:
    """The reference case service as its own process; tests stop and restart it (an outage)."""

    def __init__(self, port: int, env: dict, log: Path) -> None:
        self.port, self.env, self.log = port, env, log
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(VENV_BIN / "python"), "-m", "bot.case_service", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT, env=self.env, stdout=open(self.log, "a"), stderr=subprocess.STDOUT,
        )
        wait_until(f"{self.url}/health", self.process, self.log, timeout=60)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None

    def staff(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.env['GOVBOT_CASE_STAFF_TOKEN']}"}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)


class Servers:
    def __init__(self, rasa_port: int, action_port: int, cases: "CaseService | None" = None, rasa_token: str = "") -> None:
        self.rasa_url = f"http://127.0.0.1:{rasa_port}"
        self.action_url = f"http://127.0.0.1:{action_port}"
        self.cases = cases
        self.rasa_token = rasa_token

    def tracker(self, sender: str) -> dict:
        """The conversation as Rasa's tracker store holds it (API with token)."""
        response = requests.get(
            f"{self.rasa_url}/conversations/{sender}/tracker", params={"token": self.rasa_token}, timeout=30
        )
        response.raise_for_status()
        return response.json()

    def send(self, sender: str, message: str) -> list[dict]:
        response = requests.post(
            f"{self.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": message},
            timeout=60,
        )
        response.raise_for_status()
        return response.json()

    def texts(self, sender: str, message: str) -> list[str]:
        return [m.get("text", "") for m in self.send(sender, message)]


@pytest.fixture(scope="session")
def servers(rasa_model, knowledge_service):
    """A real action server and Rasa server on free loopback ports, as `make run` starts them."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    rasa_port, action_port, case_port = free_port(), free_port(), free_port()
    state = ARTIFACTS / "state"
    if state.exists():
        shutil.rmtree(state)
    state.mkdir()
    rasa_token = secrets.token_urlsafe(24)
    # A developer's own WECHAT_* settings must not change (or stop) the servers under test.
    env = dict(
        {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")},
        SANIC_HOST="127.0.0.1",
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook",
        RASA_TELEMETRY_ENABLED="false",
        GOVBOT_CASE_URL=f"http://127.0.0.1:{case_port}",
        GOVBOT_CASE_BOT_TOKEN=secrets.token_urlsafe(24),
        GOVBOT_CASE_STAFF_TOKEN=secrets.token_urlsafe(24),
        GOVBOT_CASE_DATABASE_URL=f"sqlite:///{state / 'cases.db'}",
        GOVBOT_OUTBOX_DATABASE_URL=f"sqlite:///{state / 'outbox.db'}",
        GOVBOT_RASA_URL=f"http://127.0.0.1:{rasa_port}",
        GOVBOT_RASA_TOKEN=rasa_token,
    )
    action_log = ARTIFACTS / "action-server.log"
    rasa_log = ARTIFACTS / "rasa-server.log"
    cases = CaseService(case_port, env, ARTIFACTS / "case-service.log")
    cases.start()
    actions = subprocess.Popen(
        [str(VENV_BIN / "rasa"), "run", "actions", "--actions", "actions", "--port", str(action_port)],
        cwd=ROOT, env=env, stdout=open(action_log, "w"), stderr=subprocess.STDOUT,
    )
    rasa = subprocess.Popen(
        [
            str(VENV_BIN / "rasa"), "run", "--model", str(rasa_model), "--endpoints", "endpoints.yml",
            "--credentials", "credentials.yml", "--interface", "127.0.0.1", "--port", str(rasa_port),
            "--enable-api", "--auth-token", rasa_token,
        ],
        cwd=ROOT, env=env, stdout=open(rasa_log, "w"), stderr=subprocess.STDOUT,
    )
    try:
        wait_until(f"http://127.0.0.1:{action_port}/health", actions, action_log)
        wait_until(f"http://127.0.0.1:{rasa_port}/", rasa, rasa_log)
        yield Servers(rasa_port, action_port, cases, rasa_token)
    finally:
        cases.stop()
        for process in (rasa, actions):
            process.terminate()
        for process in (rasa, actions):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
