"""The socketio channel the widget and kiosk use (bot.channels.socketio), with python-socketio's
AsyncClient as the browser.

Part one runs the channel alone in a small Sanic app (run as this file's `__main__`) whose
"assistant" echoes the message, once with Rasa 3.6.21's own SocketIOInput and once with the
project's subclass: with session persistence on, upstream never delivers a reply (the
un-awaited enter_room), the subclass does. Part two talks to the real Rasa of the `servers`
fixture: replies, reconnects with the signed session token (a page reload), refused origins.
Take-over attempts (made-up ids, another's id, hand-over tokens) are in tests/test_security_access.py.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import aiohttp
import pytest
import requests
import socketio

from bot.channels.socketio import BAD_MESSAGE_TEXT, allowed_origins
from tests.conftest import ROOT, free_port, wait_until

ORIGIN = "http://127.0.0.1:8080"
TIMEOUT = 60


class Chat:
    """One browser tab: an AsyncClient that asks for a session and collects bot messages."""

    def __init__(self, url: str, origin: str = ORIGIN, keep_cookies: bool = False) -> None:
        """`keep_cookies`: store cookies from an IP-address host as a browser does (aiohttp does not
        by default), e.g. the sticky-session cookie of the production profile's balancer."""
        self.url, self.origin = url, origin
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) if keep_cookies else None
        self.client = socketio.AsyncClient(reconnection=False, http_session=session)
        self.messages: asyncio.Queue = asyncio.Queue()
        self.session: asyncio.Future | None = None
        self.token: str | None = None  # the signed copy of the session id (bot.access.conversation_ids)

    async def open(self, session_id: str | None = None, token: str | None = None, handover: str | None = None,
                   headers: dict | None = None) -> str:
        """Connects and asks for a session: by bare id (never honoured), signed token or hand-over token."""
        self.session = asyncio.get_running_loop().create_future()
        self.client.on("session_token", lambda value: setattr(self, "token", value))
        self.client.on("session_confirm", lambda sid: self.session.done() or self.session.set_result(sid))
        self.client.on("bot_uttered", self.messages.put_nowait)
        await self.client.connect(self.url, headers={"Origin": self.origin, **(headers or {})}, transports=["polling"], wait_timeout=10)
        request = {"session_id": session_id, "session_token": token}
        if handover is not None:
            request["handover"] = handover
        await self.client.emit("session_request", request)
        return await asyncio.wait_for(self.session, TIMEOUT)

    async def say(self, text, session_id: str | None = None) -> dict:
        await self.client.emit("user_uttered", {"message": text, "session_id": session_id or self.session.result()})
        return await asyncio.wait_for(self.messages.get(), TIMEOUT)

    async def close(self) -> None:
        # Polling only (engine.io's WebSocket client needs a newer aiohttp than Rasa's); do not wait
        # for the pending long-poll to end.
        await self.client.eio.disconnect(abort=True)
        if self.client.eio.http is not None:
            await self.client.eio.http.close()


def test_allowed_origins_from_environment(monkeypatch):
    monkeypatch.delenv("GOVBOT_WEB_ORIGINS", raising=False)
    assert allowed_origins() == ["http://127.0.0.1:8080"]
    assert allowed_origins(" https://www.example.gov.cn/ ,http://127.0.0.1:8080") == [
        "https://www.example.gov.cn", "http://127.0.0.1:8080"
    ]
    with pytest.raises(ValueError, match="不能设为"):
        allowed_origins("*")


# ---- the channel alone, upstream vs. subclass ----

def serve(kind: str, port: int) -> None:
    """A Sanic app with only the socketio channel; the assistant answers 「收到：<message>」."""
    from rasa.core.channels.socketio import SocketIOInput
    from sanic import Sanic, response

    from bot.channels.socketio import SessionSocketIOInput

    channel_class = SessionSocketIOInput if kind == "subclass" else SocketIOInput
    channel = channel_class.from_credentials({"session_persistence": True})
    app = Sanic(f"socketio_{kind}")

    async def on_new_message(message):
        await message.output_channel.send_text_message(message.sender_id, f"收到：{message.text}")

    @app.get("/health")
    async def health(_):
        return response.json({"channel": kind})

    app.blueprint(channel.blueprint(on_new_message), url_prefix="/webhooks/socketio")
    app.run(host="127.0.0.1", port=port, access_log=False, motd=False)


@pytest.fixture(scope="module")
def echo_servers(tmp_path_factory):
    urls, processes = {}, []
    for kind in ("upstream", "subclass"):
        port = free_port()
        log = tmp_path_factory.mktemp(kind) / "server.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.test_socketio_channel", kind, str(port)],
            cwd=ROOT, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=dict(os.environ, GOVBOT_WEB_ORIGINS=ORIGIN),
        )
        processes.append(process)
        wait_until(f"http://127.0.0.1:{port}/health", process, log, timeout=120)
        urls[kind] = f"http://127.0.0.1:{port}"
    yield urls
    for process in processes:
        process.terminate()
        process.wait(timeout=20)


async def _exchange(url: str, session_id: str | None = None, token: str | None = None) -> tuple[str, dict | None, str | None]:
    chat = Chat(url)
    try:
        confirmed = await chat.open(session_id, token)
        try:
            chat_reply = await asyncio.wait_for(chat.say("你好"), 5)
        except asyncio.TimeoutError:
            chat_reply = None
        return confirmed, chat_reply, chat.token
    finally:
        await chat.close()


def test_upstream_channel_loses_replies_with_session_persistence(echo_servers):
    """Documents the upstream bug the subclass exists for; if this fails, upstream fixed it."""
    _, reply, _ = asyncio.run(_exchange(echo_servers["upstream"]))
    assert reply is None


def test_subclass_delivers_replies_and_keeps_the_session(echo_servers):
    session_id, reply, token = asyncio.run(_exchange(echo_servers["subclass"]))
    assert len(session_id) == 32 and token and token.startswith(session_id + ".")
    assert reply == {"text": "收到：你好"}
    # A reload: a new socket presenting the signed copy gets the replies of that session.
    again, reply, _ = asyncio.run(_exchange(echo_servers["subclass"], token=token))
    assert again == session_id and reply == {"text": "收到：你好"}


def test_subclass_refuses_made_up_session_ids(echo_servers):
    session_id, reply, _ = asyncio.run(_exchange(echo_servers["subclass"], "demo"))
    assert session_id != "demo" and len(session_id) == 32
    assert reply == {"text": "收到：你好"}  # the person's message is answered in the new session
    # A well-formed id is not honoured either: only the server's signed copy continues a session.
    victim, _, _ = asyncio.run(_exchange(echo_servers["subclass"]))
    other, _, _ = asyncio.run(_exchange(echo_servers["subclass"], victim))
    assert other != victim


def test_subclass_answers_malformed_messages_instead_of_crashing(echo_servers):
    async def scenario():
        chat = Chat(echo_servers["subclass"])
        try:
            await chat.open()
            replies = []
            for bad in ({"message": None}, {"message": ["列表"]}, {"message": "长" * 5000}, 42):
                await chat.client.emit("user_uttered", bad)
                replies.append(await asyncio.wait_for(chat.messages.get(), 5))
            replies.append(await chat.say("还在吗"))
            return replies
        finally:
            await chat.close()

    replies = asyncio.run(scenario())
    assert [replies[0], replies[1], replies[3]] == [{"text": BAD_MESSAGE_TEXT}] * 3
    assert "太长" in replies[2]["text"] and "5000 字" in replies[2]["text"]  # the guard's reply, as on REST
    assert replies[4] == {"text": "收到：还在吗"}


def test_subclass_uses_the_confirmed_session_not_the_one_in_the_message(echo_servers):
    """A socket cannot post into someone else's conversation by naming its session id."""

    async def scenario():
        victim, attacker = Chat(echo_servers["subclass"]), Chat(echo_servers["subclass"])
        try:
            victim_id = await victim.open()
            await attacker.open()
            await attacker.client.emit("user_uttered", {"message": "冒充", "session_id": victim_id})
            own = await asyncio.wait_for(attacker.messages.get(), 5)
            try:
                leaked = await asyncio.wait_for(victim.messages.get(), 2)
            except asyncio.TimeoutError:
                leaked = None
            return own, leaked
        finally:
            await victim.close()
            await attacker.close()

    own, leaked = asyncio.run(scenario())
    assert own == {"text": "收到：冒充"} and leaked is None


def test_origins_outside_the_list_are_refused(echo_servers):
    url = echo_servers["subclass"]
    handshake = f"{url}/socket.io/?EIO=4&transport=polling"
    allowed = requests.get(handshake, headers={"Origin": ORIGIN}, timeout=10)
    assert allowed.status_code == 200
    assert allowed.headers.get("Access-Control-Allow-Origin") == ORIGIN
    refused = requests.get(handshake, headers={"Origin": "http://evil.example"}, timeout=10)
    assert refused.status_code == 400
    assert "Access-Control-Allow-Origin" not in refused.headers

    async def connect_from_elsewhere():
        with pytest.raises(socketio.exceptions.ConnectionError):
            await Chat(url, origin="http://evil.example").open()

    asyncio.run(connect_from_elsewhere())


# ---- the real Rasa of `make run` ----

@pytest.mark.e2e
def test_real_rasa_conversation_survives_a_reconnect(servers):
    origin = f"http://127.0.0.1:{servers.web_port}"

    async def scenario():
        first = Chat(servers.rasa_url, origin)
        session_id = await first.open()
        answer = await first.say("申请政府信息公开需要说明用途吗？")
        await first.close()
        second = Chat(servers.rasa_url, origin)  # the page reloaded: the widget kept the signed copy
        assert await second.open(token=first.token) == session_id
        thanks = await second.say("/feedback_helpful")
        await second.close()
        return session_id, answer, thanks

    session_id, answer, thanks = asyncio.run(scenario())
    assert "来源：" in answer["text"]
    assert "感谢您的反馈" in thanks["text"]
    events = servers.tracker(session_id)["events"]
    users = [e for e in events if e["event"] == "user"]
    assert [e["text"] for e in users] == ["申请政府信息公开需要说明用途吗？", "/feedback_helpful"]
    assert {e["input_channel"] for e in users} == {"socketio"}
    assert users[1]["parse_data"]["intent"]["name"] == "feedback_helpful"


@pytest.mark.e2e
def test_real_rasa_refuses_other_origins(servers):
    response = requests.get(
        f"{servers.rasa_url}/socket.io/?EIO=4&transport=polling", headers={"Origin": "http://evil.example"}, timeout=10
    )
    assert response.status_code == 400


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
