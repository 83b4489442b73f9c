"""统计: the analytics report (bot.analytics) for a period, in Chinese, in Beijing time, with each
channel apart (网站挂件, 自助终端, 微信公众号, REST 接口), on the default in-memory store too."""

from __future__ import annotations

import asyncio
import datetime as dt

from aiohttp import web

from bot.analytics.keywords import keywords
from bot.analytics.metrics import CHANNEL_LABELS, Period, compute
from bot.analytics.report import Names, tables
from bot.analytics.store import day_bounds
from bot.settings import Settings

from .auth import audit, require_role
from .config import CONSOLE_CONFIG_KEY
from .case_client import SESSION_KEY
from .events import EventsUnavailable, period_events
from .layout import BEIJING, render

DEFAULT_DAYS = 30
MAX_DAYS = 366
# Channels always listed, in this order, even with no traffic: staff compare them.
CHANNELS = ("widget", "kiosk", "wechat", "rest")


def _period(query) -> tuple[dt.date, dt.date, str]:
    today = dt.datetime.now(BEIJING).date()
    try:
        end = dt.date.fromisoformat(query.get("to", "")) if query.get("to") else today
        start = dt.date.fromisoformat(query.get("from", "")) if query.get("from") else end - dt.timedelta(days=DEFAULT_DAYS - 1)
    except ValueError:
        return today - dt.timedelta(days=DEFAULT_DAYS - 1), today, "日期格式应为 年-月-日（如 2026-11-01），已显示最近 30 天。"
    if start > end:
        return end, end, "起始日期晚于截止日期，已只显示截止日期当天。"
    if (end - start).days >= MAX_DAYS:
        return end - dt.timedelta(days=MAX_DAYS - 1), end, f"一次最多统计 {MAX_DAYS} 天，已从截止日期往前截取。"
    return start, end, ""


def _bars(rows: list[dict], key: str) -> list[dict]:
    """Rows with `share` (0–100) of the largest value, for <meter> bars (no inline styles: the CSP)."""
    top = max([r[key] for r in rows] or [0]) or 1
    return [dict(r, share=round(100 * r[key] / top)) for r in rows]


def channel_rows(per_channel: dict) -> list[dict]:
    names = list(CHANNELS) + sorted(set(per_channel) - set(CHANNELS))
    rows = [
        {"code": name, "渠道": CHANNEL_LABELS.get(name, name), "对话数": per_channel.get(name, {}).get("conversations", 0),
         "用户消息": per_channel.get(name, {}).get("user_messages", 0)}
        for name in names
    ]
    return _bars(rows, "用户消息")


@require_role("staff")
async def analytics(request: web.Request) -> web.Response:
    start, end, warning = _period(request.query)
    config = request.config_dict[CONSOLE_CONFIG_KEY]
    low, high = day_bounds(start, end, BEIJING)
    error, stats, report = "", None, {}
    try:
        events = await period_events(config, low, high, request.config_dict.get(SESSION_KEY))
    except EventsUnavailable as exc:
        error = str(exc)
    else:
        stats = compute(events, Period(start, end, BEIJING), keywords)
        names = await asyncio.to_thread(Names.from_knowledge, Settings.from_env().knowledge_dir)
        report = tables(stats, [], names)
        report["daily"] = _bars(report["daily"], "用户消息")
        # Emoji have no glyph in many office PCs' fonts (and none in the test browser): words only.
        intents = [dict(row, 含义=row["含义"].replace("👍 ", "").replace("👎 ", "")) for row in report["intents"][:15]]
        report["intents"] = _bars(intents, "次数")
    await audit(request, "analytics_view", f"{start}..{end}")
    answered = (stats.knowledge_answered / stats.knowledge_questions * 100) if stats and stats.knowledge_questions else None
    return render(
        request, "analytics.html", title="统计", start=start, end=end, warning=warning, error=error, stats=stats,
        report=report, channels=channel_rows(stats.per_channel) if stats else [], answered=answered,
        status=503 if error else 200,
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/console/analytics", analytics)
