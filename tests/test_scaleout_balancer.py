"""bot.balancer against real aiohttp backends on loopback: routing, failover and retry rules."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from aiohttp import web

from bot.balancer import STATUS_PATH, STICKY_COOKIE, Balancer

pytestmark = pytest.mark.scaleout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Backend:
    """A tiny server that says who it is; `/post` counts POSTs, `/crash` drops the connection."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = free_port()
        self.posts = 0
        self.healthy = True
        self.runner: web.AppRunner | None = None

    async def start(self) -> "Backend":
        app = web.Application()
        app.router.add_get("/", self.root)
        app.router.add_get("/who", self.who)
        app.router.add_post("/post", self.post)
        app.router.add_route("*", "/crash", self.crash)
        app.router.add_get("/ws", self.ws)
        app.router.add_get("/socket.io/", self.who)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def root(self, request):
        return web.json_response({"ok": self.healthy}, status=200 if self.healthy else 503)

    async def who(self, request):
        return web.json_response({"name": self.name, "query": dict(request.query),
                                  "forwarded": request.headers.get("X-Forwarded-For")})

    async def post(self, request):
        self.posts += 1
        return web.json_response({"name": self.name, "body": await request.json()})

    async def crash(self, request):
        await request.read()
        request.transport.close()  # the request arrived; the answer never comes
        await asyncio.sleep(0.1)
        return web.Response()

    async def ws(self, request):
        socket_ = web.WebSocketResponse()
        await socket_.prepare(request)
        async for message in socket_:
            await socket_.send_str(f"{self.name}:{message.data}")
        return socket_


async def _with_balancer(backends, scenario, **options):
    balancer = Balancer([b.url for b in backends], interval=0.2, **options)
    runner = web.AppRunner(balancer.app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as client:
            return await scenario(client, balancer)
    finally:
        await runner.cleanup()


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 60))


async def _names(client, n):
    names = []
    for _ in range(n):
        async with client.get("/who", params={"q": "中文 参数"}) as response:
            body = await response.json()
            assert body["query"] == {"q": "中文 参数"} and body["forwarded"] == "127.0.0.1"
            names.append(body["name"])
    return names


def test_round_robin_and_a_dead_backend_is_skipped_then_taken_back():
    async def main():
        a, b = await Backend("a").start(), await Backend("b").start()

        async def scenario(client, balancer):
            assert sorted(await _names(client, 4)) == ["a", "a", "b", "b"]
            await b.stop()  # connection refused: retried elsewhere, even a POST, which never arrived
            for i in range(4):
                async with client.post("/post", json={"i": i}) as response:
                    assert response.status == 200 and (await response.json())["name"] == "a"
            async with client.get(STATUS_PATH) as response:
                assert [x["healthy"] for x in (await response.json())["backends"]] == [True, False]
            await b.start()  # same port, back up
            await asyncio.sleep(0.6)  # a health check or two
            assert set(await _names(client, 4)) == {"a", "b"}

        try:
            await _with_balancer([a, b], scenario)
        finally:
            await a.stop(), await b.stop()

    run(main())


def test_a_post_that_reached_a_backend_is_not_sent_twice_but_a_get_is_retried():
    async def main():
        a, b = await Backend("a").start(), await Backend("b").start()

        async def scenario(client, balancer):
            statuses = []
            for _ in range(2):  # round robin: each backend gets one
                async with client.post("/crash", json={}) as response:
                    statuses.append(response.status)
            assert statuses == [502, 502]  # processed maybe: the client decides, the balancer does not resend
            async with client.get("/crash") as response:
                assert response.status == 502  # idempotent: tried on both, both dropped it
            assert sum(x.requests for x in balancer.backends) == 4

        try:
            await _with_balancer([a, b], scenario)
        finally:
            await a.stop(), await b.stop()

    run(main())


def test_unhealthy_backend_gets_no_traffic_and_none_left_is_503():
    async def main():
        a, b = await Backend("a").start(), await Backend("b").start()

        async def scenario(client, balancer):
            b.healthy = False  # health check answers 503: out after three checks in a row
            await asyncio.sleep(1.2)
            assert set(await _names(client, 4)) == {"a"}
            await a.stop(), await b.stop()
            async with client.get("/who") as response:
                assert response.status == 503

        try:
            await _with_balancer([a, b], scenario)
        finally:
            await a.stop(), await b.stop()

    run(main())


def test_websocket_and_socketio_stickiness():
    async def main():
        a, b = await Backend("a").start(), await Backend("b").start()

        async def scenario(client, balancer):
            async with client.ws_connect("/ws") as ws:
                await ws.send_str("你好")
                first = await ws.receive_str()
                await ws.send_str("再见")
                assert (await ws.receive_str()).split(":")[0] == first.split(":")[0]
                assert first.endswith(":你好")
            # socket.io polling: the cookie keeps one session on one backend.
            async with client.get("/socket.io/", params={"EIO": "4"}) as response:
                pinned = (await response.json())["name"]
                cookie = {STICKY_COOKIE: response.cookies[STICKY_COOKIE].value}
            for _ in range(4):
                async with client.get("/socket.io/", params={"EIO": "4"}, cookies=cookie) as response:
                    assert (await response.json())["name"] == pinned

        try:
            await _with_balancer([a, b], scenario)
        finally:
            await a.stop(), await b.stop()

    run(main())


def test_oversized_body_is_refused_with_413():
    async def main():
        a = await Backend("a").start()

        async def scenario(client, balancer):
            async with client.post("/post", data=b"x" * 5000) as response:
                assert response.status == 413
            assert a.posts == 0

        try:
            await _with_balancer([a], scenario, max_body=1024)
        finally:
            await a.stop()

    run(main())
