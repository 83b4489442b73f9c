"""The outbox's figures for Prometheus, read from its database at each scrape (action server).

Pending, delivered and rejected entries are counted in the shared table, so every replica reports
the same figures (alert rules take the max over instances). A database that does not answer within
QUERY_TIMEOUT gives govbot_outbox_up 0 instead of a hung scrape.
"""

from __future__ import annotations

import concurrent.futures
import logging

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

log = logging.getLogger(__name__)
QUERY_TIMEOUT = 5.0
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-metrics")


def _read() -> tuple[dict[str, int], float, object]:
    from bot.casework.case_desk import get_case_desk

    desk = get_case_desk()
    counts = desk.outbox.counts()
    _pending, oldest = desk.outbox.lag()
    return counts, oldest, desk.deliverer


class OutboxCollector:
    """prometheus_client collector: govbot_outbox_* gauges and this process's delivery counters."""

    def describe(self):  # no database query at registration
        return []

    def collect(self):
        up = GaugeMetricFamily("govbot_outbox_up", "1 when the outbox database answered this scrape")
        try:
            counts, oldest, deliverer = _POOL.submit(_read).result(timeout=QUERY_TIMEOUT)
        except Exception as exc:  # database down or slow: reported, never raised into the scrape
            log.warning("outbox metrics unavailable: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        entries = GaugeMetricFamily("govbot_outbox_entries", "Outbox entries by status (shared table)", labels=["status"])
        for status, n in sorted(counts.items()):
            entries.add_metric([status], n)
        yield entries
        yield GaugeMetricFamily(
            "govbot_outbox_oldest_pending_seconds", "Age of the oldest pending outbox entry (0 when none)", value=oldest
        )
        deliveries = CounterMetricFamily(
            "govbot_outbox_deliveries", "Deliveries by this process's deliverer since it started, by result", labels=["result"]
        )
        deliveries.add_metric(["delivered"], deliverer.delivered)
        deliveries.add_metric(["rejected"], deliverer.rejected)
        yield deliveries
