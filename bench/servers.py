"""Starting and stopping the two systems under test on spare loopback ports.

The moodbot is Rasa 3.6.21's own `rasa init` project (copied from the installed package, default
config as shipped: DIET, ResponseSelector, TED and UnexpecTED); its trained model is cached by the
hash of the project files in a git-ignored work directory. This assistant runs as `make run` runs
it: case service, action server and Rasa with endpoints.yml and credentials.yml.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
WORK = ROOT / ".cache" / "bench"
# The load generator speaks to the REST channel as the agency's trusted server (bot.channels.rest):
# its sender ids are used as given and not limited per client address. Moodbot's channel ignores it.
REST_TOKEN = os.environ.get("GOVBOT_REST_TOKEN") or secrets.token_urlsafe(24)
REST_AUTH = {"Authorization": f"Bearer {REST_TOKEN}"}
QUIET_ENV = {
    "RASA_TELEMETRY_ENABLED": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "SANIC_HOST": "127.0.0.1",
    "LOG_LEVEL": "WARNING",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM (peak resident set) of a live process, in MiB; None when unavailable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def check(self) -> None:
        if self.popen.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{tail}")


@dataclass
class Stack:
    """The processes of one system under test; `url` is its Rasa server."""

    name: str
    url: str
    processes: list[Process] = field(default_factory=list)
    metrics_url: str | None = None  # the action server's /metrics, when it has one

    def start(self, name: str, args: list[str], cwd: Path, env: dict, log_dir: Path) -> Process:
        log_dir.mkdir(parents=True, exist_ok=True)
        log = log_dir / f"{self.name}-{name}.log"
        popen = subprocess.Popen(args, cwd=cwd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def wait(self, url: str, process: Process, timeout: float = 900) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process.check()
            try:
                if requests.get(url, timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{self.name}: {url} not up after {timeout:.0f}s (log {process.log})")

    def memory(self) -> dict[str, float | None]:
        return {p.name: peak_rss_mb(p.popen.pid) for p in self.processes}

    def stop(self) -> None:
        for process in self.processes:
            if process.popen.poll() is None:
                process.popen.terminate()
        for process in self.processes:
            try:
                process.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.popen.kill()
        self.processes.clear()


def _tree_hash(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def moodbot_model(work: Path = WORK, echo=print) -> tuple[Path, dict]:
    """Rasa's `rasa init` project, trained once per Rasa version and template (cached)."""
    import rasa
    import rasa.cli

    template = Path(rasa.cli.__file__).parent / "initial_project"
    key = f"{rasa.__version__}-{_tree_hash(template)}"
    project = work / "moodbot"
    model = project / "models" / "moodbot.tar.gz"
    info_path = project / "train.json"
    if model.exists() and info_path.exists():
        info = json.loads(info_path.read_text())
        if info.get("key") == key:
            return model, info
    echo(f"训练 moodbot（Rasa {rasa.__version__} 的 rasa init 项目，仅首次需要，约数分钟）……")
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(template, project)
    env = dict(os.environ, **QUIET_ENV)
    start = time.perf_counter()
    subprocess.run(
        [str(VENV_BIN / "rasa"), "train", "--fixed-model-name", "moodbot", "--out", "models"],
        cwd=project, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    info = {"key": key, "rasa": rasa.__version__, "train_seconds": round(time.perf_counter() - start, 1),
            "model_mb": round(model.stat().st_size / 2**20, 2)}
    info_path.write_text(json.dumps(info))
    return model, info


def start_moodbot(model: Path, log_dir: Path, env_extra: dict | None = None) -> Stack:
    port = free_port()
    stack = Stack("moodbot", f"http://127.0.0.1:{port}")
    env = dict(os.environ, **QUIET_ENV, **(env_extra or {}))
    project = model.parent.parent
    rasa = stack.start(
        "rasa",
        [str(VENV_BIN / "rasa"), "run", "--model", str(model), "--credentials", "credentials.yml",
         "--endpoints", "endpoints.yml", "--interface", "127.0.0.1", "--port", str(port)],
        project, env, log_dir,
    )
    try:
        stack.wait(stack.url + "/", rasa)
    except Exception:
        stack.stop()
        raise
    return stack


def start_govbot(model: Path, log_dir: Path, state: Path, env_extra: dict | None = None) -> Stack:
    """Case service, action server and Rasa, as scripts/run.sh starts them (state kept in `state`)."""
    rasa_port, action_port, case_port = free_port(), free_port(), free_port()
    state.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        **QUIET_ENV,
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook",
        GOVBOT_CASE_URL=f"http://127.0.0.1:{case_port}",
        GOVBOT_CASE_BOT_TOKEN=secrets.token_urlsafe(24),
        GOVBOT_CASE_STAFF_TOKEN=secrets.token_urlsafe(24),
        GOVBOT_CASE_DATABASE_URL=f"sqlite:///{state / 'cases.db'}",
        GOVBOT_OUTBOX_DATABASE_URL=f"sqlite:///{state / 'outbox.db'}",
        GOVBOT_RASA_URL=f"http://127.0.0.1:{rasa_port}",
        GOVBOT_RASA_TOKEN=secrets.token_urlsafe(24),
        GOVBOT_ACTION_TOKEN=secrets.token_urlsafe(24),
        GOVBOT_REST_TOKEN=REST_TOKEN,
        **(env_extra or {}),
    )
    env = {k: v for k, v in env.items() if not k.startswith("WECHAT_")}
    stack = Stack("govbot", f"http://127.0.0.1:{rasa_port}")
    cases = stack.start(
        "cases", [str(VENV_BIN / "python"), "-m", "bot.case_service", "--host", "127.0.0.1", "--port", str(case_port)],
        ROOT, env, log_dir,
    )
    # scripts/run.sh's entry point (rasa_sdk's server plus /ready) when present, else rasa_sdk's own.
    server = [str(VENV_BIN / "python"), "-m", "bot.ops.action_server"] if (ROOT / "bot" / "ops" / "action_server.py").exists() \
        else [str(VENV_BIN / "rasa"), "run", "actions"]
    if server[-1] == "bot.ops.action_server":
        stack.metrics_url = f"http://127.0.0.1:{action_port}/metrics"
    actions = stack.start("actions", [*server, "--actions", "actions", "--port", str(action_port)], ROOT, env, log_dir)
    rasa = stack.start(
        "rasa",
        [str(VENV_BIN / "rasa"), "run", "--model", str(model), "--endpoints", "endpoints.yml",
         "--credentials", "credentials.yml", "--interface", "127.0.0.1", "--port", str(rasa_port)],
        ROOT, env, log_dir,
    )
    try:
        stack.wait(f"http://127.0.0.1:{case_port}/health", cases)
        stack.wait(f"http://127.0.0.1:{action_port}/health", actions)
        stack.wait(stack.url + "/", rasa)
    except Exception:
        stack.stop()
        raise
    return stack
