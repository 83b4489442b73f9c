"""When staff answer a handoff live: the agency's service hours on its working days.

The hours are those of knowledge/agency.yml (`hours`, e.g. 「工作日上午9:00—12:00，下午13:30—17:00」:
every HH:MM—HH:MM in it is one period), on the working days of the case service's calendar
(national holidays and 调休 from the `holidays` package, the agency's own overrides in
GOVBOT_CASE_CALENDAR). GOVBOT_HANDOFF_HOURS replaces the periods: `always` (staffed around the
clock, holidays included), `none` (nobody answers live: every handoff takes a message), or periods
such as `09:00-12:00,13:30-17:00` on working days.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

from bot.settings.casework import CaseworkSettings

log = logging.getLogger(__name__)

HOURS_ENV = CaseworkSettings.variable("handoff_hours").name
AGENCY_TIMEZONE = ZoneInfo("Asia/Shanghai")
_PERIOD = re.compile(r"(\d{1,2})\s*[:：]\s*(\d{2})\s*(?:-|—|–|~|～|至|到)+\s*(\d{1,2})\s*[:：]\s*(\d{2})")


@dataclass(frozen=True)
class ServiceHours:
    periods: tuple[tuple[dt.time, dt.time], ...]
    always: bool = False

    @classmethod
    def parse(cls, text: str) -> "ServiceHours":
        """Periods found in free text; `always` / `none` as described in the module docstring."""
        value = (text or "").strip().lower()
        if value == "always":
            return cls((), always=True)
        periods = []
        for h1, m1, h2, m2 in _PERIOD.findall(text or ""):
            start = dt.time(min(int(h1), 23), min(int(m1), 59))
            end = dt.time(23, 59, 59) if int(h2) >= 24 else dt.time(int(h2), min(int(m2), 59))
            if start < end:
                periods.append((start, end))
        return cls(tuple(periods))

    def open_at(self, moment: dt.datetime, is_workday) -> bool:
        if self.always:
            return True
        local = moment.astimezone(AGENCY_TIMEZONE)
        if not is_workday(local.date()):
            return False
        now = local.time()
        return any(start <= now < end for start, end in self.periods)


@lru_cache(maxsize=1)
def _calendar():
    from bot.case_service.deadlines import WorkingDayCalendar

    return WorkingDayCalendar.from_file(CaseworkSettings.read("calendar_path"))


def service_hours(agency: dict) -> ServiceHours:
    override = CaseworkSettings.read("handoff_hours")
    return ServiceHours.parse(override or str(agency.get("hours") or ""))


def staffed_now(agency: dict, now: dt.datetime | None = None) -> bool:
    """Whether a person can answer now; a calendar that cannot be read counts weekdays only."""
    moment = now or dt.datetime.now(dt.timezone.utc)
    try:
        is_workday = _calendar().is_workday
    except Exception as exc:  # a broken override file must not stop the handoff itself
        log.error("working-day calendar unavailable (%s): counting Monday to Friday", exc)
        is_workday = lambda day: day.weekday() < 5  # noqa: E731
    return service_hours(agency).open_at(moment, is_workday)
