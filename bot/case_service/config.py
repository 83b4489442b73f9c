"""Case-service settings, read once from the environment (`GOVBOT_CASE_*`).

Defaults work on a fresh checkout (SQLite under var/, no tokens = authenticated endpoints closed),
so `python -m bot.case_service` starts without configuration; a deployment sets the variables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp.web import AppKey

from bot.settings import AccessSettings, CaseworkSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8100
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'cases.db'}"

# The agency's timezone: receipt dates, tracking-number dates and deadlines are calendar days here.
AGENCY_TIMEZONE = ZoneInfo("Asia/Shanghai")

# 《政府信息公开条例》(2019) Art. 33: answer within 20 working days, extendable once by at most 20.
DISCLOSURE_WORKING_DAYS = 20
EXTENSION_WORKING_DAYS = 20
# Complaints and suggestions: a service promise of the agency, not a statutory limit.
DEFAULT_PROMISE_WORKING_DAYS = CaseworkSettings.promise_working_days

MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class LookupPolicy:
    """How many wrong status look-ups lock a number, and for how long (also the window they count in).

    GOVBOT_CASE_LOOKUP_MAX_FAILURES (default 5), GOVBOT_CASE_LOOKUP_LOCK_SECONDS (default 3600).
    """

    max_failures: int = CaseworkSettings.lookup_max_failures
    lock_seconds: int = CaseworkSettings.lookup_lock_seconds


@dataclass(frozen=True)
class CaseServiceConfig:
    """Everything the app needs; tests build one directly instead of touching the environment."""

    database_url: str = DEFAULT_DATABASE_URL
    bot_token: str | None = None
    staff_token: str | None = None
    calendar_path: Path | None = None
    promise_working_days: int = DEFAULT_PROMISE_WORKING_DAYS
    max_body_bytes: int = MAX_BODY_BYTES
    # Rasa's HTTP API, to resume a conversation when staff close its 转人工 case (empty: not configured).
    rasa_url: str | None = None
    rasa_token: str | None = None
    # Wrong status look-ups (unknown number or phone digits) that lock a number, and for how long.
    lookup_policy: LookupPolicy = LookupPolicy()

    @classmethod
    def from_env(cls, database_url: str | None = None) -> "CaseServiceConfig":
        case = CaseworkSettings.from_env()
        return cls(
            database_url=database_url or case.case_database_url or DEFAULT_DATABASE_URL,
            bot_token=case.bot_token or None,
            staff_token=case.staff_token or None,
            calendar_path=case.calendar_path,
            promise_working_days=case.promise_working_days,
            rasa_url=AccessSettings.read("rasa_url") or None,
            rasa_token=AccessSettings.read("rasa_token") or None,
            lookup_policy=LookupPolicy(case.lookup_max_failures, case.lookup_lock_seconds),
        )


# Where the app keeps its CaseServiceConfig (app.py sets it; handoff_api.py reads it too).
CONFIG_KEY = AppKey("config", CaseServiceConfig)
