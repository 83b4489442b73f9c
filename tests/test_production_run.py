"""The stack README「生产部署」's own command starts (scripts/run.sh, GOVBOT_PROFILE=production): nginx in
front of two Rasa replicas, PostgreSQL and Redis, every process under a supervisor.

`kill -9` of one Rasa replica: the next messages are answered by the other one through nginx, the
supervisor starts the dead one again and nginx sends it traffic once it listens; Ctrl-C (SIGINT to
the process group, as a terminal sends it) still stops everything. The stack has its own ports,
PostgreSQL database and Redis key prefix (the machine's shared servers), removed at the end.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.conftest import REST_AUTH, REST_TOKEN, ROOT, free_port
from tests.scaleout_stack import PG_ADMIN_URL, REDIS_HOST, REDIS_LOCK_DB, REDIS_PORT, pg_admin, require_services_and_clear

pytestmark = [pytest.mark.scaleout, pytest.mark.e2e]

ARTIFACTS = ROOT / "tests" / "artifacts" / "production-run"
QUESTION = "怎么申请政府信息公开"


def as_from_a_terminal() -> None:
    """run.sh as a terminal starts it: with Ctrl-C's SIGINT (and SIGQUIT) not ignored. pytest started in
    the background of a non-interactive shell (`make test &`, nohup) inherits them ignored, and a
    shell cannot trap a signal ignored on entry, so Ctrl-C would reach only the services."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def session_processes(leader: int) -> dict[int, str]:
    """pid -> command line of every process in run.sh's session (run.sh was started in a new one)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if int(fields[3]) == leader and command:
            found[int(entry.name)] = command
    return found


def gone(pid: int) -> bool:
    """The process was reaped by its supervisor, which happens once all its threads have exited and
    its sockets are closed (the main thread alone shows as a zombie earlier)."""
    return not Path(f"/proc/{pid}").exists()


class RunScript:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.tag = uuid.uuid4().hex[:10]
        self.database = f"govbot_run_{self.tag}"
        self.ports = {name: free_port() for name in ("rasa", "action", "case", "web")}
        # Replica ports base+1, base+2: two free neighbours for Rasa, one for the action server.
        self.rasa_base = self._free_pair() - 1
        self.action_base = free_port() - 1
        self.run_dir = workdir / "run"
        self.env = dict(
            {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "GOVBOT_", "SANIC_"))},
            GOVBOT_PROFILE="production",
            RASA_PORT=str(self.ports["rasa"]), ACTION_PORT=str(self.ports["action"]),
            CASE_PORT=str(self.ports["case"]), GOVBOT_WEB_PORT=str(self.ports["web"]),
            GOVBOT_RASA_REPLICA_BASE_PORT=str(self.rasa_base), GOVBOT_ACTION_REPLICA_BASE_PORT=str(self.action_base),
            GOVBOT_ACTION_REPLICAS="1",  # two Rasa replicas as the README's command; one action server saves memory
            GOVBOT_DATABASE_URL=f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{self.database}",
            GOVBOT_REDIS_HOST=REDIS_HOST, GOVBOT_REDIS_PORT=str(REDIS_PORT), GOVBOT_REDIS_DB=str(REDIS_LOCK_DB),
            GOVBOT_REDIS_KEY_PREFIX=f"run{self.tag}",
            GOVBOT_RASA_TOKEN=secrets.token_urlsafe(24), GOVBOT_REST_TOKEN=REST_TOKEN,
            GOVBOT_RUN_DIR=str(self.run_dir), GOVBOT_TORCH_THREADS="1",
            NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
        )
        self.rasa_url = f"http://127.0.0.1:{self.ports['rasa']}"
        self.replica_ports = [self.rasa_base + 1, self.rasa_base + 2]
        self.log = workdir / "run.log"
        self.process: subprocess.Popen | None = None

    @staticmethod
    def _free_pair() -> int:
        for _ in range(50):
            port = free_port()
            try:
                import socket

                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue
        raise RuntimeError("no two free neighbouring ports")

    def start(self) -> "RunScript":
        connection = pg_admin()
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{self.database}"')
        connection.close()
        self.process = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "run.sh")], cwd=ROOT, env=self.env,
            stdout=open(self.log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=as_from_a_terminal,
        )
        deadline = time.monotonic() + 900
        while "已启动" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"run.sh did not start ({self.process.poll()}):\n{self.tail()}")
            time.sleep(1)
        return self

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def say(self, sender: str, message: str = QUESTION, url: str | None = None) -> str:
        response = requests.post(f"{url or self.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": message},
                                 headers=REST_AUTH, timeout=120)
        # nginx's own account of a failed request (which replicas it tried, why) makes a failure readable.
        assert response.ok, f"{response.status_code} from nginx; its error log ends:\n{self.nginx_errors()}"
        return "\n".join(m.get("text", "") for m in response.json())

    def nginx_errors(self, chars: int = 3000) -> str:
        log = self.run_dir / "nginx" / "error.log"
        return log.read_text(errors="replace")[-chars:] if log.exists() else "(no error log)"

    def replica_pid(self, index: int) -> int:
        port = f"--port {self.replica_ports[index]} "
        [pid] = [pid for pid, c in session_processes(self.process.pid).items() if "bot.ops.rasa_cli" in c and port in c + " "]
        return pid

    def upstreams(self) -> list[str]:
        """The replica(s) nginx tried for each message (REST webhook) it logged, in order:
        "127.0.0.1:P", or "127.0.0.1:P, 127.0.0.1:Q" when it retried on another replica."""
        lines = (self.run_dir / "nginx" / "access.log").read_text().splitlines()
        return [line.rsplit('"', 4)[1] for line in lines if '"POST /webhooks/rest/webhook"' in line]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)

    def drop(self) -> None:
        connection = pg_admin()
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        connection.close()
        import redis

        client = redis.Redis(REDIS_HOST, REDIS_PORT, db=REDIS_LOCK_DB, socket_timeout=5)
        for key in client.scan_iter(f"run{self.tag}:*"):
            client.delete(key)


@pytest.fixture(scope="module")
def stack(rasa_model):
    from bot.ops import proxy_config

    require_services_and_clear(ARTIFACTS)
    if proxy_config.nginx_binary() is None:
        from tests.conftest import service_missing

        service_missing("nginx (make nginx: Debian's nginx package)")
    ARTIFACTS.mkdir(parents=True)
    run = RunScript(ARTIFACTS)
    try:
        yield run.start()
    finally:
        run.stop()
        run.drop()


def test_a_killed_rasa_replica_is_restarted_while_the_other_keeps_answering_and_ctrl_c_stops_all(stack):
    # Both replicas serve, through nginx (each nginx worker keeps its own round robin, so a few
    # messages may all reach one replica: send until both have answered, or 20 messages).
    addresses = [f"127.0.0.1:{p}" for p in stack.replica_ports]
    for _ in range(20):
        assert "第二十九条" in stack.say(f"before-{uuid.uuid4().hex[:8]}")
        if set(stack.upstreams()) >= set(addresses):
            break
    assert set(stack.upstreams()) >= set(addresses), stack.upstreams()

    victim = stack.replica_pid(0)
    os.kill(victim, signal.SIGKILL)
    killed_at, logged_at_kill = time.monotonic(), len(stack.upstreams())
    # Until the kernel has torn the process down (~0.1 s for a Rasa's memory) its listening socket
    # still accepts connections and then resets them: a message sent then fails like one in flight.
    deadline = time.monotonic() + 30
    while not gone(victim) and time.monotonic() < deadline:
        time.sleep(0.01)
    # The next messages are answered (by the other replica): refused connections are retried there.
    for _ in range(6):
        assert "第二十九条" in stack.say(f"after-{uuid.uuid4().hex[:8]}")
    after = stack.upstreams()[logged_at_kill:]
    assert all(u.endswith(addresses[1]) for u in after), after
    # Everything else kept running: the supervisor restarts only the dead replica.
    mark = stack.run_dir / "rasa-1.exited"
    assert mark.exists() and str(victim) in mark.read_text()
    assert sorted(p.name for p in stack.run_dir.glob("*.exited")) == ["rasa-1.exited"]

    # The replica comes back (a Rasa load takes minutes on a busy 2-core machine) …
    deadline = time.monotonic() + 600
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{stack.replica_ports[0]}/", timeout=5).ok:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, f"replica not back after 600 s:\n{stack.tail()}"
        time.sleep(2)
    back_after = time.monotonic() - killed_at
    assert stack.replica_pid(0) != victim
    # … and nginx sends it messages again (after fail_timeout, 5 s).
    time.sleep(6)
    logged = len(stack.upstreams())
    for _ in range(20):
        assert "第二十九条" in stack.say(f"back-{uuid.uuid4().hex[:8]}")
        if addresses[0] in stack.upstreams()[logged:]:
            break
    assert addresses[0] in stack.upstreams()[logged:], stack.upstreams()[logged:]
    (ARTIFACTS / "replica-restart.json").write_text(f'{{"seconds_until_back": {back_after:.0f}}}')

    # Ctrl-C: SIGINT to the whole process group, as a terminal sends it; every process ends.
    leader = stack.process.pid
    assert len(session_processes(leader)) >= 8  # run.sh, supervisors, services, nginx and its worker(s)
    os.killpg(leader, signal.SIGINT)
    stack.process.wait(timeout=90)
    deadline = time.monotonic() + 30
    while session_processes(leader) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert session_processes(leader) == {}
    assert "已停止" in stack.tail(500)
