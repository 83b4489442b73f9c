"""Rasa-process side of a live handoff (installed with bot.rasa_plugins.action_failure, see
bot.rasa_plugins.tracker_store).

While a conversation is paused for staff (the ConversationPaused that action_handoff returns),
Rasa stores what the person types and does nothing else. Here each such message also goes to the
conversation's open handoff case (masked; a contact phone in it in full, for the case record),
where the staff inbox shows it at once. And a staff reply written into a REST conversation (REST
cannot be pushed to, bot.handoff.rasa_push) waits in the tracker marked `queued` until the caller's
next message, whose response carries it first.

Configuration: the action server's GOVBOT_CASE_URL and GOVBOT_CASE_BOT_TOKEN (same values).
"""

from __future__ import annotations

import logging

import aiohttp

from bot.settings.casework import CaseworkSettings
from bot.privacy.validation import _replace_personal, check_phone, redact

from . import QUEUED_KEY

log = logging.getLogger(__name__)

DEFAULT_CASE_URL = CaseworkSettings.case_url
_session: aiohttp.ClientSession | None = None


def contact_phone(text: str) -> str | None:
    """The first phone number in free text, normalised (e.g. 「我电话13812345678」), or None."""
    found: list[str] = []
    _replace_personal(text, lambda kind, value: found.append(value) or value if kind == "phone" else value)
    for value in found:
        result = check_phone(value)
        if result.ok:
            return result.value
    return None


async def forward(conversation_id: str, text: str) -> bool:
    """Stores the person's message with the open handoff case; False (logged) when that failed."""
    global _session
    url = CaseworkSettings.read("case_url").rstrip("/") + "/handoff-messages"
    token = CaseworkSettings.read("bot_token")
    body = {"conversation_id": conversation_id, "text": redact(text)[:2000]}
    phone = contact_phone(text)
    if phone:
        body["phone"] = phone
    try:
        if _session is None or _session.closed:
            _session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        async with _session.post(url, json=body, headers={"Authorization": f"Bearer {token}"}) as response:
            if response.status == 201:
                return True
            log.warning("handoff message not stored with a case: HTTP %s", response.status)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.error("handoff message not stored with a case: %s", type(exc).__name__)
    return False


async def deliver_queued(tracker, output_channel) -> None:
    """Staff replies queued since the person's previous message, sent ahead of this turn's replies."""
    from rasa.shared.core.events import BotUttered, UserUttered

    queued, users = [], 0
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            users += 1
            if users == 2:
                break
        elif isinstance(event, BotUttered) and (event.metadata or {}).get(QUEUED_KEY):
            queued.append(event)
    for event in reversed(queued):
        message = event.message()
        for key in list(message):
            if key.startswith("govbot_") or key == "timestamp":
                message.pop(key)
        await output_channel.send_response(tracker.sender_id, message)


def _latest_text(tracker) -> str | None:
    message = tracker.latest_message
    if message is None or not message.text or message.text.startswith("/"):
        return None
    return message.text


def install() -> bool:
    """Patches MessageProcessor._run_prediction_loop (once per process)."""
    try:
        from rasa.core.channels.channel import CollectingOutputChannel
        from rasa.core.processor import MessageProcessor
    except ImportError:  # not inside a Rasa process
        return False
    original = MessageProcessor._run_prediction_loop
    if getattr(original, "__module__", None) == __name__:
        return True

    async def _run_prediction_loop(self, output_channel, tracker):
        if isinstance(output_channel, CollectingOutputChannel):
            await deliver_queued(tracker, output_channel)
        if not MessageProcessor._should_handle_message(tracker):
            text = _latest_text(tracker)
            if text:
                await forward(tracker.sender_id, text)
            return None
        return await original(self, output_channel, tracker)

    _run_prediction_loop.__module__ = __name__
    MessageProcessor._run_prediction_loop = _run_prediction_loop
    return True
