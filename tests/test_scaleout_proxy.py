"""The production profile's nginx (deploy/nginx, bot.ops.proxy_config) against tiny aiohttp backends on
loopback: round robin, passive health checks and retry rules, socket.io stickiness, WebSocket upgrade,
the body limit, and that it runs as the invoking user with everything under its own prefix."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.ops import proxy_config

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
        self.runner: web.AppRunner | None = None

    async def start(self) -> "Backend":
        app = web.Application()
        app.router.add_get("/who", self.who)
        app.router.add_post("/post", self.post)
        app.router.add_route("*", "/crash", self.crash)
        app.router.add_get("/socket.io/", self.who)
        app.router.add_get("/ws", self.ws)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def who(self, request):
        return web.json_response({"name": self.name, "query": dict(request.query),
                                  "forwarded": request.headers.get("X-Forwarded-For")})

    async def post(self, request):
        self.posts += 1
        return web.json_response({"name": self.name, "size": len(await request.read())})

    async def crash(self, request):
        await request.read()
        self.posts += request.method == "POST"
        request.transport.close()  # the request arrived; the answer never comes
        await asyncio.sleep(0.1)
        return web.Response()

    async def ws(self, request):
        socket_ = web.WebSocketResponse()
        await socket_.prepare(request)
        async for message in socket_:
            await socket_.send_str(f"{self.name}:{message.data}")
        return socket_


class Nginx:
    def __init__(self, prefix: Path, backends: list[Backend]) -> None:
        if proxy_config.nginx_binary() is None:
            from tests.conftest import service_missing

            service_missing("nginx (make nginx: Debian's nginx package)")
        self.prefix = prefix
        self.port, self.action_port = free_port(), free_port()
        addresses = [b.address for b in backends]
        proxy_config.write(prefix, addresses, addresses, rasa_listen=f"127.0.0.1:{self.port}",
                           action_listen=f"127.0.0.1:{self.action_port}", max_body="64k", workers="1")
        self.process = subprocess.Popen(proxy_config.command(prefix), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert self.process.poll() is None, (prefix / "error.log").read_text(errors="replace")
                assert time.monotonic() < deadline, "nginx did not listen"
                time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def upstreams(self, requests: int) -> list[str]:
        """The replica of each logged request, in order, once `requests` are logged: nginx writes a
        request's line after its response has gone out, so a read right after the response can miss it."""
        deadline = time.monotonic() + 10
        while True:
            lines = (self.prefix / "access.log").read_text().splitlines()
            if len(lines) >= requests or time.monotonic() > deadline:
                return [line.rsplit('"', 4)[1] for line in lines]
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


@pytest.fixture
def nginx(tmp_path):
    started: list[Nginx] = []

    def start(backends):
        started.append(Nginx(tmp_path / "nginx", backends))
        return started[-1]

    yield start
    for proxy in started:
        proxy.stop()


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 60))


async def _names(client, n, path="/who"):
    names = []
    for _ in range(n):
        async with client.get(path, params={"q": "中文 参数"}) as response:
            body = await response.json()
            assert body["query"] == {"q": "中文 参数"} and body["forwarded"] == "127.0.0.1"
            names.append(body["name"])
    return names


def test_round_robin_a_dead_replica_is_skipped_even_for_posts_then_taken_back(nginx):
    async def main():
        a, b = await Backend("a").start(), await Backend("b").start()
        proxy = nginx([a, b])
        try:
            async with aiohttp.ClientSession(proxy.url) as client:
                assert sorted(await _names(client, 4)) == ["a", "a", "b", "b"]
                await b.stop()  # connection refused: retried on a, even a POST, which never arrived
                for i in range(4):
                    async with client.post("/post", json={"i": i}) as response:
                        assert response.status == 200 and (await response.json())["name"] == "a"
                await b.start()  # same port, back up: tried again after fail_timeout
                await asyncio.sleep(6)  # (nginx then eases it back in: smooth weighted round robin)
                assert set(await _names(client, 8)) == {"a", "b"}
        finally:
            await a.stop(), await b.stop()

    run(main())


def test_a_post_that_reached_a_replica_is_not_sent_twice_but_a_get_is_retried(nginx):
    async def main():
        a, b = await Backend("a").start(), await Backend("b").start()
        proxy = nginx([a, b])
        try:
            async with aiohttp.ClientSession(proxy.url) as client:
                async with client.post("/crash", json={}) as response:
                    assert response.status == 502  # processed maybe: the client decides, nginx does not resend
                assert a.posts + b.posts == 1
                async with client.get("/crash") as response:
                    assert response.status == 502  # idempotent: tried on both, both dropped it
            assert proxy.upstreams(2)[-1].count(",") == 1  # two replicas tried for the GET
        finally:
            await a.stop(), await b.stop()

    run(main())


def test_socketio_requests_of_one_client_stick_to_one_replica_and_websocket_upgrades(nginx):
    async def main():
        a, b = await Backend("a").start(), await Backend("b").start()
        proxy = nginx([a, b])
        try:
            async with aiohttp.ClientSession(proxy.url) as client:
                # socket.io polling: every request of the client to one replica, with and without a sid …
                assert len(set(await _names(client, 6, "/socket.io/"))) == 1
                # … while other requests are still spread.
                assert sorted(await _names(client, 4)) == ["a", "a", "b", "b"]
                async with client.ws_connect("/ws") as ws:  # upgraded, then proxied frame by frame
                    await ws.send_str("你好")
                    first = await ws.receive_str()
                    await ws.send_str("再见")
                    assert (await ws.receive_str()).split(":")[0] == first.split(":")[0]
                    assert first.endswith(":你好")
        finally:
            await a.stop(), await b.stop()

    run(main())


def test_oversized_body_is_refused_with_413_and_nginx_keeps_to_its_prefix(nginx, tmp_path):
    async def main():
        a = await Backend("a").start()
        proxy = nginx([a])
        try:
            async with aiohttp.ClientSession(proxy.url) as client:
                async with client.post("/post", data=b"x" * 100_000) as response:
                    assert response.status == 413
                async with client.post("/post", data=b"x" * 60_000) as response:
                    assert response.status == 200 and (await response.json())["size"] == 60_000
            assert a.posts == 1
        finally:
            await a.stop()
        return proxy

    proxy = run(main())
    prefix = tmp_path / "nginx"
    assert (prefix / "nginx.pid").read_text().strip() == str(proxy.process.pid)
    log = (prefix / "access.log").read_text()
    assert "POST /post" in log and "q=" not in log  # no query strings (tokens) in the log


def test_the_rendered_configuration_has_no_placeholders_left_and_names_every_replica(tmp_path):
    conf = proxy_config.write(tmp_path, ["127.0.0.1:1", "127.0.0.1:2"], ["127.0.0.1:3"],
                              rasa_listen="127.0.0.1:4", action_listen="127.0.0.1:5").read_text()
    assert "{{" not in conf and "}}" not in conf
    assert all(f"server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" in conf for p in (1, 2, 3))
    assert "client_max_body_size 1m;" in conf and "proxy_set_header Upgrade $http_upgrade;" in conf
    with pytest.raises(KeyError):
        proxy_config.fill("{{missing}}", {})
    if proxy_config.nginx_binary():
        done = subprocess.run([*proxy_config.command(tmp_path), "-t"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def test_the_readmes_https_snippet_is_valid_nginx_and_forwards_only_the_channel_paths(tmp_path):
    """The snippet README「生产部署」 shows for the public HTTPS entrance, checked by `nginx -t`
    with a throw-away certificate in place of the agency's."""
    import re

    readme = (proxy_config.ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## 生产部署"):]
    snippet = re.search(r"```nginx\n(server \{.*?\n\})\n```", section, re.S).group(1)
    paths = re.findall(r"^\s+location (?:= )?(\S+) \{", snippet, re.M)
    assert paths == ["/webhooks/wechat/webhook", "/webhooks/rest/webhook", "/socket.io/", "/"]
    assert "return 404;" in snippet.split("location / {")[1]
    binary = proxy_config.nginx_binary()
    if binary is None:
        from tests.conftest import service_missing

        service_missing("nginx (make nginx: Debian's nginx package)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    server = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {cert};", snippet)
    server = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", server)
    server = server.replace("listen 443 ssl", f"listen 127.0.0.1:{free_port()} ssl")
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\nhttp {{\n"
        f"client_body_temp_path {tmp_path}/b; proxy_temp_path {tmp_path}/p; fastcgi_temp_path {tmp_path}/f;\n"
        f"uwsgi_temp_path {tmp_path}/u; scgi_temp_path {tmp_path}/s; access_log off;\n{server}\n}}\n"
    )
    done = subprocess.run([binary, "-t", "-p", f"{tmp_path}/", "-c", str(tmp_path / "nginx.conf"),
                           "-e", str(tmp_path / "error.log")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
