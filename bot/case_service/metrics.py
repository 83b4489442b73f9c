"""The case service's figures for Prometheus: open cases by distance to their statutory deadline,
and requests by route (GET /metrics, text format).

`due` is one of overdue (deadline before today, agency time), today, within_3_days (1–3 calendar
days ahead) and later. Cases whose clock is stopped (correction requested) have no deadline and are
not counted. The query runs at each scrape; a database that does not answer gives
govbot_case_database_up 0.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
from typing import Callable

from aiohttp import web
from prometheus_client.core import GaugeMetricFamily

from bot.ops import monitoring

from .config import AGENCY_TIMEZONE

logger = logging.getLogger(__name__)
SERVICE = "cases"
QUERY_TIMEOUT = 5.0
DUE_WINDOWS = ("overdue", "today", "within_3_days", "later")
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="case-metrics")


def due_window(deadline: dt.date, today: dt.date) -> str:
    days = (deadline - today).days
    return "overdue" if days < 0 else "today" if days == 0 else "within_3_days" if days <= 3 else "later"


class DeadlineCollector:
    """prometheus_client collector over a CaseStore; `clock` is the app's (tests pin the date)."""

    def __init__(self, store, clock: Callable[[], dt.datetime]) -> None:
        self.store, self.clock = store, clock

    def describe(self):  # no database query at registration
        return []

    def collect(self):
        up = GaugeMetricFamily("govbot_case_database_up", "1 when the case database answered this scrape")
        try:
            rows = _POOL.submit(self.store.open_deadlines).result(timeout=QUERY_TIMEOUT)
        except Exception as exc:
            logger.warning("case metrics unavailable: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        today = self.clock().astimezone(AGENCY_TIMEZONE).date()
        counts: dict[tuple[str, str], int] = {}
        for kind, deadline, n in rows:
            key = (kind, due_window(deadline, today))
            counts[key] = counts.get(key, 0) + n
        family = GaugeMetricFamily(
            "govbot_cases_open", "Open cases whose answer period runs, by kind and distance to the statutory deadline",
            labels=["kind", "due"],
        )
        for kind in sorted({kind for kind, _ in counts}):
            for window in DUE_WINDOWS:
                family.add_metric([kind, window], counts.get((kind, window), 0))
        yield family


# Outermost middleware: sees the status the error middleware settled on.
count_requests = monitoring.aiohttp_request_counter(SERVICE)


async def metrics(request: web.Request) -> web.Response:
    body, content_type = await asyncio.to_thread(monitoring.exposition, request.headers.get("Accept"))
    return web.Response(body=body, headers={"Content-Type": content_type})
