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

from bot.rasa_plugins.tracker_store import RedactingTrackerStore
from bot.privacy.retention import PeriodicPurge, purge_tracker_store, retention_days
from bot.privacy.tracker_db import sql_url_from_endpoints
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
        "tracker_store:\n  type: bot.rasa_plugins.tracker_store.RedactingTrackerStore\n  backend: sql\n" + settings,
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


# -- expiry of abandoned drafts and rejected payloads (outbox database) ------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def outbox_url(request, tmp_path):
    """The outbox database: a SQLite file, or a private schema of the shared PostgreSQL `test` database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'outbox.db'}"
        return
    user = require_postgres()
    schema = f"expiry_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(f"postgresql://{user}@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"postgresql://{user}@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _outbox(url):
    from bot.casework.case_client import CaseClient
    from bot.casework.outbox import Outbox

    return Outbox(url, CaseClient("http://127.0.0.1:9", "x" * 32), retry_base=0.01, retry_cap=0.05)


def _age_drafts(engine, conversation_id: str, field: str, days: float) -> None:
    from datetime import datetime, timedelta, timezone

    at = datetime.now(timezone.utc) - timedelta(days=days)
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE request_drafts SET updated_at = :at WHERE conversation_id = :c AND field = :f"),
            {"at": at if engine.dialect.name != "sqlite" else at.replace(tzinfo=None), "c": conversation_id, "f": field},
        )


def _entries(outbox, days_and_status):
    """Entries with a payload naming a phone each, their status and age set directly."""
    from datetime import timedelta

    from bot.casework.outbox import _utcnow

    keys = []
    for i, (days, status) in enumerate(days_and_status):
        key = uuid.uuid4().hex
        payload = {"channel": "web", "conversation_id": f"c{i}", "applicant": {"name": "王五", "phone": f"1360013{i:04d}"}}
        entry = outbox.enqueue("complaint", payload, key)
        with outbox.engine.begin() as connection:
            connection.execute(sa.update(outbox.table).where(outbox.table.c.id == entry.id).values(
                status=status, updated_at=_utcnow() - timedelta(days=days)))
        keys.append(key)
    return keys


def test_abandoned_drafts_expire_whole_conversations_only(outbox_url, tmp_path):
    from bot.casework.drafts import DraftStore
    from bot.privacy.retention import expire_drafts

    outbox = _outbox(outbox_url)
    drafts = DraftStore(outbox.engine)
    for conversation in ("abandoned", "typing", "fresh"):
        drafts.put(conversation, "id_number", f"11010119900307{len(conversation):04d}")
        drafts.put(conversation, "phone", "13800138000")
    _age_drafts(outbox.engine, "abandoned", "id_number", 3)
    _age_drafts(outbox.engine, "abandoned", "phone", 2)
    _age_drafts(outbox.engine, "typing", "id_number", 3)  # its phone was typed just now

    assert expire_drafts(outbox.engine, 1, dry_run=True) == 1
    assert drafts.get_all("abandoned")
    assert expire_drafts(outbox.engine, 0) == 0  # 0 keeps drafts
    assert expire_drafts(outbox.engine, 1) == 1
    assert drafts.get_all("abandoned") == {}
    assert set(drafts.get_all("typing")) == {"id_number", "phone"} and drafts.get_all("fresh")
    if outbox.is_sqlite:
        stored = b"".join(p.read_bytes() for p in tmp_path.glob("outbox.db*"))
        assert b"110101199003070009" not in stored and b"110101199003070005" in stored
    outbox.close()


def test_rejected_entries_keep_only_the_stub_after_the_period(outbox_url, tmp_path):
    from bot.privacy.retention import scrub_rejected_payloads

    outbox = _outbox(outbox_url)
    old_rejected, new_rejected, old_pending = _entries(outbox, [(40, "rejected"), (5, "rejected"), (40, "pending")])

    assert scrub_rejected_payloads(outbox.engine, 30, dry_run=True) == 1
    assert "applicant" in outbox.status(old_rejected).payload
    assert scrub_rejected_payloads(outbox.engine, 30) == 1
    assert outbox.status(old_rejected).payload == {"kind": "complaint", "channel": "web", "conversation_id": "c0"}
    assert outbox.status(old_rejected).rejected  # status, error and dates stay for the statistics
    assert outbox.status(new_rejected).payload["applicant"]["phone"] == "13600130001"
    assert outbox.status(old_pending).payload["applicant"]["phone"] == "13600130002"  # still to be delivered
    assert scrub_rejected_payloads(outbox.engine, 30) == 0  # a stub is not scrubbed twice
    if outbox.is_sqlite:
        stored = b"".join(p.read_bytes() for p in tmp_path.glob("outbox.db*"))
        assert b"13600130000" not in stored and b"13600130001" in stored
    outbox.close()


def test_cli_expires_with_the_configured_or_given_ages(outbox_url):
    from bot.casework.drafts import DraftStore

    outbox = _outbox(outbox_url)
    drafts = DraftStore(outbox.engine)
    drafts.put("abandoned", "phone", "13800138000")
    _age_drafts(outbox.engine, "abandoned", "phone", 3)
    (old_rejected,) = _entries(outbox, [(10, "rejected")])
    govbot = [str(VENV_BIN / "govbot"), "expire", "--outbox-db-url", outbox_url]
    env = {**os.environ, "GOVBOT_DRAFT_RETENTION_DAYS": "2", "GOVBOT_REJECTED_PAYLOAD_DAYS": "7"}

    dry = subprocess.run(govbot + ["--dry-run"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert dry.returncode == 0, dry.stderr
    assert "将删除 1 个对话的未提交表单草稿（超过 2 天）" in dry.stdout
    assert "将清除 1 条被拒请求的完整内容（超过 7 天）" in dry.stdout
    kept = subprocess.run(govbot + ["--rejected-older-than", "0", "--drafts-older-than", "5"],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    assert "已删除 0 个对话" in kept.stdout and "不清除（保留期为 0）" in kept.stdout, kept.stdout + kept.stderr
    assert drafts.get_all("abandoned") and "applicant" in outbox.status(old_rejected).payload
    done = subprocess.run(govbot, capture_output=True, text=True, cwd=ROOT, env=env)
    assert "已删除 1 个对话" in done.stdout and "已清除 1 条" in done.stdout, done.stdout + done.stderr
    assert drafts.get_all("abandoned") == {} and "applicant" not in outbox.status(old_rejected).payload
    outbox.close()


def test_deliverer_expires_when_idle(outbox_url, monkeypatch):
    from bot.casework.drafts import DraftStore
    from bot.casework.outbox_delivery import Deliverer

    monkeypatch.setenv("GOVBOT_REJECTED_PAYLOAD_DAYS", "30")
    monkeypatch.delenv("GOVBOT_DRAFT_RETENTION_DAYS", raising=False)  # default: 1 day
    outbox = _outbox(outbox_url)
    drafts = DraftStore(outbox.engine)
    drafts.put("abandoned", "phone", "13800138000")
    _age_drafts(outbox.engine, "abandoned", "phone", 1.5)
    (old_rejected,) = _entries(outbox, [(31, "rejected")])

    async def scenario():
        deliverer = Deliverer(outbox, poll_interval=0.05)
        deliverer.start()
        for _ in range(100):
            if not drafts.get_all("abandoned") and "applicant" not in outbox.status(old_rejected).payload:
                break
            await asyncio.sleep(0.05)
        await deliverer.stop()

    asyncio.run(scenario())
    assert drafts.get_all("abandoned") == {}
    assert "applicant" not in outbox.status(old_rejected).payload
    outbox.close()


def test_expiry_settings():
    from bot.privacy.retention import draft_retention_days, rejected_payload_days

    assert draft_retention_days({}) == 1 and rejected_payload_days({}) == 30
    assert draft_retention_days({"GOVBOT_DRAFT_RETENTION_DAYS": "0.5"}) == 0.5
    assert rejected_payload_days({"GOVBOT_REJECTED_PAYLOAD_DAYS": "0"}) == 0
    with pytest.raises(ValueError, match="GOVBOT_REJECTED_PAYLOAD_DAYS"):
        rejected_payload_days({"GOVBOT_REJECTED_PAYLOAD_DAYS": "-3"})
