"""The WeChat channel's output for messages written into a conversation from outside.

A staff reply (or the end of a handoff) reaches Rasa through its HTTP API, not as the answer to a
WeChat request, so there is no passive reply to carry it: it goes out through the customer-service
message API (bot.channels.wechat_api), as late answers already do. WeChat accepts these within 48
hours of the person's last message.
"""

from __future__ import annotations

import logging

from rasa.core.channels.channel import CollectingOutputChannel

from bot.channels.wechat_api import WeChatApi, WeChatApiError
from bot.channels.wechat_format import TEXT_LIMIT_BYTES, render_messages, split_text

log = logging.getLogger(__name__)


class WeChatPushOutput(CollectingOutputChannel):
    def __init__(self, api: WeChatApi) -> None:
        super().__init__()
        self.api = api

    @classmethod
    def name(cls) -> str:
        return "wechat"

    async def _persist_message(self, message: dict) -> None:
        await super()._persist_message(message)
        text, _options = render_messages([message])
        for part in split_text(text, TEXT_LIMIT_BYTES) if text.strip() else []:
            try:
                await self.api.send_text(message["recipient_id"], part)
            except WeChatApiError as exc:
                log.error("客服消息（人工服务）发送失败：%s", exc)
                return
