"""Prometheus metrics inside the Rasa server process: requests by channel and route, GET /metrics.

Rasa builds its Sanic app in `rasa.core.run.configure_app`, after it has imported the input
channels named in credentials.yml. Every channel of this project lives in bot.channels, whose
package import calls `install()`: the wrapped configure_app adds request/response middleware and
the /metrics route to the app Rasa returns, so `rasa run` and `python -m bot.ops.rasa_cli run` alike
serve them. With GOVBOT_LOG_DIR set, the server's log also goes to its bounded file (bot.ops.log_files).
Nothing else of Rasa changes.
"""

from __future__ import annotations

import asyncio
import logging
import time

from bot.ops import monitoring

log = logging.getLogger(__name__)
_installed = False
SERVICE = "rasa"


def _route(request) -> str:
    route = getattr(request, "route", None)
    if route is None:
        return monitoring.UNMATCHED
    path = getattr(route, "path", "") or ""
    return "/" + path.lstrip("/")


def attach(app) -> None:
    """Request counting and /metrics on a Sanic app (Rasa's)."""
    from sanic import response

    async def start_timer(request):
        request.ctx.govbot_started = time.perf_counter()

    async def count(request, resp):
        started = getattr(request.ctx, "govbot_started", None)
        if started is None or resp is None:
            return
        route = _route(request)
        monitoring.observe(SERVICE, monitoring.rasa_channel(request.path), route, request.method, resp.status, started)

    async def metrics(request):
        body, content_type = await asyncio.to_thread(monitoring.exposition, request.headers.get("accept"))
        return response.raw(body, content_type=content_type)

    app.register_middleware(start_timer, "request")
    app.register_middleware(count, "response")
    app.add_route(metrics, "/metrics", methods=["GET"], name="govbot_metrics")


def install() -> bool:
    """Wraps rasa.core.run.configure_app once per process; says whether it is now in place."""
    global _installed
    if _installed:
        return True
    try:
        import rasa.core.run as rasa_run
    except ImportError:  # not inside a Rasa process
        return False
    original = rasa_run.configure_app

    def configure_app(*args, **kwargs):
        import sys

        from bot.ops import log_files

        log_files.attach(f"rasa-{log_files.port_from_argv(sys.argv, 5005)}")  # GOVBOT_LOG_DIR: bounded log file
        app = original(*args, **kwargs)
        try:
            attach(app)
        except Exception:  # metrics must never stop Rasa from starting
            log.exception("Prometheus metrics could not be attached to the Rasa server")
        return app

    configure_app.__wrapped__ = original
    rasa_run.configure_app = configure_app
    _installed = True
    return True
