"""`govbot erase`: one person's cases, outbox entries, drafts and conversations go, others' stay.

Against the real stores (CaseStore, Outbox + DraftStore, Rasa's SQLTrackerStore) on SQLite files
and on a private PostgreSQL database; afterwards the erased identifiers are searched for in every
file (SQLite, WAL included) or every table row (PostgreSQL).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.casework.case_client import CaseClient
from bot.case_service.handoff_store import HandoffMessageRow
from bot.case_service.store import CaseStore, NewCase
from bot.case_service.workflow import Kind
from bot.casework.drafts import DraftStore
from bot.privacy.erasure import AUDIT_TABLE, Eraser, phone_key
from bot.casework.outbox import Outbox
from tests.conftest import ROOT, VENV_BIN, require_postgres

PEOPLE = {
    "a": {"phone": "13800138000", "name": "张三", "id_number": "110101199003070035"},
    "b": {"phone": "13900139000", "name": "李四", "id_number": "110101198805060012"},
}


@pytest.fixture(params=["sqlite", "postgresql"])
def urls(request, tmp_path):
    """(cases, outbox, tracker) URLs: three SQLite files, or one private PostgreSQL database."""
    if request.param == "sqlite":
        yield {name: f"sqlite:///{tmp_path / f'{name}.db'}" for name in ("cases", "outbox", "tracker")}, tmp_path
        return
    user = require_postgres()
    name = f"govbot_erasure_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(f"postgresql://{user}@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql://{user}@127.0.0.1:5432/{name}"
    try:
        yield {"cases": url, "outbox": url, "tracker": url}, None
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _tracker_store(url: str) -> SQLTrackerStore:
    u = sa.engine.make_url(url)
    if u.get_backend_name() == "sqlite":
        return SQLTrackerStore(Domain.empty(), dialect="sqlite", db=u.database)
    return SQLTrackerStore(Domain.empty(), dialect="postgresql", host=u.host, port=u.port, db=u.database, username=u.username)


def populate(urls) -> dict:
    """Each person: a delivered case, a rejected and a pending outbox entry, a draft, a conversation."""
    cases = CaseStore(urls["cases"])
    cases.create_tables()
    outbox = Outbox(urls["outbox"], CaseClient("http://127.0.0.1:9", "x" * 32))
    drafts = DraftStore(outbox.engine)
    tracker = _tracker_store(urls["tracker"])
    found = {}
    now = dt.datetime.now(dt.timezone.utc)
    for who, person in PEOPLE.items():
        conversation, later = f"conv-{who}-{uuid.uuid4().hex[:6]}", f"later-{who}-{uuid.uuid4().hex[:6]}"
        applicant = {"name": person["name"], "phone": person["phone"], "id_number": person["id_number"]}
        record, _ = cases.create_case(NewCase(
            idempotency_key=uuid.uuid4().hex, request_hash="0" * 64, kind=Kind.DISCLOSURE, prefix="GK",
            channel="web", conversation_id=conversation, applicant=applicant,
            request={"description": f"{person['name']}申请公开的信息"}, transcript=None, received_at=now, deadline=None,
        ))
        with cases.engine.begin() as connection:  # what the person typed to staff in a live handoff (bot.handoff)
            case_id = connection.execute(sa.text("SELECT id FROM cases WHERE tracking_number = :n"), {"n": record.tracking_number}).scalar_one()
            connection.execute(sa.insert(HandoffMessageRow.__table__).values(
                case_id=case_id, role="citizen", author="", text=f"我是{person['name']}，想问申请进度", at=now))
        payload = {"kind": "disclosure", "channel": "web", "conversation_id": conversation, "applicant": applicant}
        delivered = outbox.enqueue("disclosure", payload, uuid.uuid4().hex)
        rejected = outbox.enqueue("complaint", {**payload, "kind": "complaint", "conversation_id": later}, uuid.uuid4().hex)
        with outbox.engine.begin() as connection:
            t = outbox.table
            connection.execute(sa.update(t).where(t.c.id == delivered.id).values(
                status="delivered", tracking_number=record.tracking_number,
                payload=f'{{"kind": "disclosure", "channel": "web", "conversation_id": "{conversation}"}}'))
            connection.execute(sa.update(t).where(t.c.id == rejected.id).values(status="rejected"))
        drafts.put(f"abandoned-{who}", "phone", person["phone"])
        drafts.put(f"abandoned-{who}", "id_number", person["id_number"])
        at = now.timestamp()
        events = [
            UserUttered(f"我叫{person['name']}，电话{person['phone']}", timestamp=at),
            ActionExecuted("action_submit", timestamp=at + 1),
            BotUttered(f"已受理，查询编号 {record.tracking_number}", timestamp=at + 2),
        ]
        asyncio.run(tracker.save(DialogueStateTracker.from_events(conversation, events)))
        found[who] = {"number": record.tracking_number, "conversations": {conversation, later, f"abandoned-{who}"}, **person}
    cases.dispose()
    outbox.close()
    tracker.engine.dispose()
    return found


def secrets_of(person: dict) -> list[str]:
    return [person["phone"], person["id_number"], person["name"], person["number"], *person["conversations"]]


def everything_stored(urls, directory: Path | None) -> str:
    """Every byte of every SQLite file (with WALs), or every row of every PostgreSQL table, as text."""
    if directory is not None:
        return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in sorted(directory.glob("*.db*")))
    engine = sa.create_engine(urls["cases"])
    chunks = []
    with engine.connect() as connection:
        for table in sa.inspect(connection).get_table_names():
            chunks += [repr(tuple(row)) for row in connection.execute(sa.text(f'SELECT * FROM "{table}"'))]
    engine.dispose()
    return "\n".join(chunks)


def run_govbot(urls, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    command = [str(VENV_BIN / "govbot"), "erase", *args, "--case-db-url", urls["cases"],
               "--outbox-db-url", urls["outbox"], "--tracker-db-url", urls["tracker"]]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, input=input, timeout=120)


@pytest.mark.parametrize("by", ["case", "phone"])
def test_erase_leaves_no_trace_of_the_person_and_keeps_everyone_else(urls, by):
    urls, directory = urls
    people = populate(urls)
    a, b = people["a"], people["b"]
    before = everything_stored(urls, directory)
    assert all(s in before for s in secrets_of(a) + secrets_of(b))  # the search would see them
    which = ["--case", a["number"]] if by == "case" else ["--phone", "+86 138-0013-8000"]

    dry = run_govbot(urls, *which, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "试运行，未删除任何数据" in dry.stdout and "办理案件：1 件" in dry.stdout and a["number"] in dry.stdout
    assert all(s in everything_stored(urls, directory) for s in secrets_of(a))  # a dry run deletes nothing
    cancelled = run_govbot(urls, *which, input="n\n")
    assert "已取消" in cancelled.stdout

    done = run_govbot(urls, *which, "--yes", "--operator", "王工", "--reason", "删除申请 SQ-001")
    assert done.returncode == 0, done.stderr
    assert "已删除：案件 1 件" in done.stdout and "已记入审计记录" in done.stdout

    after = everything_stored(urls, directory)
    for secret in secrets_of(a):  # by case number too: the case's applicant phone finds the rest
        assert secret not in after, secret
    for secret in secrets_of(b):
        assert secret in after, secret

    eraser = Eraser(urls["cases"], urls["outbox"], urls["tracker"])
    try:
        audit = eraser.audit_entries()
        assert len(audit) == 1 and audit[0]["operator"] == "王工" and audit[0]["identifier_kind"] == by
        assert not any(s in repr(audit) for s in secrets_of(a))
        assert eraser.plan(phone=b["phone"]).counts()["cases"] == 1
    finally:
        eraser.close()


def test_erase_by_phone_reaches_unlinked_entries_and_drafts(urls):
    urls, directory = urls
    people = populate(urls)
    eraser = Eraser(urls["cases"], urls["outbox"], urls["tracker"])
    try:
        plan = eraser.plan(phone=people["a"]["phone"])
        assert plan.counts() == {"cases": 1, "outbox": 2, "drafts": 2, "tracker_events": 3, "conversations": 3}
        eraser.erase(plan, operator="test", identifier_kind="phone")
        assert eraser.plan(phone=people["a"]["phone"]).empty
        assert eraser.plan(phone=people["b"]["phone"]).counts()["outbox"] == 2
    finally:
        eraser.close()
    with sa.create_engine(urls["outbox"]).connect() as connection:
        assert connection.execute(sa.text(f"SELECT counts FROM {AUDIT_TABLE}")).scalar().startswith("{")


def test_nothing_found_and_bad_arguments_are_said_in_chinese(urls):
    urls, _directory = urls
    populate(urls)
    none = run_govbot(urls, "--phone", "13700000000", "--yes")
    assert none.returncode == 0 and "未找到" in none.stdout
    both = run_govbot(urls, "--phone", "13700000000", "--case", "GK1")
    assert both.returncode == 1 and "二者选一" in both.stderr


def test_phone_key_ignores_formatting_and_country_code():
    assert phone_key("+86 138-0013-8000") == phone_key("008613800138000") == "13800138000"


def test_in_memory_tracker_store_is_said_not_checked(urls):
    urls, _directory = urls
    people = populate(urls)
    command = [str(VENV_BIN / "govbot"), "erase", "--phone", people["a"]["phone"], "--dry-run",
               "--case-db-url", urls["cases"], "--outbox-db-url", urls["outbox"], "--endpoints", str(ROOT / "endpoints.yml")]
    dry = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert "未检查（对话存于 Rasa 进程内存或未配置）" in dry.stdout and "办理案件：1 件" in dry.stdout
