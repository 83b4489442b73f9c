"""Staff console settings from the environment; the defaults work with `make run` (embedded SQLite)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bot.envvars import env_secret
from bot.rate_limit import trusted_proxies
from bot.settings import PROJECT_ROOT

DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'console.db'}"
DEFAULT_CASE_URL = "http://127.0.0.1:8100"
FIRST_ADMIN = "admin"


@dataclass(frozen=True)
class ConsoleConfig:
    # Staff accounts, sessions, sign-in failures and the audit log.
    database_url: str = DEFAULT_DATABASE_URL
    # The case service the console is a staff client of (bot.case_service, token role `staff`).
    case_url: str = DEFAULT_CASE_URL
    case_staff_token: str = ""
    # Where the analytics read conversations: the SQL tracker store when set, else Rasa's events
    # export (bot.channels.events_export, needs Rasa's API token) — the default in-memory store.
    tracker_database_url: str = ""
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str = ""
    # The agency's extra holidays and working days, as the case service reads them (days left).
    calendar_path: Path | None = None
    # The first admin's password on a machine without accounts (empty: a random one is printed once).
    admin_password: str = ""
    # Reverse proxies whose X-Forwarded-For names the client (sign-in throttling per address).
    trusted_proxies: tuple = ()

    @classmethod
    def from_env(cls) -> "ConsoleConfig":
        env = os.environ.get
        return cls(
            database_url=env("GOVBOT_CONSOLE_DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL,
            case_url=(env("GOVBOT_CASE_URL", "").strip() or DEFAULT_CASE_URL).rstrip("/"),
            case_staff_token=env("GOVBOT_CASE_STAFF_TOKEN", "").strip(),
            admin_password=env_secret("GOVBOT_CONSOLE_ADMIN_PASSWORD"),
            tracker_database_url=env("GOVBOT_TRACKER_DATABASE_URL", "").strip(),
            rasa_url=(env("GOVBOT_RASA_URL", "").strip() or cls.rasa_url).rstrip("/"),
            rasa_token=env_secret("GOVBOT_RASA_TOKEN"),
            trusted_proxies=trusted_proxies(env("GOVBOT_TRUSTED_PROXIES", "")),
            calendar_path=Path(env("GOVBOT_CASE_CALENDAR", "").strip()).expanduser() if env("GOVBOT_CASE_CALENDAR", "").strip() else None,
        )
