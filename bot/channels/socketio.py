"""Rasa's socketio channel for the web widget and the kiosk, with session persistence that works.

Rasa 3.6.21's `SocketIOInput.session_request` calls `sio.enter_room(...)` without awaiting it
(python-socketio 5's AsyncServer.enter_room is a coroutine), so with `session_persistence: true`
the socket never joins its session's room and bot replies, sent to that room, reach nobody.
This subclass keeps Rasa's channel and replaces two handlers:

- `session_request` awaits `enter_room`, leaves the room of a previous session on the same
  socket (the kiosk starts a new conversation without reconnecting), and never lets the client
  choose the conversation: the server makes the id and sends a signed copy (`session_token`
  event, just before `session_confirm` with the plain id); a reconnecting client presents the
  signed copy as `session_token`, a phone taking over a kiosk's conversation presents a
  single-use hand-over token as `handover` (asked for by the kiosk with `handover_request`,
  answered by `handover_token`). Anything else, including a bare id, gets a new conversation
  (bot.access.conversation_ids). After a hand-over the kiosk's sockets leave the conversation and are
  told so (`session_ended`), so the next person at the kiosk sees nothing of it: at once on this
  replica, and on another one at the kiosk's next message, because the hand-over raised the
  conversation's generation in the shared storage and the kiosk's copy names the old one;
- the user-message handler takes the sender id from the session this socket confirmed, not from
  the message, so a socket cannot write into another conversation; malformed payloads are
  answered with a short Chinese notice instead of raising, and so is metadata larger than 4 KB
  or nested more than MAX_METADATA_DEPTH levels (it is stored with the message); messages are
  limited per client address as well as per conversation, and refused with 「系统繁忙」 when the
  process already handles GOVBOT_MAX_CONCURRENT_MESSAGES (bot.access.rate_limit).

Allowed browser origins come from GOVBOT_WEB_ORIGINS (comma-separated; default the project's web
server at http://127.0.0.1:8080) and are enforced by engine.io for polling and WebSocket alike.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable, Optional

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint

from bot.access import rate_limit
from bot.channels.guard import MAX_METADATA_DEPTH, nested_deeper_than, screen
from bot.access.conversation_ids import shared_ids
from bot.settings.web import WebSettings

logger = logging.getLogger(__name__)

ORIGINS_ENV = WebSettings.variable("origins").name
DEFAULT_ORIGINS = ("http://127.0.0.1:8080",)
BAD_MESSAGE_TEXT = "抱歉，这条消息的格式无法识别，请重新输入您的问题。"
NO_SESSION_TEXT = "连接尚未就绪，请刷新页面后再试。"
HANDED_OVER_TEXT = "本次咨询已转到手机上继续，本机上的对话已结束。"
HANDOVER_FAILED_TEXT = "这个二维码已失效（几分钟内有效，且只能用一次），已为您开始新的咨询。如需接续，请在自助终端上重新点「扫码手机继续」。"
MAX_METADATA_BYTES = 4096  # as on the REST channel


def allowed_origins(value: str | None = None) -> list[str]:
    """Browser origins allowed to open the socket; `*` is refused (use an explicit list)."""
    raw = WebSettings.read("origins") if value is None else value
    origins = [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]
    if "*" in origins:
        raise ValueError(f"{ORIGINS_ENV} 不能设为 *：请列出允许嵌入挂件的网站地址，如 https://www.example.gov.cn")
    return origins or list(DEFAULT_ORIGINS)


class SessionSocketIOInput(SocketIOInput):
    """`socketio` channel whose sessions survive page reloads (see the module docstring)."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: Optional[dict[str, Any]]) -> "SessionSocketIOInput":
        credentials = credentials or {}
        channel = super().from_credentials(credentials)
        channel.origins = allowed_origins(credentials.get("cors_allowed_origins"))
        return channel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.origins: list[str] = allowed_origins()
        self._on_new_message: Optional[Callable[[UserMessage], Awaitable[Any]]] = None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = super().blueprint(on_new_message)
        self._on_new_message = on_new_message
        # Rasa creates the server with CORS checks off; engine.io enforces this list instead.
        self.sio.eio.cors_allowed_origins = self.origins
        # Registering a handler again for an event replaces Rasa's.
        self.sio.on("session_request", namespace=self.namespace)(self.session_request)
        self.sio.on("handover_request", namespace=self.namespace)(self.handover_request)
        self.sio.on(self.user_message_evt, namespace=self.namespace)(self.receive)
        return blueprint

    async def session_request(self, sid: str, data: Any) -> None:
        """Confirms the conversation a signed token or hand-over token names, else a new one."""
        data = data if isinstance(data, dict) else {}
        ids = shared_ids()
        handed_over = await asyncio.to_thread(ids.redeem_handover, data["handover"]) if data.get("handover") else None
        if handed_over:
            session_id, generation = handed_over
            await self._end_elsewhere(session_id, keep=sid)
        else:
            # `session_id` too: a widget bundle cached from before signing sent the id there.
            found = ids.verify_generation(data.get("session_token")) or ids.verify_generation(data.get("session_id"))
            if found is not None:
                current = await asyncio.to_thread(ids.generation, found[0])
                if current is not None and current != found[1]:
                    found = None  # a copy from before a hand-over: that conversation went elsewhere
                else:
                    await asyncio.to_thread(ids.keep_generation, *found)
            session_id, generation = found if found is not None else (ids.new_id(), 0)
        if self.session_persistence:
            for room in self.sio.rooms(sid, namespace=self.namespace):
                if room not in (sid, session_id):
                    await self.sio.leave_room(sid, room, namespace=self.namespace)
            await self.sio.enter_room(sid, session_id, namespace=self.namespace)
        await self.sio.save_session(sid, {"session_id": session_id, "generation": generation}, namespace=self.namespace)
        await self.sio.emit("session_token", ids.sign_generation(session_id, generation), room=sid, namespace=self.namespace)
        await self.sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)
        if data.get("handover") and not handed_over:
            await self._notice(sid, HANDOVER_FAILED_TEXT)

    async def handover_request(self, sid: str, _data: Any = None) -> None:
        """A single-use, short-lived token for this socket's conversation (the kiosk's QR code)."""
        session = await self.sio.get_session(sid, namespace=self.namespace)
        session_id = session.get("session_id")
        if not session_id:
            await self._notice(sid, NO_SESSION_TEXT)
            return
        token = shared_ids().handover_token(session_id)
        await self.sio.emit("handover_token", token, room=sid, namespace=self.namespace)

    async def _end_elsewhere(self, session_id: str, keep: str) -> None:
        """Every other socket in the conversation leaves it and is told it ended (after a hand-over)."""
        if not self.session_persistence:
            return
        others = [entry[0] if isinstance(entry, tuple) else entry
                  for entry in self.sio.manager.get_participants(self.namespace or "/", session_id)]
        for other in others:
            if other != keep:
                await self._retire(other, session_id)

    async def _retire(self, sid: str, session_id: str) -> None:
        """This socket leaves a conversation that was handed over, and is told so."""
        if self.session_persistence:
            await self.sio.leave_room(sid, session_id, namespace=self.namespace)
        await self.sio.save_session(sid, {}, namespace=self.namespace)
        await self.sio.emit("session_ended", {"reason": "handed_over", "text": HANDED_OVER_TEXT},
                            room=sid, namespace=self.namespace)

    async def _notice(self, sid: str, text: str) -> None:
        await self.sio.emit(self.bot_message_evt, {"text": text}, room=sid, namespace=self.namespace)

    async def receive(self, sid: str, data: Any) -> None:
        """A `user_uttered` event: checked, turned into a UserMessage and handed to `handle_message`."""
        if isinstance(data, str):
            data = {"message": data}
        text = data.get("message") if isinstance(data, dict) else None
        if not isinstance(text, str):  # a too long text gets the guard's own reply (handle_message)
            await self._notice(sid, BAD_MESSAGE_TEXT)
            return
        if self.session_persistence:
            session = await self.sio.get_session(sid, namespace=self.namespace)
            sender_id = session.get("session_id")
            if not sender_id:
                await self._notice(sid, NO_SESSION_TEXT)
                return
            current = await asyncio.to_thread(shared_ids().generation, sender_id)
            if current is not None and current != session.get("generation", 0):
                await self._retire(sid, sender_id)  # handed over through another replica meanwhile
                return
        else:
            sender_id = sid
        metadata = data.get(self.metadata_key) or {}
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except (ValueError, RecursionError):
                metadata = {}
        if not isinstance(metadata, dict):
            metadata = {}
        if nested_deeper_than(metadata, MAX_METADATA_DEPTH) or len(json.dumps(metadata)) > MAX_METADATA_BYTES:
            await self._notice(sid, BAD_MESSAGE_TEXT)  # metadata is stored with the message: keep it small
            return
        message = UserMessage(
            text,
            SocketIOOutput(self.sio, self.bot_message_evt),
            sender_id,
            input_channel=self.name(),
            metadata=metadata,
        )
        await self.handle_message(sid, message)

    def _address(self, sid: str) -> str:
        """The client's address: the peer of the socket's first request, or what a trusted proxy forwarded."""
        try:
            environ = self.sio.get_environ(sid, namespace=self.namespace) or {}
        except Exception:  # a socket that just went away
            environ = {}
        request = environ.get("sanic.request")
        peer = getattr(request, "ip", None) if request is not None else None
        proxies = rate_limit.shared_limiter().config.proxies
        return rate_limit.client_address(peer or environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR"), proxies)

    async def handle_message(self, sid: str, message: UserMessage) -> None:
        """The one place a user message enters Rasa: limits, checks, then the bot."""
        assert self._on_new_message is not None, "blueprint() registers the handler"
        # rate limits (address and conversation), length, control characters
        checked = await screen(self.name(), message.sender_id, message.text, address=self._address(sid))
        if not checked.accepted:
            await self._notice(sid, checked.reply)
            return
        message.text = checked.text
        with rate_limit.busy_gate().slot() as admitted:
            if not admitted:
                await self._notice(sid, rate_limit.BUSY_TEXT)
                return
            await self._on_new_message(message)
