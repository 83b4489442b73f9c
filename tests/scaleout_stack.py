"""The production profile as real processes on loopback, for tests/test_scaleout.py and bench/scaleout.py.

Case service, M action servers and N Rasa replicas (endpoints.production.yml: SQL tracker store on
PostgreSQL, Redis lock store) behind one nginx, configured as scripts/run.sh configures it
(bot.ops.proxy_config, deploy/nginx) and run as the invoking user under the stack's directory. Each
stack gets its own PostgreSQL database and Redis key prefix and removes both on close, so it never
sees or leaves another run's data on the shared machine services.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
MODEL_PATH = ROOT / "models" / "govbot.tar.gz"
PG_ADMIN_URL = os.environ.get("GOVBOT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_LOCK_DB, REDIS_RATE_DB = 1, 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_admin(url: str = PG_ADMIN_URL):
    import psycopg2

    connection = psycopg2.connect(url, connect_timeout=5)
    connection.autocommit = True
    return connection


def pg_available() -> bool:
    try:
        pg_admin().close()
        import redis

        return bool(redis.Redis(REDIS_HOST, REDIS_PORT, socket_timeout=2).ping())
    except Exception:
        return False


def require_services_and_clear(artifacts: Path, *, shared_postgres: bool = True) -> None:
    """The tests' one rule for missing services (tests.conftest.service_missing) for Redis and, unless
    the stack runs on a PostgreSQL of its own, the shared PostgreSQL; then empties `artifacts`."""
    from tests.conftest import require_redis, service_missing

    if shared_postgres:
        try:
            pg_admin().close()
        except Exception as exc:  # noqa: BLE001 - any failure means: no PostgreSQL here
            service_missing(f"PostgreSQL at {PG_ADMIN_URL}", type(exc).__name__)
    require_redis(f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_LOCK_DB}")
    from bot.ops.proxy_config import nginx_binary

    if nginx_binary() is None:
        service_missing("nginx (make nginx: Debian's nginx package)")
    if artifacts.exists():
        shutil.rmtree(artifacts)


def postgres_bin() -> Path | None:
    """The newest Debian PostgreSQL server binaries (/usr/lib/postgresql/<version>/bin), if any."""
    found = [d for d in Path("/usr/lib/postgresql").glob("*/bin") if (d / "initdb").exists() and (d / "pg_ctl").exists()]
    return max(found, key=lambda d: int(d.parent.name), default=None) if found else None


class PrivatePostgres:
    """A PostgreSQL server of a test's own: initdb in a temporary directory, listening on a free
    loopback port, trust authentication for the `postgres` role; stopped and deleted by close().

    For tests that restart PostgreSQL, which must never restart the machine's shared server.
    PostgreSQL refuses to run as root: as root, initdb and the server run as the `postgres` user.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="govbot-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.admin_url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            import pwd

            account = pwd.getpwnam("postgres")
            os.chown(self.dir, account.pw_uid, account.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *argv: str, timeout: float = 120) -> None:
        done = subprocess.run([*self.as_user, *argv], capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr or done.stdout}\n{self.tail()}")

    def _pg_ctl(self, action: str) -> None:
        self._run(str(self.bin / "pg_ctl"), action, "-D", str(self.data), "-l", str(self.log), "-w", "-t", "90",
                  "-m", "fast", "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir}")

    def start(self) -> "PrivatePostgres":
        if not self.data.exists():
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--no-locale", "--no-sync")
        self._pg_ctl("start")
        return self

    def restart(self) -> None:
        self._pg_ctl("restart")

    def is_up(self) -> bool:
        return subprocess.run([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                              capture_output=True).returncode == 0

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def close(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._pg_ctl("stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def private_postgres() -> PrivatePostgres:
    """A started PrivatePostgres; a machine without PostgreSQL's server binaries gets the tests' one rule."""
    from tests.conftest import service_missing

    bin_dir = postgres_bin()
    if bin_dir is None:
        service_missing("PostgreSQL server binaries (/usr/lib/postgresql/<version>/bin: initdb, pg_ctl)")
    server = PrivatePostgres(bin_dir)
    try:
        return server.start()
    except BaseException:
        server.close()
        raise


class Proc:
    """One service process: start, wait until its readiness URL answers 200, kill, restart."""

    def __init__(self, name: str, argv: list[str], env: dict, log: Path, ready_url: str) -> None:
        self.name, self.argv, self.env, self.log, self.ready_url = name, argv, env, log, ready_url
        self.process: subprocess.Popen | None = None

    def start(self) -> "Proc":
        with open(self.log, "a") as fh:
            fh.write(f"\n===== start {time.strftime('%H:%M:%S')} {' '.join(self.argv)}\n")
        self.process = subprocess.Popen(
            self.argv, cwd=ROOT, env=self.env, stdout=open(self.log, "a"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise RuntimeError(f"{self.name} exited ({code}); log tail:\n{self.tail()}")
            try:
                if requests.get(self.ready_url, timeout=3).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{self.name} not ready after {timeout}s; log tail:\n{self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
        self.process = None


class ProductionStack:
    def __init__(
        self,
        workdir: Path,
        *,
        rasa_replicas: int = 2,
        action_replicas: int = 2,
        model: Path = MODEL_PATH,
        extra_env: dict | None = None,
        pg_admin_url: str = PG_ADMIN_URL,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.model = model
        self.tag = uuid.uuid4().hex[:10]
        self.database = f"govbot_so_{self.tag}"
        self.redis_prefix = f"so{self.tag}"
        self.pg_admin_url = pg_admin_url  # the server whose database the stack creates and drops
        base = pg_admin_url.rsplit("/", 1)[0]
        self.database_url = f"{base}/{self.database}"
        self.rasa_token = secrets.token_urlsafe(24)
        self.rest_token = secrets.token_urlsafe(24)  # tests speak as the agency's trusted server (bot.channels.rest)
        self.staff_token = secrets.token_urlsafe(24)
        self.case_port = free_port()
        self.action_lb_port, self.rasa_lb_port = free_port(), free_port()
        self.action_ports = [free_port() for _ in range(action_replicas)]
        self.rasa_ports = [free_port() for _ in range(rasa_replicas)]
        self.rasa_url = f"http://127.0.0.1:{self.rasa_lb_port}"
        self.action_url = f"http://127.0.0.1:{self.action_lb_port}"
        self.case_url = f"http://127.0.0.1:{self.case_port}"
        self.cache_dir = self._shared_cache()
        # A developer's WECHAT_* settings must not change the servers under test.
        self.env = dict(
            {k: v for k, v in os.environ.items() if not k.startswith("WECHAT_")},
            RASA_TELEMETRY_ENABLED="false", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false", SANIC_HOST="127.0.0.1",
            ACTION_ENDPOINT_URL=f"{self.action_url}/webhook",
            GOVBOT_CASE_URL=self.case_url,
            GOVBOT_CASE_BOT_TOKEN=secrets.token_urlsafe(24),
            GOVBOT_CASE_STAFF_TOKEN=self.staff_token,
            GOVBOT_RASA_URL=self.rasa_url,
            GOVBOT_RASA_TOKEN=self.rasa_token,
            GOVBOT_ACTION_TOKEN=secrets.token_urlsafe(24),
            GOVBOT_SESSION_SECRET=secrets.token_urlsafe(24),
            GOVBOT_REST_TOKEN=self.rest_token,
            GOVBOT_TRACKER_DATABASE_URL=self.database_url,
            GOVBOT_OUTBOX_DATABASE_URL=self.database_url,
            GOVBOT_CASE_DATABASE_URL=self.database_url,
            GOVBOT_REDIS_HOST=REDIS_HOST, GOVBOT_REDIS_PORT=str(REDIS_PORT), GOVBOT_REDIS_DB=str(REDIS_LOCK_DB),
            GOVBOT_REDIS_PASSWORD="", GOVBOT_REDIS_KEY_PREFIX=self.redis_prefix,
            GOVBOT_RATE_LIMIT_STORAGE=f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_RATE_DB}",
            TICKET_LOCK_LIFETIME="20",
            GOVBOT_INDEX_MODE="published",
            GOVBOT_CACHE_DIR=str(self.cache_dir),
            GOVBOT_TORCH_THREADS="1",
        )
        self.env.update(extra_env or {})
        py = str(VENV_BIN / "python")
        self.cases = Proc(
            "case-service", [py, "-m", "bot.case_service", "--host", "127.0.0.1", "--port", str(self.case_port)],
            self.env, self.workdir / "case-service.log", f"{self.case_url}/ready",
        )
        self.actions = [
            Proc(
                f"action-{i}", [py, "-m", "bot.ops.action_server", "--actions", "actions", "--port", str(port)],
                self.env, self.workdir / f"action-{i}.log", f"http://127.0.0.1:{port}/ready",
            )
            for i, port in enumerate(self.action_ports)
        ]
        self.rasas = [
            Proc(
                f"rasa-{i}",
                [
                    str(VENV_BIN / "python"), "-m", "bot.ops.rasa_cli", "run", "--model", str(self.model),
                    "--endpoints", "endpoints.production.yml",
                    "--credentials", "credentials.yml", "--interface", "127.0.0.1", "--port", str(port),
                    "--enable-api",
                ],
                self.env, self.workdir / f"rasa-{i}.log", f"http://127.0.0.1:{port}/",
            )
            for i, port in enumerate(self.rasa_ports)
        ]
        # nginx in front of both kinds of replica, as scripts/run.sh starts it (one worker: a small machine).
        from bot.ops import proxy_config

        self.proxy_dir = self.workdir / "nginx"
        proxy_config.write(
            self.proxy_dir, [f"127.0.0.1:{p}" for p in self.rasa_ports], [f"127.0.0.1:{p}" for p in self.action_ports],
            rasa_listen=f"127.0.0.1:{self.rasa_lb_port}", action_listen=f"127.0.0.1:{self.action_lb_port}", workers="1",
        )
        self.proxy = Proc("nginx", proxy_config.command(self.proxy_dir), self.env, self.workdir / "nginx.log",
                          f"{self.rasa_url}/")

    def _shared_cache(self) -> Path:
        """One cache directory all action servers mount: the real embedding model, a copy of the index."""
        from bot.settings import Settings

        source = Settings.from_env().cache_dir
        target = self.workdir / "shared-cache"
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        (target / "models").symlink_to(source / "models", target_is_directory=True)
        shutil.copytree(source / "index", target / "index")
        return target

    # -- lifecycle ---------------------------------------------------------------------------------

    def create_database(self) -> None:
        connection = pg_admin(self.pg_admin_url)  # not `with connection:`, which opens a transaction CREATE DATABASE refuses
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            connection.close()

    def drop_database(self) -> None:
        for _ in range(10):
            try:
                connection = pg_admin(self.pg_admin_url)
                with connection.cursor() as cursor:
                    cursor.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
                connection.close()
                return
            except Exception:
                time.sleep(1)

    def clear_redis(self) -> None:
        import redis

        client = redis.Redis(REDIS_HOST, REDIS_PORT, db=REDIS_LOCK_DB, socket_timeout=5)
        for key in client.scan_iter(f"{self.redis_prefix}:*"):
            client.delete(key)

    def start(self) -> "ProductionStack":
        self.create_database()
        try:
            self.cases.start().wait_ready(60)
            for proc in self.actions + self.rasas:
                proc.start()
            with ThreadPoolExecutor(len(self.actions) + len(self.rasas)) as pool:
                list(pool.map(lambda p: p.wait_ready(420), self.actions + self.rasas))
            self.proxy.start().wait_ready(30)
        except BaseException:
            self.close()
            raise
        return self

    def proxied(self) -> list[tuple[str, str, int]]:
        """(path, replicas tried, status) of every request nginx logged, in order; `replicas tried`
        is nginx's $upstream_addr: "127.0.0.1:P" or, after a retry, "127.0.0.1:P, 127.0.0.1:Q"."""
        entries = []
        log = self.proxy_dir / "access.log"
        for line in (log.read_text().splitlines() if log.exists() else []):
            request, upstream = line.split('"')[1], line.rsplit('"', 4)[1]
            status = int(line.split('"')[2].split()[0])
            entries.append((request.split(" ", 1)[1], upstream, status))
        return entries

    def served(self, since: int = 0, path_prefix: str = "/") -> list[int]:
        """Requests under `path_prefix` each Rasa replica answered, from the `since`-th logged request on."""
        counts = [0] * len(self.rasa_ports)
        for path, upstream, _status in self.proxied()[since:]:
            if path.startswith(path_prefix):
                last = upstream.split(",")[-1].strip()
                for i, port in enumerate(self.rasa_ports):
                    counts[i] += last == f"127.0.0.1:{port}"
        return counts

    def close(self) -> None:
        for proc in [self.proxy, *self.rasas, *self.actions, self.cases]:
            try:
                proc.stop()
            except Exception:
                pass
        self.drop_database()
        try:
            self.clear_redis()
        except Exception:
            pass

    def __enter__(self) -> "ProductionStack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- talking to it -----------------------------------------------------------------------------

    def send(self, sender: str, message: str, url: str | None = None, timeout: float = 90) -> list[dict]:
        response = requests.post(
            f"{url or self.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": message}, timeout=timeout,
            headers={"Authorization": f"Bearer {self.rest_token}"},
        )
        response.raise_for_status()
        return response.json()

    def say(self, sender: str, message: str, url: str | None = None) -> str:
        return "\n".join(m.get("text", "") for m in self.send(sender, message, url))

    def replica_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.rasa_ports[index]}"

    def tracker(self, sender: str, url: str | None = None) -> dict:
        response = requests.get(
            f"{url or self.rasa_url}/conversations/{sender}/tracker", params={"token": self.rasa_token}, timeout=30
        )
        response.raise_for_status()
        return response.json()

    def sql(self, query: str, *params) -> list[tuple]:
        import psycopg2

        with psycopg2.connect(self.database_url, connect_timeout=5) as connection, connection.cursor() as cursor:
            cursor.execute(query, params)
            rows = cursor.fetchall()
        connection.close()
        return rows
