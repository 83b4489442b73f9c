"""Prometheus metrics of every service (prometheus-client), in the text format Prometheus scrapes.

Each process (Rasa, action server, case service, web server) counts its HTTP requests and their
latency by channel and route, with route the handler's path template (never the raw path, which
would carry tracking numbers and conversation ids and make the label set unbounded). The services
add their own figures: knowledge replies by outcome (action server), outbox entries by status
(action server), open cases by distance to their statutory deadline (case service).

GET /metrics answers in Prometheus' text format on Rasa, the case service and the web server. The
action server's /metrics stays JSON for people and existing scripts, and answers in Prometheus'
format when the client asks for it as Prometheus does (Accept: text/plain or
application/openmetrics-text) or with ?format=prometheus.
"""

from __future__ import annotations

import time

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.exposition import choose_encoder

# Latency buckets (seconds): a knowledge answer takes 0.1–2 s, a form step tens of milliseconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter(
    "govbot_http_requests_total", "HTTP requests answered, by service, channel, route template, method and status",
    ["service", "channel", "route", "method", "status"],
)
LATENCY = Histogram(
    "govbot_http_request_duration_seconds", "Time to answer an HTTP request, by service, channel and route template",
    ["service", "channel", "route"], buckets=BUCKETS,
)
KNOWLEDGE_REPLIES = Counter(
    "govbot_knowledge_replies_total",
    "Questions answered from the knowledge base, by outcome (answered, referral, not_found)",
    ["outcome"],
)
UNMATCHED = "unmatched"  # requests no route matched (404 scans): one label value, not one per path

# Rasa's public paths -> channel label. Everything else on Rasa is its HTTP API.
_RASA_CHANNELS = (("/webhooks/rest/", "rest"), ("/webhooks/wechat/", "wechat"), ("/socket.io", "socketio"))


def rasa_channel(path: str) -> str:
    """The channel a request to the Rasa server came through (rest, socketio, wechat, api)."""
    for prefix, channel in _RASA_CHANNELS:
        if path.startswith(prefix):
            return channel
    return "api"


def observe(service: str, channel: str, route: str, method: str, status: int, started: float) -> None:
    """Count one answered request that began at `started` (time.perf_counter())."""
    REQUESTS.labels(service, channel, route, method, str(status)).inc()
    LATENCY.labels(service, channel, route).observe(max(0.0, time.perf_counter() - started))


def count_reply(found: bool, referral: bool) -> None:
    KNOWLEDGE_REPLIES.labels("answered" if found else "referral" if referral else "not_found").inc()


def wants_prometheus(accept: str | None, query_format: str | None) -> bool:
    """Does this client of a JSON /metrics ask for Prometheus' format instead?"""
    if query_format is not None:
        return query_format.strip().lower() in {"prometheus", "openmetrics", "text"}
    accept = (accept or "").lower()
    return "application/openmetrics-text" in accept or ("text/plain" in accept and "application/json" not in accept)


def exposition(accept: str | None = None) -> tuple[bytes, str]:
    """(body, content type) of the registry, in OpenMetrics when the client accepts it, else text 0.0.4.

    Synchronous: the services' collectors query their databases, so callers run it in a thread.
    """
    encoder, content_type = choose_encoder(accept or "")
    return encoder(REGISTRY), content_type


def register_once(collector) -> None:
    """Register a collector unless one of its class is already there (a second app in one process)."""
    for existing in list(REGISTRY._collector_to_names):  # noqa: SLF001 - no public listing
        if type(existing) is type(collector):
            REGISTRY.unregister(existing)
    REGISTRY.register(collector)


def aiohttp_request_counter(service: str):
    """The outermost aiohttp middleware of `service` (case service, web server): requests by route
    template, with the status any inner error middleware settled on."""
    from aiohttp import web

    @web.middleware
    async def count_requests(request: web.Request, handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else UNMATCHED
            observe(service, service, route, request.method, status, started)

    return count_requests
