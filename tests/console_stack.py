"""The staff console's test stack: the reference case service and `python -m bot.web` as processes,
each on a free loopback port, with their own SQLite files; accounts made with `govbot staff`.

No Rasa: the console pages here read the case service and the console's own database only.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.conftest import ARTIFACTS, ROOT, VENV_BIN, CaseService, free_port, wait_until

ADMIN_PASSWORD = "admin-" + secrets.token_urlsafe(12)
BOT_TOKEN = secrets.token_urlsafe(24)
STAFF_TOKEN = secrets.token_urlsafe(24)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class ConsoleStack:
    url: str
    cases: CaseService
    env: dict
    console_db: str

    def govbot(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(VENV_BIN / "govbot"), "staff", *args, "--db-url", self.console_db],
            cwd=ROOT, env=self.env, input=stdin, capture_output=True, text=True, timeout=60,
        )

    def create_account(self, username: str, password: str, role: str = "staff") -> None:
        result = self.govbot("create", username, "--role", role, "--password-stdin", stdin=password + "\n")
        assert result.returncode == 0, result.stderr

    def session(self, username: str, password: str) -> requests.Session:
        """A signed-in browser-like session (Accept: text/html)."""
        session = requests.Session()
        session.headers["Accept"] = "text/html"
        response = sign_in(session, self.url, username, password)
        assert response.status_code == 200 and "/console/login" not in response.url, response.text[:500]
        return session

    def new_case(self, kind: str = "disclosure", **request: str) -> dict:
        """A case as the assistant files it (bot token), returned in the staff view."""
        body = {
            "kind": kind,
            "channel": "socketio",
            "conversation_id": "c-" + secrets.token_hex(6),
            "applicant": {"name": "张三", "id_type": "居民身份证", "id_number": "11010519491231002X", "phone": "13800138000"},
            "request": request or {"description": "2024年本区老旧小区改造项目清单", "purpose": "了解政策"},
        }
        response = requests.post(
            f"{self.cases.url}/cases", json=body, timeout=30,
            headers={"Authorization": f"Bearer {BOT_TOKEN}", "Idempotency-Key": secrets.token_hex(16)},
        )
        assert response.status_code == 201, response.text
        return self.cases.staff("GET", f"/cases/{response.json()['tracking_number']}").json()


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no csrf_token field on the page"
    return match.group(1)


def sign_in(session: requests.Session, url: str, username: str, password: str) -> requests.Response:
    page = session.get(f"{url}/console/login", timeout=30)
    return session.post(
        f"{url}/console/login", data={"username": username, "password": password, "csrf_token": csrf_of(page.text)}, timeout=30
    )


def start_console_stack(state: Path, log_name: str):
    """Generator for a fixture: yields a ConsoleStack, stops both processes afterwards."""
    if state.exists():
        shutil.rmtree(state)
    state.mkdir(parents=True)
    case_port, web_port = free_port(), free_port()
    console_db = f"sqlite:///{state / 'console.db'}"
    env = dict(
        {k: v for k, v in os.environ.items() if not k.startswith(("GOVBOT_", "WECHAT_"))},
        GOVBOT_CASE_BOT_TOKEN=BOT_TOKEN,
        GOVBOT_CASE_STAFF_TOKEN=STAFF_TOKEN,
        GOVBOT_CASE_DATABASE_URL=f"sqlite:///{state / 'cases.db'}",
        GOVBOT_CASE_URL=f"http://127.0.0.1:{case_port}",
        GOVBOT_CONSOLE_DATABASE_URL=console_db,
        GOVBOT_CONSOLE_ADMIN_PASSWORD=ADMIN_PASSWORD,
        GOVBOT_WEB_PORT=str(web_port),
        GOVBOT_TRUSTED_PROXIES="127.0.0.1",  # as make run: the local HTTPS proxy names the client
    )
    cases = CaseService(case_port, env, ARTIFACTS / f"{log_name}-case-service.log")
    cases.start()
    log = ARTIFACTS / f"{log_name}-web.log"
    web = subprocess.Popen(
        [str(VENV_BIN / "python"), "-m", "bot.web", "--host", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
    )
    try:
        wait_until(f"http://127.0.0.1:{web_port}/console/login", web, log, timeout=60)
        yield ConsoleStack(f"http://127.0.0.1:{web_port}", cases, env, console_db)
    finally:
        web.terminate()
        try:
            web.wait(timeout=20)
        except subprocess.TimeoutExpired:
            web.kill()
        cases.stop()
