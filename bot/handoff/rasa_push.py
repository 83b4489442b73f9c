"""Writes staff messages into a person's conversation through Rasa's HTTP API (case service side).

Rasa (3.6) lets a service append events to a conversation: POST /conversations/{id}/tracker/events
with `execute_side_effects=true` sends every BotUttered among them to the output channel named by
`output_channel` (the person's socket.io room for the widget and kiosk; the WeChat channel's
customer-service sender). REST has no way to reach a caller, so for it the reply is stored marked
`queued` and bot.handoff.relay hands it out with the caller's next message.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import aiohttp

from . import ACTIVE, ENDED, PUSH_CHANNELS, QUEUED_KEY, STAFF_KEY, marker

log = logging.getLogger(__name__)

STAFF_PREFIX = "【工作人员】"
ENDED_TEXT = "人工服务已结束，感谢您的耐心。接下来由智能助手继续为您服务，有问题请直接提问。"


def staff_event(text: str, channel: str) -> dict:
    metadata = {STAFF_KEY: True}
    if channel not in PUSH_CHANNELS:
        metadata[QUEUED_KEY] = True
    return {"event": "bot", "text": f"{STAFF_PREFIX}{text}", "data": {"custom": marker(ACTIVE)}, "metadata": metadata}


def ended_event(channel: str) -> dict:
    metadata = {STAFF_KEY: True}
    if channel not in PUSH_CHANNELS:
        metadata[QUEUED_KEY] = True
    return {"event": "bot", "text": ENDED_TEXT, "data": {"custom": marker(ENDED)}, "metadata": metadata}


async def append_events(rasa_url: str, rasa_token: str, conversation_id: str, channel: str, events: list[dict]) -> bool:
    """True when Rasa took the events (and sent their bot messages on push channels); never raises."""
    url = f"{rasa_url.rstrip('/')}/conversations/{quote(conversation_id, safe='')}/tracker/events"
    params = {"token": rasa_token}
    if channel in PUSH_CHANNELS:
        params.update(output_channel=channel, execute_side_effects="true")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
            async with session.post(url, params=params, json=events) as response:
                if response.status == 200:
                    return True
                log.error("writing into the conversation failed: Rasa answered HTTP %s", response.status)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.error("writing into the conversation failed: %s", type(exc).__name__)
    return False


async def send_staff_message(rasa_url: str, rasa_token: str, conversation_id: str, channel: str, text: str) -> bool:
    return await append_events(rasa_url, rasa_token, conversation_id, channel, [staff_event(text, channel)])


async def end_handoff(rasa_url: str, rasa_token: str, conversation_id: str, channel: str) -> bool:
    """Tells the person, then resumes the bot.

    `restart` rather than Rasa's `resume`: messages typed while paused were stored without replies,
    and a fresh dialogue state (the history stays in the tracker store) keeps the bot from answering
    those turns.

    The notice goes before the restart: events after it would count as the new session's start,
    and Rasa would then skip action_session_start on the next message (its dialogue state would
    lack the action_listen the policies expect)."""
    return await append_events(rasa_url, rasa_token, conversation_id, channel, [ended_event(channel), {"event": "restart"}])
