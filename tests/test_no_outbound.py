"""No outbound connections in the default configuration: every socket the stack opens stays on the machine.

The default_stack fixture runs scripts/run.sh with a sitecustomize.py that installs an audit hook
(sys.addaudithook) in every Python process: each connect(), sendto(), bind() and name lookup is
logged. After real conversations (a knowledge answer, a disclosure application delivered to the
case service, 转人工 and its release through Rasa's API) every target must be loopback or a Unix
socket. A crash at start-up (when Rasa's bundled Sentry key would report the error) is checked too.
"""

from __future__ import annotations

import ast
import ipaddress
import os
import re
import subprocess
import uuid

import pytest

from tests.conftest import ARTIFACTS, ROOT, VENV_BIN, free_port

pytestmark = pytest.mark.e2e

CONNECTS = ("socket.connect", "socket.sendto", "socket.sendmsg")
LOOKUPS = ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr")


def audit_entries(path) -> list[tuple[str, object]]:
    entries = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        _pid, event, raw = line.split("\t", 2)
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        entries.append((event, value))
    return entries


def is_local_host(host) -> bool:
    if host in (None, "", b"", "localhost", b"localhost"):
        return True
    if isinstance(host, bytes):
        host = host.decode()
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def outside_the_machine(entries) -> list[str]:
    """Entries that would leave the machine (non-loopback connects, sends and name lookups)."""
    leaks = []
    for event, value in entries:
        if event in CONNECTS:
            if value is None or isinstance(value, (str, bytes)):  # AF_UNIX path, or a connected socket's send
                continue
            if not is_local_host(value[0]):
                leaks.append(f"{event} {value}")
        elif event in LOOKUPS and not is_local_host(value):
            leaks.append(f"{event} {value!r}")
    return leaks


def test_conversations_make_no_connection_beyond_loopback(default_stack):
    stack = default_stack
    assert "来源：" in stack.say(f"out-{uuid.uuid4().hex[:8]}", "上海市商务委2020年对政务新媒体提了什么要求")
    applicant = f"out-{uuid.uuid4().hex[:8]}"
    for answer in ("我要申请政府信息公开", "公民", "王小明", "居民身份证", "11010519491231002X", "13700001111",
                   "示例市2020年政务公开工作要点全文", "电子", "电子邮件", "wangxm@example.com"):
        stack.say(applicant, answer)
    assert re.search(r"回执号：GK\d{12}", stack.say(applicant, "确认提交"))
    handoff = f"out-{uuid.uuid4().hex[:8]}"
    assert "人工" in stack.say(handoff, "转人工")
    cases = stack.staff("GET", "/cases", params={"kind": "handoff", "limit": 200}).json()["items"]
    [case] = [c for c in cases if c["conversation_id"] == handoff]
    closed = stack.staff("POST", f"/cases/{case['tracking_number']}/transitions", json={"action": "close", "note": "已联系"})
    assert closed.status_code == 200, closed.text  # the case service resumes the conversation through Rasa's API

    entries = audit_entries(stack.audit_log)
    ports = {int(url.rsplit(":", 1)[1]) for url in (stack.rasa_url, stack.action_url, stack.case_url)}
    seen = {value[1] for event, value in entries if event == "socket.connect" and isinstance(value, tuple)}
    # The hook sees the stack's own traffic: Rasa → action server → case service → Rasa API.
    assert ports <= seen, (ports, seen)
    assert outside_the_machine(entries) == []


def test_telemetry_and_error_reporting_are_off():
    script = (ROOT / "scripts" / "run.sh").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "RASA_TELEMETRY_ENABLED=false" in script and "RASA_TELEMETRY_ENABLED := false" in makefile
    check = (
        "import rasa.telemetry as t; "
        "print(t.is_telemetry_enabled(), t.telemetry_write_key() is None, t.sentry_write_key() is None)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RASA_")}
    env["RASA_TELEMETRY_ENABLED"] = "false"
    out = subprocess.run([str(VENV_BIN / "python"), "-c", check], capture_output=True, text=True, env=env, check=True)
    # Rasa 3.6 starts Sentry whenever its bundled key exists, whatever RASA_TELEMETRY_ENABLED says:
    # `make venv` removes that key file.
    assert out.stdout.split() == ["False", "True", "True"], out.stdout + out.stderr


def test_a_crash_at_start_up_reports_nothing_outside(rasa_model, tmp_path):
    """An uncaught start-up error (a bad WeChat setting) is where Rasa would report to Sentry."""
    hook = tmp_path / "audit"
    hook.mkdir()
    from tests.conftest import AUDIT_HOOK

    (hook / "sitecustomize.py").write_text(AUDIT_HOOK, encoding="utf-8")
    audit = ARTIFACTS / "crash-audit.log"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    audit.write_text("")
    env = dict(
        {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "RASA_"))},
        RASA_TELEMETRY_ENABLED="false", PYTHONPATH=str(hook), GOVBOT_AUDIT_LOG=str(audit), SANIC_USE_UVLOOP="false",
        DISABLE_UVLOOP="1",
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}/webhook",
        WECHAT_TOKEN="token", WECHAT_REPLY_DEADLINE="9",  # refused: must be under 5 seconds
    )
    result = subprocess.run(
        [str(VENV_BIN / "rasa"), "run", "--model", str(rasa_model), "--endpoints", "endpoints.yml",
         "--credentials", "credentials.yml", "--interface", "127.0.0.1", "--port", str(free_port())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0 and "WECHAT_REPLY_DEADLINE" in result.stdout + result.stderr
    assert outside_the_machine(audit_entries(audit)) == []
