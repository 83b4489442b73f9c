"""A period's conversation events for the console (analytics; the knowledge review may use it too).

From the SQL tracker store when GOVBOT_TRACKER_DATABASE_URL names one (production: read-only, as
`govbot analytics` reads it), else from Rasa's events export (bot.channels.events_export), which
serves whatever store Rasa runs with, the default in-memory one included.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from bot.analytics.store import TrackerStoreError, load_events

from .config import ConsoleConfig

logger = logging.getLogger(__name__)
TIMEOUT = aiohttp.ClientTimeout(total=60)


class EventsUnavailable(Exception):
    """The Chinese reason the period's conversations cannot be read now."""


async def period_events(config: ConsoleConfig, low: float, high: float, session: aiohttp.ClientSession | None = None) -> list[dict]:
    """Events with low <= timestamp < high, each with its sender_id."""
    if config.tracker_database_url:
        try:
            return await asyncio.to_thread(load_events, config.tracker_database_url, low, high)
        except TrackerStoreError as exc:
            raise EventsUnavailable(str(exc)) from exc
    if not config.rasa_token:
        raise EventsUnavailable("未配置 Rasa 的令牌（GOVBOT_RASA_TOKEN），无法读取对话数据。")
    own = session is None
    session = session or aiohttp.ClientSession()
    try:
        async with session.get(
            f"{config.rasa_url}/webhooks/events/export", params={"from": repr(low), "to": repr(high)},
            headers={"Authorization": f"Bearer {config.rasa_token}"}, timeout=TIMEOUT,
        ) as response:
            if response.status != 200:
                logger.warning("events export answered HTTP %s", response.status)
                raise EventsUnavailable(f"助手服务没有提供对话数据（HTTP {response.status}），请确认 Rasa 已启动且令牌一致。")
            body = await response.json()
            return list(body.get("events") or [])
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise EventsUnavailable("助手服务（Rasa）暂时无法访问，统计无法生成，请稍后再试。") from exc
    finally:
        if own:
            await session.close()
