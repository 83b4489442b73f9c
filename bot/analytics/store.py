"""Reading conversation events out of Rasa's SQL tracker store, read-only.

Rasa's SQLTrackerStore keeps one row per event in the `events` table (sender_id, type_name,
timestamp, intent_name, action_name, data = the event as JSON). Reading that table directly is
fast and needs neither Rasa nor the domain; the in-memory store keeps nothing to analyse.
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from bot.privacy.tracker_db import sql_url_from_endpoints

EVENTS_TABLE = "events"


class TrackerStoreError(RuntimeError):
    """The tracker store cannot be read; the message is Chinese and says what to do."""


def url_from_endpoints(path: Path) -> str:
    """The database URL of the tracker store configured in an endpoints.yml."""
    try:
        url = sql_url_from_endpoints(path)
    except ValueError as exc:
        raise TrackerStoreError(str(exc)) from exc
    if url is None:
        raise TrackerStoreError(
            f"{path} 中的对话存储不是 SQL 存储（当前为内存存储，重启后不保留对话），无法统计。"
            "请在 tracker_store 中设置 backend: sql（SQLite 或 PostgreSQL，见 README「数据分析」），"
            "或用 --db-url 指定对话数据库。"
        )
    return url


def _engine(db_url: str):
    try:
        url = make_url(db_url)
    except ArgumentError as exc:
        raise TrackerStoreError(f"数据库地址格式不正确：{db_url!r}（例如 sqlite:///var/tracker.db）") from exc
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if not database or database == ":memory:" or not Path(database).is_file():
            raise TrackerStoreError(f"找不到对话数据库文件：{database or '（空）'}")
        # Read-only: staff reports must never lock or change the live store.
        return create_engine(
            f"sqlite:///file:{Path(database).resolve()}?mode=ro&uri=true", future=True
        )
    return create_engine(url, future=True)


def day_bounds(start: datetime.date, end: datetime.date, tz: timezone) -> tuple[float, float]:
    """Unix timestamps of [start 00:00, end+1 00:00) in the report's time zone."""
    low = datetime.combine(start, time.min, tzinfo=tz).timestamp()
    high = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz).timestamp()
    return low, high


def load_events(db_url: str, start_ts: float, end_ts: float) -> list[dict[str, Any]]:
    """Every event with start_ts <= timestamp < end_ts, ordered per conversation, each with `sender_id`."""
    engine = _engine(db_url)
    query = text(
        f"SELECT sender_id, data FROM {EVENTS_TABLE} "
        "WHERE timestamp >= :low AND timestamp < :high ORDER BY sender_id, timestamp, id"
    )
    try:
        with engine.connect() as connection:
            rows = connection.execute(query, {"low": start_ts, "high": end_ts}).all()
    except SQLAlchemyError as exc:
        raise TrackerStoreError(f"读取对话数据库失败（是否为 Rasa 的 SQL 对话存储？）：{exc.__class__.__name__}") from exc
    finally:
        engine.dispose()
    events = []
    for sender_id, data in rows:
        try:
            event = json.loads(data)
        except (TypeError, ValueError):
            continue
        if isinstance(event, dict):
            event["sender_id"] = sender_id
            events.append(event)
    return events
