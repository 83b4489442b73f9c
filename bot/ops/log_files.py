"""Bounded log files: each service also writes its log to GOVBOT_LOG_DIR, rotated, old files deleted.

Without GOVBOT_LOG_DIR nothing changes: logs go to the terminal (stderr) as before, where
systemd/journald, Docker or Kubernetes keep and bound them. With it, every process writes
`<dir>/<service>-<port>.log` (one file per process, so replicas never rotate each other's file):

* GOVBOT_LOG_ROTATE=daily (default): a new file at midnight, GOVBOT_LOG_BACKUPS old days kept
  (default 14), the oldest deleted;
* GOVBOT_LOG_ROTATE=size: a new file once it reaches GOVBOT_LOG_MAX_BYTES (default 10 MiB),
  GOVBOT_LOG_BACKUPS old files kept: at most (GOVBOT_LOG_BACKUPS + 1) × GOVBOT_LOG_MAX_BYTES on disk.

GOVBOT_LOG_FORMAT=json writes one JSON object a line (time, level, logger, message, service, and
the exception when there is one) for a log collector; `text` (default) is the terminal's format.
Files are created readable by their owner only: log lines can mention conversations.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from bot.settings.logs import LogSettings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ROTATIONS = LogSettings.variable("rotate").choices
FORMATS = LogSettings.variable("format").choices
_MARK = "_govbot_log_file"


class JsonLines(logging.Formatter):
    """One JSON object a line, non-ASCII kept readable."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self.service,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _private(handler_class):
    class Private(handler_class):
        def _open(self):  # 0600 from the first byte, rotated files included
            fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            return os.fdopen(fd, self.mode if "a" in self.mode else "a", encoding=self.encoding, errors=self.errors)

    Private.__name__ = f"Private{handler_class.__name__}"
    return Private


PrivateRotatingFileHandler = _private(logging.handlers.RotatingFileHandler)
PrivateTimedRotatingFileHandler = _private(logging.handlers.TimedRotatingFileHandler)


def file_handler(service: str, environ=None) -> logging.Handler | None:
    """The handler GOVBOT_LOG_* describe, or None when GOVBOT_LOG_DIR is unset; ValueError in Chinese."""
    # The other settings are checked only when there is a log directory to write to.
    if not LogSettings.variable("directory").read(environ):
        return None
    logs = LogSettings.from_env(environ)
    directory, rotate, style, backups, max_bytes = logs.directory, logs.rotate, logs.format, logs.backups, logs.max_bytes
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"无法创建日志目录 GOVBOT_LOG_DIR={directory}：{exc.strerror or exc}") from exc
    filename = str(path / f"{service}.log")
    if rotate == "size":
        handler = PrivateRotatingFileHandler(filename, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    else:
        handler = PrivateTimedRotatingFileHandler(filename, when="midnight", backupCount=backups, encoding="utf-8")
    handler.setFormatter(JsonLines(service) if style == "json" else logging.Formatter(TEXT_FORMAT))
    setattr(handler, _MARK, True)
    return handler


def configure(service: str, level: int = logging.INFO) -> None:
    """Terminal logging as before, plus the bounded file when GOVBOT_LOG_DIR is set.

    A bad setting stops the process with a Chinese message (exit status 2), before it serves.
    """
    logging.basicConfig(level=level, format=TEXT_FORMAT)
    attach(service)


def attach(service: str) -> None:
    """Adds the bounded file to the root logger (once per process); for processes whose logging
    someone else set up (Rasa)."""
    root = logging.getLogger()
    if any(getattr(h, _MARK, False) for h in root.handlers):
        return
    try:
        handler = file_handler(service)
    except ValueError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    if handler is not None:
        root.addHandler(handler)


def port_from_argv(argv: list[str], default: int) -> int:
    """The value of --port in a command line (`--port 5005` or `--port=5005`)."""
    for i, arg in enumerate(argv):
        if arg == "--port" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--port="):
            value = arg.split("=", 1)[1]
        else:
            continue
        try:
            return int(value)
        except ValueError:
            return default
    return default
