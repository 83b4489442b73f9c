"""The conversations' events of a period, for the staff console's analytics: GET /webhooks/events/export.

Rasa's default tracker store here is in memory, inside the Rasa process, where `govbot analytics`
(which reads a SQL store) cannot see it. This read-only endpoint hands the console the events of a
period from whatever store Rasa runs with. It needs Rasa's API token (GOVBOT_RASA_TOKEN, Bearer):
without one configured it answers 503. Texts are as stored, i.e. already masked
(bot.rasa_plugins.tracker_store).

Query: `from` and `to`, Unix timestamps (from <= timestamp < to). Answer: {"events": [event dicts
with sender_id]}.
"""

from __future__ import annotations

import json
import logging
import math
from functools import partial
from typing import Any, Awaitable, Callable

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.access.action_auth import authorized
from bot.settings.access import AccessSettings

log = logging.getLogger(__name__)
TOKEN_ENV = AccessSettings.variable("rasa_token").name
_dumps = partial(json.dumps, ensure_ascii=False)


def _bound(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and math.isfinite(number) else None


async def period_events(tracker_store, low: float, high: float) -> list[dict]:
    events: list[dict] = []
    for sender_id in await tracker_store.keys():
        tracker = await tracker_store.retrieve_full_tracker(sender_id)
        if tracker is None:
            continue
        for event in tracker.events:
            if low <= (event.timestamp or 0) < high:
                data = event.as_dict()
                data["sender_id"] = sender_id
                events.append(data)
    return events


class EventsExportInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "events"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> "EventsExportInput":
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = Blueprint("govbot_events_export", __name__)

        @blueprint.route("/export", methods=["GET"])
        async def export(request: Request) -> HTTPResponse:
            token = AccessSettings.read("rasa_token")
            if not token:
                return response.json({"error": "未配置 GOVBOT_RASA_TOKEN，不提供对话数据"}, status=503, dumps=_dumps)
            if not authorized(request.headers.get("Authorization"), token):
                return response.json({"error": "未授权"}, status=401, dumps=_dumps)
            low, high = _bound(request.args.get("from")), _bound(request.args.get("to"))
            if low is None or high is None or high <= low:
                return response.json({"error": "from、to 应为 Unix 时间戳，且 from < to"}, status=400, dumps=_dumps)
            agent = getattr(request.app.ctx, "agent", None)
            if agent is None or agent.tracker_store is None:
                return response.json({"error": "助手尚未就绪"}, status=503, dumps=_dumps)
            events = await period_events(agent.tracker_store, low, high)
            return response.json({"events": events}, dumps=_dumps)

        return blueprint
