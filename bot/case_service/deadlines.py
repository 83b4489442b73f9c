"""Working-day arithmetic for answer deadlines under the 2019 《政府信息公开条例》.

Art. 33: a disclosure application is answered within 20 working days from the day it is received
(the receipt day itself is not counted); one extension of at most 20 working days. Art. 30: asking
the applicant to correct the application (补正) stops the clock; it restarts, in full, from the day
the corrected application is received.

Working days come from the `holidays` package's China calendar. It computes the statutory
holidays of 《全国年节及纪念日放假办法》 for any year (元旦, the lunar 春节/清明/端午/中秋, 劳动节, 国庆节,
with 补假 on weekdays for holidays falling on a weekend), and adds the State Council's yearly notice
(extra days off and the adjusted working weekends 调休) for the years it has been published. For a
later year the computed holidays still count, but the 调休 days are unknown: we warn once per year
unless the agency has listed that year's working days itself. An agency can override single days
with a YAML file {holidays: [YYYY-MM-DD, ...], workdays: [...]}; its entries beat everything else.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import holidays
import yaml
from holidays.countries.china import ChinaStaticHolidays

logger = logging.getLogger(__name__)

# Years whose State Council holiday notice (with its 调休 working weekends) the package knows.
PUBLISHED_YEARS = frozenset(ChinaStaticHolidays.special_public_holidays)


class CalendarConfigError(ValueError):
    """The agency's override file is unreadable or contradicts itself."""


def _parse_days(raw: object, key: str, source: Path) -> frozenset[dt.date]:
    if raw is None:
        return frozenset()
    if not isinstance(raw, list):
        raise CalendarConfigError(f"日历文件 {source} 中 {key} 应为日期列表")
    days = set()
    for item in raw:
        if isinstance(item, dt.datetime):
            item = item.date()
        if isinstance(item, dt.date):
            days.add(item)
            continue
        try:
            days.add(dt.date.fromisoformat(str(item).strip()))
        except ValueError as exc:
            raise CalendarConfigError(f"日历文件 {source} 中 {key} 含无效日期 {item!r}（格式应为 YYYY-MM-DD）") from exc
    return frozenset(days)


@dataclass
class WorkingDayCalendar:
    """Decides whether a date is a working day: agency overrides, then the national calendar."""

    extra_holidays: frozenset[dt.date] = frozenset()
    extra_workdays: frozenset[dt.date] = frozenset()
    _warned_years: set[int] = field(default_factory=set, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    # Fills in a year's holidays on first use; guarded by _lock, as filling in is not thread-safe.
    _national: holidays.HolidayBase = field(default_factory=holidays.China, init=False, repr=False)

    def __post_init__(self) -> None:
        both = self.extra_holidays & self.extra_workdays
        if both:
            listed = ", ".join(sorted(day.isoformat() for day in both))
            raise CalendarConfigError(f"以下日期同时被配置为节假日和工作日：{listed}")

    @classmethod
    def from_file(cls, path: Path | None) -> "WorkingDayCalendar":
        """Load the agency's overrides; no path means the national calendar alone."""
        if path is None:
            return cls()
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise CalendarConfigError(f"无法读取日历文件 {path}：{exc}") from exc
        except ValueError as exc:  # YAML dates that do not exist, e.g. 2027-13-01
            raise CalendarConfigError(f"日历文件 {path} 含无效日期（格式应为 YYYY-MM-DD）：{exc}") from exc
        if not isinstance(data, dict):
            raise CalendarConfigError(f"日历文件 {path} 应为包含 holidays 和 workdays 的映射")
        unknown = set(data) - {"holidays", "workdays"}
        if unknown:
            raise CalendarConfigError(f"日历文件 {path} 含未知字段：{', '.join(sorted(map(str, unknown)))}")
        return cls(
            extra_holidays=_parse_days(data.get("holidays"), "holidays", Path(path)),
            extra_workdays=_parse_days(data.get("workdays"), "workdays", Path(path)),
        )

    def is_workday(self, day: dt.date) -> bool:
        if day in self.extra_holidays:
            return False
        if day in self.extra_workdays:
            return True
        if day.year not in PUBLISHED_YEARS:
            self._warn_unpublished(day.year)
        with self._lock:
            return self._national.is_working_day(day)

    def _warn_unpublished(self, year: int) -> None:
        """Say once per year that 调休 days may be missing, unless the agency listed that year's."""
        with self._lock:
            if year in self._warned_years:
                return
            self._warned_years.add(year)
        if any(day.year == year for day in self.extra_workdays):
            return
        logger.warning(
            "no State Council holiday notice for %d in holidays %s: counting the statutory holidays "
            "computed from the calendar, but adjusted working weekends (调休) may be missing; upgrade "
            "holidays or list the year's working days in GOVBOT_CASE_CALENDAR",
            year,
            holidays.__version__,
        )

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """The `days`-th working day after `start`; `start` itself is never counted."""
        if days < 1:
            raise ValueError("days must be positive")
        current = start
        counted = 0
        while counted < days:
            current += dt.timedelta(days=1)
            if self.is_workday(current):
                counted += 1
        return current
