"""Security settings of the default stack (scripts/run.sh): tokens, loopback, CORS, no secrets in the repository."""

from __future__ import annotations

import ast
import asyncio
import re
import subprocess

import pytest
import requests
import socketio

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

ALLOWED_ORIGIN = "https://www.example.gov.cn"  # GOVBOT_WEB_ORIGINS of the default_stack fixture
EVIL_ORIGIN = "https://evil.example.com"
LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|::1|localhost)$")


# --- Rasa's HTTP API: token only ------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/status"),
        ("GET", "/version/../status"),
        ("GET", "/domain"),
        ("GET", "/conversations/someone/tracker"),
        ("POST", "/conversations/someone/messages"),
        ("POST", "/conversations/someone/tracker/events"),
        ("POST", "/conversations/someone/trigger_intent"),
        ("POST", "/model/parse"),
        ("PUT", "/model"),
        ("DELETE", "/model"),
    ],
)
def test_rasa_http_api_refuses_requests_without_the_token(default_stack, method, path):
    url = f"{default_stack.rasa_url}{path}"
    body = {"text": "你好", "sender": "user", "event": "restart", "name": "greet"}
    assert requests.request(method, url, json=body, timeout=30).status_code == 401
    assert requests.request(method, url, json=body, params={"token": "wrong"}, timeout=30).status_code == 401
    headers = {"Authorization": "Bearer wrong"}
    assert requests.request(method, url, json=body, headers=headers, timeout=30).status_code == 401


def test_rasa_http_api_answers_with_the_token_and_the_root_says_nothing_more(default_stack):
    status = requests.get(f"{default_stack.rasa_url}/status", params={"token": default_stack.rasa_token}, timeout=30)
    assert status.status_code == 200 and "model_file" in status.json()
    root = requests.get(f"{default_stack.rasa_url}/", timeout=30)
    assert root.status_code == 200 and "model" not in root.text.lower()


def test_run_script_never_enables_the_api_without_a_token_or_listens_beyond_loopback():
    script = (ROOT / "scripts" / "run.sh").read_text(encoding="utf-8")
    commands = re.findall(r"\.venv/bin/(?:rasa|python)\b(?:[^\n]*\\\n)*[^\n]*", script)
    assert commands, "no service commands found in scripts/run.sh"
    for command in commands:
        if "--enable-api" in command:
            # bot.ops.rasa_cli takes the token from GOVBOT_RASA_TOKEN and refuses to open the API without
            # one; a token on the command line would be visible to every local user (issue 16 item 9).
            assert "bot.ops.rasa_cli" in command and "--auth-token" not in command, command
        if " run " in f" {command} " and "actions" not in command and re.search(r"\b(rasa|bot\.rasa_cli) run\b", command):
            assert "--interface 127.0.0.1" in command, command
        if "bot.case_service" in command:
            assert "--host 127.0.0.1" in command, command
        assert "0.0.0.0" not in command, command
    assert re.search(r"^export SANIC_HOST=127\.0\.0\.1$", script, re.M)  # the action server's address
    assert "RASA_TELEMETRY_ENABLED=false" in script


def test_every_listening_socket_of_the_stack_is_on_loopback(default_stack):
    """Every bind() any Python process of the stack made (audit hook), and the ports themselves."""
    binds = [line.split("\t")[2] for line in default_stack.audit_log.read_text().splitlines() if "\tsocket.bind\t" in line]
    assert binds, "the audit hook saw no bind() at all"
    for address in binds:
        value = ast.literal_eval(address)
        if isinstance(value, (str, bytes)):  # AF_UNIX
            continue
        assert LOOPBACK.match(str(value[0])), f"bound to {value}"
    listening = _listening_addresses()
    for url in (default_stack.rasa_url, default_stack.action_url, default_stack.case_url):
        port = int(url.rsplit(":", 1)[1])
        assert listening.get(port), f"nothing listens on {port}"
        assert all(LOOPBACK.match(host) for host in listening[port]), (port, listening[port])


def _listening_addresses() -> dict[int, set[str]]:
    """port -> local addresses of LISTEN sockets, from /proc/net/tcp and tcp6."""
    found: dict[int, set[str]] = {}
    for name, v6 in (("tcp", False), ("tcp6", True)):
        try:
            lines = open(f"/proc/net/{name}").read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] != "0A":  # LISTEN
                continue
            address, port = fields[1].split(":")
            if v6:
                host = "::1" if address == "00000000000000000000000001000000" else address
                host = "::" if set(address) == {"0"} else host
            else:
                host = ".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0))
            found.setdefault(int(port, 16), set()).add(host)
    return found


# --- action server and case service ---------------------------------------------------------


def test_action_server_allows_no_browser_origin(default_stack):
    preflight = requests.options(
        f"{default_stack.action_url}/webhook",
        headers={"Origin": EVIL_ORIGIN, "Access-Control-Request-Method": "POST"}, timeout=30,
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_case_service_requires_tokens_for_everything_but_health(default_stack):
    url = default_stack.case_url
    assert requests.get(f"{url}/health", timeout=30).status_code == 200
    for method, path in (("GET", "/cases"), ("POST", "/cases"), ("GET", "/cases/GK202601010001")):
        assert requests.request(method, f"{url}{path}", json={}, timeout=30).status_code == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert requests.request(method, f"{url}{path}", json={}, headers=wrong, timeout=30).status_code == 401
    bot = {"Authorization": f"Bearer {default_stack.env['GOVBOT_CASE_BOT_TOKEN']}"}
    assert requests.get(f"{url}/cases", headers=bot, timeout=30).status_code == 403  # staff only


# --- CORS: only the configured origins -----------------------------------------------------


def test_rasa_cors_allows_only_the_configured_origins(default_stack):
    def preflight(origin: str) -> requests.Response:
        return requests.options(
            f"{default_stack.rasa_url}/webhooks/rest/webhook",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"},
            timeout=30,
        )

    assert preflight(ALLOWED_ORIGIN).headers.get("Access-Control-Allow-Origin") == ALLOWED_ORIGIN
    assert "Access-Control-Allow-Origin" not in preflight(EVIL_ORIGIN).headers
    simple = requests.post(
        f"{default_stack.rasa_url}/webhooks/rest/webhook", json={"sender": "cors", "message": ""},
        headers={"Origin": EVIL_ORIGIN}, timeout=30,
    )
    assert "Access-Control-Allow-Origin" not in simple.headers


def test_socketio_accepts_only_the_configured_origins(default_stack):
    async def connect(origin: str) -> bool:
        client = socketio.AsyncClient(reconnection=False)
        try:
            await client.connect(default_stack.rasa_url, socketio_path="/socket.io", transports=["polling"],
                                 headers={"Origin": origin}, wait_timeout=10)
        except socketio.exceptions.ConnectionError:
            return False
        await client.disconnect()
        return True

    assert asyncio.run(connect(ALLOWED_ORIGIN))
    assert not asyncio.run(connect(EVIL_ORIGIN))


# --- secrets: from the environment only --------------------------------------------------------

SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s/:@'\"]+:(?!\$\{|<|‹|\*|(?:password|pass|PASSWORD|change-?me|CHANGE-?ME)@)[^\s/:@'\"]{3,}@"),
    "quoted secret": re.compile(
        r"(?i)\b(?:password|passwd|secret|app_?secret|api_?key|access_?key|auth_?token|aes_?key|encodingaeskey)\b"
        r"[\"']?\s*[:=]\s*[\"']([A-Za-z0-9+/=_\-]{16,})[\"']"
    ),
    "WeChat secret or key": re.compile(r"(?i)\b(?:WECHAT_APP_SECRET|WECHAT_AES_KEY(?:_PREVIOUS)?|WECHAT_TOKEN)=[A-Za-z0-9+/]{16,}"),
}


def repository_files() -> list[str]:
    """Tracked files, plus new files not ignored: what a commit would contain."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode()
    return [path for path in listing.split("\0") if path and (ROOT / path).is_file()]


def test_no_secret_values_in_the_repository():
    files = repository_files()
    assert "scripts/run.sh" in files and "credentials.yml" in files
    found = []
    for path in files:
        text = (ROOT / path).read_text(encoding="utf-8", errors="ignore")
        for name, pattern in SECRET_PATTERNS.items():
            for match in pattern.finditer(text):
                found.append(f"{path}: {name}: {match.group(0)[:60]}")
    assert not found, "\n".join(found)


def test_channel_and_endpoint_files_take_secrets_from_the_environment():
    names = ["credentials.yml", *sorted(p.name for p in ROOT.glob("endpoints*.yml"))]
    for name in names:
        text = (ROOT / name).read_text(encoding="utf-8")
        for line in text.splitlines():
            if re.search(r"(?i)(token|secret|password|key)\s*:", line) and not line.lstrip().startswith("#"):
                assert "${" in line, f"{name}: {line}"


def test_the_secret_scan_finds_what_it_should():
    value = "0123456789abcdef" * 2
    samples = [  # assembled here, so that this file itself holds none of them
        "-----BEGIN RSA " + "PRIVATE KEY-----",
        "AKIA" + "ABCDEFGHIJKLMNOP",
        "postgresql://rasa:" + "s3cr3t-pw@db.example:5432/rasa",
        "app_secret = " + f'"{value}"',
        "WECHAT_APP_SECRET=" + value,
    ]
    harmless = [
        "postgresql://postgres@127.0.0.1:5432/test",
        "password: ${TRACKER_DB_PASSWORD}",
        "postgresql://user:password@host/db",
        "postgresql://govbot:change-me@127.0.0.1/govbot",
        "WECHAT_TOKEN=${WECHAT_TOKEN}",
        'token = secrets.token_urlsafe(24)',
    ]
    assert all(any(p.search(s) for p in SECRET_PATTERNS.values()) for s in samples)
    assert not any(p.search(s) for p in SECRET_PATTERNS.values() for s in harmless)
