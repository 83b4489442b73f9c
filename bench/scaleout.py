"""Load held by the production profile with 1 and 2 Rasa replicas: conversations per second, p95 latency.

Each run starts the whole profile as real processes (tests/scaleout_stack.py: PostgreSQL tracker
store, Redis lock store, action servers and Rasa replicas behind nginx), then `concurrency`
closed-loop users hold three-turn conversations (greeting, a knowledge question, a follow-up)
through nginx for `duration` seconds after a warm-up. Results (JSON) go to
bench/results/, with the machine's load so a reader can judge how busy the shared machine was.

    .venv/bin/python -m bench.scaleout --replicas 1 2 --concurrency 8 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.scaleout_stack import ProductionStack, pg_available  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CONVERSATION = ["你好", "怎么申请政府信息公开", "要多长时间"]


async def _user(session: aiohttp.ClientSession, url: str, measure_from: float, stop_at: float, out: dict) -> None:
    while time.monotonic() < stop_at:
        sender = f"bench-{uuid.uuid4().hex[:12]}"
        started = time.monotonic()
        ok = True
        for message in CONVERSATION:
            t0 = time.monotonic()
            try:
                async with session.post(url, json={"sender": sender, "message": message}) as response:
                    body = await response.json(content_type=None)
                    ok = response.status == 200 and bool(body)
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                ok = False
            if t0 >= measure_from:
                if ok:
                    out["latencies"].append(time.monotonic() - t0)
                else:
                    out["errors"] += 1
            if not ok:
                break
        if ok and started >= measure_from and time.monotonic() <= stop_at:
            out["conversations"] += 1


async def _load(base_url: str, concurrency: int, warmup: float, duration: float, rest_token: str = "") -> dict:
    url = f"{base_url}/webhooks/rest/webhook"
    # As the agency's trusted server (bot.channels.rest): sender ids as given, no per-address limit.
    headers = {"Authorization": f"Bearer {rest_token}"} if rest_token else None
    out = {"latencies": [], "errors": 0, "conversations": 0}
    start = time.monotonic()
    measure_from, stop_at = start + warmup, start + warmup + duration
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=concurrency + 2), headers=headers) as session:
        await asyncio.gather(*(_user(session, url, measure_from, stop_at, out) for _ in range(concurrency)))
    latencies = np.array(out["latencies"]) * 1000
    return {
        "concurrency": concurrency,
        "duration_s": duration,
        "conversations": out["conversations"],
        "conversations_per_s": round(out["conversations"] / duration, 2),
        "messages": int(len(latencies)),
        "messages_per_s": round(len(latencies) / duration, 2),
        "errors": out["errors"],
        "p50_ms": round(float(np.percentile(latencies, 50)), 1) if len(latencies) else None,
        "p95_ms": round(float(np.percentile(latencies, 95)), 1) if len(latencies) else None,
        "max_ms": round(float(latencies.max()), 1) if len(latencies) else None,
    }


def _conditions() -> dict:
    load = os.getloadavg()
    busy = []
    try:
        import subprocess

        ps = subprocess.run(["ps", "-eo", "pcpu,comm", "--sort=-pcpu"], capture_output=True, text=True, timeout=10)
        busy = [line.strip() for line in ps.stdout.splitlines()[1:6]]
    except Exception:
        pass
    return {"cpus": os.cpu_count(), "loadavg_1_5_15": [round(x, 2) for x in load], "top_processes": busy}


def run(replicas: int, actions: int, concurrency: int, warmup: float, duration: float) -> dict:
    workdir = ROOT / "bench" / "results" / f"stack-{replicas}r"
    before = _conditions()
    with ProductionStack(workdir, rasa_replicas=replicas, action_replicas=actions,
                         extra_env={"GOVBOT_RATE_LIMIT_PER_MINUTE": "0"}) as stack:
        result = asyncio.run(_load(stack.rasa_url, concurrency, warmup, duration, stack.rest_token))
    return {"rasa_replicas": replicas, "action_servers": actions, **result,
            "conditions_before": before, "conditions_after": _conditions()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaleout", description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2], help="Rasa replica counts to measure")
    parser.add_argument("--actions", type=int, default=2, help="action servers (default 2)")
    parser.add_argument("--concurrency", type=int, default=8, help="closed-loop users (default 8)")
    parser.add_argument("--warmup", type=float, default=15, help="seconds before measuring (default 15)")
    parser.add_argument("--duration", type=float, default=60, help="seconds measured (default 60)")
    args = parser.parse_args(argv)
    if not pg_available():
        print("需要本机 PostgreSQL（127.0.0.1:5432）和 Redis（127.0.0.1:6379）", file=sys.stderr)
        return 2
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = [run(r, args.actions, args.concurrency, args.warmup, args.duration) for r in args.replicas]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"scaleout-{stamp}.json"
    path.write_text(json.dumps(results, ensure_ascii=False, indent=1))
    print("| Rasa 副本 | 动作服务 | 并发 | 对话/秒 | 消息/秒 | p50 ms | p95 ms | 错误 |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['rasa_replicas']} | {r['action_servers']} | {r['concurrency']} | {r['conversations_per_s']} | "
              f"{r['messages_per_s']} | {r['p50_ms']} | {r['p95_ms']} | {r['errors']} |")
    print(f"结果：{path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
