"""Personal data at rest (issue 16, items 1–4): what a person types for a request leaves no full
ID number, phone or e-mail in the tracker store, the outbox and draft database (its WAL included)
or the logs, whatever format it was typed in, whatever a client sends along, and those files are
readable by their owner only.

Real components throughout: Rasa's own trackers, events and stores; SQLite files in a temporary
directory; the reference case service as a process; and `scripts/run.sh` itself (`default_stack`)
for whole conversations through the REST channel, socket.io and Rasa's HTTP API. The case
service's own database is the one place full numbers belong: it is checked to hold them, so the
byte search is shown to find what it looks for.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sqlite3
import stat
import time
import uuid
from pathlib import Path

import pytest
import requests
import socketio
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.casework import request_forms as rf
from bot.casework.case_client import CaseClient
from bot.casework.case_desk import CaseDesk
from bot.casework.drafts import DraftStore
from bot.casework.outbox import Outbox, checkpoint_pending, checkpoint_wal, new_idempotency_key
from bot.casework.outbox_delivery import Deliverer, deliver_now
from bot.rasa_plugins.tracker_store import MAX_DEPTH, RedactingTrackerStore
from tests.conftest import ARTIFACTS, CaseService, free_port

ID_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]


def make_id(first17: str) -> str:
    """A valid resident ID number (ISO 7064 MOD 11-2, computed here, not with bot.privacy.validation's table)."""
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS))
    check = next(c for c in range(11) if (total + c) % 11 == 1)
    return first17 + ("X" if check == 10 else str(check))


def json_escaped(text: str) -> str:
    return json.dumps(text)[1:-1]


def needles(*values: str) -> list[bytes]:
    """The byte strings that would betray `values` in a file: UTF-8, and JSON with \\u escapes."""
    found = set()
    for value in values:
        for form in (value, json_escaped(value)):
            found.add(form.encode("utf-8"))
    return sorted(found)


def leaks(data: bytes, secrets_: list[bytes]) -> list[str]:
    return [s.decode("utf-8", "replace") for s in secrets_ if s in data]


def nested(depth: int, leaf) -> dict:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def run(coroutine):
    return asyncio.run(coroutine)


# ================================================================ the tracker store (item 1, item 2)

DOMAIN_YAML = """
version: "3.1"
intents: [inform]
slots:
  requested_slot:
    type: any
    influence_conversation: false
    mappings: [{type: custom}]
  id_number:
    type: text
    influence_conversation: false
    mappings: [{type: custom}]
  phone:
    type: text
    influence_conversation: false
    mappings: [{type: custom}]
  email:
    type: text
    influence_conversation: false
    mappings: [{type: custom}]
forms:
  disclosure_form:
    required_slots: [id_number, phone, email]
"""

PASSPORT = "E12345678"


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.from_yaml(DOMAIN_YAML)


def sqlite_rows(path: Path) -> bytes:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT sender_id, type_name, intent_name, action_name, data FROM events").fetchall()
    return (json.dumps(rows) + json.dumps(rows, ensure_ascii=False)).encode("utf-8")


def answer_turn(tracker: DialogueStateTracker, slot: str, typed: str, masked: str, next_slot: str | None) -> None:
    """One form turn as Rasa records it: the answer, the raw value action_extract_slots sets, the
    validated (masked) value, the next question."""
    tracker.update(UserUttered(typed, intent={"name": "inform", "confidence": 0.9}, metadata={"echo": typed}))
    tracker.update(ActionExecuted("action_extract_slots"))
    tracker.update(SlotSet(slot, typed))
    tracker.update(ActionExecuted("disclosure_form"))
    tracker.update(SlotSet(slot, masked))
    tracker.update(SlotSet("requested_slot", next_slot))
    tracker.update(ActionExecuted("action_listen"))


def test_what_is_typed_while_a_form_asks_for_an_identifier_is_stored_masked(domain, tmp_path):
    """A passport number no pattern knows, a phone and an e-mail in formats the checks accept:
    neither the message, its metadata, nor the raw slot value Rasa sets before validation is kept."""
    database = tmp_path / "tracker.db"
    store = RedactingTrackerStore(domain=domain, backend="sql", dialect="sqlite", db=str(database))
    tracker = DialogueStateTracker("applicant", domain.slots)
    tracker.update(ActionExecuted("action_listen"))
    tracker.update(UserUttered("我要申请政府信息公开", intent={"name": "inform", "confidence": 1.0}))
    tracker.update(ActionExecuted("disclosure_form"))
    tracker.update(ActiveLoop("disclosure_form"))
    tracker.update(SlotSet("requested_slot", "id_number"))
    tracker.update(ActionExecuted("action_listen"))
    run(store.save(tracker))
    tracker = run(store.retrieve("applicant"))
    answer_turn(tracker, "id_number", "护照号 E 1234 5678", "E******78", "phone")
    run(store.save(tracker))
    tracker = run(store.retrieve("applicant"))
    answer_turn(tracker, "phone", "1380 013 8000", "138****8000", "email")
    answer_turn(tracker, "email", "zhang.san@example。com", "z***@example.com", None)
    run(store.save(tracker))

    stored = sqlite_rows(database)
    found = leaks(stored, needles(PASSPORT, "E 1234 5678", "1234 5678", "13800138000", "1380 013 8000", "zhang.san"))
    assert not found, found
    retrieved = run(store.retrieve("applicant"))
    texts = [e.text for e in retrieved.events if isinstance(e, UserUttered)]
    assert texts == ["我要申请政府信息公开", "护照号 E******78", "138****8000", "z***@example.com"]
    assert retrieved.get_slot("id_number") == "E******78" and retrieved.get_slot("phone") == "138****8000"
    assert os.stat(database).st_mode & 0o077 == 0  # item 4: the tracker database too
    store.inner.engine.dispose()


def test_deep_metadata_is_cut_and_no_raw_tracker_falls_back_to_memory(domain, tmp_path):
    """REST `metadata` nested ~950 deep made masking recurse until Python gave up; Rasa's
    FailSafeTrackerStore then kept the raw tracker in an in-memory fallback."""
    number = make_id("44030519851003417")
    database = tmp_path / "tracker.db"
    inner = RedactingTrackerStore(domain=domain, backend="sql", dialect="sqlite", db=str(database))
    store = FailSafeTrackerStore(inner)
    tracker = DialogueStateTracker("deep", domain.slots)
    metadata = {"shallow": f"身份证{number}", "deep": nested(950, {"id": number})}
    tracker.update(UserUttered(f"身份证{number}", intent={"name": "inform", "confidence": 1.0}, metadata=metadata))
    tracker.update(ActionExecuted("action_listen"))
    run(store.save(tracker))

    assert store._fallback_tracker_store is None  # never fell back to a store of raw trackers
    stored = sqlite_rows(database)
    assert not leaks(stored, needles(number, number[4:14])), stored[:500]
    saved = run(store.retrieve("deep"))
    [user] = [e for e in saved.events if isinstance(e, UserUttered)]
    assert user.text == f"身份证{number[:4]}**********{number[-4:]}"
    assert user.metadata["shallow"] == user.text
    value, depth = user.metadata["deep"], 2  # the event, its metadata, then "deep"
    while isinstance(value, dict):
        value, depth = next(iter(value.values())), depth + 1
    assert value == "[已删除：嵌套过深]" and depth == MAX_DEPTH
    inner.inner.engine.dispose()


class Unreadable(str):
    """Text that cannot be read as text (a hostile value): masking it raises."""

    def isascii(self) -> bool:
        raise UnicodeError("unreadable")


def test_an_event_that_cannot_be_masked_is_stored_without_its_content(domain):
    number = make_id("44030519851003425")
    store = FailSafeTrackerStore(RedactingTrackerStore(domain=domain))
    tracker = DialogueStateTracker("odd", domain.slots)
    tracker.update(UserUttered(Unreadable(f"身份证{number}"), intent={"name": "inform", "confidence": 1.0}))
    tracker.update(ActionExecuted("action_listen"))
    run(store.save(tracker))
    assert store._fallback_tracker_store is None
    kept = store._tracker_store.inner.store["odd"]
    assert number not in kept and number[4:14] not in kept
    [user] = [e for e in run(store.retrieve("odd")).events if isinstance(e, UserUttered)]
    assert user.text == "[已删除：无法遮盖]" and user.intent["name"] == "inform"


# ================================================================ SQLite files (item 3, item 4)

NUMBER = make_id("44030519851003433")
PHONE = "13800138000"
EMAIL = "zhang.san@example.com"


def private_payload(conversation: str, number: str = NUMBER, phone: str = PHONE, email: str = EMAIL) -> dict:
    slots = {
        "applicant_type": rf.CITIZEN, "applicant_name": "张三", "id_type": rf.RESIDENT_ID,
        "id_number": "masked", "phone": "masked", "email": "masked",
        "info_description": "示例市商务局2020年政务公开工作要点的全文", "delivery_form": "电子",
        "delivery_method": "电子邮件",
    }
    private = {"id_number": number, "phone": phone, "email": email}
    return rf.build_payload(rf.DISCLOSURE, slots, private, "rest", conversation)


def database_files(database: Path) -> dict[str, bytes]:
    return {
        path.name: path.read_bytes()
        for path in sorted(database.parent.glob(database.name + "*"))
    }


def assert_nowhere(database: Path, *values: str) -> None:
    for name, data in database_files(database).items():
        found = leaks(data, needles(*values))
        assert not found, f"{name} still holds {found}"


def assert_private_modes(directory: Path) -> None:
    files = [p for p in directory.iterdir() if p.suffix == ".db" or p.name.endswith(("-wal", "-shm", "-journal"))]
    assert files
    for path in files:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path.name} is {oct(mode)}"


@pytest.fixture()
def umask_022():
    """The usual umask: files SQLite creates on its own would be 0644."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture()
def case_service(tmp_path):
    """The reference case service as its own process, with its own database file."""
    port = free_port()
    env = dict(
        os.environ,
        GOVBOT_CASE_BOT_TOKEN=secrets.token_urlsafe(24),
        GOVBOT_CASE_STAFF_TOKEN=secrets.token_urlsafe(24),
        GOVBOT_CASE_DATABASE_URL=f"sqlite:///{tmp_path / 'cases.db'}",
    )
    service = CaseService(port, env, tmp_path / "case-service.log")
    service.start()
    yield service
    service.stop()


def outbox_at(directory: Path, case_service=None) -> Outbox:
    client = CaseClient(
        case_service.url if case_service else f"http://127.0.0.1:{free_port()}",
        case_service.env["GOVBOT_CASE_BOT_TOKEN"] if case_service else "unused-token",
        total_timeout=3.0,
    )
    return Outbox(f"sqlite:///{directory / 'outbox.db'}", client, retry_base=0.1, retry_cap=0.5)


def test_forgotten_drafts_leave_neither_the_database_nor_its_wal(tmp_path, umask_022):
    outbox = outbox_at(tmp_path)
    drafts = DraftStore(outbox.engine)
    database = tmp_path / "outbox.db"
    try:
        for conversation in ("submitted", "cancelled"):
            drafts.put(conversation, "id_number", NUMBER)
            drafts.put(conversation, "phone", PHONE)
            drafts.put(conversation, "email", EMAIL)
        drafts.put("cancelled", "phone", "13900001111")  # a corrected answer replaces the first
        assert any(leaks(data, needles(NUMBER)) for data in database_files(database).values())  # the search sees them

        drafts.forget("submitted")
        drafts.forget("cancelled")
        assert_nowhere(database, NUMBER, PHONE, EMAIL, "13900001111")
        assert (tmp_path / "outbox.db-wal").stat().st_size == 0
        assert_private_modes(tmp_path)
    finally:
        outbox.close()


def test_a_delivered_request_leaves_only_its_stub_in_the_files(tmp_path, case_service, umask_022):
    outbox = outbox_at(tmp_path, case_service)
    database = tmp_path / "outbox.db"
    try:
        async def submit():
            # What the request actions call: commit to the outbox, then deliver within the turn.
            desk, key = CaseDesk(outbox), new_idempotency_key()
            try:
                submission = await desk.submit("disclosure", private_payload("delivered-now"), key)
                assert submission.tracking_number
                return await outbox.astatus(key)
            finally:
                await desk.deliverer.stop()
                await outbox.client.close()

        entry = run(submit())
        assert entry.delivered and entry.tracking_number
        assert_nowhere(database, NUMBER, PHONE, EMAIL)
        assert (tmp_path / "outbox.db-wal").stat().st_size == 0
        assert_private_modes(tmp_path)
    finally:
        outbox.close()
    cases = b"".join(database_files(tmp_path / "cases.db").values())
    assert leaks(cases, needles(NUMBER)), "the case system itself keeps the full number"


def test_a_request_delivered_on_a_retry_leaves_only_its_stub_in_the_files(tmp_path, case_service, umask_022):
    number, phone = make_id("44030519851003441"), "13700002468"
    case_service.stop()
    outbox = outbox_at(tmp_path, case_service)
    database = tmp_path / "outbox.db"

    async def scenario():
        key = new_idempotency_key()
        # CaseDesk.submit's steps without its background deliverer, which this test plays by hand.
        await outbox.aenqueue("disclosure", private_payload("retried", number, phone), key)
        assert await deliver_now(outbox, key, timeout=1.0) is None
        entry = await outbox.astatus(key)
        assert entry.pending
        # The background deliverer's steps, one at a time: each failed attempt rewrites the row (full
        # payload) into the WAL; the step that delivers must leave it clean before it returns, not
        # whenever the deliverer next finds itself idle.
        deliverer = Deliverer(outbox)
        outcomes = []
        while len(outcomes) < 3:
            outcome = await deliverer.run_once()
            if outcome:
                outcomes.append(outcome)
            await asyncio.sleep(0.1)
        case_service.start()
        while "delivered" not in outcomes:
            outcome = await deliverer.run_once()
            if outcome:
                outcomes.append(outcome)
            await asyncio.sleep(0.1)
        assert outcomes[:3] == ["retry"] * 3
        await outbox.client.close()
        return await outbox.astatus(key)

    try:
        entry = run(scenario())
        assert entry.delivered and entry.attempts > 1
        assert_nowhere(database, number, phone, EMAIL)
        assert (tmp_path / "outbox.db-wal").stat().st_size == 0
    finally:
        outbox.close()


def test_a_checkpoint_a_reader_holds_up_is_reported_and_finished_when_idle(tmp_path):
    outbox = outbox_at(tmp_path)
    drafts = DraftStore(outbox.engine)
    database = tmp_path / "outbox.db"
    reader = sqlite3.connect(database, isolation_level=None)
    try:
        drafts.put("held", "id_number", NUMBER)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM request_drafts").fetchone()  # a read transaction pins the WAL
        started = time.monotonic()
        drafts.forget("held")
        assert time.monotonic() - started < 5  # brief waits, not the 10 s busy timeout of writers
        assert checkpoint_pending(outbox.engine)
        assert not checkpoint_wal(outbox.engine, attempts=1)
        reader.execute("COMMIT")

        async def idle_deliverer():
            deliverer = Deliverer(outbox, poll_interval=0.05)
            deliverer.start()
            try:
                for _ in range(100):
                    if not checkpoint_pending(outbox.engine):
                        return True
                    await asyncio.sleep(0.05)
                return False
            finally:
                await deliverer.stop()

        assert run(idle_deliverer()), "the idle deliverer finishes the checkpoint"
        assert_nowhere(database, NUMBER)
    finally:
        reader.close()
        outbox.close()


def test_database_files_are_created_readable_by_their_owner_only(tmp_path, umask_022):
    from bot.case_service.store import CaseStore

    outbox = outbox_at(tmp_path)
    DraftStore(outbox.engine).put("c", "phone", PHONE)
    cases = CaseStore(f"sqlite:///{tmp_path / 'cases.db'}")
    cases.create_tables()
    # A database an earlier version created world-readable is tightened, with its companions.
    old = tmp_path / "old" / "outbox.db"
    old.parent.mkdir()
    sqlite3.connect(old).execute("PRAGMA journal_mode=WAL").fetchone()
    for path in old.parent.iterdir():
        os.chmod(path, 0o644)
    reopened = Outbox(f"sqlite:///{old}", CaseClient("http://127.0.0.1:9", "unused"))
    DraftStore(reopened.engine).put("c", "phone", PHONE)
    try:
        assert_private_modes(tmp_path)
        assert_private_modes(old.parent)
        assert {p.name for p in tmp_path.iterdir()} >= {"outbox.db", "outbox.db-wal", "outbox.db-shm", "cases.db"}
    finally:
        outbox.close()
        reopened.close()
        cases.dispose()


# ================================================================ the whole stack (items 1–4)

def say(stack, sender: str, message: str) -> str:
    return stack.say(sender, message)


def start_application(stack, sender: str, id_type: str = "居民身份证") -> None:
    assert "第二十九条" in say(stack, sender, "我要申请政府信息公开")
    assert "姓名" in say(stack, sender, "公民")
    assert "证件类型" in say(stack, sender, "张三")
    assert "证件号码" in say(stack, sender, id_type)


def case_service_pid(stack) -> int:
    """The case service run.sh started (found by its port): paused to make delivery fail."""
    port = stack.case_url.rsplit(":", 1)[1]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"bot.case_service" in argv and port.encode() in argv:
            return int(entry.name)
    raise AssertionError("case service process not found")


def outbox_pending(stack) -> int:
    return requests.get(f"{stack.action_url}/metrics", timeout=30).json()["outbox"]["pending"]


def state_leaks(stack, values: list[str], timeout: float = 15.0) -> dict[str, list[str]]:
    """Files of the state directory (the case system's database aside) that hold any of `values`;
    waits up to `timeout` for them to go (a delivery may still be finishing)."""
    secrets_ = needles(*values)
    deadline = time.monotonic() + timeout
    while True:
        found = {}
        for path in sorted(stack.state.rglob("*")):
            if path.is_file() and not path.name.startswith("cases.db"):
                hits = leaks(path.read_bytes(), secrets_)
                if hits:
                    found[path.name] = hits
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


@pytest.mark.e2e
def test_applications_cancels_and_retries_leave_no_personal_data_at_rest(default_stack):
    """Each path through the real stack, then every file under the state directory, each tracker
    and the logs are searched for the full numbers, in every form they were typed and stored."""
    stack = default_stack
    tag = uuid.uuid4().hex[:6]
    checked: list[str] = []

    # A cancelled application: ID with en dashes and a line break, phone with em dashes.
    cancelled = f"cancel-{tag}"
    cancel_id = make_id("44030519851003450")
    cancel_id_typed = f"{cancel_id[:6]}–{cancel_id[6:14]}\n{cancel_id[14:]}"
    cancel_phone, cancel_phone_typed = "13566778899", "135—6677—8899"
    start_application(stack, cancelled)
    assert "联系电话" in say(stack, cancelled, cancel_id_typed)
    assert "描述" in say(stack, cancelled, cancel_phone_typed)
    assert "已取消" in say(stack, cancelled, "/cancel_request")
    values = [cancel_id, cancel_id[4:14], cancel_id_typed, cancel_phone, cancel_phone_typed]
    assert state_leaks(stack, values) == {}
    checked += values

    # A completed application, delivered at once: ID in groups of four, phone 4-3-4, 。 in the e-mail.
    applied = f"apply-{tag}"
    apply_id = make_id("44030519851003468")
    apply_id_typed = " ".join(apply_id[i: i + 4] for i in range(0, 18, 4))
    apply_phone, apply_phone_typed = "13800138000", "1380 013 8000"
    apply_email, apply_email_typed = f"zhang.{tag}@example.com", f"zhang.{tag}@example。com"
    start_application(stack, applied)
    assert "联系电话" in say(stack, applied, apply_id_typed)
    assert "描述" in say(stack, applied, apply_phone_typed)
    assert "形式" in say(stack, applied, "示例市商务局2020年政务公开工作要点的全文")
    assert "方式" in say(stack, applied, "电子")
    assert "邮箱" in say(stack, applied, "电子邮件")
    summary = say(stack, applied, apply_email_typed)
    assert "请核对" in summary and apply_id[:4] + "*" * 10 + apply_id[-4:] in summary
    assert "回执号：" in say(stack, applied, "/confirm_request")
    values = [apply_id, apply_id[4:14], apply_id_typed, apply_phone, apply_phone_typed, apply_email, apply_email_typed]
    assert state_leaks(stack, values) == {}
    checked += values

    # A passport holder whose request is delivered on a retry (the case system paused meanwhile).
    retried = f"retry-{tag}"
    passport, passport_typed = f"E{secrets.randbelow(10**8):08d}", None
    passport_typed = f"{passport[0]} {passport[1:5]} {passport[5:]}"
    retry_phone, retry_phone_typed = "18612349876", "+86 186\n1234\n9876"
    start_application(stack, retried, "护照")
    assert "联系电话" in say(stack, retried, passport_typed)
    assert "描述" in say(stack, retried, retry_phone_typed)
    assert "形式" in say(stack, retried, "示例市商务局2021年政务公开工作要点")
    assert "方式" in say(stack, retried, "纸质")
    assert "收件地址" in say(stack, retried, "邮寄")
    assert "请核对" in say(stack, retried, "示例市人民路1号示例小区3栋")
    pid = case_service_pid(stack)
    os.kill(pid, signal.SIGSTOP)
    try:
        assert "安全保存" in say(stack, retried, "/confirm_request")
    finally:
        os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + 120
    while outbox_pending(stack) and time.monotonic() < deadline:
        time.sleep(1)
    assert outbox_pending(stack) == 0
    values = [passport, passport[1:], passport_typed, retry_phone, retry_phone_typed]
    assert state_leaks(stack, values) == {}
    checked += values

    # The trackers (Rasa's store through its API) and the logs of all services.
    for sender in (cancelled, applied, retried):
        tracker = json.dumps(stack.tracker(sender)).encode("utf-8")
        tracker += json.dumps(stack.tracker(sender), ensure_ascii=False).encode("utf-8")
        assert not leaks(tracker, needles(*checked)), sender
    assert not leaks(stack.all_logs().encode("utf-8"), needles(*checked))
    # The search finds what it looks for: the case system holds the full numbers it needs.
    cases = b"".join(p.read_bytes() for p in stack.state.glob("cases.db*"))
    assert leaks(cases, needles(apply_id)) and leaks(cases, needles(passport))
    # Item 4: every database file of the stack is readable by its owner only.
    assert_private_modes(stack.state)


def deep_metadata_text(number: str) -> tuple[dict, str]:
    """Metadata nested 900 deep (JSON parsers still read it; masking it recursively did not)."""
    return {"deep": nested(900, {"id": number})}, f"我的身份证号是{number}"


@pytest.mark.e2e
def test_the_rest_channel_refuses_deeply_nested_metadata_in_chinese(default_stack):
    number = make_id("44030519851003476")
    metadata, text = deep_metadata_text(number)
    sender = f"deep-rest-{uuid.uuid4().hex[:6]}"
    response = default_stack.rest({"sender": sender, "message": text, "metadata": metadata})
    assert response.status_code == 400
    assert "嵌套" in response.json()["error"]["message"]
    assert all(e.get("event") != "user" for e in default_stack.tracker(sender)["events"] or [])


@pytest.mark.e2e
def test_socketio_refuses_deeply_nested_metadata(default_stack):
    number = make_id("44030519851003484")
    # 200 levels: python-socketio's own client cannot encode 900 (it recurses too).
    metadata, text = {"deep": nested(200, {"id": number})}, f"我的身份证号是{number}"

    async def exchange() -> tuple[str, list[str]]:
        client = socketio.AsyncClient(reconnection=False)
        confirmed: asyncio.Future = asyncio.get_running_loop().create_future()
        replies: list[str] = []
        client.on("session_confirm", lambda session_id: confirmed.done() or confirmed.set_result(session_id))
        client.on("bot_uttered", lambda data: replies.append(data.get("text", "")))
        await client.connect(default_stack.rasa_url, socketio_path="/socket.io", transports=["polling"],
                             headers={"Origin": "https://www.example.gov.cn"}, wait_timeout=10)
        try:
            await client.emit("session_request", {"session_id": None})
            session_id = await asyncio.wait_for(confirmed, 30)
            await client.emit("user_uttered", {"message": text, "metadata": metadata, "session_id": session_id})
            for _ in range(300):
                if replies:
                    break
                await asyncio.sleep(0.1)
            return session_id, replies
        finally:
            await client.disconnect()

    session_id, replies = asyncio.run(exchange())
    assert replies and "格式无法识别" in replies[0]
    events = default_stack.tracker(session_id)["events"] or []
    assert all(e.get("event") != "user" for e in events)


@pytest.mark.e2e
def test_an_unmaskable_event_through_rasas_api_is_stored_cut_and_masked(default_stack):
    """Rasa's own HTTP API (the case service uses it) reaches the tracker store without any channel
    check: the store itself cuts the nesting and masks, and Rasa never falls back to memory."""
    number = make_id("44030519851003492")
    metadata, text = deep_metadata_text(number)
    sender = f"deep-api-{uuid.uuid4().hex[:6]}"
    log_before = len(default_stack.all_logs())
    response = requests.post(
        f"{default_stack.rasa_url}/conversations/{sender}/tracker/events",
        params={"token": default_stack.rasa_token},
        json=[{"event": "user", "text": text, "metadata": metadata,
               "parse_data": {"intent": {"name": "greet", "confidence": 1.0}, "entities": []}}],
        timeout=60,
    )
    assert response.status_code == 200, response.text[:500]
    assert number not in response.text and number[4:14] not in response.text
    stored = default_stack.tracker(sender)
    users = [e for e in stored["events"] if e.get("event") == "user"]
    assert users and users[-1]["text"] == f"我的身份证号是{number[:4]}**********{number[-4:]}"
    assert number not in json.dumps(stored)
    new_log = default_stack.all_logs()[log_before:]
    assert "Falling back" not in new_log and "InMemoryTrackerStore" not in new_log
