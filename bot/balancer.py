"""A small health-checked, round-robin HTTP reverse proxy for Rasa and action-server replicas.

Why our own: the production profile runs several Rasa servers (and several action servers) that
share the SQL tracker store and the Redis lock store, so any replica may serve any message. On a
machine without nginx a few dozen lines of aiohttp do the job, and the tests drive it directly. A
real deployment may put nginx or a Kubernetes Service in its place (see deploy/).

What it covers:

* plain HTTP requests (Rasa's REST and WeChat webhooks, the HTTP API, the action server's
  /webhook): the body is read (up to `max_body`), sent to the next healthy backend and the answer
  streamed back; hop-by-hop headers are dropped and X-Forwarded-For/-Proto/-Host added;
* WebSocket upgrades (socket.io's websocket transport) are proxied frame by frame;
* socket.io needs every request of one session on the same replica (its session lives in that
  process), so paths under /socket.io/ stick to a backend through a cookie the balancer sets;
  if that backend dies the client reconnects and gets a new session on another one.

Failures: a backend is taken out at once when a connection to it fails, or after `fall` failed
or slow health checks in a row (GET `health_path` every `interval` seconds; a busy Rasa answers
late), and put back when a check passes again. A request
that could not be connected is retried on another backend whatever its method (it never
arrived); one that failed after it was sent is retried only when its method is idempotent
(GET, HEAD, OPTIONS, PUT, DELETE): a POST to Rasa's webhook may already have been processed, so
the client gets 502 and decides (the person sends the message again). No healthy backend: 503.

    python -m bot.balancer --listen 127.0.0.1:5005 \\
        --backend http://127.0.0.1:5011 --backend http://127.0.0.1:5012 --health-path /
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import time
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# RFC 7230 §6.1 hop-by-hop headers, plus those aiohttp sets itself.
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Host", "Content-Length",
    )
)
STICKY_COOKIE = "govbot_backend"
STICKY_PREFIX = "/socket.io"
STATUS_PATH = "/_balancer/status"
DEFAULT_MAX_BODY = 1024 * 1024

BACKEND_STATE_KEY = web.AppKey("balancer", object)


@dataclass
class Backend:
    url: URL
    healthy: bool = True
    failures: int = 0
    requests: int = 0
    errors: int = 0
    last_change: float = field(default_factory=time.monotonic)

    @property
    def name(self) -> str:
        return f"{self.url.host}:{self.url.port}"

    def mark(self, healthy: bool, reason: str = "", fall: int = 1) -> None:
        """Record a check; taken out after `fall` failures in a row (1: at once), back after one success."""
        self.failures = 0 if healthy else self.failures + 1
        if not healthy and self.failures < fall:
            return
        if healthy != self.healthy:
            self.healthy = healthy
            self.last_change = time.monotonic()
            if healthy:
                log.info("backend %s is back", self.name)
            else:
                log.warning("backend %s taken out: %s", self.name, reason)


class NoBackend(Exception):
    """Every backend is down (or was already tried for this request)."""


class Balancer:
    """Round robin over the healthy backends; see the module docstring for the retry rules."""

    def __init__(
        self,
        backends: list[str],
        *,
        health_path: str = "/",
        interval: float = 1.0,
        health_timeout: float = 5.0,
        fall: int = 3,
        connect_timeout: float = 2.0,
        read_timeout: float = 120.0,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        if not backends:
            raise ValueError("at least one backend is needed")
        self.backends = [Backend(URL(b.rstrip("/"))) for b in backends]
        self.health_path = health_path
        self.interval = interval
        # A busy Rasa answers its health check late (NLU runs on its event loop): only several slow or
        # failed checks in a row take it out. A refused connection while proxying takes it out at once.
        self.health_timeout = health_timeout
        self.fall = max(1, fall)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_body = max_body
        self._cycle = itertools.cycle(range(len(self.backends)))
        self._session: aiohttp.ClientSession | None = None
        self._checker: asyncio.Task | None = None

    # -- choosing --------------------------------------------------------------------------------

    def choose(self, exclude: set[int] = frozenset(), prefer: int | None = None) -> int:
        """Index of the next healthy backend not in `exclude` (the sticky one when it is healthy)."""
        if prefer is not None and 0 <= prefer < len(self.backends):
            if prefer not in exclude and self.backends[prefer].healthy:
                return prefer
        for _ in range(len(self.backends)):
            index = next(self._cycle)
            if index not in exclude and self.backends[index].healthy:
                return index
        # All marked down: try one not yet tried anyway (health marks can lag behind a recovery).
        for index in range(len(self.backends)):
            if index not in exclude:
                return index
        raise NoBackend()

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, _app: web.Application | None = None) -> None:
        self._session = aiohttp.ClientSession(
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None, connect=self.connect_timeout, sock_read=self.read_timeout),
            # Idle connections are dropped before the backends' own keep-alive timeout (Sanic: 5 s),
            # so a request is never written onto a connection the backend is closing.
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=2.0),
        )
        await self.check_all()
        self._checker = asyncio.create_task(self._check_loop(), name="balancer-health")

    async def stop(self, _app: web.Application | None = None) -> None:
        if self._checker is not None:
            self._checker.cancel()
            try:
                await self._checker
            except asyncio.CancelledError:
                pass
        if self._session is not None:
            await self._session.close()

    async def _check_loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check_all()
            except Exception:  # never let the checker die
                log.exception("health check round failed")

    async def check_all(self) -> None:
        await asyncio.gather(*(self._check(b) for b in self.backends))

    async def _check(self, backend: Backend) -> None:
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=self.health_timeout, connect=self.connect_timeout)
        try:
            async with self._session.get(backend.url.with_path(self.health_path), timeout=timeout) as resp:
                await resp.read()
                ok = resp.status < 500
                reason = f"health check HTTP {resp.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            ok, reason = False, f"health check {type(exc).__name__}"
        backend.mark(ok, reason, fall=self.fall)

    # -- proxying --------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body)
        app[BACKEND_STATE_KEY] = self
        app.router.add_get(STATUS_PATH, self.status)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        app.on_startup.append(self.start)
        app.on_cleanup.append(self.stop)
        return app

    async def status(self, _request: web.Request) -> web.Response:
        healthy = sum(b.healthy for b in self.backends)
        return web.json_response(
            {
                "status": "ok" if healthy else "unavailable",
                "backends": [
                    {"url": str(b.url), "healthy": b.healthy, "requests": b.requests, "errors": b.errors}
                    for b in self.backends
                ],
            },
            status=200 if healthy else 503,
        )

    @staticmethod
    def _forward_headers(request: web.Request) -> CIMultiDict:
        headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP)
        forwarded = request.headers.get("X-Forwarded-For")
        peer = request.remote or ""
        headers["X-Forwarded-For"] = f"{forwarded}, {peer}" if forwarded else peer
        headers.setdefault("X-Forwarded-Proto", request.scheme)
        headers.setdefault("X-Forwarded-Host", request.host)
        return headers

    def _sticky_index(self, request: web.Request) -> int | None:
        if not request.path.startswith(STICKY_PREFIX):
            return None
        try:
            return int(request.cookies.get(STICKY_COOKIE, ""))
        except ValueError:
            return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        sticky = self._sticky_index(request)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request, sticky)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"error": "request body too large"}, status=413)
        headers = self._forward_headers(request)
        tried: set[int] = set()
        idempotent = request.method.upper() in IDEMPOTENT_METHODS
        failed_after_sending = False
        while True:
            try:
                index = self.choose(tried, sticky)
            except NoBackend:
                if failed_after_sending:
                    return web.json_response({"error": "every backend failed while handling the request"}, status=502)
                return web.json_response({"error": "no backend available"}, status=503)
            tried.add(index)
            backend = self.backends[index]
            backend.requests += 1
            target = URL(f"{backend.url}{request.raw_path}", encoded=True)
            try:
                assert self._session is not None
                async with self._session.request(
                    request.method, target, headers=headers, data=body or None, allow_redirects=False
                ) as upstream:
                    return await self._relay(request, upstream, index)
            except aiohttp.ClientConnectorError as exc:
                # Never reached the backend: safe to send anywhere else.
                backend.errors += 1
                backend.mark(False, f"connect failed ({type(exc).__name__})")
                continue
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                backend.errors += 1
                if isinstance(exc, aiohttp.ServerDisconnectedError):
                    backend.mark(False, "disconnected")
                if idempotent:
                    failed_after_sending = True
                    log.info("retrying %s %s after %s on %s", request.method, request.path, type(exc).__name__, backend.name)
                    continue
                log.warning("%s %s failed on %s after sending: %s", request.method, request.path, backend.name, type(exc).__name__)
                return web.json_response({"error": "backend failed while handling the request"}, status=502)

    async def _relay(self, request: web.Request, upstream: aiohttp.ClientResponse, index: int) -> web.StreamResponse:
        headers = CIMultiDict((k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP)
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=headers)
        if upstream.content_length is not None and "Content-Encoding" not in upstream.headers:
            response.content_length = upstream.content_length
        if request.path.startswith(STICKY_PREFIX):
            response.set_cookie(STICKY_COOKIE, str(index), httponly=True, samesite="Lax", path=STICKY_PREFIX)
        # Read the first chunk before committing the response, so a backend dying right away is a
        # clean error rather than a half-sent answer.
        first = await upstream.content.readany()
        await response.prepare(request)
        try:
            if first:
                await response.write(first)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            # Headers are already out: all that is left is to cut the client's connection.
            self.backends[index].errors += 1
            log.warning("%s %s: backend failed mid-answer (%s)", request.method, request.path, type(exc).__name__)
            if request.transport is not None:
                request.transport.close()
        return response

    async def _websocket(self, request: web.Request, sticky: int | None) -> web.StreamResponse:
        try:
            index = self.choose(set(), sticky)
        except NoBackend:
            return web.json_response({"error": "no backend available"}, status=503)
        backend = self.backends[index]
        backend.requests += 1
        target = URL(f"{backend.url}{request.raw_path}", encoded=True)
        headers = {k: v for k, v in self._forward_headers(request).items() if not k.lower().startswith("sec-websocket")}
        assert self._session is not None
        try:
            upstream = await self._session.ws_connect(target, headers=headers, autoping=False)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            backend.errors += 1
            if isinstance(exc, aiohttp.ClientConnectorError):
                backend.mark(False, "connect failed")
            return web.json_response({"error": "backend refused the websocket"}, status=502)
        client = web.WebSocketResponse(autoping=False)
        await client.prepare(request)

        async def pump(source, sink) -> None:
            async for message in source:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await sink.send_str(message.data)
                elif message.type == aiohttp.WSMsgType.BINARY:
                    await sink.send_bytes(message.data)
                elif message.type == aiohttp.WSMsgType.PING:
                    await sink.ping(message.data)
                elif message.type == aiohttp.WSMsgType.PONG:
                    await sink.pong(message.data)
                else:
                    break

        tasks = [asyncio.create_task(pump(client, upstream)), asyncio.create_task(pump(upstream, client))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await upstream.close()
            await client.close()
        return client


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.balancer", description="round-robin reverse proxy for replicas")
    parser.add_argument("--listen", default="127.0.0.1:5005", help="host:port to listen on (default 127.0.0.1:5005)")
    parser.add_argument("--backend", action="append", required=True, help="backend base URL (repeat for each replica)")
    parser.add_argument("--health-path", default="/", help="path checked on each backend (default /)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between health checks (default 1)")
    parser.add_argument("--health-timeout", type=float, default=5.0, help="seconds a health check may take (default 5)")
    parser.add_argument("--fall", type=int, default=3, help="failed checks in a row that take a backend out (default 3)")
    parser.add_argument("--read-timeout", type=float, default=120.0, help="seconds to wait for a backend's answer")
    parser.add_argument("--max-body", type=int, default=DEFAULT_MAX_BODY, help="largest request body in bytes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host, port = _listen(args.listen)
    balancer = Balancer(
        args.backend, health_path=args.health_path, interval=args.interval,
        health_timeout=args.health_timeout, fall=args.fall,
        read_timeout=args.read_timeout, max_body=args.max_body,
    )
    log.info("balancing %s over %s", args.listen, ", ".join(args.backend))
    web.run_app(balancer.app(), host=host, port=port, access_log=None, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
