"""Staff console settings from the environment; the defaults work with `make run` (embedded SQLite)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp.web import AppKey

from bot.access.rate_limit import trusted_proxies
from bot.settings import AccessSettings, CaseworkSettings, LimitSettings, WebSettings

DEFAULT_DATABASE_URL = WebSettings.console_database_url
DEFAULT_CASE_URL = CaseworkSettings.case_url
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
        web = WebSettings.from_env()
        return cls(
            database_url=web.console_database_url,
            case_url=CaseworkSettings.read("case_url").rstrip("/"),
            case_staff_token=CaseworkSettings.read("staff_token"),
            admin_password=web.console_admin_password,
            tracker_database_url=web.tracker_database_url,
            rasa_url=(AccessSettings.read("rasa_url") or cls.rasa_url).rstrip("/"),
            rasa_token=AccessSettings.read("rasa_token"),
            trusted_proxies=trusted_proxies(LimitSettings.read("trusted_proxies")),
            calendar_path=CaseworkSettings.read("calendar_path"),
        )


# Where the web server's app keeps the ConsoleConfig: request.config_dict[CONSOLE_CONFIG_KEY].
CONSOLE_CONFIG_KEY = AppKey("console_config", ConsoleConfig)
