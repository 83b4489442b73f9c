"""Issue 16, items 5-9: taking over conversations, forging action calls, guessing numbers, flooding,
and secrets on command lines. Hostile input only; every test counts its attempts in ATTEMPTS and
the last test reports them (`pytest -s` prints the table) and checks that none got through.

The channels run for real in a small Sanic app (this file's `__main__`: Rasa's REST and socket.io
channels of the project, with an "assistant" that answers `<conversation id>:<message>`), over real
sockets, with python-socketio's AsyncClient as the browser. The action server, the case service,
Rasa and scripts/run.sh run as their own processes.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import stat
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import requests

from bot.channels.socketio import HANDED_OVER_TEXT, HANDOVER_FAILED_TEXT
from bot.access.rate_limit import BUSY_TEXT, RATE_LIMITED_TEXT, client_address
from tests.conftest import ROOT, VENV_BIN, free_port, wait_until
from tests.test_socketio_channel import Chat

ORIGIN = "http://127.0.0.1:8080"
REST_TOKEN = secrets.token_urlsafe(24)
PER_ADDRESS = 20
CAP = 3
SLOW_SECONDS = 2.5

# attempts made / attempts that got through, per kind of attack (reported by the last test)
ATTEMPTS: Counter = Counter()
THROUGH: Counter = Counter()


def attempt(kind: str, got_through: bool) -> None:
    ATTEMPTS[kind] += 1
    THROUGH[kind] += bool(got_through)


# ---- the channels alone ----------------------------------------------------------------------

def serve(port: int) -> None:
    """REST and socket.io channels on one Sanic app; the assistant echoes `<sender id>:<text>`."""
    from sanic import Sanic, response

    from bot.channels.rest import RestInput
    from bot.channels.socketio import SessionSocketIOInput

    rest = RestInput.from_credentials({})
    socket = SessionSocketIOInput.from_credentials({"session_persistence": True})
    app = Sanic("security_echo")

    async def on_new_message(message):
        if message.text.startswith("慢"):
            await asyncio.sleep(SLOW_SECONDS)
        await message.output_channel.send_text_message(message.sender_id, f"{message.sender_id}:{message.text}")

    @app.get("/health")
    async def health(_):
        return response.json({"status": "ok"})

    app.blueprint(rest.blueprint(on_new_message), url_prefix="/webhooks/rest")
    app.blueprint(socket.blueprint(on_new_message), url_prefix="/webhooks/socketio")
    app.run(host="127.0.0.1", port=port, access_log=False, motd=False)


def _start(tmp_path_factory, name: str, **env: str) -> tuple[str, subprocess.Popen]:
    port = free_port()
    log = tmp_path_factory.mktemp(name) / "server.log"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GOVBOT_")},
        "GOVBOT_WEB_ORIGINS": ORIGIN, "GOVBOT_REST_TOKEN": REST_TOKEN, "GOVBOT_SESSION_SECRET": secrets.token_urlsafe(24),
        "GOVBOT_RATE_LIMIT_PER_ADDRESS": str(PER_ADDRESS), "GOVBOT_RATE_LIMIT_PER_MINUTE": "1000",
        "GOVBOT_MAX_CONCURRENT_MESSAGES": str(CAP), **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.test_security_access", str(port)],
        cwd=ROOT, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=environment,
    )
    wait_until(f"http://127.0.0.1:{port}/health", process, log, timeout=120)
    return f"http://127.0.0.1:{port}", process


@pytest.fixture(scope="module")
def channels(tmp_path_factory):
    """Three servers: `direct` (no proxy trusted), `proxied` (127.0.0.1 is the trusted reverse proxy,
    so tests can play many client addresses), `capped` (for the cap on messages in progress)."""
    started = {
        "direct": _start(tmp_path_factory, "direct"),
        "proxied": _start(tmp_path_factory, "proxied", GOVBOT_TRUSTED_PROXIES="127.0.0.1"),
        "capped": _start(tmp_path_factory, "capped", GOVBOT_TRUSTED_PROXIES="127.0.0.1"),
    }
    yield {name: url for name, (url, _) in started.items()}
    for _, process in started.values():
        process.terminate()
        process.wait(timeout=20)


def rest(url: str, sender, message: str = "你好", *, token: str | None = None, forwarded: str | None = None) -> requests.Response:
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    return requests.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": message}, headers=headers, timeout=30)


def echoed(response: requests.Response) -> tuple[str, str]:
    """(conversation the assistant saw, the message) of an echo reply."""
    body = response.json()
    assert response.status_code == 200 and len(body) == 1, (response.status_code, body)
    conversation, _, text = body[0]["text"].partition(":")
    return conversation, text


def tampered(token: str) -> str:
    """`token` with one signature character changed. Not the last one: base64's last character
    carries padding bits, and some changes to it decode to the same signature."""
    i = len(token) - 10
    return token[:i] + ("B" if token[i] != "B" else "C") + token[i + 1:]


def fresh_address() -> str:
    return f"198.51.100.{secrets.randbelow(250) + 1}, 203.0.113.{secrets.randbelow(250) + 1}"


# ---- item 5: socket.io ---------------------------------------------------------------------


def test_socketio_never_lets_a_client_choose_or_guess_a_conversation(channels):
    """Bare ids (the victim's own, made-up, 32 hex), tampered or foreign-channel tokens: each gets a
    new conversation, and the victim's replies reach only the victim."""
    url = channels["proxied"]
    headers = {"X-Forwarded-For": "192.0.2.5"}

    async def scenario():
        victim = Chat(url)
        victim_id = await victim.open(headers=headers)
        token = victim.token
        rest_token = rest(url, "x", forwarded="192.0.2.5").json()[0]["recipient_id"]  # a REST-signed id
        tries = [
            {"session_id": victim_id},
            {"session_id": uuid.uuid4().hex},
            {"session_id": "demo"},
            {"token": tampered(token)},
            {"token": f"{victim_id}.{token.split('.')[1]}.forged-signature"},
            {"token": rest_token.replace(rest_token.split(".")[0], victim_id)},
            {"token": victim_id},
            {"handover": token},  # a session token is not a hand-over token
        ]
        results = []
        for kind in tries:
            attacker = Chat(url)
            got = await attacker.open(headers=headers, **kind)
            reply = await victim.say("只给我看")
            try:
                leaked = await asyncio.wait_for(attacker.messages.get(), 1.0)
            except asyncio.TimeoutError:
                leaked = None
            if kind.get("handover"):  # the failed hand-over notice is not a leak
                leaked = None if leaked == {"text": HANDOVER_FAILED_TEXT} else leaked
            results.append((got, reply, leaked))
            await attacker.close()
        again = Chat(url)
        reload_id = await again.open(token=token, headers=headers)  # the real owner reloads
        await asyncio.gather(victim.close(), again.close())
        return victim_id, results, reload_id

    victim_id, results, reload_id = asyncio.run(scenario())
    for got, reply, leaked in results:
        attempt("socket.io: join another conversation", got == victim_id or leaked is not None)
        assert got != victim_id and leaked is None
        assert reply == {"text": f"{victim_id}:只给我看"}
    assert reload_id == victim_id


def test_kiosk_hand_over_is_single_use_and_clears_the_kiosk(channels):
    url = channels["proxied"]
    headers = {"X-Forwarded-For": "192.0.2.6"}

    async def scenario():
        kiosk, phone, late = Chat(url), Chat(url), Chat(url)
        kiosk_id = await kiosk.open(headers=headers)
        ended = asyncio.get_running_loop().create_future()
        kiosk.client.on("session_ended", lambda event: ended.done() or ended.set_result(event))
        handover = asyncio.get_running_loop().create_future()
        kiosk.client.on("handover_token", lambda value: handover.done() or handover.set_result(value))
        await kiosk.client.emit("handover_request", {})
        token = await asyncio.wait_for(handover, 10)
        phone_id = await phone.open(handover=token, headers=headers)
        event = await asyncio.wait_for(ended, 10)
        on_phone = await phone.say("我用手机继续")
        try:
            on_kiosk = await asyncio.wait_for(kiosk.messages.get(), 1.0)
        except asyncio.TimeoutError:
            on_kiosk = None
        await kiosk.client.emit("user_uttered", {"message": "终端还能写吗", "session_id": kiosk_id})
        kiosk_write = await asyncio.wait_for(kiosk.messages.get(), 5)
        late_id = await late.open(handover=token, headers=headers)  # the same QR code, scanned again
        late_notice = await asyncio.wait_for(late.messages.get(), 5)
        await asyncio.gather(kiosk.close(), phone.close(), late.close())
        return kiosk_id, token, phone_id, event, on_phone, on_kiosk, kiosk_write, late_id, late_notice

    kiosk_id, token, phone_id, event, on_phone, on_kiosk, kiosk_write, late_id, late_notice = asyncio.run(scenario())
    assert kiosk_id not in token.split(".")[1:]  # the QR code carries no reusable session token
    assert phone_id == kiosk_id and on_phone == {"text": f"{kiosk_id}:我用手机继续"}
    assert event == {"reason": "handed_over", "text": HANDED_OVER_TEXT}
    attempt("socket.io: kiosk keeps reading after hand-over", on_kiosk is not None)
    attempt("socket.io: kiosk keeps writing after hand-over", kiosk_write.get("text", "").startswith(kiosk_id))
    attempt("socket.io: hand-over token used twice", late_id == kiosk_id)
    assert on_kiosk is None and not kiosk_write["text"].startswith(kiosk_id)
    assert late_id != kiosk_id and late_notice == {"text": HANDOVER_FAILED_TEXT}


def test_hand_over_tokens_expire():
    from bot.access.conversation_ids import ConversationIds

    ids = ConversationIds("test-secret", handover_max_age=1)
    used = ids.handover_token(ids.new_id())
    assert ids.redeem_handover(used) is not None
    # The same signature spelled differently (base64's last character carries padding bits).
    respelled = [used[:-1] + c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" if c != used[-1]]
    respelled = [t for t in respelled if ids.verify("handover", t)]
    for token in respelled:
        attempt("hand-over token respelled after use", ids.redeem_handover(token) is not None)
    assert respelled and not any(ids.redeem_handover(t) for t in respelled)
    token = ids.handover_token(ids.new_id())
    time.sleep(2.1)
    attempt("hand-over token after it expired", ids.redeem_handover(token) is not None)
    assert ids.redeem_handover(token) is None


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    """Two Rasa-like replicas sharing the signing secret and Redis, as in the production profile."""
    from tests.conftest import REDIS_URL, require_redis

    require_redis()
    shared = dict(GOVBOT_SESSION_SECRET=secrets.token_urlsafe(24), GOVBOT_RATE_LIMIT_STORAGE=REDIS_URL,
                  GOVBOT_TRUSTED_PROXIES="127.0.0.1")
    started = [_start(tmp_path_factory, f"replica-{i}", **shared) for i in (1, 2)]
    yield [url for url, _ in started]
    for _, process in started:
        process.terminate()
        process.wait(timeout=20)


def test_hand_over_retires_the_kiosk_on_another_replica(replicas):
    """The kiosk on one replica, the phone on the other: the kiosk's next message ends its part,
    and its signed copy of the id no longer continues the conversation anywhere."""
    kiosk_url, phone_url = replicas
    headers = {"X-Forwarded-For": "192.0.2.31"}

    async def scenario():
        kiosk, phone, stolen = Chat(kiosk_url), Chat(phone_url), Chat(phone_url)
        kiosk_id = await kiosk.open(headers=headers)
        kiosk_token = kiosk.token
        await kiosk.say("在终端上问一句")
        handover = asyncio.get_running_loop().create_future()
        kiosk.client.on("handover_token", lambda value: handover.done() or handover.set_result(value))
        ended = asyncio.get_running_loop().create_future()
        kiosk.client.on("session_ended", lambda event: ended.done() or ended.set_result(event))
        await kiosk.client.emit("handover_request", {})
        phone_id = await phone.open(handover=await asyncio.wait_for(handover, 10), headers=headers)
        on_phone = await phone.say("手机接着问")
        await kiosk.client.emit("user_uttered", {"message": "终端还想写", "session_id": kiosk_id})
        event = await asyncio.wait_for(ended, 10)
        try:
            written = await asyncio.wait_for(kiosk.messages.get(), 1.0)
        except asyncio.TimeoutError:
            written = None
        stolen_id = await stolen.open(token=kiosk_token, headers=headers)  # the kiosk's old copy, replayed
        phone_again = Chat(kiosk_url)
        reload_id = await phone_again.open(token=phone.token, headers=headers)  # the phone reloads, other replica
        await asyncio.gather(kiosk.close(), phone.close(), stolen.close(), phone_again.close())
        return kiosk_id, phone_id, on_phone, event, written, stolen_id, reload_id

    kiosk_id, phone_id, on_phone, event, written, stolen_id, reload_id = asyncio.run(scenario())
    assert phone_id == kiosk_id and on_phone == {"text": f"{kiosk_id}:手机接着问"}
    attempt("socket.io: kiosk on another replica writes after hand-over", written is not None)
    attempt("socket.io: kiosk's old signed id replayed after hand-over", stolen_id == kiosk_id)
    assert event["reason"] == "handed_over" and written is None
    assert stolen_id != kiosk_id and reload_id == kiosk_id


# ---- item 5: REST --------------------------------------------------------------------------


def test_public_rest_callers_get_server_issued_signed_ids(channels):
    url = channels["proxied"]
    first = rest(url, "victim-1", forwarded="192.0.2.7")
    conversation, _ = echoed(first)
    signed = first.json()[0]["recipient_id"]
    assert first.headers["X-Govbot-Sender"] == signed and signed.startswith(conversation + ".")
    assert conversation != "victim-1"
    assert echoed(rest(url, signed, "第二句", forwarded="192.0.2.7"))[0] == conversation  # the owner continues
    socket_signed = None

    async def socket_token():
        chat = Chat(url)
        await chat.open(headers={"X-Forwarded-For": "192.0.2.7"})
        await chat.close()
        return chat.token

    socket_signed = asyncio.run(socket_token())
    forged = [
        "victim-1", conversation, tampered(signed),
        conversation + ".AAAAAA.AAAA", socket_signed.replace(socket_signed.split(".")[0], conversation),
        signed.replace(conversation, uuid.uuid4().hex),
    ]
    for sender in forged:
        seen, _ = echoed(rest(url, sender, "冒充", forwarded="192.0.2.7"))
        attempt("REST: continue another conversation", seen == conversation)
        assert seen != conversation


def test_trusted_rest_callers_need_the_token(channels):
    url = channels["direct"]
    assert echoed(rest(url, "portal-user-7", token=REST_TOKEN)) == ("portal-user-7", "你好")
    for wrong in ("", "wrong", REST_TOKEN[:-1], REST_TOKEN + "x", "Basic " + REST_TOKEN):
        response = rest(url, "portal-user-7", token=wrong) if not wrong.startswith("Basic") else requests.post(
            f"{url}/webhooks/rest/webhook", json={"sender": "portal-user-7", "message": "x"},
            headers={"Authorization": wrong}, timeout=30)
        attempt("REST: trusted caller with a wrong token", response.status_code != 401)
        assert response.status_code == 401 and "portal-user-7" not in response.text


# ---- item 8: per address, trusted proxies, concurrency cap ------------------------------------


def test_a_new_sender_per_message_is_limited_per_address(channels):
    url = channels["direct"]
    statuses = []
    for i in range(PER_ADDRESS + 10):
        # X-Forwarded-For from a peer that is not a trusted proxy is ignored.
        response = rest(url, f"fresh-{i}", forwarded=fresh_address())
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.json()[0]["text"] == RATE_LIMITED_TEXT and int(response.headers["Retry-After"]) >= 1
    passed = statuses.count(200)
    for status in statuses[PER_ADDRESS:]:
        attempt("flood: new sender per message, one address", status == 200)
    assert statuses[:PER_ADDRESS] == [200] * PER_ADDRESS and passed == PER_ADDRESS
    # The agency's own server (trusted REST) speaks for many people from one address: not limited by it.
    assert all(rest(url, f"portal-{i}", token=REST_TOKEN).status_code == 200 for i in range(5))


def test_behind_a_trusted_proxy_each_client_address_counts_alone(channels):
    url = channels["proxied"]
    spoofer = "203.0.113.77"
    for i in range(PER_ADDRESS + 5):
        # The client prepends a made-up address; the proxy appends the real one, which is what counts.
        response = rest(url, f"s-{i}", forwarded=f"10.{i}.0.1, {spoofer}")
        if i >= PER_ADDRESS:
            attempt("flood: spoofed X-Forwarded-For behind the proxy", response.status_code == 200)
            assert response.status_code == 429
    assert rest(url, "neighbour", forwarded="203.0.113.78").status_code == 200  # another client is unaffected

    async def socket_flood():
        chat = Chat(url)
        await chat.open(headers={"X-Forwarded-For": spoofer})
        reply = await chat.say("还能发吗")
        await chat.close()
        return reply

    reply = asyncio.run(socket_flood())  # socket.io shares the address's count
    attempt("flood: same address over socket.io", reply != {"text": RATE_LIMITED_TEXT})
    assert reply == {"text": RATE_LIMITED_TEXT}


def test_client_address_believes_only_trusted_proxies():
    from bot.access.rate_limit import trusted_proxies

    proxies = trusted_proxies("127.0.0.1, 10.0.0.0/8")
    assert client_address("192.0.2.1", "6.6.6.6", proxies) == "192.0.2.1"
    assert client_address("127.0.0.1", "6.6.6.6, 192.0.2.9", proxies) == "192.0.2.9"
    assert client_address("127.0.0.1", "192.0.2.9, 10.1.2.3", proxies) == "192.0.2.9"
    assert client_address("127.0.0.1", None, proxies) == "127.0.0.1"
    assert client_address("127.0.0.1", "6.6.6.6", ()) == "127.0.0.1"
    with pytest.raises(ValueError, match="GOVBOT_TRUSTED_PROXIES"):
        trusted_proxies("proxy.example")


def test_more_messages_than_the_cap_get_busy_at_once(channels):
    url = channels["capped"]

    async def burst():
        loop = asyncio.get_running_loop()
        chat = Chat(url)
        await chat.open(headers={"X-Forwarded-For": "192.0.2.98"})
        calls = [loop.run_in_executor(None, lambda i=i: rest(url, f"cap-{i}", "慢慢说", forwarded=f"192.0.2.{100 + i}"))
                 for i in range(CAP + 5)]
        await asyncio.sleep(SLOW_SECONDS / 3)  # the first CAP messages are in progress
        socket_reply = await chat.say("也想插一句")  # socket.io meets the same cap
        responses = await asyncio.gather(*calls)
        await chat.close()
        return responses, socket_reply

    started = time.monotonic()
    responses, socket_reply = asyncio.run(burst())
    attempt("flood: socket.io message beyond the cap", socket_reply != {"text": BUSY_TEXT})
    assert socket_reply == {"text": BUSY_TEXT}
    busy = [r for r in responses if r.status_code == 429]
    for response in busy:
        assert response.json()[0]["text"] == BUSY_TEXT and response.headers["Retry-After"] == "5"
    served = sum(r.status_code == 200 for r in responses)
    ATTEMPTS["flood: more messages in progress than the cap"] += len(responses) - CAP
    THROUGH["flood: more messages in progress than the cap"] += max(0, served - CAP)
    assert served == CAP and len(busy) == len(responses) - CAP
    assert time.monotonic() - started < SLOW_SECONDS * 2  # refused at once, not queued
    assert rest(url, "after", forwarded="192.0.2.99").status_code == 200  # slots are given back


# ---- item 6: the action server answers only Rasa --------------------------------------------


@pytest.fixture(scope="module")
def action_server(tmp_path_factory):
    port, token = free_port(), secrets.token_urlsafe(24)
    state = tmp_path_factory.mktemp("actions")
    log = state / "action-server.log"
    env = dict(
        {k: v for k, v in os.environ.items() if not k.startswith(("GOVBOT_", "WECHAT_"))},
        GOVBOT_ACTION_TOKEN=token, GOVBOT_OUTBOX_DATABASE_URL=f"sqlite:///{state / 'outbox.db'}",
        GOVBOT_CASE_URL=f"http://127.0.0.1:{free_port()}",
    )
    process = subprocess.Popen(
        [str(VENV_BIN / "python"), "-m", "bot.ops.action_server", "--actions", "actions", "--port", str(port)],
        cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
    )
    try:
        wait_until(f"http://127.0.0.1:{port}/health", process, log, timeout=300)
        yield f"http://127.0.0.1:{port}", token, env
    finally:
        process.terminate()
        process.wait(timeout=30)


def forged_call(action: str, sender: str = "someone-else") -> dict:
    """What Rasa would send: another conversation's tracker, asking for its requests."""
    return {
        "next_action": action, "sender_id": sender, "version": "3.6.21",
        "tracker": {"sender_id": sender, "slots": {}, "latest_message": {"text": "我的申请办到哪了", "intent": {}, "entities": []},
                    "events": [], "paused": False, "followup_action": None, "active_loop": {}, "latest_action_name": None},
        "domain": {"version": "3.1", "slots": {}, "responses": {}, "actions": [], "forms": {}},
    }


def test_action_server_answers_only_calls_with_the_shared_secret(action_server):
    url, token, _ = action_server
    refusals = []
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {token[:-1]}"},
                    {"Authorization": token}, {"Authorization": f"Basic {token}"}, {"Authorization": "Bearer \u00e9\u4e2d".encode("utf-8")}):
        for path in ("/webhook", "/webhook/", "/actions"):
            response = requests.post(f"{url}{path}", json=forged_call("action_ask_tracking_number"), headers=headers, timeout=30) \
                if path != "/actions" else requests.get(f"{url}{path}", headers=headers, timeout=30)
            attempt("action server: forged call without the secret", response.status_code != 401)
            refusals.append(response.status_code)
    assert set(refusals) == {401}
    ok = requests.post(f"{url}/webhook", json=forged_call("action_ask_tracking_number"),
                       headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert ok.status_code == 200 and "回执号" in str(ok.json())  # Rasa, with the secret, is served as before
    assert requests.get(f"{url}/health", timeout=10).status_code == 200


def test_action_server_does_not_start_without_a_secret(action_server):
    _, _, env = action_server
    env = {k: v for k, v in env.items() if k != "GOVBOT_ACTION_TOKEN"}
    done = subprocess.run(
        [str(VENV_BIN / "python"), "-m", "bot.ops.action_server", "--port", str(free_port())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and "GOVBOT_ACTION_TOKEN" in done.stderr


# ---- items 5-9 on the stack of `make run` (scripts/run.sh) ---------------------------------------


@pytest.mark.e2e
def test_stack_secrets_are_on_no_command_line(default_stack):
    """Item 9: `ps` (/proc/<pid>/cmdline) of every process run.sh started shows no token or secret."""
    secrets_ = {name: value for name, value in default_stack.env.items()
                if re.search(r"TOKEN|SECRET", name) and value}
    processes = _session_processes(default_stack.pid)
    commands = {pid: open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
                for pid in processes if Path(f"/proc/{pid}/cmdline").exists()}
    assert any("bot.ops.rasa_cli" in c and "--enable-api" in c for c in commands.values()), commands
    assert any("bot.ops.action_server" in c for c in commands.values())
    for pid, command in commands.items():
        for name, value in secrets_.items():
            attempt("ps: a secret on a command line", value in command)
            assert value not in command, f"{name} visible in the command line of {pid}"
    # The API still needs (and takes) the token from the environment.
    assert requests.get(f"{default_stack.rasa_url}/status", timeout=30).status_code == 401
    status = requests.get(f"{default_stack.rasa_url}/status", params={"token": default_stack.rasa_token}, timeout=30)
    assert status.status_code == 200


@pytest.mark.e2e
def test_staff_find_the_runs_tokens_in_a_private_file_named_at_start(default_stack):
    """Issue 19 item 3: the staff and Rasa API tokens of a `make run` are where staff need them (a 0600
    file in the run directory, named in the start-up message), and they work; no command line shows them."""
    port = default_stack.rasa_url.rsplit(":", 1)[1]
    tokens = ROOT / "var" / "run" / f"port-{port}" / "tokens.env"
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    values = dict(line.split("=", 1) for line in tokens.read_text(encoding="utf-8").splitlines())
    names = ("GOVBOT_CASE_STAFF_TOKEN", "GOVBOT_RASA_TOKEN", "GOVBOT_REST_TOKEN")
    assert values == {name: default_stack.env[name] for name in names}
    deadline = time.monotonic() + 600  # the message comes once the web server is up too
    while str(tokens) not in default_stack.log.read_text(encoding="utf-8", errors="replace") and time.monotonic() < deadline:
        time.sleep(2)
    assert str(tokens) in default_stack.log.read_text(encoding="utf-8", errors="replace")
    staff = {"Authorization": f"Bearer {values['GOVBOT_CASE_STAFF_TOKEN']}"}
    assert requests.get(f"{default_stack.case_url}/cases", headers=staff, timeout=30).status_code == 200
    assert requests.get(f"{default_stack.case_url}/cases", timeout=30).status_code == 401
    status = requests.get(f"{default_stack.rasa_url}/status", params={"token": values["GOVBOT_RASA_TOKEN"]}, timeout=30)
    assert status.status_code == 200


def _session_processes(leader: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == leader:  # the session id: run.sh was started in a new session
            found.append(int(entry.name))
    return found


def test_rasa_cli_refuses_an_open_api_or_a_token_on_the_command_line():
    from bot.ops.rasa_cli import rasa_arguments

    cors = ["--cors", "https://www.example.gov.cn"]  # given: nothing derived from GOVBOT_WEB_ORIGINS here
    assert rasa_arguments(["run", *cors, "--enable-api"], "t0k") == ["run", *cors, "--enable-api", "--auth-token=t0k"]
    assert rasa_arguments(["run", *cors], "") == ["run", *cors]
    for argv, token in ((["run", "--enable-api"], ""), (["run", "--auth-token=x"], "t"), (["run", "--auth-token", "x"], "t")):
        with pytest.raises(ValueError):
            rasa_arguments(argv, token)


def test_secrets_can_come_from_files(tmp_path):
    from bot.settings import env_secret

    secret = tmp_path / "rasa_token"
    secret.write_text("from-a-file\n", encoding="utf-8")
    secret.chmod(0o600)
    assert env_secret("GOVBOT_RASA_TOKEN", environ={"GOVBOT_RASA_TOKEN_FILE": str(secret)}) == "from-a-file"
    assert env_secret("GOVBOT_RASA_TOKEN", environ={"GOVBOT_RASA_TOKEN": "direct", "GOVBOT_RASA_TOKEN_FILE": str(secret)}) == "direct"
    assert env_secret("GOVBOT_RASA_TOKEN", environ={}) == ""
    (tmp_path / "empty").write_text("")
    for path in (tmp_path / "empty", tmp_path / "missing"):
        with pytest.raises(ValueError, match="GOVBOT_RASA_TOKEN_FILE"):
            env_secret("GOVBOT_RASA_TOKEN", environ={"GOVBOT_RASA_TOKEN_FILE": str(path)})


@pytest.mark.e2e
def test_stack_action_server_refuses_forged_trackers_and_rasa_still_gets_answers(default_stack):
    """Item 6 on the real stack: Rasa's calls carry the secret, anybody else's are refused."""
    forged = requests.post(f"{default_stack.action_url}/webhook", json=forged_call("action_ask_tracking_number"), timeout=30)
    attempt("action server: forged tracker on the running stack", forged.status_code != 401)
    assert forged.status_code == 401
    texts = default_stack.texts(f"sec-{uuid.uuid4().hex[:8]}", "我的申请办到哪了")  # runs custom actions
    assert any("回执号" in t for t in texts) and not any("没能处理完" in t for t in texts)


@pytest.mark.e2e
def test_stack_public_rest_cannot_take_over_a_conversation(default_stack):
    """Item 5 on the real stack: the victim's raw id, or a forged signed one, opens a new conversation."""
    first = default_stack.rest({"sender": "anyone", "message": "你好"}, trusted=False)
    assert first.status_code == 200
    signed = first.headers["X-Govbot-Sender"]
    victim = signed.split(".")[0]
    for sender in (victim, tampered(signed), "anyone"):
        response = default_stack.rest({"sender": sender, "message": "我的申请办到哪了"}, trusted=False)
        assert response.status_code == 200
        attempt("REST: another's conversation on the running stack", response.headers["X-Govbot-Sender"].startswith(victim))
        assert not response.headers["X-Govbot-Sender"].startswith(victim)
    users = [e["text"] for e in default_stack.tracker(victim)["events"] if e["event"] == "user"]
    assert users == ["你好"]


@pytest.mark.e2e
def test_stack_status_guessing_through_the_chat_locks_the_number(default_stack):
    """Item 7 through the real stack: guessing the phone digits of a real case locks the number."""
    bot = {"Authorization": f"Bearer {default_stack.env['GOVBOT_CASE_BOT_TOKEN']}"}
    case = {"kind": "disclosure", "channel": "rest", "conversation_id": f"guess-{uuid.uuid4().hex[:6]}",
            "applicant": {"name": "张三", "phone": "13800138000"}, "request": {"description": "2025年本局政务公开工作要点"}}
    created = requests.post(f"{default_stack.case_url}/cases", json=case,
                            headers={**bot, "Idempotency-Key": uuid.uuid4().hex}, timeout=30).json()
    number = created["tracking_number"]
    answers = []
    for guess in ("0000", "1111", "2222", "3333", "4444", "5555", "8000"):  # 8000 is right, but too late
        response = requests.get(f"{default_stack.case_url}/cases/{number}", params={"phone_last4": guess}, headers=bot, timeout=30)
        answers.append(response.status_code)
        attempt("case status: guessing the phone's last four digits", response.status_code == 200)
    assert answers == [404] * 5 + [429, 429]
    who = f"sec-{uuid.uuid4().hex[:8]}"
    default_stack.texts(who, "我的申请办到哪了")
    default_stack.texts(who, number)
    reply = "\n".join(default_stack.texts(who, "8000"))
    attempt("case status through the chat after the lock", "受理" in reply and "锁定" not in reply)
    assert "锁定" in reply


# ---- the report -----------------------------------------------------------------------------


def test_zz_hostile_attempts_report():
    """How many hostile attempts the tests above made, by kind, and that none got through."""
    lines = [f"{kind}: {ATTEMPTS[kind]} attempts, {THROUGH[kind]} got through" for kind in sorted(ATTEMPTS)]
    total, through = sum(ATTEMPTS.values()), sum(THROUGH.values())
    print("\nissue 16 hostile attempts:\n  " + "\n  ".join(lines) + f"\n  total: {total} attempts, {through} got through")
    assert through == 0, lines


if __name__ == "__main__":
    serve(int(sys.argv[1]))
