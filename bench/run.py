"""One benchmark run: the moodbot and this assistant side by side, same load generator, same minute.

Measurements are interleaved (a block of one system, then a block of the other) so that load from
other work on the machine falls on both alike; results are reported as ratios as well.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
from concurrent.futures import ThreadPoolExecutor
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import yaml

from bench import load
from bench.servers import ROOT, WORK, moodbot_model, start_govbot, start_moodbot
from bench.stats import markdown_table, ratio, summarise

GREETINGS = {"govbot": ["您好", "你好"], "moodbot": ["hello", "hi"]}
# The moodbot's own story: greet, unhappy (cheer-up image + question), affirm, goodbye.
MOODBOT_SCRIPT = ["hello", "I am sad", "yes", "bye"]
MOODBOT_MOOD = ["I am sad", "I am feeling very good"]
SEQUENTIAL_TITLES = {"knowledge": "知识问答", "greeting": "问候", "mood": "心情（moodbot 的故事）"}


def knowledge_questions(limit: int = 200) -> list[str]:
    """Distinct real questions from the retrieval dev set (answerable and not), so no answer is cached."""
    data = yaml.safe_load((ROOT / "tests" / "data" / "retrieval_dev.yml").read_text(encoding="utf-8"))
    questions = [q["q"] for q in data["questions"] if q.get("q")]
    return questions[:limit]


def govbot_scripts(questions: list[str], senders: int) -> list[list[str]]:
    """A four-turn conversation per sender: greeting, two knowledge questions, thanks."""
    scripts = []
    for i in range(max(senders, 1)):
        a, b = questions[(2 * i) % len(questions)], questions[(2 * i + 1) % len(questions)]
        scripts.append(["您好", a, b, "谢谢"])
    return scripts


@dataclass
class Options:
    model: Path
    out: Path
    sequential_n: int = 40
    rounds: int = 4
    levels: tuple[int, ...] = (1, 5, 10, 20)
    duration: float = 8.0
    retrieval: bool = True
    env: dict | None = None


def _loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def run(options: Options, progress: Callable[[str], None] = lambda step: None, echo=print) -> dict:
    """Runs everything and returns the results dict (also written by `write_results`)."""
    moodbot_path, moodbot_info = moodbot_model(WORK, echo)
    logs = WORK / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    questions = knowledge_questions()
    results: dict = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg_start": _loadavg()},
        "settings": {
            "sequential_n_per_kind": options.sequential_n * options.rounds,
            "levels": list(options.levels),
            "seconds_per_level": options.duration,
            "govbot_model": str(options.model),
            "env": options.env or {},
        },
        "bots": {"moodbot": {"sequential": {}, "concurrent": {}}, "govbot": {"sequential": {}, "concurrent": {}}},
    }
    stacks = {}
    try:
        echo("启动 moodbot 与本助手……")
        # Started side by side: loading TensorFlow takes a minute or two on a busy machine.
        with ThreadPoolExecutor(2) as pool:
            futures = {
                "moodbot": pool.submit(start_moodbot, moodbot_path, logs),
                "govbot": pool.submit(start_govbot, options.model, logs, WORK / "state", options.env),
            }
            for name, future in futures.items():
                try:
                    stacks[name] = future.result()
                except Exception:
                    for other in futures.values():
                        if other.done() and other.exception() is None:
                            other.result().stop()
                    raise
        url = {name: stack.url for name, stack in stacks.items()}
        kinds = {
            "govbot": {"knowledge": questions, "greeting": GREETINGS["govbot"]},
            "moodbot": {"greeting": GREETINGS["moodbot"], "mood": MOODBOT_MOOD},
        }
        # Warm-up: first messages load lazily initialised parts (TF graphs, jieba, spaCy).
        for bot, bot_kinds in kinds.items():
            for messages in bot_kinds.values():
                asyncio.run(load.sequential(url[bot], messages, 5))
        samples: dict = {bot: {kind: load.Samples() for kind in bot_kinds} for bot, bot_kinds in kinds.items()}
        offsets: dict = {}
        for round_ in range(options.rounds):
            for bot, bot_kinds in kinds.items():
                for kind, messages in bot_kinds.items():
                    progress(f"顺序 {bot} {kind} {round_ + 1}/{options.rounds}")
                    start = offsets.get((bot, kind), 0)
                    batch = list(messages[start:]) + list(messages[:start])
                    offsets[(bot, kind)] = (start + options.sequential_n) % len(messages)
                    got = asyncio.run(load.sequential(url[bot], batch, options.sequential_n))
                    total = samples[bot][kind]
                    total.latencies += got.latencies
                    total.errors += got.errors
                    total.seconds += got.seconds
        for bot, bot_kinds in samples.items():
            for kind, s in bot_kinds.items():
                summary = summarise(kind, s.latencies, s.errors, s.seconds)
                summary.extra["title"] = SEQUENTIAL_TITLES.get(kind, kind)
                results["bots"][bot]["sequential"][kind] = summary.as_dict()
        for i, level in enumerate(options.levels):
            order = ["moodbot", "govbot"] if i % 2 == 0 else ["govbot", "moodbot"]
            for bot in order:
                progress(f"并发 {bot} × {level}")
                scripts = govbot_scripts(questions, level) if bot == "govbot" else [MOODBOT_SCRIPT]
                got = asyncio.run(load.concurrent(url[bot], scripts, level, options.duration))
                results["bots"][bot]["concurrent"][str(level)] = summarise(
                    f"c{level}", got.latencies, got.errors, got.seconds, level
                ).as_dict()
        for bot, stack in stacks.items():
            results["bots"][bot]["peak_rss_mb"] = stack.memory()
    finally:
        for stack in stacks.values():
            stack.stop()
    results["bots"]["moodbot"]["model"] = {"train_seconds": moodbot_info.get("train_seconds"), "model_mb": moodbot_info.get("model_mb")}
    results["bots"]["govbot"]["model"] = {"model_mb": round(options.model.stat().st_size / 2**20, 2)}
    if options.retrieval:
        progress("检索（进程内）")
        results["retrieval"] = retrieval_timing(questions)
    results["machine"]["loadavg_end"] = _loadavg()
    results["ratios"] = ratios(results)
    return results


def retrieval_timing(questions: list[str]) -> dict:
    """Retrieval alone, in this process: query embedding and full search, per question (ms)."""
    from bot.service import KnowledgeService

    service = KnowledgeService()
    service.build()
    embedder = service.embedder
    for q in questions[:5]:
        service.search(q)
    embed_s, search_s = [], []
    for q in questions[:100]:
        start = time.perf_counter()
        embedder.embed_queries([q])
        embed_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        service.search(q)
        search_s.append(time.perf_counter() - start)
    passages = [p.text for p in service.retriever.index.passages[:64]]
    start = time.perf_counter()
    embedder.embed_passages(passages)
    index_rate = len(passages) / (time.perf_counter() - start)
    return {
        "embed_query": summarise("embed_query", embed_s).as_dict(),
        "search": summarise("search", search_s).as_dict(),
        "passages_per_second": round(index_rate, 1),
        "torch_threads": embedder.torch_threads,
    }


def ratios(results: dict) -> dict:
    bots = results["bots"]
    out = {}
    for level in bots["govbot"]["concurrent"]:
        ours, theirs = bots["govbot"]["concurrent"][level], bots["moodbot"]["concurrent"].get(level)
        if theirs:
            out[level] = {
                "throughput": ratio(ours["throughput"], theirs["throughput"]),
                "p95": ratio(ours["p95"], theirs["p95"]),
            }
    return out


def write_results(results: dict, out: Path) -> dict[str, Path]:
    """results.json, results.md and the two charts in `out` (overwritten each run)."""
    from bench.charts import latency_chart, throughput_chart

    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "md": out / "results.md"}
    paths["json"].write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    paths["md"].write_text(markdown_report(results), encoding="utf-8")
    paths["latency"] = latency_chart(results, out / "latency.png")
    paths["throughput"] = throughput_chart(results, out / "throughput.png")
    return paths


def markdown_report(results: dict) -> str:
    machine = results["machine"]
    lines = [
        f"基准测试 {results['started']}，{machine['cpus']} 核，"
        f"负载（1/5/15 分钟）开始 {machine.get('loadavg_start')}、结束 {machine.get('loadavg_end')}。",
        "",
        markdown_table(results),
    ]
    env = results.get("settings", {}).get("env") or {}
    if env:
        lines.insert(1, "本助手的额外环境变量：" + "，".join(f"`{k}={v}`" for k, v in sorted(env.items())) + "。")
    retrieval = results.get("retrieval")
    if retrieval:
        lines.append(
            f"检索（进程内，{retrieval['search']['n']} 个问题）：查询嵌入 p50 {retrieval['embed_query']['p50']:.0f} ms，"
            f"完整检索 p50 {retrieval['search']['p50']:.0f} ms / p95 {retrieval['search']['p95']:.0f} ms；"
            f"建索引 {retrieval['passages_per_second']} 段/秒（PyTorch {retrieval['torch_threads']} 线程）。\n"
        )
    memory = []
    for bot, data in results["bots"].items():
        rss = ", ".join(f"{name} {mb:.0f} MiB" for name, mb in (data.get("peak_rss_mb") or {}).items() if mb)
        model = data.get("model") or {}
        extra = f"，训练 {model['train_seconds']} 秒" if model.get("train_seconds") else ""
        memory.append(f"- {bot}：峰值内存 {rss or '—'}；模型 {model.get('model_mb', '—')} MB{extra}")
    lines += ["", *memory, ""]
    return "\n".join(lines)
