"""Bounded log files (issue 20 item 5, bot.ops.log_files): rotation by size and by day with a count of
old files kept, JSON lines, owner-only files, clear errors for bad settings, and the services of
`make run` writing their own files."""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
import requests

from bot.ops.log_files import JsonLines, file_handler, port_from_argv
from tests.conftest import ROOT, VENV_BIN, free_port, wait_until


def logger_with(handler: logging.Handler, name: str) -> logging.Logger:
    log = logging.getLogger(f"test_log_files.{name}")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    return log


def test_without_a_log_directory_nothing_changes():
    assert file_handler("actions-5055", environ={}) is None


def test_size_rotation_keeps_the_disk_use_bounded(tmp_path):
    env = {"GOVBOT_LOG_DIR": str(tmp_path), "GOVBOT_LOG_ROTATE": "size", "GOVBOT_LOG_MAX_BYTES": "4096", "GOVBOT_LOG_BACKUPS": "3"}
    handler = file_handler("actions-5055", environ=env)
    log = logger_with(handler, "size")
    try:
        for i in range(2000):
            log.info("第 %d 条：咨询已答复 %s", i, "x" * 40)
    finally:
        handler.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["actions-5055.log", "actions-5055.log.1", "actions-5055.log.2", "actions-5055.log.3"]
    assert all((tmp_path / f).stat().st_size <= 4096 for f in files)
    assert "第 1999 条" in (tmp_path / "actions-5055.log").read_text(encoding="utf-8")  # the newest lines survive
    assert not any("第 0 条" in (tmp_path / f).read_text(encoding="utf-8") for f in files)  # the oldest are gone
    assert all(stat.S_IMODE((tmp_path / f).stat().st_mode) == 0o600 for f in files)


def test_daily_rotation_keeps_the_configured_number_of_days(tmp_path):
    env = {"GOVBOT_LOG_DIR": str(tmp_path), "GOVBOT_LOG_BACKUPS": "2"}
    handler = file_handler("case-service-8100", environ=env)
    assert isinstance(handler, logging.handlers.TimedRotatingFileHandler) and handler.when == "MIDNIGHT"
    log = logger_with(handler, "daily")
    try:
        for day in range(5):  # five midnights, each rotated file named after the day it holds
            log.info("day %d", day)
            handler.rolloverAt = int(time.time()) - (4 - day) * 86400 - 1
        log.info("today")
    finally:
        handler.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 3 and "case-service-8100.log" in files, files  # today and two old days
    assert (tmp_path / "case-service-8100.log").read_text(encoding="utf-8").strip().endswith("today")
    kept = "".join((tmp_path / f).read_text(encoding="utf-8") for f in files)
    assert "day 4" in kept and "day 0" not in kept


def test_json_lines_carry_the_exception(tmp_path):
    handler = file_handler("web-8080", environ={"GOVBOT_LOG_DIR": str(tmp_path), "GOVBOT_LOG_FORMAT": "json"})
    assert isinstance(handler.formatter, JsonLines)
    log = logger_with(handler, "json")
    try:
        log.warning("知识库 %s 未加载", "v2")
        try:
            raise RuntimeError("数据库断开")
        except RuntimeError:
            log.exception("投递失败")
    finally:
        handler.close()
    lines = [json.loads(line) for line in (tmp_path / "web-8080.log").read_text(encoding="utf-8").splitlines()]
    assert [(e["level"], e["message"], e["service"]) for e in lines] == [
        ("WARNING", "知识库 v2 未加载", "web-8080"), ("ERROR", "投递失败", "web-8080")
    ]
    assert "RuntimeError: 数据库断开" in lines[1]["exception"] and lines[0]["time"].endswith("+00:00")


@pytest.mark.parametrize("variable, value, message", [
    ("GOVBOT_LOG_ROTATE", "weekly", "GOVBOT_LOG_ROTATE 应为 daily 或 size"),
    ("GOVBOT_LOG_FORMAT", "xml", "GOVBOT_LOG_FORMAT 应为 text 或 json"),
    ("GOVBOT_LOG_BACKUPS", "0", "GOVBOT_LOG_BACKUPS 不能小于 1"),
    ("GOVBOT_LOG_MAX_BYTES", "十兆", "GOVBOT_LOG_MAX_BYTES 应为整数"),
])
def test_a_bad_setting_is_named_in_chinese(tmp_path, variable, value, message):
    with pytest.raises(ValueError, match=message):
        file_handler("x", environ={"GOVBOT_LOG_DIR": str(tmp_path), variable: value})


def test_port_from_argv():
    assert port_from_argv(["run", "--port", "5011"], 5005) == 5011
    assert port_from_argv(["run", "--port=5012"], 5005) == 5012
    assert port_from_argv(["run"], 5005) == 5005


def test_the_case_service_writes_its_bounded_file_and_refuses_a_bad_setting(tmp_path):
    port = free_port()
    env = dict(os.environ, GOVBOT_LOG_DIR=str(tmp_path / "logs"), GOVBOT_LOG_FORMAT="json",
               GOVBOT_CASE_DATABASE_URL=f"sqlite:///{tmp_path / 'cases.db'}", GOVBOT_CASE_STAFF_TOKEN="s" * 24)
    log = tmp_path / "stdout.log"
    process = subprocess.Popen(
        [str(VENV_BIN / "python"), "-m", "bot.case_service", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
    )
    try:
        wait_until(f"http://127.0.0.1:{port}/health", process, log, timeout=60)
        requests.get(f"http://127.0.0.1:{port}/cases/GK202509300001?phone_last4=8000", timeout=10)
    finally:
        process.terminate()
        process.wait(timeout=20)
    path = tmp_path / "logs" / f"case-service-{port}.log"
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert any(e["message"].startswith("case service on http://127.0.0.1") for e in entries)
    assert any(e["logger"] == "bot.case_service.access" for e in entries)
    assert not any("8000" in e["message"] for e in entries if e["logger"] == "bot.case_service.access")  # path only
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    bad = subprocess.run(
        [str(VENV_BIN / "python"), "-m", "bot.case_service", "--port", str(free_port())],
        cwd=ROOT, env=dict(env, GOVBOT_LOG_ROTATE="hourly"), capture_output=True, text=True, timeout=60,
    )
    assert bad.returncode == 2 and "GOVBOT_LOG_ROTATE 应为 daily 或 size" in bad.stderr and "Traceback" not in bad.stderr


def test_every_service_of_make_run_writes_its_own_file(default_stack):
    """The default stack (scripts/run.sh) runs with GOVBOT_LOG_DIR: Rasa, the action server, the
    case service and the web server each write a file named after their port."""
    stack = default_stack
    assert stack.texts("log-files-1", "你好")
    logs = Path(stack.env["GOVBOT_LOG_DIR"])
    names = {p.name for p in logs.iterdir()}
    ports = {"rasa": stack.env["RASA_PORT"], "actions": stack.env["ACTION_PORT"],
             "case-service": stack.env["CASE_PORT"], "web": stack.env["GOVBOT_WEB_PORT"]}
    for service, port in ports.items():
        assert f"{service}-{port}.log" in names, (service, names)
    assert "Rasa server is up and running" in (logs / f"rasa-{ports['rasa']}.log").read_text(encoding="utf-8")
