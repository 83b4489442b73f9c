"""Shared fixtures: the real embedding model, a real index, and real Rasa + action servers."""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

import pytest
import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
MODEL_PATH = ROOT / "models" / "govbot.tar.gz"
# `make test` runs the suite in parallel workers (pytest-xdist); each worker keeps its stacks' logs and
# state in a folder of its own, so two workers never share a state directory or a log file.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
ARTIFACTS = ROOT / "tests" / "artifacts" / WORKER if WORKER else ROOT / "tests" / "artifacts"

# The REST channel's trusted-caller token (bot.channels.rest) for every stack the tests start: tests
# talk to Rasa as the agency's own server would, with sender ids of their choosing.
REST_TOKEN = secrets.token_urlsafe(24)
REST_AUTH = {"Authorization": f"Bearer {REST_TOKEN}"}

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def load_yaml(relative: str) -> dict:
    return yaml.safe_load((ROOT / relative).read_text(encoding="utf-8"))


# --- machine services (PostgreSQL, Redis, PostgreSQL's binaries): one rule when one is missing ---

ALLOW_SKIP_SERVICES = "GOVBOT_TEST_ALLOW_SKIP_SERVICES"
PG_HOST, PG_PORT, PG_DATABASE = "127.0.0.1", 5432, "test"
REDIS_URL = "redis://127.0.0.1:6379/0"


def service_missing(what: str, why: str = "") -> NoReturn:
    """The one rule for a test whose machine service is missing: it fails, so a run without
    PostgreSQL or Redis is never green. Where a developer has no such service,
    GOVBOT_TEST_ALLOW_SKIP_SERVICES=1 makes it a skip, listed with its reason by `pytest -ra` and .ci/run.
    """
    message = f"{what} is not available" + (f" ({why})" if why else "")
    if os.environ.get(ALLOW_SKIP_SERVICES) == "1":
        pytest.skip(f"{message}; {ALLOW_SKIP_SERVICES}=1")
    pytest.fail(f"{message}: start it, or set {ALLOW_SKIP_SERVICES}=1 to skip the tests that need it", pytrace=False)


@functools.lru_cache(maxsize=1)
def _postgres_login() -> tuple[str | None, str]:
    import psycopg2

    errors = []
    for user in ("postgres", "root"):
        try:
            psycopg2.connect(host=PG_HOST, port=PG_PORT, user=user, dbname=PG_DATABASE, connect_timeout=3).close()
            return user, ""
        except psycopg2.Error as exc:
            errors.append(f"{user}: {str(exc).strip()}")
    return None, "; ".join(errors)


def require_postgres() -> str:
    """The role (postgres, else root) that logs in to the shared PostgreSQL's `test` database (trust auth)."""
    user, why = _postgres_login()
    if user is None:
        service_missing(f"PostgreSQL at {PG_HOST}:{PG_PORT}/{PG_DATABASE}", why)
    return user


def require_redis(url: str = REDIS_URL) -> None:
    import redis

    try:
        redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        service_missing(f"Redis at {url}", f"{type(exc).__name__}: {exc}")


@pytest.fixture(scope="session")
def settings():
    from bot.settings import Settings

    return Settings.from_env()


@pytest.fixture(scope="session")
def knowledge_service(settings):
    """The service the action server uses, on the project's own knowledge base and cache."""
    from bot.knowledge.service import KnowledgeService

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


def local_services_env(rasa_port: int, action_port: int, case_port: int, state: Path, **extra: str) -> dict:
    """The environment of the case service, action server and Rasa of `make run`, on the given ports.

    Case and outbox databases are SQLite files in `state`. A developer's own WECHAT_* settings must
    not change (or stop) the servers under test.
    """
    return dict(
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
        GOVBOT_REST_TOKEN=REST_TOKEN,
        GOVBOT_ACTION_TOKEN=secrets.token_urlsafe(24),
        **extra,
    )


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
        # The REST channel's trusted-server token (this module's; a second import as tests.conftest has another).
        self.rest_token = REST_TOKEN

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
            headers=REST_AUTH,
            timeout=60,
        )
        response.raise_for_status()
        return response.json()

    def texts(self, sender: str, message: str) -> list[str]:
        return [m.get("text", "") for m in self.send(sender, message)]


def copy_knowledge(service, base: Path) -> tuple[Path, Path]:
    """A copy of knowledge/ and of its published index (vectors reused: nothing is embedded again;
    the model directory is shared), for a stack whose knowledge a test changes."""
    knowledge, cache = base / "knowledge", base / "cache"
    shutil.copytree(service.settings.knowledge_dir, knowledge)
    index = service.retriever.index
    shutil.copytree(service.settings.index_dir / index.key, cache / "index" / index.key)
    generated = service.settings.index_dir / "generated_phrasings.json"
    if generated.exists():
        shutil.copy2(generated, cache / "index" / generated.name)
    (cache / "index" / "CURRENT").write_text(index.key + "\n")
    (cache / "models").symlink_to(service.settings.models_dir, target_is_directory=True)
    return knowledge, cache


@pytest.fixture(scope="session")
def servers(rasa_model, knowledge_service, tmp_path_factory):
    """A real action server and Rasa server on free loopback ports, as `make run` starts them.

    They (and the `web` fixture's server) read a copy of knowledge/ and its index, so the console's
    knowledge pages can change what the assistant answers without touching the project's own."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    knowledge, cache = copy_knowledge(knowledge_service, tmp_path_factory.mktemp("stack-knowledge"))
    rasa_port, action_port, case_port = free_port(), free_port(), free_port()
    web_port = free_port()  # the web server (widget, kiosk) the `web` fixture starts; Rasa allows its origin
    state = ARTIFACTS / "state"
    if state.exists():
        shutil.rmtree(state)
    state.mkdir()
    # token_urlsafe starts with "-" once in 64 draws, which `--auth-token TOKEN` read as an option
    # (make run then failed to start Rasa); here it always does, so the `--auth-token=` form is proven.
    rasa_token = "-" + secrets.token_urlsafe(24)
    env = local_services_env(
        rasa_port, action_port, case_port, state,
        GOVBOT_RASA_TOKEN=rasa_token, GOVBOT_WEB_ORIGINS=f"http://127.0.0.1:{web_port}",
        # Staffed around the clock, so a 转人工 is answered live whatever the time of the run (bot.handoff.hours).
        GOVBOT_HANDOFF_HOURS="always",
        GOVBOT_KNOWLEDGE_DIR=str(knowledge), GOVBOT_CACHE_DIR=str(cache),
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
            "--enable-api", f"--auth-token={rasa_token}", "--cors", f"http://127.0.0.1:{web_port}",
        ],
        cwd=ROOT, env=env, stdout=open(rasa_log, "w"), stderr=subprocess.STDOUT,
    )
    try:
        wait_until(f"http://127.0.0.1:{action_port}/health", actions, action_log)
        wait_until(f"http://127.0.0.1:{rasa_port}/", rasa, rasa_log)
        started = Servers(rasa_port, action_port, cases, rasa_token)
        started.web_port = web_port
        started.knowledge_dir, started.cache_dir = knowledge, cache
        yield started
    finally:
        cases.stop()
        for process in (rasa, actions):
            process.terminate()
        for process in (rasa, actions):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


WEB_DIST = ROOT / "web" / "dist"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "tests" / "artifacts" / "screenshots"  # one folder for every worker: names are unique


# The staff console's first admin (account `admin`) on the `web` fixture's server.
CONSOLE_ADMIN_PASSWORD = "console-" + secrets.token_urlsafe(16)


class WebServer:
    """The project's web server (bot.web) in front of the `servers` Rasa: portal, kiosk, bundle, console."""

    def __init__(self, port: int, servers: Servers) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.servers = servers
        self.console_admin_password = CONSOLE_ADMIN_PASSWORD


@pytest.fixture(scope="session")
def web(servers, tmp_path_factory):
    """`python -m bot.web` on the port whose origin the `servers` Rasa allows (built bundle required)."""
    if not (WEB_DIST / "govbot-widget.js").exists():
        raise RuntimeError("web/dist is missing: build the widget first with `make web`")
    console_db = f"sqlite:///{tmp_path_factory.mktemp('console') / 'console.db'}"
    env = dict(
        os.environ, GOVBOT_WEB_RASA_URL=servers.rasa_url, GOVBOT_WEB_PORT=str(servers.web_port),
        GOVBOT_KNOWLEDGE_DIR=str(servers.knowledge_dir), GOVBOT_CACHE_DIR=str(servers.cache_dir),
        # The staff console (/console): its own database, the stack's case service and Rasa, a known admin.
        GOVBOT_CONSOLE_DATABASE_URL=console_db,
        GOVBOT_CONSOLE_ADMIN_PASSWORD=CONSOLE_ADMIN_PASSWORD,
        GOVBOT_RASA_URL=servers.rasa_url, GOVBOT_RASA_TOKEN=servers.rasa_token,
    )
    if servers.cases is not None:
        env.update(GOVBOT_CASE_URL=servers.cases.url, GOVBOT_CASE_STAFF_TOKEN=servers.cases.env["GOVBOT_CASE_STAFF_TOKEN"])
    log = ARTIFACTS / "web-server.log"
    process = subprocess.Popen(
        [str(VENV_BIN / "python"), "-m", "bot.web", "--host", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
    )
    try:
        wait_until(f"http://127.0.0.1:{servers.web_port}/health", process, log, timeout=60)
        started = WebServer(servers.web_port, servers)
        started.console_db = console_db  # for `govbot staff … --db-url`
        yield started
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright; never a downloaded browser.

    Module-scoped: Playwright's sync API keeps an event loop running in the main thread while it
    is open, and later modules that call asyncio.run() would fail.
    """
    if not CHROMIUM.exists():
        raise RuntimeError("/usr/bin/chromium is missing: `make test` installs the Debian packages chromium and chromium-driver")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


# --- the default stack exactly as scripts/run.sh starts it (security, bad input, no outbound) ---

AUDIT_HOOK = '''
"""Test-only: logs every socket connect/bind/sendto and name lookup of this process (sys.addaudithook)."""
import os, sys
_path = os.environ.get("GOVBOT_AUDIT_LOG")
if _path:
    _fd = os.open(_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    _events = {"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"}
    _lookups = {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr"}

    def _audit(event, args):
        if event in _events:
            line = f"{os.getpid()}\\t{event}\\t{args[1]!r}\\n"
        elif event in _lookups:
            line = f"{os.getpid()}\\t{event}\\t{args[0]!r}\\n"
        else:
            return
        os.write(_fd, line.encode("utf-8", "backslashreplace"))

    sys.addaudithook(_audit)
'''


class Stack:
    """The three services of `make run` (scripts/run.sh, default profile) on free loopback ports."""

    def __init__(self, ports: dict, env: dict, log: Path, audit_log: Path, state: Path) -> None:
        self.rasa_url = f"http://127.0.0.1:{ports['rasa']}"
        self.action_url = f"http://127.0.0.1:{ports['action']}"
        self.case_url = f"http://127.0.0.1:{ports['case']}"
        self.env, self.log, self.audit_log, self.state = env, log, audit_log, state
        self.rasa_token = env["GOVBOT_RASA_TOKEN"]
        self.wechat_token = env["WECHAT_TOKEN"]

    def rest(self, payload, trusted: bool = True, **kwargs) -> requests.Response:
        """POST to the REST channel: a dict is sent as JSON, bytes as they are; as the trusted
        server (GOVBOT_REST_TOKEN) unless `trusted` is False (a member of the public)."""
        url = f"{self.rasa_url}/webhooks/rest/webhook"
        headers = {**(REST_AUTH if trusted else {}), **kwargs.pop("headers", {})}
        if isinstance(payload, (bytes, str)):
            headers = {"Content-Type": "application/json", **headers}
            return requests.post(url, data=payload, headers=headers, timeout=120, **kwargs)
        return requests.post(url, json=payload, headers=headers, timeout=120, **kwargs)

    def texts(self, sender: str, message: str) -> list[str]:
        response = self.rest({"sender": sender, "message": message})
        assert response.status_code == 200, (response.status_code, response.text)
        return [m.get("text", "") for m in response.json()]

    def say(self, sender: str, message: str) -> str:
        return "\n".join(self.texts(sender, message))

    def tracker(self, sender: str) -> dict:
        response = requests.get(
            f"{self.rasa_url}/conversations/{sender}/tracker", params={"token": self.rasa_token}, timeout=30
        )
        response.raise_for_status()
        return response.json()

    def staff(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.env['GOVBOT_CASE_STAFF_TOKEN']}"}
        return requests.request(method, f"{self.case_url}{path}", headers=headers, timeout=30, **kwargs)

    def all_logs(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="session")
def default_stack(rasa_model, knowledge_service, tmp_path_factory):
    """scripts/run.sh itself, with an audit hook in every Python process it starts.

    Ports, databases and tokens come from the environment as a deployment would set them; the
    WeChat channel is on (token only: passive replies, no WeChat API) so all public channels are
    reachable. Sanic runs on asyncio's loop instead of uvloop here: uvloop connects in C, out of
    sight of Python's audit hooks.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = tmp_path_factory.mktemp("stack")
    hook_dir, state = base / "audit", base / "state"
    hook_dir.mkdir()
    state.mkdir()
    (hook_dir / "sitecustomize.py").write_text(AUDIT_HOOK, encoding="utf-8")
    audit_log = ARTIFACTS / "stack-audit.log"
    audit_log.write_text("")
    ports = {"rasa": free_port(), "action": free_port(), "case": free_port(), "web": free_port()}
    env = dict(
        {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "GOVBOT_", "SANIC_"))},
        RASA_PORT=str(ports["rasa"]),
        ACTION_PORT=str(ports["action"]),
        CASE_PORT=str(ports["case"]),
        GOVBOT_WEB_PORT=str(ports["web"]),
        GOVBOT_CASE_DATABASE_URL=f"sqlite:///{state / 'cases.db'}",
        GOVBOT_OUTBOX_DATABASE_URL=f"sqlite:///{state / 'outbox.db'}",
        GOVBOT_RASA_TOKEN=secrets.token_urlsafe(24),
        GOVBOT_CASE_STAFF_TOKEN=secrets.token_urlsafe(24),
        GOVBOT_CASE_BOT_TOKEN=secrets.token_urlsafe(24),
        GOVBOT_ACTION_TOKEN=secrets.token_urlsafe(24),
        GOVBOT_SESSION_SECRET=secrets.token_urlsafe(24),
        GOVBOT_REST_TOKEN=REST_TOKEN,
        GOVBOT_WEB_ORIGINS="https://www.example.gov.cn",
        GOVBOT_HANDOFF_HOURS="none",  # nobody answers live: 转人工 takes a message (tests/test_handoff_channels.py)
        GOVBOT_LOG_DIR=str(base / "logs"),  # bounded log files too (bot.ops.log_files, tests/test_log_files.py)
        WECHAT_TOKEN=secrets.token_hex(16),
        WECHAT_REPLY_DEADLINE="4.5",
        PYTHONPATH=str(hook_dir),
        GOVBOT_AUDIT_LOG=str(audit_log),
        SANIC_USE_UVLOOP="false",
        DISABLE_UVLOOP="1",  # aiogram, imported with Rasa's channels, installs uvloop's policy otherwise
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    log = ARTIFACTS / "stack.log"
    process = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "run.sh")],
        cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    stack = Stack(ports, env, log, audit_log, state)
    stack.pid = process.pid  # run.sh leads its own session: its processes share this session id
    try:
        # run.sh stops announcing after ~3 minutes but keeps waiting; on a busy machine start-up takes longer.
        for url in (f"{stack.case_url}/health", f"{stack.action_url}/health", f"{stack.rasa_url}/"):
            wait_until(url, process, log, timeout=900)
        yield stack
    finally:
        process.terminate()  # run.sh's trap stops the three services
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)


# Parallel runs (pytest-xdist, `--dist loadgroup`): the unit of scheduling is a group, and a group runs
# in one worker, in order. A test file is a group, so its module fixtures start once. Tests on the
# shared run.sh stack form one group, so it starts once; the production-profile stacks (two Rasa
# replicas, nginx, PostgreSQL, Redis each) form one, so no two of them compete for the cores at once.
# Groups holding a stack go first: the long ones start early and the short files fill the gaps.
STACK_GROUPS = ("default-stack", "production-stacks")
STACK_FIXTURES = ("servers", "web", "default_stack")


def _xdist_group(item: pytest.Item) -> str:
    if "default_stack" in item.fixturenames:
        return "default-stack"
    if item.get_closest_marker("scaleout"):
        return "production-stacks"
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not getattr(config.option, "loadgroup", False):  # set in each xdist worker under --dist loadgroup
        return
    groups = {id(item): _xdist_group(item) for item in items}
    with_stack = {groups[id(item)] for item in items if any(name in item.fixturenames for name in STACK_FIXTURES)}
    with_stack.update(STACK_GROUPS)
    for item in items:
        item.add_marker(pytest.mark.xdist_group(groups[id(item)]))
    first_seen = {}
    for index, item in enumerate(items):
        first_seen.setdefault(groups[id(item)], index)
    items.sort(key=lambda item: (groups[id(item)] not in with_stack, first_seen[groups[id(item)]]))
