"""The rules behind live 转人工 that need no running stack: service hours and the contact phone."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.case_service.deadlines import WorkingDayCalendar
from bot.handoff.canned import parse_replies
from bot.handoff.hours import AGENCY_TIMEZONE, ServiceHours, staffed_now
from bot.handoff.relay import contact_phone

AGENCY_HOURS = "工作日上午9:00—12:00，下午13:30—17:00（法定节假日除外）"


def at(day: str, time: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=AGENCY_TIMEZONE)


@pytest.mark.parametrize("day, time, staffed", [
    ("2026-12-07", "09:00", True),    # Monday, opening
    ("2026-12-07", "11:59", True),
    ("2026-12-07", "12:30", False),   # lunch
    ("2026-12-07", "16:59", True),
    ("2026-12-07", "17:00", False),   # closed
    ("2026-12-05", "10:00", False),   # Saturday
    ("2026-10-01", "10:00", False),   # National Day
])
def test_agency_hours_on_working_days(day, time, staffed):
    hours = ServiceHours.parse(AGENCY_HOURS)
    assert hours.open_at(at(day, time), WorkingDayCalendar().is_workday) is staffed


def test_overrides_and_utc_moments(monkeypatch):
    monkeypatch.setenv("GOVBOT_HANDOFF_HOURS", "none")
    assert not staffed_now({"hours": AGENCY_HOURS}, at("2026-12-07", "10:00"))
    monkeypatch.setenv("GOVBOT_HANDOFF_HOURS", "always")
    assert staffed_now({"hours": AGENCY_HOURS}, at("2026-12-05", "03:00"))
    monkeypatch.setenv("GOVBOT_HANDOFF_HOURS", "08:00-20:00")
    # 11:30 UTC is 19:30 in Beijing: open under the override, closed under the agency's own hours.
    assert staffed_now({"hours": AGENCY_HOURS}, dt.datetime(2026, 12, 7, 11, 30, tzinfo=dt.timezone.utc))
    monkeypatch.delenv("GOVBOT_HANDOFF_HOURS")
    assert not staffed_now({"hours": AGENCY_HOURS}, dt.datetime(2026, 12, 7, 11, 30, tzinfo=dt.timezone.utc))
    assert not staffed_now({}, at("2026-12-07", "10:00"))  # no hours written down: nobody is promised


def test_contact_phone_found_in_free_text():
    assert contact_phone("我的电话是 138 1234 5678，谢谢") == "13812345678"
    assert contact_phone("请打0871-65550123找我") == "0871-65550123"
    assert contact_phone("2024年12月的文件，编号12号") is None


def test_canned_replies_are_checked():
    assert parse_replies("您好\n\n  请稍等  \n") == ["您好", "请稍等"]
    with pytest.raises(ValueError, match="最多 30 条"):
        parse_replies("\n".join(f"回复{i}" for i in range(31)))
    with pytest.raises(ValueError, match="第 1 条"):
        parse_replies("长" * 501)
