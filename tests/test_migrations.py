"""Schema migrations (issue 20 item 5, bot.migrations): upgrade from an empty database and from the
schema earlier versions created at start, on SQLite files and the local PostgreSQL, for the outbox,
case and staff console databases; the migrated schema is the one the code's tables describe
(Alembic's own comparison)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot import migrations
from tests.conftest import PG_DATABASE, PG_HOST, PG_PORT, require_postgres

OUTBOX_TABLES = {"outbox", "request_drafts", "erasure_audit"}
CASE_TABLES = {"cases", "case_events", "lookup_failures", "handoff_messages"}
CONSOLE_TABLES = {"console_users", "console_sessions", "console_login_failures", "console_audit"}
VERSION_TABLES = {"alembic_version_outbox", "alembic_version_cases", "alembic_version_console"}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A database of its own: an SQLite file, or a private schema in the local PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'govbot.db'}"
        return
    user = require_postgres()
    schema = f"migrations_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(f"postgresql://{user}@{PG_HOST}:{PG_PORT}/{PG_DATABASE}", future=True)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"postgresql://{user}@{PG_HOST}:{PG_PORT}/{PG_DATABASE}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def outbox_models() -> sa.MetaData:
    from bot.privacy.erasure import audit_table
    from bot.casework.outbox import _table

    metadata = sa.MetaData()
    _table(metadata, "outbox")
    audit_table(metadata)
    sa.Table(  # bot.casework.drafts.DraftStore's table (built in its constructor)
        "request_drafts", metadata,
        sa.Column("conversation_id", sa.String(255), primary_key=True),
        sa.Column("field", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    return metadata


def case_models() -> sa.MetaData:
    import bot.case_service.handoff_store  # noqa: F401 - registers handoff_messages on the models' Base
    from bot.case_service.store import Base

    assert set(Base.metadata.tables) == CASE_TABLES  # a new model table must be listed (and migrated)
    metadata = sa.MetaData()
    for name in sorted(CASE_TABLES):
        Base.metadata.tables[name].to_metadata(metadata)
    return metadata


def console_models() -> sa.MetaData:
    from bot.console.store import Base

    assert set(Base.metadata.tables) == CONSOLE_TABLES
    metadata = sa.MetaData()
    for name in sorted(CONSOLE_TABLES):
        Base.metadata.tables[name].to_metadata(metadata)
    return metadata


def differences(engine: sa.engine.Engine, metadata: sa.MetaData) -> list:
    """What Alembic's autogenerate would change to make these tables match the code (the other
    history's tables and the version tables, which share the database, are not looked at)."""

    def include_name(name, type_, _parents):
        return type_ != "table" or name in metadata.tables

    opts = {"compare_type": True, "include_name": include_name}
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection, opts=opts), metadata)


def tables(engine: sa.engine.Engine) -> set[str]:
    with engine.connect() as connection:
        return set(sa.inspect(connection).get_table_names())


def revision(engine: sa.engine.Engine, name: str) -> str | None:
    with engine.connect() as connection:
        return migrations.current(connection, name)


def test_drafts_table_in_the_test_matches_the_code(tmp_path):
    from bot.casework.drafts import DraftStore
    from bot.casework.outbox import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'drafts.db'}")
    store = DraftStore(engine)
    mine = outbox_models().tables["request_drafts"]
    assert [(c.name, str(c.type), c.primary_key, c.nullable) for c in store.table.columns] == [
        (c.name, str(c.type), c.primary_key, c.nullable) for c in mine.columns
    ]


def test_an_empty_database_gets_every_table_at_the_newest_revision(database_url):
    from bot.case_service.store import CaseStore
    from bot.console.store import ConsoleStore
    from bot.casework.outbox import Outbox

    outbox = Outbox(database_url)  # what the action server and govbot do when they start
    cases = CaseStore(database_url)
    cases.create_tables()  # what the case service does when it starts
    console = ConsoleStore(database_url)
    console.create_tables()  # what the web server and `govbot staff` do when they open it
    try:
        assert tables(outbox.engine) == OUTBOX_TABLES | CASE_TABLES | CONSOLE_TABLES | VERSION_TABLES
        assert revision(outbox.engine, "outbox") == migrations.head("outbox")
        assert revision(cases.engine, "cases") == migrations.head("cases") == "cases_0002"
        assert revision(console.engine, "console") == migrations.head("console")
        assert differences(outbox.engine, outbox_models()) == []
        assert differences(cases.engine, case_models()) == []
        assert differences(console.engine, console_models()) == []
        changed = outbox_models()  # the comparison does see a table that differs from the code
        changed.tables["outbox"].append_column(sa.Column("priority", sa.Integer))
        assert [d[0] for d in differences(outbox.engine, changed)] == ["add_column"]
        # The migrated tables work: an entry goes in and comes out.
        entry = outbox.enqueue("suggestion", {"text": "路灯坏了"}, "k" * 32)
        assert outbox.status("k" * 32).id == entry.id
        console.create_user("zhangsan", "correct-horse-1", "admin")
        assert console.verify_password("zhangsan", "correct-horse-1")
        handoff_case_takes_messages(cases)
    finally:
        outbox.close()
        cases.dispose()
        console.dispose()


def handoff_case_takes_messages(cases) -> None:
    """A handoff case and its live messages go in, come out, and go with the case."""
    from bot.case_service.handoff_store import CITIZEN, HandoffStore
    from bot.case_service.store import NewCase
    from bot.case_service.workflow import KIND_PREFIXES, Kind

    now = dt.datetime.now(dt.timezone.utc)
    case, _ = cases.create_case(NewCase(
        idempotency_key=uuid.uuid4().hex, request_hash="0" * 64, kind=Kind.HANDOFF, prefix=KIND_PREFIXES[Kind.HANDOFF], channel="rest",
        conversation_id="conv-handoff", applicant={"name": "张三"}, request={"question": "转人工"}, transcript=None,
        received_at=now, deadline=None,
    ))
    store = HandoffStore(cases)
    _, message = store.add_citizen_message("conv-handoff", "我想问一下进度", None, now)
    assert [m.text for m in store.case_messages(case.tracking_number)] == ["我想问一下进度"]
    assert store.last_id() == message.id


def test_a_database_from_before_migrations_is_adopted_with_its_rows(database_url):
    """Tables created at start by earlier versions (metadata.create_all, no version table) keep
    their rows; the first revision creates only what is missing and stamps the database."""
    from bot.case_service.store import CaseStore
    from bot.casework.outbox import Outbox, make_engine

    engine = make_engine(database_url)
    old = outbox_models()
    old.remove(old.tables["erasure_audit"])  # created only by the first erasure: may well be missing
    old.create_all(engine)
    old_cases = case_models()
    old_cases.remove(old_cases.tables["handoff_messages"])  # came after the first revision
    old_cases.create_all(engine)
    old_console = console_models()  # the console's create_all before it had migrations
    old_console.create_all(engine)
    now = dt.datetime(2026, 1, 5, 9, 0)
    with engine.begin() as connection:
        connection.execute(old.tables["outbox"].insert().values(
            idempotency_key="a" * 32, kind="suggestion", conversation_id="c1", payload=json.dumps({"text": "旧数据"}),
            status="pending", attempts=0, next_attempt_at=now, created_at=now, updated_at=now,
        ))
        connection.execute(old.tables["request_drafts"].insert().values(
            conversation_id="c1", field="phone", value="13800138000", updated_at=now.replace(tzinfo=dt.timezone.utc),
        ))
    engine.dispose()
    from bot.console.store import ConsoleStore

    console = ConsoleStore(database_url)  # an account made by the console of before (its create_all)
    console.create_user("lisi", "old-password-1", "admin", "李四")
    console.audit("lisi", "sign_in", client="10.0.0.1")
    console.dispose()
    engine = make_engine(database_url)
    assert not VERSION_TABLES & tables(engine)
    engine.dispose()

    outbox = Outbox(database_url)
    cases = CaseStore(database_url)
    cases.create_tables()
    console = ConsoleStore(database_url)
    console.create_tables()
    try:
        assert revision(outbox.engine, "outbox") == migrations.head("outbox")
        assert revision(cases.engine, "cases") == migrations.head("cases")
        assert revision(console.engine, "console") == migrations.head("console")
        assert "erasure_audit" in tables(outbox.engine) and "handoff_messages" in tables(cases.engine)
        assert differences(outbox.engine, outbox_models()) == []
        assert differences(cases.engine, case_models()) == []
        assert differences(console.engine, console_models()) == []
        assert console.verify_password("lisi", "old-password-1") and console.get_user("lisi").display_name == "李四"
        assert [(e.username, e.action) for e in console.audit_entries()] == [("lisi", "sign_in")]
        assert outbox.status("a" * 32).payload == {"text": "旧数据"}
        assert outbox.lag()[0] == 1
        from bot.casework.drafts import DraftStore

        assert DraftStore(outbox.engine).get_all("c1") == {"phone": "13800138000"}
        # Opening again changes nothing.
        migrations._done["outbox"].discard(outbox.engine)
        migrations.upgrade(outbox.engine, "outbox")
        assert revision(outbox.engine, "outbox") == migrations.head("outbox") and outbox.lag()[0] == 1
    finally:
        outbox.close()
        cases.dispose()
        console.dispose()


def test_a_case_database_of_the_previous_version_keeps_its_handoff_messages(database_url):
    """The previous case service migrated to cases_0001 and then made handoff_messages with
    create_all: cases_0002 adopts that table with its rows (no error, nothing lost)."""
    import bot.case_service.handoff_store as handoff_store
    from bot.case_service.store import CaseStore

    cases = CaseStore(database_url)
    try:
        migrations.upgrade(cases.engine, "cases", "cases_0001")
        assert "handoff_messages" not in tables(cases.engine)
        handoff_store.HandoffMessageRow.__table__.create(cases.engine)  # the create_all of before
        handoff_case_takes_messages(cases)
        assert revision(cases.engine, "cases") == "cases_0001"

        cases.create_tables()  # what the case service does when it starts
        assert revision(cases.engine, "cases") == migrations.head("cases") == "cases_0002"
        assert differences(cases.engine, case_models()) == []
        messages = handoff_store.HandoffStore(cases).messages_after(0)
        assert [(m.role, m.text) for m in messages] == [(handoff_store.CITIZEN, "我想问一下进度")]
        # Deleted with its case, as the foreign key says.
        from bot.case_service.store import CaseRow

        with cases._sessions() as session, session.begin():
            session.delete(session.get(CaseRow, 1))
        assert handoff_store.HandoffStore(cases).messages_after(0) == []
    finally:
        cases.dispose()


def test_a_case_database_at_the_first_revision_gets_the_handoff_table(database_url):
    """A database migrated to cases_0001 before live handoffs existed (no create_all since)."""
    from bot.case_service.store import CaseStore

    cases = CaseStore(database_url)
    try:
        migrations.upgrade(cases.engine, "cases", "cases_0001")
        cases.create_tables()
        assert revision(cases.engine, "cases") == migrations.head("cases")
        assert differences(cases.engine, case_models()) == []
        handoff_case_takes_messages(cases)
    finally:
        cases.dispose()


def test_replicas_starting_together_on_postgresql_migrate_once():
    user = require_postgres()
    schema = f"migrations_{uuid.uuid4().hex[:12]}"
    base = f"postgresql://{user}@{PG_HOST}:{PG_PORT}/{PG_DATABASE}"
    admin = sa.create_engine(base, future=True)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engines = [sa.create_engine(f"{base}?options=-csearch_path%3D{schema}", future=True) for _ in range(4)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(engines))

    def replica(engine):
        try:
            start.wait()
            migrations.upgrade(engine, "outbox")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=replica, args=(engine,)) for engine in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        with engines[0].connect() as connection:
            versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version_outbox").scalars().all()
        assert versions == [migrations.head("outbox")]
        assert differences(engines[0], outbox_models()) == []
    finally:
        for engine in engines:
            engine.dispose()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def test_govbot_db_upgrade_reports_the_revisions(tmp_path):
    from click.testing import CliRunner

    from bot.cli import main as cli

    outbox_url, case_url = f"sqlite:///{tmp_path / 'outbox.db'}", f"sqlite:///{tmp_path / 'cases.db'}"
    console_url = f"sqlite:///{tmp_path / 'console.db'}"
    result = CliRunner().invoke(cli, ["db", "upgrade", "--outbox-db-url", outbox_url, "--case-db-url", case_url,
                                      "--console-db-url", console_url])
    assert result.exit_code == 0, result.output
    assert f"发件箱数据库：{migrations.head('outbox')}（最新）" in result.output
    assert f"办件数据库：{migrations.head('cases')}" in result.output
    assert f"控制台数据库：{migrations.head('console')}（最新）" in result.output
    assert tables(sa.create_engine(outbox_url)) >= OUTBOX_TABLES and tables(sa.create_engine(case_url)) >= CASE_TABLES
    assert tables(sa.create_engine(console_url)) == CONSOLE_TABLES | {"alembic_version_console"}
    bad = CliRunner().invoke(cli, ["db", "upgrade", "--outbox-db-url", "postgresql://nobody@127.0.0.1:1/none", "--case-db-url", case_url,
                                   "--console-db-url", console_url])
    assert bad.exit_code != 0 and "错误" in bad.output and "Traceback" not in bad.output
