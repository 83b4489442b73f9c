"""Rasa's socketio channel for the web widget and the kiosk, with session persistence that works.

Rasa 3.6.21's `SocketIOInput.session_request` calls `sio.enter_room(...)` without awaiting it
(python-socketio 5's AsyncServer.enter_room is a coroutine), so with `session_persistence: true`
the socket never joins its session's room and bot replies, sent to that room, reach nobody.
This subclass keeps Rasa's channel and replaces two handlers:

- `session_request` awaits `enter_room`, leaves the room of a previous session on the same
  socket (the kiosk starts a new conversation without reconnecting), and only accepts session
  ids that look like the ones it hands out (32 hex digits) — anything else gets a fresh id;
- the user-message handler takes the sender id from the session this socket confirmed, not from
  the message, so a socket cannot write into another conversation; malformed payloads are
  answered with a short Chinese notice instead of raising, and so is metadata larger than 4 KB
  or nested more than MAX_METADATA_DEPTH levels (it is stored with the message).

Allowed browser origins come from GOVBOT_WEB_ORIGINS (comma-separated; default the project's web
server at http://127.0.0.1:8080) and are enforced by engine.io for polling and WebSocket alike.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from typing import Any, Awaitable, Callable, Optional

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint

from bot.channels.guard import MAX_METADATA_DEPTH, nested_deeper_than, screen

logger = logging.getLogger(__name__)

ORIGINS_ENV = "GOVBOT_WEB_ORIGINS"
DEFAULT_ORIGINS = ("http://127.0.0.1:8080",)
SESSION_ID = re.compile(r"^[0-9a-f]{32}$")
BAD_MESSAGE_TEXT = "抱歉，这条消息的格式无法识别，请重新输入您的问题。"
NO_SESSION_TEXT = "连接尚未就绪，请刷新页面后再试。"
MAX_METADATA_BYTES = 4096  # as on the REST channel


def allowed_origins(value: str | None = None) -> list[str]:
    """Browser origins allowed to open the socket; `*` is refused (use an explicit list)."""
    raw = os.environ.get(ORIGINS_ENV, "") if value is None else value
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
        self.sio.on(self.user_message_evt, namespace=self.namespace)(self.receive)
        return blueprint

    async def session_request(self, sid: str, data: Any) -> None:
        requested = data.get("session_id") if isinstance(data, dict) else None
        session_id = requested if isinstance(requested, str) and SESSION_ID.match(requested) else uuid.uuid4().hex
        if self.session_persistence:
            for room in self.sio.rooms(sid, namespace=self.namespace):
                if room not in (sid, session_id):
                    await self.sio.leave_room(sid, room, namespace=self.namespace)
            await self.sio.enter_room(sid, session_id, namespace=self.namespace)
        await self.sio.save_session(sid, {"session_id": session_id}, namespace=self.namespace)
        await self.sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)

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

    async def handle_message(self, sid: str, message: UserMessage) -> None:
        """The one place a user message enters Rasa: wrap this to add per-sender limits."""
        assert self._on_new_message is not None, "blueprint() registers the handler"
        checked = await screen(self.name(), message.sender_id, message.text)  # rate limit, length, control characters
        if not checked.accepted:
            await self._notice(sid, checked.reply)
            return
        message.text = checked.text
        await self._on_new_message(message)
