"""Tracker retention on Rasa's real SQLTrackerStore (SQLite and PostgreSQL) and in-memory store."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import InMemoryTrackerStore, SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.redacting_tracker_store import RedactingTrackerStore
from bot.retention import PeriodicPurge, purge_tracker_store, retention_days
from bot.tracker_db import sql_url_from_endpoints
from tests.conftest import ROOT, VENV_BIN, require_postgres

DAY = 86400.0


def conversation(sender: str, *ages_in_days: float) -> DialogueStateTracker:
    """A tracker with one user turn and bot reply per age (days before now)."""
    now = time.time()
    events = []
    for age in ages_in_days:
        at = now - age * DAY
        events += [
            UserUttered("怎么申请政府信息公开", {"name": "ask_question", "confidence": 1.0}, timestamp=at),
            ActionExecuted("action_answer", timestamp=at + 1),
            BotUttered("可以通过网站、信函或当面提出申请。", timestamp=at + 2),
        ]
    return DialogueStateTracker.from_events(sender, events)


def save_all(store, trackers) -> None:
    """Stores conversations as an earlier run would have (the store's own background purge not involved)."""

    async def run():
        for tracker in trackers:
            await store.inner.save(tracker)

    asyncio.run(run())


def retrieve(store, sender):
    return asyncio.run(store.retrieve_full_tracker(sender))


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_store(request, tmp_path):
    """A real SQLTrackerStore wrapped as endpoints.yml configures it, on its own database."""
    if request.param == "sqlite":
        inner = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "tracker.db"))
        url = f"sqlite:///{tmp_path / 'tracker.db'}"
        yield RedactingTrackerStore(tracker_store=inner), url
        inner.engine.dispose()
        return
    user = require_postgres()
    name = f"govbot_retention_{uuid.uuid4().hex[:10]}"
    inner = SQLTrackerStore(
        Domain.empty(), dialect="postgresql", host="127.0.0.1", port=5432, db=name, username=user, login_db="test"
    )
    try:
        yield RedactingTrackerStore(tracker_store=inner), f"postgresql://{user}@127.0.0.1:5432/{name}"
    finally:
        inner.engine.dispose()
        admin = sa.create_engine(f"postgresql://{user}@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_sql_purge_deletes_only_conversations_idle_past_the_retention(sql_store):
    store, _url = sql_store
    old, recent, revived = (f"{kind}-{uuid.uuid4().hex[:6]}" for kind in ("old", "recent", "revived"))
    save_all(store, [conversation(old, 400, 300), conversation(recent, 2), conversation(revived, 500, 1)])

    assert purge_tracker_store(store, 180, dry_run=True) == 1
    assert retrieve(store, old) is not None  # a dry run deletes nothing
    assert purge_tracker_store(store, 180) == 1

    assert retrieve(store, old) is None
    assert len(retrieve(store, recent).events) == 3
    assert len(retrieve(store, revived).events) == 6  # an old conversation that went on is kept whole
    assert purge_tracker_store(store, 180) == 0
    assert purge_tracker_store(store, 0.5) == 2


def test_cli_purges_the_database_given_or_named_in_endpoints(sql_store, tmp_path):
    store, url = sql_store
    old, recent = f"old-{uuid.uuid4().hex[:6]}", f"recent-{uuid.uuid4().hex[:6]}"
    save_all(store, [conversation(old, 40), conversation(recent, 3)])
    govbot = [str(VENV_BIN / "govbot"), "tracker", "purge"]

    dry = subprocess.run(govbot + ["--older-than", "30", "--db-url", url, "--dry-run"], capture_output=True, text=True, cwd=ROOT)
    assert dry.returncode == 0 and "将删除 1 个" in dry.stdout, dry.stderr
    assert retrieve(store, old) is not None

    # endpoints.yml of the production kind: the SQL settings, with the database from the environment.
    endpoints = tmp_path / "endpoints.yml"
    if url.startswith("sqlite:///"):
        settings = "  dialect: sqlite\n  db: ${TRACKER_DB}\n"
        database = url[len("sqlite:///"):]
    else:
        user = sa.engine.make_url(url).username
        settings = f"  dialect: postgresql\n  url: 127.0.0.1\n  port: 5432\n  username: {user}\n  db: ${{TRACKER_DB}}\n"
        database = url.rsplit("/", 1)[1]
    endpoints.write_text(
        "tracker_store:\n  type: bot.redacting_tracker_store.RedactingTrackerStore\n  backend: sql\n" + settings,
        encoding="utf-8",
    )
    env = dict(os.environ, TRACKER_DB=database)
    done = subprocess.run(govbot + ["--older-than", "30", "--endpoints", str(endpoints)], capture_output=True, text=True,
                          cwd=ROOT, env=env)
    assert done.returncode == 0 and "已删除 1 个超过 30 天未活动的对话" in done.stdout, done.stdout + done.stderr
    assert retrieve(store, old) is None and retrieve(store, recent) is not None


def test_cli_explains_the_in_memory_store_and_bad_settings(tmp_path):
    govbot = [str(VENV_BIN / "govbot"), "tracker", "purge"]
    memory = subprocess.run(govbot + ["--older-than", "30"], capture_output=True, text=True, cwd=ROOT)
    assert memory.returncode == 0 and "内存" in memory.stdout  # the project's own endpoints.yml
    bad = subprocess.run(govbot + ["--older-than", "30", "--db-url", "postgresql://postgres@127.0.0.1:1/none"],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 1 and "无法清理对话数据库" in bad.stderr and "Traceback" not in bad.stderr
    assert sql_url_from_endpoints(ROOT / "endpoints.yml") is None


def test_store_purges_in_the_background_after_a_save(monkeypatch):
    monkeypatch.setenv("GOVBOT_TRACKER_RETENTION_DAYS", "30")
    store = RedactingTrackerStore()
    assert isinstance(store.inner, InMemoryTrackerStore)

    async def scenario():
        for tracker in (conversation("old", 45), conversation("recent", 10), conversation("just-created")):
            await store.inner.save(tracker)  # stored earlier, before this process's first save
        await store.save(conversation("new", 0))
        assert store._retention._task is not None
        await store._retention._task
        assert await store.retrieve("old") is None
        assert await store.retrieve("recent") is not None and await store.retrieve("new") is not None
        assert await store.retrieve("just-created") is not None  # no events yet: no age
        await store.save(conversation("old-again", 45))  # within the purge interval: no second purge
        assert store._retention.maybe_start() is None
        assert await store.retrieve("old-again") is not None

    asyncio.run(scenario())


def test_retention_setting(monkeypatch):
    assert retention_days({}) == 180
    assert retention_days({"GOVBOT_TRACKER_RETENTION_DAYS": "7"}) == 7
    assert PeriodicPurge(None, days=0).maybe_start() is None  # 0 keeps everything
    for bad in ("-1", "soon"):
        with pytest.raises(ValueError, match="GOVBOT_TRACKER_RETENTION_DAYS"):
            retention_days({"GOVBOT_TRACKER_RETENTION_DAYS": bad})
    monkeypatch.setenv("GOVBOT_TRACKER_RETENTION_DAYS", "many")
    with pytest.raises(ValueError):
        RedactingTrackerStore()
