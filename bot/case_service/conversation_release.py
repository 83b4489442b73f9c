"""When staff finish a 转人工 case, the assistant may answer that conversation again.

The action server pauses a conversation on handoff (Rasa's ConversationPaused event), so the bot stays
quiet while staff handle it. Closing or answering the handoff case appends Rasa's `resume` event
through Rasa's token-protected HTTP API (rasa run --enable-api --auth-token …). It appends
`restart` rather than `resume`: messages typed while paused were stored without replies, and a fresh
dialogue state (the history stays in the tracker store) keeps the bot from answering those turns.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import aiohttp

log = logging.getLogger(__name__)


async def resume_conversation(rasa_url: str, rasa_token: str, conversation_id: str) -> bool:
    """True when Rasa accepted the resume event; failures are logged, never raised (staff action stands)."""
    url = f"{rasa_url.rstrip('/')}/conversations/{quote(conversation_id, safe='')}/tracker/events"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            async with session.post(url, params={"token": rasa_token}, json=[{"event": "restart"}]) as response:
                if response.status == 200:
                    log.info("handoff released: conversation resumed")
                    return True
                log.error("resuming the conversation failed: Rasa answered HTTP %s", response.status)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.error("resuming the conversation failed: %s", type(exc).__name__)
    return False
