"""The production profile under faults: Rasa replicas sharing conversations, failover, exactly-once requests.

Real processes on loopback (tests/scaleout_stack.py): case service, two action servers and two Rasa
replicas (endpoints.production.yml: SQL tracker store on PostgreSQL, Redis lock store), behind nginx
configured as scripts/run.sh configures it (bot.ops.proxy_config). The stack has a PostgreSQL server of its own (initdb in a temporary directory,
which the restart test restarts; never the machine's shared one) and its own Redis key prefix.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from bot.rasa_plugins.action_failure import FAILURE_REPLY
from tests.scaleout_stack import ROOT, VENV_BIN, ProductionStack, private_postgres, require_services_and_clear
from tests.test_socketio_channel import Chat

pytestmark = [pytest.mark.scaleout, pytest.mark.e2e]

ARTIFACTS = ROOT / "tests" / "artifacts" / "scaleout"
ID_NUMBER, PHONE = "11010519491231002X", "13812345678"
MASKED_ID = "1101**********002X"
TRACKING = re.compile(r"回执号：((GK|TS|JY|RG)\d{12})")
DISCLOSURE = [
    ("我要申请政府信息公开", "第二十九条"),
    ("公民", "姓名"),
    ("张三", "证件类型"),
    ("居民身份证", "证件号码"),
    (ID_NUMBER, "联系电话"),
    (PHONE, "描述"),
    ("示例市商务局2020年政务公开工作要点的全文", "形式"),
    ("电子", "方式"),
    ("电子邮件", "邮箱"),
    ("zhangsan@example.com", "请核对"),
]
# What _confirm returns when a receipt came although the person never saw the summary.
RECEIPT_BEFORE_SUMMARY = "receipt before any summary"
SUGGESTION = ["我想提个建议", "建议", "希望政府信息公开栏目按月份归档，方便查找", "门户网站", "匿名"]


@pytest.fixture(scope="module")
def postgres():
    """The stack's own PostgreSQL server, started for this module and deleted after it."""
    server = private_postgres()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def stack(rasa_model, postgres):
    require_services_and_clear(ARTIFACTS, shared_postgres=False)
    with ProductionStack(ARTIFACTS, model=rasa_model, pg_admin_url=postgres.admin_url) as running:
        yield running


def sender(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def user_texts(tracker: dict) -> list[str]:
    return [e.get("text") for e in tracker["events"] if e.get("event") == "user"]


def test_conversation_alternating_between_replicas_keeps_state_and_finishes_the_form(stack):
    user = sender("alt")
    replicas = [stack.replica_url(0), stack.replica_url(1)]
    for turn, (message, expected) in enumerate(DISCLOSURE):
        reply = stack.say(user, message, url=replicas[turn % 2])
        assert expected in reply, (turn, message, reply)
    summary = reply
    assert MASKED_ID in summary and ID_NUMBER not in summary and "@example.com" in summary and "张三" in summary
    # Started on replica 0 (even turns), confirmed on replica 1.
    confirmation = stack.say(user, "/confirm_request", url=replicas[1])
    tracking = TRACKING.search(confirmation).group(1)
    rows = stack.sql("select tracking_number, kind from cases where conversation_id = %s", user)
    assert rows == [(tracking, "disclosure")]
    # Both replicas read the same stored conversation, with the personal numbers masked.
    first, second = stack.tracker(user, replicas[0]), stack.tracker(user, replicas[1])
    assert user_texts(first) == user_texts(second)
    assert len(user_texts(first)) == len(DISCLOSURE) + 1
    stored = json.dumps(first, ensure_ascii=False)
    assert ID_NUMBER not in stored and PHONE not in stored
    # And through nginx the next turn goes on from there (the request is remembered).
    assert "已经提交过了" in stack.say(user, "/confirm_request") and tracking in stack.say(user, "/confirm_request")


def test_nginx_spreads_messages_over_both_replicas(stack):
    since = len(stack.proxied())
    for _ in range(6):
        assert stack.send(sender("rr"), "你好")
    served = stack.served(since)
    assert all(n >= 2 for n in served), served


def test_web_widget_socketio_sessions_stick_to_one_replica_through_nginx_and_go_on_on_the_other(stack):
    """The widget's socket.io over polling (its fallback) needs every request of a session on one
    replica: nginx keeps a client's /socket.io/ requests on one replica (by its address). A page
    reload that reaches the other replica (here: straight to it) goes on from PostgreSQL."""
    async def turn(url: str, token: str | None, text: str) -> tuple[str, str, str]:
        tab = Chat(url)
        session_id = await tab.open(token=token)  # the signed id the widget keeps (bot.access.conversation_ids)
        texts = [(await tab.say(text))["text"]]
        try:
            while True:  # the rest of this turn's messages
                texts.append((await asyncio.wait_for(tab.messages.get(), 2.0))["text"])
        except asyncio.TimeoutError:
            pass
        await tab.close()
        return session_id, "\n".join(texts), tab.token

    async def scenario():
        since = len(stack.proxied())
        session_id, started, token = await turn(stack.rasa_url, None, "我想提个建议")
        first = stack.served(since, "/socket.io/")
        pinned = first.index(max(first))
        replies = [started]
        for url, text in ((stack.replica_url(1 - pinned), "建议"), (stack.rasa_url, "希望政府信息公开栏目按月份归档，方便查找")):
            again, reply, token = await turn(url, token, text)
            assert again == session_id  # every replica knows the signing secret
            replies.append(reply)
        return session_id, replies, first, stack.served(since, "/socket.io/")

    session_id, replies, first, through_nginx = asyncio.run(scenario())
    assert "投诉" in replies[0] and "具体说明" in replies[1] and "单位" in replies[2], replies
    # Every polling request of both sessions through nginx reached the same replica (≥ 3 each: the
    # handshake, the session request, the message and the polls for its answers).
    assert sorted(first) == [0, max(first)] and max(first) >= 3, first
    assert sorted(through_nginx) == [0, max(through_nginx)] and max(through_nginx) > max(first), through_nginx
    assert user_texts(stack.tracker(session_id))[-3:] == ["我想提个建议", "建议", "希望政府信息公开栏目按月份归档，方便查找"]


def _webhook_answer(action_port: int, question: str, token: str) -> str:
    """action_answer_knowledge on one action-server replica, called as Rasa calls it (with its secret)."""
    tracker = {
        "sender_id": sender("kb"),
        "slots": {},
        "latest_message": {"text": question, "intent": {"name": "ask_knowledge"}, "entities": []},
        "events": [{"event": "user", "text": question, "parse_data": {"text": question, "entities": []}}],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    }
    body = {"next_action": "action_answer_knowledge", "sender_id": tracker["sender_id"], "tracker": tracker,
            "domain": {}, "version": "3.6.21"}
    response = requests.post(f"http://127.0.0.1:{action_port}/webhook", json=body, timeout=60,
                             headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    return "\n".join(r.get("text") or "" for r in response.json()["responses"])


def test_a_rebuilt_index_is_published_once_and_every_action_server_switches_to_it(stack, tmp_path):
    ready = [requests.get(f"http://127.0.0.1:{p}/ready", timeout=10).json() for p in stack.action_ports]
    old_key = ready[0]["index"]["key"]
    assert [r["index"]["key"] for r in ready] == [old_key] * len(ready)

    knowledge = tmp_path / "knowledge"
    shutil.copytree(ROOT / "knowledge", knowledge)
    (knowledge / "documents" / "scaleout-drill.md").write_text(
        "---\nid: scaleout-drill\ntitle: 示例市政务服务中心关于开展消防疏散演练的通知\nissuer: 示例市政务服务中心\n"
        "date: 2026-11-20\n---\n\n一、演练安排\n\n示例市政务服务中心定于2026年12月3日上午十时开展消防疏散演练，"
        "届时大厅暂停办理业务四十分钟，请办事群众合理安排时间。\n",
        encoding="utf-8",
    )
    env = dict(stack.env, GOVBOT_KNOWLEDGE_DIR=str(knowledge))
    # Published once, by one job, into the directory every replica serves from.
    subprocess.run([str(VENV_BIN / "govbot"), "kb", "build"], cwd=ROOT, env=env, check=True, timeout=300,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    new_key = (stack.cache_dir / "index" / "CURRENT").read_text().strip()
    assert new_key != old_key

    deadline = time.monotonic() + 30
    keys: list = []
    while time.monotonic() < deadline:
        keys = [requests.get(f"http://127.0.0.1:{p}/ready", timeout=10).json()["index"]["key"] for p in stack.action_ports]
        if keys == [new_key] * len(keys):
            break
        time.sleep(0.5)
    assert keys == [new_key] * len(stack.action_ports)
    for port in stack.action_ports:
        answer = _webhook_answer(port, "政务服务中心消防疏散演练是哪天？", stack.env["GOVBOT_ACTION_TOKEN"])
        assert "12月3日" in answer and "消防疏散演练" in answer, answer


def _suggestion(stack: ProductionStack, user: str, errors: Counter) -> str | None:
    """One anonymous suggestion typed turn by turn, as a person would.

    A turn whose action was in flight on the killed action server is answered with FAILURE_REPLY
    (its action's events are lost); the person sends the message again, as that reply asks. If the
    form then ends without the summary on screen, they press 「确认提交」 anyway: the bot must show
    the summary first, never file what the person has not seen.
    """
    replies: list[str] = []
    for message in SUGGESTION:
        def send() -> bool:
            replies.append(stack.say(user, message))
            return bool(replies[-1].strip()) and FAILURE_REPLY not in replies[-1]

        if not _again_until(send, errors, "form"):
            return None
    if "请核对" not in replies[-1]:
        errors["form: last answer without the summary"] += 1
    return _confirm(stack, user, errors, summary_seen="请核对" in replies[-1])


def _again_until(attempt, errors: Counter, label: str, tries: int = 4) -> bool:
    """Runs `attempt` until it returns True (at most `tries` times, a second apart), counting failures."""
    for _attempt in range(tries):
        try:
            if attempt():
                return True
            errors[f"{label}: no answer"] += 1
        except requests.RequestException as exc:
            errors[f"{label} {type(exc).__name__}"] += 1
        time.sleep(1)
    return False


def _confirm(stack: ProductionStack, user: str, errors: Counter, summary_seen: bool = False) -> str | None:
    """「确认提交」, clicked again (as a person would) until a receipt or safe-keeping note comes back.

    A receipt may only follow a summary the person has seen: the first click without one must bring
    up the summary instead (RECEIPT_BEFORE_SUMMARY marks a breach of that).
    """
    for _attempt in range(6):
        try:
            reply = stack.say(user, "/confirm_request")
        except requests.RequestException as exc:
            errors[f"confirm {type(exc).__name__}"] += 1
            time.sleep(1)
            continue
        if any(word in reply for word in ("回执号", "安全保存", "已经提交过了", "正在提交中")):
            return reply if summary_seen else RECEIPT_BEFORE_SUMMARY
        if "请核对" in reply:
            summary_seen = True
            continue
        errors[f"confirm answered {reply[:30]!r}"] += 1
        time.sleep(1)
    return None


def test_500_requests_survive_a_case_system_outage_and_an_action_server_crash_exactly_once(stack):
    total = 500
    users = [sender("sub") for _ in range(total)]
    errors: Counter = Counter()
    progress = {"n": 0}
    lock = threading.Lock()

    def run(user):
        reply = _suggestion(stack, user, errors)  # every one typed in full, turn by turn
        with lock:
            progress["n"] += 1
        return reply

    def faults():
        wait_for(lambda: progress["n"] >= total // 5, 240)
        stack.cases.kill(signal.SIGKILL)  # the case system goes away without warning…
        time.sleep(8)
        stack.cases.start().wait_ready(60)  # …and comes back
        wait_for(lambda: progress["n"] >= total // 2, 240)
        stack.actions[1].kill(signal.SIGKILL)  # an action server crashes mid-traffic…
        time.sleep(2)
        stack.actions[1].start().wait_ready(300)  # …and is restarted

    started = time.monotonic()
    fault_thread = ThreadPoolExecutor(1)
    fault_future = fault_thread.submit(faults)
    with ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(run, users))
    fault_future.result(timeout=300)
    fault_thread.shutdown()
    elapsed = time.monotonic() - started

    failed = [user for user, reply in zip(users, replies) if reply is None]
    if failed:
        _dump_conversations(stack, failed[:10], ARTIFACTS / "failed-conversations.json")
    assert not failed, f"{len(failed)} conversations could not submit (see failed-conversations.json); errors {dict(errors)}"
    assert RECEIPT_BEFORE_SUMMARY not in replies, errors
    # Everything still pending in the outbox is delivered by the background deliverers.
    deadline = time.monotonic() + 120
    pending = None
    while time.monotonic() < deadline:
        pending = stack.sql("select count(*) from outbox where status = 'pending'")[0][0]
        if pending == 0:
            break
        time.sleep(1)
    assert pending == 0
    counts = dict(stack.sql(
        "select conversation_id, count(*) from cases where conversation_id like 'sub-%%' group by conversation_id"
    ))
    # Every request arrived exactly once.
    assert set(counts) == set(users), f"missing {len(set(users) - set(counts))}"
    assert set(counts.values()) == {1}, Counter(counts.values())
    assert stack.sql("select count(*) from outbox where conversation_id like 'sub-%%'")[0][0] == total
    (ARTIFACTS / "submissions.json").write_text(json.dumps({"seconds": round(elapsed, 1), "errors": dict(errors)}))


def _dump_conversations(stack: ProductionStack, users: list[str], path: Path) -> None:
    """What the bot did in each conversation (texts, actions, slots set), for the failure message's reader."""
    dumps = {}
    for user in users:
        try:
            events = stack.tracker(user)["events"]
        except requests.RequestException as exc:
            dumps[user] = repr(exc)
            continue
        dumps[user] = [
            {k: e.get(k) for k in ("event", "name", "text", "value", "policy") if e.get(k) is not None}
            for e in events if e.get("event") in ("user", "bot", "action", "slot", "active_loop")
        ]
    path.write_text(json.dumps(dumps, ensure_ascii=False, indent=1))


def wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.2)


def test_services_recover_from_a_postgresql_restart_without_manual_action(stack, postgres):
    """The stack's own PostgreSQL server (not the machine's shared one) restarts under load."""
    stop = threading.Event()
    outcomes: Counter = Counter()

    def load() -> None:
        while not stop.is_set():
            try:
                stack.send(sender("pgload"), "怎么申请政府信息公开", timeout=60)
                outcomes["ok"] += 1
            except requests.RequestException:
                outcomes["error"] += 1
                time.sleep(0.5)

    try:
        with ThreadPoolExecutor(4) as pool:
            for _ in range(4):
                pool.submit(load)
            time.sleep(5)
            postgres.restart()
            restarted = time.monotonic()
            time.sleep(10)
            stop.set()
    finally:
        stop.set()
        if not postgres.is_up():
            postgres.start()
    assert outcomes["ok"] > 0
    (ARTIFACTS / "pg-restart.json").write_text(json.dumps(dict(outcomes)))

    # Every service answers its readiness probe again, without having been restarted.
    procs = [stack.cases, *stack.actions, *stack.rasas, stack.proxy]
    assert all(p.alive for p in procs), [p.name for p in procs if not p.alive]
    for proc in [stack.cases, *stack.actions]:
        proc.wait_ready(60)
    # New conversations go through: a question, and a request that reaches the case database.
    deadline = time.monotonic() + 60
    user = None
    while time.monotonic() < deadline:
        user = sender("pgafter")
        try:
            if all(expected in stack.say(user, m) for m, expected in DISCLOSURE[:2]):
                break
        except requests.RequestException:
            pass
        time.sleep(2)
    else:
        pytest.fail(f"no conversation succeeded within 60s of the restart ({time.monotonic() - restarted:.0f}s)")
    reply = _suggestion(stack, sender("pgsub"), Counter())
    assert reply and TRACKING.search(reply), reply


def test_sigkill_of_one_replica_under_load_loses_no_conversation(stack):
    workers = 10
    users = [sender("kill") for _ in range(workers)]
    answered: dict[str, list[str]] = {u: [] for u in users}
    failures: list[tuple[str, str]] = []

    def converse(user: str) -> None:
        for message, _ in DISCLOSURE:
            for _attempt in range(3):
                try:
                    stack.send(user, message)
                    answered[user].append(message)
                    break
                except requests.RequestException as exc:
                    failures.append((user, type(exc).__name__))
                    time.sleep(1)
            time.sleep(0.2)

    total = workers * len(DISCLOSURE)
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(converse, u) for u in users]
        # Kill once a fifth of the turns are answered, so most of the load comes after the kill
        # whatever the machine's speed (a fixed sleep once let every conversation finish first).
        deadline = time.monotonic() + 300
        while sum(map(len, answered.values())) < total // 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        answered_at_kill = sum(map(len, answered.values()))
        logged_at_kill = len(stack.proxied())
        stack.rasas[0].kill(signal.SIGKILL)  # returns once the process is gone
        logged_at_death = len(stack.proxied())
        for future in futures:
            future.result(timeout=400)
    answered_after_kill = sum(map(len, answered.values())) - answered_at_kill
    (ARTIFACTS / "sigkill.json").write_text(
        json.dumps({"workers": workers, "failures": len(failures), "turns_after_kill": answered_after_kill})
    )
    assert answered_after_kill >= total // 2, (answered_at_kill, answered_after_kill)
    # Errors only for requests that were in flight on the killed replica: at most one per conversation.
    assert len(failures) <= workers, failures
    # nginx's 502s were the requests in flight on the killed replica (the client saw each one), and
    # once it was gone every message was answered by the survivor, directly or after a refused
    # connection to the dead one (passive health check, max_fails=1).
    alive = f"127.0.0.1:{stack.rasa_ports[1]}"
    logged = stack.proxied()
    errors = [(u, status) for path, u, status in logged[logged_at_kill:] if path.startswith("/webhooks/") and status >= 500]
    assert len(errors) <= len(failures), errors
    after = [(u, status) for path, u, status in logged[logged_at_death:] if path.startswith("/webhooks/") and status < 500]
    assert after and all(u.split(",")[-1].strip() == alive for u, _status in after), after
    # No conversation lost what it had: every answered message is in the stored conversation, in order.
    from bot.privacy.validation import redact

    for user in users:
        stored = user_texts(stack.tracker(user))
        expected = [redact(m) for m in answered[user]]
        iterator = iter(stored)
        assert all(any(s == e for s in iterator) for e in expected), (user, expected, stored)
    # The surviving replica serves new conversations end to end.
    user = sender("after")
    for message, expected in DISCLOSURE:
        assert expected in stack.say(user, message)
    assert TRACKING.search(stack.say(user, "/confirm_request"))
    # (Re-admission of a recovered replica: tests/test_scaleout_proxy.py with small backends, and
    # tests/test_production_run.py, where scripts/run.sh's supervisor restarts a killed replica.)
