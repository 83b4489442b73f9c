"""`python -m bot.ops.action_server`: rasa_sdk's action server plus readiness and outbox metrics.

`rasa run actions` only offers /health, which answers as soon as Sanic listens. A load balancer or
Kubernetes needs to know more before sending traffic: is the knowledge index loaded, and can the
outbox database be reached (a confirmed request is committed there before the person is told
anything). This entry point builds rasa_sdk's own app (same /webhook, /health, /actions) and adds

* GET /ready   — "can answer questions": 200 once the knowledge index is loaded, else 503. This is
  what load balancers and Kubernetes route by. The body also reports whether formal requests can
  be taken (`requests`: the outbox database, the case service, the outbox lag), which never fails
  it: an outbox or case-system outage degrades forms, never question answering;
* GET /ready/requests — "can take formal requests": 200 when the outbox database answers, else 503
  (for monitoring and alerts, not for routing; the case service may be down: the outbox keeps
  requests until it is back);
* GET /metrics — JSON: outbox pending count and oldest pending age, delivered/rejected counts,
  background deliverer state, index key, query-vector cache hits and misses. Prometheus' text
  format instead when asked for it (Accept: text/plain or application/openmetrics-text, as
  Prometheus sends, or ?format=prometheus): requests by route, knowledge replies by outcome,
  outbox entries by status and the oldest pending entry's age (bot.casework.outbox_metrics).

/webhook and /actions answer only the Rasa server: they need GOVBOT_ACTION_TOKEN as a Bearer token
(bot.access.action_auth), and the server does not start without one.

It also starts outbox delivery when the server starts, so requests left pending by a crashed
replica are delivered without waiting for the next message; if the outbox database cannot be
reached then, it keeps trying in the background (2 s doubling to a minute) until it can. The knowledge service follows
GOVBOT_INDEX_MODE / GOVBOT_VECTOR_STORE (bot.knowledge.published_index.get_service), as under plain `rasa run actions`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time

from bot.ops import monitoring
from bot.casework.outbox_metrics import OutboxCollector

log = logging.getLogger(__name__)

SERVICE = "actions"
CHECK_TIMEOUT = 3.0
# Starting outbox delivery while its database is down: first retry after 2 s, doubling to at most a minute.
RETRY_FIRST_DELAY = 2.0
RETRY_MAX_DELAY = 60.0


async def _in_thread(function, timeout: float = CHECK_TIMEOUT):
    return await asyncio.wait_for(asyncio.to_thread(function), timeout)


async def _index_state() -> dict:
    from bot.knowledge.published_index import get_service

    service = get_service()
    index = service.loaded_index if hasattr(service, "loaded_index") else None
    if index is None:
        return {"status": "loading"}
    await _in_thread(lambda: service.retriever)  # notices a newly published snapshot
    index = service.loaded_index
    return {"status": "ok", "key": index.key, "passages": len(index.passages)}


async def _outbox_state() -> dict:
    from bot.casework.case_desk import get_case_desk

    try:
        desk = await _in_thread(get_case_desk, timeout=10.0)
        pending, oldest = await _in_thread(desk.outbox.lag)
    except Exception as exc:  # database down, timeout
        return {"status": "unreachable", "error": type(exc).__name__}
    return {"status": "ok", "pending": pending, "oldest_pending_seconds": round(oldest, 1)}


async def _case_service_state() -> str:
    import aiohttp

    from bot.settings import CaseworkSettings

    url = CaseworkSettings.read("case_url").rstrip("/")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0)) as session:
            async with session.get(f"{url}/health") as response:
                return "ok" if response.status == 200 else f"HTTP {response.status}"
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"


def readiness(index: dict, outbox: dict, cases: str, scope: str = "answering") -> tuple[int, dict]:
    """(HTTP status, body) of /ready (scope "answering") or /ready/requests (scope "requests").

    Answering needs only the index; taking requests needs the outbox database. Each scope fails
    only on its own dependency, and the body always shows both.
    """
    answering = index["status"] == "ok"
    requests = outbox["status"] == "ok"
    ok = answering if scope == "answering" else requests
    body = {
        "status": "ready" if ok else "not_ready",
        "answering": "ok" if answering else "not_ready",
        "requests": "ok" if requests else "degraded",
        "index": index, "outbox": outbox, "case_service": cases,
    }
    return (200 if ok else 503), body


class DeliveryStarter:
    """Starts outbox delivery in the background and keeps trying while the outbox database is down.

    The server must start (and answer questions) whatever the outbox database does, and requests left
    pending must be delivered as soon as it answers, without waiting for someone to send a message.
    """

    def __init__(self, first_delay: float = RETRY_FIRST_DELAY, max_delay: float = RETRY_MAX_DELAY) -> None:
        self.first_delay, self.max_delay = first_delay, max_delay
        self.attempts = 0
        self.desk = None  # the CaseDesk once its deliverer runs
        self._task: asyncio.Task | None = None

    @property
    def started(self) -> bool:
        return self.desk is not None

    def start(self) -> asyncio.Task:
        """Schedule the attempts in the running loop and return at once (never blocks the start)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="outbox-delivery-start")
        return self._task

    async def _run(self) -> None:
        from bot.casework.case_desk import get_case_desk

        delay = self.first_delay
        while True:
            self.attempts += 1
            try:
                desk = await asyncio.to_thread(get_case_desk)  # opens the database: not on the event loop
                desk.ensure_deliverer()
            except Exception as exc:  # database down or not yet there: try again later
                reason = (str(exc).strip().splitlines() or [""])[0][:200]
                log.warning("outbox delivery could not start (attempt %d: %s: %s); retrying in %g s",
                            self.attempts, type(exc).__name__, reason, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay)
                continue
            self.desk = desk
            if self.attempts > 1:
                log.info("outbox delivery started after %d attempts", self.attempts)
            return

    async def stop(self) -> None:
        """On shutdown: end the attempts, then let the deliverer finish what it is sending."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self.desk is not None:
            await self.desk.deliverer.stop()


def add_routes(app) -> None:
    from sanic import response

    async def _ready(scope: str):
        index, outbox, cases = await asyncio.gather(_index_state(), _outbox_state(), _case_service_state())
        status, body = readiness(index, outbox, cases, scope)
        return response.json(body, status=status, ensure_ascii=False)

    async def ready(_request):
        return await _ready("answering")

    async def ready_requests(_request):
        return await _ready("requests")

    async def metrics(request):
        from bot.casework.case_desk import get_case_desk
        from bot.knowledge.published_index import get_service

        if monitoring.wants_prometheus(request.headers.get("accept"), request.args.get("format")):
            body, content_type = await asyncio.to_thread(monitoring.exposition, request.headers.get("accept"))
            return response.raw(body, content_type=content_type)
        started = time.monotonic()
        body: dict = {"index": await _index_state()}
        embedder = vars(get_service()).get("embedder")  # only once loaded
        if embedder is not None and hasattr(embedder, "query_cache_info"):
            body["query_cache"] = embedder.query_cache_info()
        try:
            desk = await _in_thread(get_case_desk, timeout=10.0)
            pending, oldest = await _in_thread(desk.outbox.lag)
            counts = await _in_thread(desk.outbox.counts)
            body["outbox"] = {"pending": pending, "oldest_pending_seconds": round(oldest, 1), **counts}
            deliverer = desk.deliverer
            body["deliverer"] = {
                "running": deliverer.running,
                "delivered": deliverer.delivered,
                "rejected": deliverer.rejected,
                "consecutive_failures": deliverer.failures,
            }
        except Exception as exc:
            body["outbox"] = {"status": "unreachable", "error": type(exc).__name__}
        body["seconds"] = round(time.monotonic() - started, 3)
        return response.json(body, ensure_ascii=False)

    starter = DeliveryStarter()

    async def start_delivery(_app, _loop):
        starter.start()

    async def stop_delivery(_app, _loop):
        await starter.stop()

    async def start_timer(request):
        request.ctx.govbot_started = time.perf_counter()

    async def count(request, resp):
        started = getattr(request.ctx, "govbot_started", None)
        if started is None or resp is None:
            return
        route = request.route
        path = "/" + route.path.lstrip("/") if route is not None else monitoring.UNMATCHED
        monitoring.observe(SERVICE, SERVICE, path, request.method, resp.status, started)

    app.register_middleware(start_timer, "request")
    app.register_middleware(count, "response")
    monitoring.register_once(OutboxCollector())
    app.add_route(ready, "/ready", methods=["GET"])
    app.add_route(ready_requests, "/ready/requests", methods=["GET"])
    app.add_route(metrics, "/metrics", methods=["GET"])
    app.register_listener(start_delivery, "after_server_start")
    app.register_listener(stop_delivery, "before_server_stop")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.ops.action_server", description="政务公开咨询助手 — action server")
    parser.add_argument("--actions", default="actions", help="package with the actions (default: actions)")
    parser.add_argument("--host", default=None, help="address (default $SANIC_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5055, help="port (default 5055)")
    parser.add_argument("--cors", nargs="*", default=None, help="allowed CORS origins (default: none; Rasa calls this server, not browsers)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    if args.host is None:
        from bot.settings import DeploySettings

        args.host = DeploySettings.read("action_host")
    from bot.ops.log_files import configure

    configure(f"actions-{args.port}", logging.DEBUG if args.verbose else logging.INFO)  # + GOVBOT_LOG_DIR files

    from rasa_sdk.endpoint import create_app
    from rasa_sdk.plugin import plugin_manager

    from bot.access.action_auth import TOKEN_ENV, action_token, protect

    try:
        token = action_token()
    except ValueError as exc:
        token, problem = "", str(exc)
    else:
        problem = f"动作服务须设置 {TOKEN_ENV} 或 {TOKEN_ENV}_FILE（与 Rasa 服务相同的值）"
    if not token:  # checked before the actions load: a missing secret is a configuration error
        print(f"错误：{problem}", file=sys.stderr)
        return 2
    try:
        app = create_app(args.actions, cors_origins=args.cors or "", auto_reload=False)
    except Exception as exc:
        log.exception("action server could not start")
        print(f"错误：动作服务无法启动：{exc}", file=sys.stderr)
        return 2
    protect(app, token)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    add_routes(app)
    log.info("action server on http://%s:%d (/webhook, /health, /ready, /ready/requests, /metrics)", args.host, args.port)
    app.run(args.host, args.port, workers=1, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
