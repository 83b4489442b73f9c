"""Full ID numbers and phone numbers never reach the tracker store, whatever the backend.

Real Rasa objects throughout: trackers, events, Rasa's InMemoryTrackerStore and SQLTrackerStore
(SQLite in a temporary directory, and the shared PostgreSQL on 127.0.0.1:5432), Rasa's
own factory reading an endpoints.yml, its FailSafeTrackerStore, lock store and file event broker.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import sqlite3
import uuid
from pathlib import Path
from typing import Callable

import pytest
from rasa.core.agent import Agent
from rasa.core.brokers.broker import EventBroker
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import (
    AwaitableTrackerStore,
    FailSafeTrackerStore,
    InMemoryTrackerStore,
    SQLTrackerStore,
    TrackerStore,
)
from rasa.core.utils import AvailableEndpoints
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.rasa_plugins.tracker_store import RedactingTrackerStore, redact_event_dict, unredacted_start
from bot.privacy.validation import check_id_number, redact
from tests.conftest import require_postgres

STORE_TYPE = "bot.rasa_plugins.tracker_store.RedactingTrackerStore"

ID_NUMBER = "11010519491231002X"
MOBILE = "13812345678"
LANDLINE = "021-12345678"
INTERNATIONAL = "+86 138 1234 5678"
# Substrings that would betray any of the numbers above; "12345678" covers the mobile and landline.
RAW = [ID_NUMBER, ID_NUMBER.lower(), "110105194912", "49123100", "12345678", "1234 5678", "138 1234"]
MASKED = ["1101**********002X", "138****5678", "021-******78"]
ORDINARY = "我想查询沪商委〔2020〕12号文件，2020年发布的，谢谢"

DOMAIN_YAML = """
version: "3.1"
intents: [provide_contact, ask_document]
entities: [id_number, phone]
slots:
  id_number:
    type: text
    influence_conversation: false
    mappings: [{type: from_entity, entity: id_number}]
  phone:
    type: text
    influence_conversation: false
    mappings: [{type: from_entity, entity: phone}]
  contacts:
    type: list
    influence_conversation: false
    mappings: [{type: custom}]
forms:
  application_form:
    required_slots: [id_number, phone]
responses:
  utter_ask_phone:
    - text: 请留下您的联系电话。
"""


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.from_yaml(DOMAIN_YAML)


def run(coroutine):
    return asyncio.run(coroutine)


# ------------------------------------------------------------------ conversations


def first_turn() -> list:
    """A person gives ID number and phones; the form fills its slots; the bot asks back."""
    text = f"我的身份证号是{ID_NUMBER}，手机{MOBILE}，座机{LANDLINE}，也可以打{INTERNATIONAL}"
    id_start = text.index(ID_NUMBER)
    mobile_start = text.index(MOBILE)
    return [
        UserUttered(
            text,
            intent={"name": "provide_contact", "confidence": 0.97},
            entities=[
                {"entity": "id_number", "value": ID_NUMBER, "start": id_start,
                 "end": id_start + len(ID_NUMBER), "extractor": "RegexEntityExtractor"},
                {"entity": "phone", "value": MOBILE, "start": mobile_start,
                 "end": mobile_start + len(MOBILE), "extractor": "RegexEntityExtractor"},
            ],
            parse_data={
                "intent_ranking": [
                    {"name": "provide_contact", "confidence": 0.97},
                    {"name": "ask_document", "confidence": 0.03},
                ],
            },
            input_channel="rest",
            message_id="message-1",
            metadata={"channel_user": {"phone": INTERNATIONAL}},
        ),
        ActionExecuted("application_form", policy="RulePolicy", confidence=1.0),
        ActiveLoop("application_form"),
        SlotSet("id_number", ID_NUMBER),
        SlotSet("phone", MOBILE),
        SlotSet("contacts", [LANDLINE, {"mobile": INTERNATIONAL, "note": "工作日2020年起有效"}]),
        BotUttered(
            f"已记录：身份证 {ID_NUMBER}，电话 {MOBILE}",
            data={"buttons": [{"title": f"确认 {LANDLINE}", "payload": f'/affirm{{"phone":"{MOBILE}"}}'}]},
            metadata={"utter_action": "utter_confirm"},
        ),
        ActionExecuted("action_listen"),
    ]


def second_turn() -> list:
    """An ordinary question, then a correction that brings a new number."""
    return [
        UserUttered(ORDINARY, intent={"name": "ask_document", "confidence": 0.91}, message_id="message-2"),
        ActionExecuted("action_listen"),
        UserUttered(
            "电话改成 139-8765-4321",
            intent={"name": "provide_contact", "confidence": 0.9},
            entities=[{"entity": "phone", "value": "139-8765-4321", "start": 5, "end": 18}],
            message_id="message-3",
        ),
        SlotSet("phone", "13987654321"),
        ActionExecuted("action_listen"),
    ]


def events_json(tracker: DialogueStateTracker) -> str:
    return json.dumps([event.as_dict() for event in tracker.events], ensure_ascii=False)


def strings_in(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def assert_clean(text: str, *, extra_raw: tuple = ()) -> None:
    for raw in (*RAW, *extra_raw):
        assert raw not in text, f"{raw!r} was stored: {text[:2000]}"


def assert_redacted_tracker(tracker: DialogueStateTracker) -> None:
    dumped = events_json(tracker)
    assert_clean(dumped)
    for masked in MASKED:
        assert masked in dumped
    for event in tracker.events:
        for string in strings_in(event.as_dict()):
            assert redact(string) == string, string


# ------------------------------------------------------------------ stores


@pytest.fixture()
def sqlite_path(tmp_path) -> Path:
    return tmp_path / "tracker.db"


@pytest.fixture()
def postgres():
    """A database of its own on the local PostgreSQL, created by Rasa through `login_db`, dropped after."""
    user = require_postgres()
    import psycopg2

    name = f"govbot_redact_{uuid.uuid4().hex[:12]}"
    settings = {"dialect": "postgresql", "url": "127.0.0.1", "port": 5432, "username": user,
                "db": name, "login_db": "test"}
    stores: list = []
    yield settings, stores
    for store in stores:
        store.inner.engine.dispose()
    connection = psycopg2.connect(host="127.0.0.1", port=5432, dbname="test", user=user)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    connection.close()


def readable(rows: list) -> str:
    """Stored rows as text, the raw JSON of the `data` column followed by its decoded form.

    Rasa writes JSON with ASCII escapes, so Chinese text is only visible once decoded; digits are
    visible either way.
    """
    decoded = [[*row[:-1], json.loads(row[-1])] for row in rows]
    return json.dumps(rows, ensure_ascii=False) + "\n" + json.dumps(decoded, ensure_ascii=False)


def stored_rows_sqlite(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT sender_id, type_name, intent_name, action_name, data FROM events"
        ).fetchall()
    return readable(rows)


def stored_rows_postgres(settings: dict) -> str:
    import psycopg2

    connection = psycopg2.connect(host="127.0.0.1", port=5432, dbname=settings["db"], user=settings["username"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT sender_id, type_name, intent_name, action_name, data FROM events")
        rows = cursor.fetchall()
    connection.close()
    return readable(rows)


def make_store(
    backend: str, domain: Domain, sqlite_path: Path, request
) -> tuple[RedactingTrackerStore, Callable[[], str]]:
    """The store under test and a function returning everything it has persisted, as text."""
    if backend == "memory":
        store = RedactingTrackerStore(domain=domain)
        return store, lambda: readable([[key, value] for key, value in store.inner.store.items()])
    if backend == "sqlite":
        store = RedactingTrackerStore(domain=domain, backend="sql", dialect="sqlite", db=str(sqlite_path))
        return store, lambda: stored_rows_sqlite(sqlite_path)
    settings, stores = request.getfixturevalue("postgres")
    kwargs = {key: value for key, value in settings.items() if key != "url"}
    store = RedactingTrackerStore(domain=domain, host=settings["url"], backend="sql", **kwargs)
    stores.append(store)
    return store, lambda: stored_rows_postgres(settings)


# ------------------------------------------------------------------ tests


def test_the_sample_numbers_are_real_identifiers():
    assert check_id_number(ID_NUMBER).ok
    assert redact(ID_NUMBER) == MASKED[0] and redact(MOBILE) == MASKED[1] and redact(LANDLINE) == MASKED[2]
    assert redact(INTERNATIONAL) == MASKED[1]


def test_event_dicts_are_walked_generically_but_names_keys_and_numbers_stay():
    data = first_turn()[0].as_dict()
    redacted = redact_event_dict(data)

    assert redacted["event"] == "user" and redacted["timestamp"] == data["timestamp"]
    assert redacted["message_id"] == "message-1" and redacted["input_channel"] == "rest"
    assert redacted["parse_data"]["intent"] == {"name": "provide_contact", "confidence": 0.97}
    assert [i["name"] for i in redacted["parse_data"]["intent_ranking"]] == ["provide_contact", "ask_document"]
    entities = redacted["parse_data"]["entities"]
    assert [(e["entity"], e["value"], e["start"]) for e in entities] == [
        ("id_number", MASKED[0], data["parse_data"]["entities"][0]["start"]),
        ("phone", MASKED[1], data["parse_data"]["entities"][1]["start"]),
    ]
    assert redacted["metadata"] == {"channel_user": {"phone": MASKED[1]}}
    assert redacted["text"] == redacted["parse_data"]["text"] == (
        f"我的身份证号是{MASKED[0]}，手机{MASKED[1]}，座机{MASKED[2]}，也可以打{MASKED[1]}"
    )
    assert_clean(json.dumps(redacted, ensure_ascii=False))
    assert redact_event_dict(redacted) == redacted  # idempotent
    assert data["text"].startswith(f"我的身份证号是{ID_NUMBER}")  # the event's own dict is not touched

    slot = redact_event_dict(SlotSet("contacts", [LANDLINE, {"mobile": INTERNATIONAL, "n": 3}]).as_dict())
    assert slot["name"] == "contacts" and slot["value"] == [MASKED[2], {"mobile": MASKED[1], "n": 3}]
    plain = UserUttered(ORDINARY, intent={"name": "ask_document", "confidence": 1.0}).as_dict()
    assert redact_event_dict(plain) == plain


def test_the_bots_own_identifiers_are_not_masked_even_when_they_look_like_numbers():
    # A summary digest with a phone-like digit run, masked, would never match its summary again.
    digest = "8460123456782256"
    assert "*" in redact_event_dict(SlotSet("complaint_matter", digest).as_dict())["value"]
    for name in ("request_summary_digest", "request_instance", "last_request_key"):
        assert redact_event_dict(SlotSet(name, digest).as_dict())["value"] == digest


@pytest.mark.parametrize("backend", ["memory", "sqlite", "postgres"])
def test_nothing_raw_is_persisted_and_the_retrieved_tracker_is_consistent(backend, domain, sqlite_path, request):
    store, persisted = make_store(backend, domain, sqlite_path, request)
    sender = f"applicant-{uuid.uuid4().hex[:8]}"

    async def scenario():
        # Turn 1, as Rasa's processor does it: fetch (creating), update, save at the end of the turn.
        tracker = await store.get_or_create_tracker(sender, append_action_listen=False)
        tracker.update(SessionStarted())
        tracker.update(ActionExecuted("action_listen"))
        for event in first_turn():
            tracker.update(event)
        # Until the save, everything in the turn (the action server included) sees the raw values.
        assert tracker.get_slot("id_number") == ID_NUMBER
        assert ID_NUMBER in tracker.latest_message.text
        await store.save(tracker)

        # The saved tracker object is now what the store holds.
        retrieved = await store.retrieve(sender)
        assert_redacted_tracker(tracker)
        assert_redacted_tracker(retrieved)
        assert events_json(retrieved) == events_json(tracker)
        assert retrieved.get_slot("id_number") == MASKED[0]
        assert retrieved.get_slot("phone") == MASKED[1]
        assert retrieved.get_slot("contacts") == [MASKED[2], {"mobile": MASKED[1], "note": "工作日2020年起有效"}]
        assert retrieved.active_loop_name == "application_form"
        assert retrieved.latest_message.intent["name"] == "provide_contact"
        assert retrieved.latest_bot_utterance.text == f"已记录：身份证 {MASKED[0]}，电话 {MASKED[1]}"
        assert_clean(persisted())

        # Turn 2 continues from the re-retrieved tracker; SQL only appends the new events.
        tracker = await store.get_or_create_tracker(sender)
        for event in second_turn():
            tracker.update(event)
        await store.save(tracker)
        return await store.retrieve(sender), await store.retrieve_full_tracker(sender), list(await store.keys())

    retrieved, full, keys = run(scenario())

    for tracker in (retrieved, full):
        assert_redacted_tracker(tracker)
        assert_clean(events_json(tracker), extra_raw=("13987654321", "8765-4321"))
        dumped = events_json(tracker)
        assert ORDINARY in dumped and "139****4321" in dumped
        assert "provide_contact" in dumped and "ask_document" in dumped and "application_form" in dumped
        assert tracker.get_slot("phone") == "139****4321"
        assert tracker.get_slot("id_number") == MASKED[0]
        assert len(tracker.events) == 2 + len(first_turn()) + len(second_turn())
        assert [e.text for e in tracker.events if isinstance(e, UserUttered)][1] == ORDINARY
    assert keys == [sender]
    assert run(store.exists(sender)) and not run(store.exists("nobody"))

    stored = persisted()
    assert_clean(stored, extra_raw=("13987654321", "8765-4321"))
    assert ORDINARY in stored and MASKED[0] in stored and "139****4321" in stored
    if backend != "memory":
        assert stored.count('"provide_contact"') >= 2  # intent_name column filled as usual


def test_endpoints_yml_through_rasas_own_factory_with_sqlite_failsafe_lock_store_and_broker(
    domain, tmp_path
):
    """`rasa run` reads endpoints.yml, creates broker and store, then Agent wraps it in FailSafe."""
    database, events_log = tmp_path / "rasa.db", tmp_path / "events.log"
    endpoints_file = tmp_path / "endpoints.yml"
    endpoints_file.write_text(
        f"tracker_store:\n"
        f"  type: {STORE_TYPE}\n"
        f"  backend: sql\n"
        f"  dialect: sqlite\n"
        f"  db: {database}\n"
        f"event_broker:\n"
        f"  type: file\n"
        f"  path: {events_log}\n",
        encoding="utf-8",
    )
    endpoints = AvailableEndpoints.read_endpoints(str(endpoints_file))
    assert endpoints.tracker_store.type == STORE_TYPE

    async def scenario():
        broker = await EventBroker.create(endpoints.event_broker)
        created = TrackerStore.create(endpoints.tracker_store, event_broker=broker)  # no domain yet
        assert type(created) is RedactingTrackerStore  # async, so not wrapped in AwaitableTrackerStore
        assert isinstance(created.inner, SQLTrackerStore) and created.event_broker is broker
        store = Agent._create_tracker_store(created, domain)  # what Agent does once the model is loaded
        assert isinstance(store, FailSafeTrackerStore)
        assert created.domain is domain and created.inner.domain is domain

        lock_store = InMemoryLockStore()
        async with lock_store.lock("applicant"):
            tracker = await store.get_or_create_tracker("applicant")
            for event in first_turn():
                tracker.update(event)
            await store.save(tracker)
        async with lock_store.lock("applicant"):
            tracker = await store.get_or_create_tracker("applicant")
            for event in second_turn():
                tracker.update(event)
            await store.save(tracker)
        return await store.retrieve("applicant")

    try:
        retrieved = run(scenario())
    finally:  # FileEventBroker logs through the process-wide "event-logger"; detach its file
        event_logger = logging.getLogger("event-logger")
        for handler in list(event_logger.handlers):
            event_logger.removeHandler(handler)
            handler.close()
    assert_redacted_tracker(retrieved)
    assert retrieved.get_slot("phone") == "139****4321"
    stored = stored_rows_sqlite(database)
    assert_clean(stored, extra_raw=("13987654321",))
    assert MASKED[0] in stored and ORDINARY in stored
    streamed = events_log.read_text(encoding="utf-8")
    assert '"event": "user"' in streamed
    assert_clean(streamed, extra_raw=("13987654321",))  # the event broker only sees masked events too


def test_when_the_database_fails_rasas_failsafe_fallback_only_gets_the_redacted_tracker(
    domain, sqlite_path, monkeypatch
):
    """FailSafeTrackerStore saves into an in-memory fallback when the primary store raises."""
    monkeypatch.setenv("GOVBOT_TRACKER_RETRY_SECONDS", "0.5")
    store = FailSafeTrackerStore(
        RedactingTrackerStore(domain=domain, backend="sql", dialect="sqlite", db=str(sqlite_path))
    )
    with sqlite3.connect(sqlite_path) as connection:
        connection.execute("DROP TABLE events")
    tracker = DialogueStateTracker("applicant", domain.slots)
    for event in first_turn():
        tracker.update(event)
    run(store.save(tracker))  # the SQL error is logged, the tracker goes to the fallback

    fallback = store.fallback_tracker_store
    assert type(fallback) is InMemoryTrackerStore
    assert_clean(readable([["applicant", fallback.store["applicant"]]]))
    assert_redacted_tracker(tracker)


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_long_conversation_only_has_its_new_events_redacted_and_they_always_are(backend, domain, sqlite_path, request):
    """What the store hands out was redacted when saved: a save checks only the turn's new events."""
    store, persisted = make_store(backend, domain, sqlite_path, request)
    sender = f"long-{uuid.uuid4().hex[:8]}"

    async def scenario():
        tracker = await store.get_or_create_tracker(sender)
        for _ in range(40):
            for event in second_turn()[:2]:
                tracker.update(event)
        await store.save(tracker)
        tracker = await store.retrieve(sender)
        assert unredacted_start(tracker) == len(tracker.events)
        old = list(tracker.events)
        for event in first_turn():
            tracker.update(event)
        assert unredacted_start(tracker) == len(old)
        await store.save(tracker)
        assert all(a is b for a, b in zip(old, tracker.events))  # earlier events not rebuilt
        assert unredacted_start(tracker) == len(tracker.events)
        assert tracker.get_slot("id_number") == MASKED[0]  # replayed from the redacted events
        return await store.retrieve(sender)

    retrieved = run(scenario())
    assert_redacted_tracker(retrieved)
    assert retrieved.get_slot("phone") == MASKED[1]
    assert_clean(persisted())


def test_a_tracker_whose_marked_events_were_dropped_is_redacted_whole(domain):
    """With `max_event_history` the oldest events fall off: the mark is gone, so every event is checked."""
    store = RedactingTrackerStore(domain=domain)
    tracker = DialogueStateTracker("applicant", domain.slots)
    tracker.update(ActionExecuted("action_listen"))
    run(store.save(tracker))
    store.max_event_history = 4
    short = run(store.retrieve("applicant"))
    assert unredacted_start(short) == len(short.events) == 1
    for event in first_turn():
        short.update(event)
    assert len(short.events) == 4 and unredacted_start(short) == 0
    unseen = DialogueStateTracker("someone", domain.slots)
    for event in first_turn():
        unseen.update(event)
    assert unredacted_start(unseen) == 0
    run(store.save(unseen))
    assert_redacted_tracker(unseen)


def test_default_endpoint_config_wraps_the_in_memory_store(domain):
    store = TrackerStore.create(EndpointConfig(type=STORE_TYPE), domain=domain)
    assert type(store) is RedactingTrackerStore and type(store.inner) is InMemoryTrackerStore
    assert not isinstance(store, AwaitableTrackerStore)

    tracker = DialogueStateTracker("applicant", domain.slots)
    for event in first_turn():
        tracker.update(event)
    run(store.save(tracker))
    assert_redacted_tracker(run(store.retrieve("applicant")))
    assert_clean(readable([["applicant", store.inner.store["applicant"]]]))


def test_postgres_through_rasas_own_factory(domain, postgres):
    settings, stores = postgres
    store = TrackerStore.create(EndpointConfig(type=STORE_TYPE, backend="sql", **settings), domain=domain)
    stores.append(store)
    assert type(store) is RedactingTrackerStore and isinstance(store.inner, SQLTrackerStore)
    assert store.inner.engine.url.database == settings["db"]

    tracker = DialogueStateTracker("applicant", domain.slots)
    for event in first_turn():
        tracker.update(event)
    run(store.save(tracker))
    assert_redacted_tracker(run(store.retrieve("applicant")))
    assert_clean(stored_rows_postgres(settings))


def test_misconfiguration_fails_instead_of_falling_back_to_an_unredacted_store(domain):
    # Rasa turns ImportError/AttributeError from a custom store into a warning and a plain
    # InMemoryTrackerStore; these errors must stop the server instead.
    with pytest.raises(ValueError, match="unknown backend"):
        TrackerStore.create(EndpointConfig(type=STORE_TYPE, backend="redis"), domain=domain)
    with pytest.raises(ValueError, match="backend: sql"):
        TrackerStore.create(EndpointConfig(type=STORE_TYPE, dialect="sqlite", db="x.db"), domain=domain)
    if importlib.util.find_spec("MySQLdb") is not None:
        pytest.skip("needs a SQL dialect whose driver is missing; MySQLdb is installed here")
    with pytest.raises(RuntimeError, match="cannot create the sql backend"):  # ModuleNotFoundError inside
        TrackerStore.create(
            EndpointConfig(type=STORE_TYPE, backend="sql", dialect="mysql", url="127.0.0.1", db="x"),
            domain=domain,
        )


def test_dropped_postgres_connections_are_retried_instead_of_falling_back(domain, postgres):
    """A restarted or failed-over database drops pooled connections; the next turn must still
    find the conversation, not Rasa's empty in-memory fallback."""
    import psycopg2

    settings, stores = postgres
    store = FailSafeTrackerStore(
        TrackerStore.create(EndpointConfig(type=STORE_TYPE, backend="sql", **settings), domain=domain)
    )
    stores.append(store._tracker_store)
    tracker = DialogueStateTracker("applicant", domain.slots)
    for event in first_turn():
        tracker.update(event)
    run(store.save(tracker))

    admin = psycopg2.connect(host="127.0.0.1", port=5432, dbname="test", user=settings["username"])
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s", (settings["db"],)
        )
        assert cursor.fetchone()[0] >= 1  # the store's pooled connection was really cut
    admin.close()

    retrieved = run(store.retrieve("applicant"))
    assert retrieved is not None and len(retrieved.events) == len(tracker.events)
    assert store._fallback_tracker_store is None  # Rasa never had to fall back
