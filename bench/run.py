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

import requests
import yaml

from bench import load
from bench.questions import distinct_questions
from bench.servers import ROOT, WORK, moodbot_model, start_govbot, start_moodbot
from bench.load import Turn, single_turns
from bench.stats import MIXED_RUNS, headline_level, markdown_table, ratio, summarise, targets, targets_table

# What ran the e5 transformer (bot.embeddings.encoder.Embedder.backend).
BACKEND_NAMES = {"onnx": "ONNX Runtime", "torchscript": "TorchScript", "eager": "PyTorch"}
GREETINGS = {"govbot": ["您好", "你好"], "moodbot": ["hello", "hi"]}
# The moodbot's own story: greet, unhappy (cheer-up image + question), affirm, goodbye.
MOODBOT_SCRIPT = ["hello", "I am sad", "yes", "bye"]
MOODBOT_MOOD = ["I am sad", "I am feeling very good"]
# The disclosure-application form as a citizen: two untimed turns open it, then every answer inside
# the form is a timed form turn (name, ID type, ID number, phone, description, form, method, email).
FORM_OPENING = [("我要申请政府信息公开", ("第二十九条",)), ("公民", ("姓名",))]
FORM_NAMES = ["张三", "李四", "王五", "赵敏", "陈静", "刘洋", "杨帆", "黄磊", "周明", "吴芳"]
FORM_TURNS = [
    ("{name}", ("证件类型",)),
    ("居民身份证", ("证件号码",)),
    ("11010519491231002X", ("联系电话",)),  # the standard's published sample number
    ("13812345678", ("描述",)),
    ("示例市商务局2020年政务公开工作要点的全文", ("形式",)),
    ("电子", ("方式",)),
    ("电子邮件", ("邮箱",)),
    ("zhangsan@example.com", ("请核对",)),  # the summary; never confirmed, so nothing is filed
]
# How a service-item field question is put, per field (the item's name or alias goes first).
ITEM_FIELD_QUESTIONS = ["要什么材料", "多久能办好", "收费吗", "在哪里办", "需要什么条件", "办理流程是怎样的"]
ITEM_EXPECT = ("【",)  # a field answer opens with 【事项名称（编码）】
# An answer with its source, the honest "not found", or the choice of service items it may be about.
KNOWLEDGE_EXPECT = ("来源：", "没有找到", "您问的是下面哪个事项")
KIND_NAMES = {
    "govbot": ("knowledge", "knowledge_repeat", "service_item", "greeting", "form"),
    "moodbot": ("greeting", "mood"),
}
# Measured sequentially only: the repeated question shows what the query-vector cache buys.
SEQUENTIAL_ONLY = {"knowledge_repeat"}
WARMUP_QUESTIONS = 5  # dev questions spent on warm-up, never timed
SEQUENTIAL_TITLES = {
    "knowledge": "知识问答",
    "knowledge_repeat": "知识问答（重复的问题）",
    "service_item": "办事事项字段",
    "greeting": "问候",
    "form": "表单内一轮（填写申请）",
    "mood": "心情（moodbot 的故事）",
}


def bench_texts(questions: list[str]) -> list[str]:
    """Every other text the bench sends, so the distinct questions never repeat one of them."""
    texts = [*questions, *service_item_questions(), *GREETINGS["govbot"], "谢谢"]
    return texts + [text for text, _ in FORM_OPENING] + [text for text, _ in FORM_TURNS]


def knowledge_questions(limit: int = 200) -> list[str]:
    """Distinct real questions from the retrieval dev set (answerable and not), so no answer is cached."""
    data = yaml.safe_load((ROOT / "tests" / "data" / "retrieval_dev.yml").read_text(encoding="utf-8"))
    questions = [q["q"] for q in data["questions"] if q.get("q")]
    return questions[:limit]


def service_item_questions() -> list[str]:
    """Field questions about the catalogue's items, by name and by alias, interleaved across items."""
    from bot.knowledge.sources import load_service_catalogue

    catalogue = load_service_catalogue(ROOT / "knowledge")
    items = catalogue.items if catalogue else []
    questions = []
    for i, field_question in enumerate(ITEM_FIELD_QUESTIONS):
        for j, item in enumerate(items):
            names = [item.name, *item.aliases]
            questions.append(names[(i + j) % len(names)] + field_question)
    return questions


def govbot_scripts(questions: list[str]) -> list[list[Turn]]:
    """The mixed four-turn conversation: greeting, two knowledge questions, thanks (all timed)."""
    return [
        [Turn("您好"), Turn(a, expect=KNOWLEDGE_EXPECT), Turn(b, expect=KNOWLEDGE_EXPECT), Turn("谢谢")]
        for a, b in zip(questions[0::2], questions[1::2])
    ]


def window_scripts(key: str, bot: str, scripts: list, window: int, windows: int) -> list:
    """The scripts one measurement window plays: with distinct questions each window has its own
    share of this assistant's, so none is asked twice; otherwise all of them."""
    return scripts[window::windows] if key == "concurrent_distinct" and bot == "govbot" else scripts


def form_scripts() -> list[list[Turn]]:
    """Open the disclosure form as a citizen (untimed), then fill it in to the summary (each turn timed)."""
    opening = [Turn(text, measured=False, expect=expect) for text, expect in FORM_OPENING]
    return [
        [*opening, *(Turn(text.format(name=name), expect=expect) for text, expect in FORM_TURNS)]
        for name in FORM_NAMES
    ]


def message_kinds(questions: list[str]) -> dict[str, dict[str, list[list[Turn]]]]:
    """Per bot, per message kind: the scripts to replay (each script is one new conversation)."""
    return {
        "govbot": {
            "knowledge": single_turns(questions[WARMUP_QUESTIONS:], KNOWLEDGE_EXPECT),
            # The warm-up questions again: what a popular question or a kiosk button costs.
            "knowledge_repeat": single_turns(questions[:WARMUP_QUESTIONS], KNOWLEDGE_EXPECT),
            "service_item": single_turns(service_item_questions(), ITEM_EXPECT),
            "greeting": single_turns(GREETINGS["govbot"]),
            "form": form_scripts(),
        },
        "moodbot": {
            "greeting": single_turns(GREETINGS["moodbot"]),
            "mood": single_turns(MOODBOT_MOOD),
        },
    }


def warmup_scripts(bot: str, kind: str, scripts: list[list[Turn]], questions: list[str]) -> list[list[Turn]]:
    """Warm-up for a kind; knowledge questions used here are never timed later."""
    if bot == "govbot" and kind == "knowledge":
        return single_turns(questions[:WARMUP_QUESTIONS], KNOWLEDGE_EXPECT)
    return scripts


@dataclass
class Options:
    model: Path
    out: Path
    sequential_n: int = 15
    rounds: int = 4
    levels: tuple[int, ...] = (1, 20, 50)  # the mixed conversation, both bots
    kind_levels: tuple[int, ...] = (20, 50)  # each message kind on its own
    duration: float = 6.0
    warmup: float = 1.5
    retrieval: bool = True
    env: dict | None = None
    headline_windows: int = 3  # measurement windows per bot at the headline level of each mixed run

    def windows(self, level: int) -> int:
        """Measurement windows per bot of a mixed run at `level`."""
        return max(1, self.headline_windows) if level == headline_level(self.levels) else 1

    def mixed_levels(self) -> dict[str, tuple[int, ...]]:
        """Per mixed run (see `stats.MIXED_RUNS`), its concurrency levels: distinct questions at the headline level."""
        return {"concurrent": self.levels, "concurrent_distinct": (headline_level(self.levels),)}

    def steps(self) -> int:
        """Progress steps of `run` (for the progress bar)."""
        kinds = sum(len(k) for k in KIND_NAMES.values())
        concurrent_kinds = kinds - len(SEQUENTIAL_ONLY)
        mixed = sum(self.windows(level) for levels in self.mixed_levels().values() for level in levels)
        return self.rounds * kinds + 2 * mixed + concurrent_kinds * len(self.kind_levels) + int(self.retrieval)


def _loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _cache_counts(stack) -> tuple[int, int] | None:
    """(hits, misses) of the action server's query-vector cache so far; None when it does not say."""
    if not getattr(stack, "metrics_url", None):
        return None
    try:
        info = requests.get(stack.metrics_url, timeout=10).json().get("query_cache")
    except (requests.RequestException, ValueError):
        return None
    return (info["hits"], info["misses"]) if info else None


class _CacheMeter:
    """Query-cache hits and misses of the govbot stack per measurement, so a cached answer is never
    passed off as a cold one (the hit rate goes into each measurement's `extra`)."""

    def __init__(self, stack) -> None:
        self.stack = stack
        self.totals: dict = {}

    def measure(self, key, function):
        before = _cache_counts(self.stack)
        result = function()
        after = _cache_counts(self.stack)
        if before and after:
            hits, misses = self.totals.get(key, (0, 0))
            self.totals[key] = (hits + after[0] - before[0], misses + after[1] - before[1])
        return result

    def annotate(self, key, summary: dict) -> dict:
        hits, misses = self.totals.get(key, (0, 0))
        if hits + misses:
            summary["extra"]["query_cache"] = {"hits": hits, "misses": misses, "hit_rate": round(hits / (hits + misses), 3)}
        return summary


def _summary(label: str, samples: load.Samples, concurrency: int = 1, title: str | None = None) -> dict:
    summary = summarise(label, samples.latencies, samples.errors, samples.seconds, concurrency)
    if title:
        summary.extra["title"] = title
    summary.extra["loadavg"] = _loadavg()
    if samples.seconds:
        summary.extra["turns_per_second"] = round(samples.turns / samples.seconds, 2)
    if samples.error_examples:
        summary.extra["error_examples"] = samples.error_examples
    return summary.as_dict()


def run(options: Options, progress: Callable[[str], None] = lambda step: None, echo=print) -> dict:
    """Runs everything and returns the results dict (also written by `write_results`)."""
    moodbot_path, moodbot_info = moodbot_model(WORK, echo)
    logs = WORK / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    questions = knowledge_questions()
    kinds = message_kinds(questions)
    distinct = distinct_questions(ROOT / "knowledge", exclude=bench_texts(questions))
    results: dict = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "loadavg_start": _loadavg()},
        "settings": {
            "sequential_n_per_kind": options.sequential_n * options.rounds,
            "levels": list(options.levels),
            "kind_levels": list(options.kind_levels),
            "seconds_per_level": options.duration,
            "headline_windows": options.headline_windows,
            "warmup_seconds": options.warmup,
            "govbot_model": str(options.model),
            "env": options.env or {},
            "distinct_questions": len(distinct),
        },
        "bots": {
            bot: {"sequential": {}, **{key: {} for key in MIXED_RUNS}, "concurrent_by_kind": {}}
            for bot in ("moodbot", "govbot")
        },
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
        # Warm-up: first messages load lazily initialised parts (TF graphs, jieba, spaCy).
        for bot, bot_kinds in kinds.items():
            for kind, scripts in bot_kinds.items():
                asyncio.run(load.sequential(url[bot], warmup_scripts(bot, kind, scripts, questions), 5))
        samples: dict = {bot: {kind: load.Samples() for kind in bot_kinds} for bot, bot_kinds in kinds.items()}
        meter = _CacheMeter(stacks["govbot"])
        offsets: dict = {}
        for round_ in range(options.rounds):
            for bot, bot_kinds in kinds.items():
                for kind, scripts in bot_kinds.items():
                    progress(f"顺序 {bot} {kind} {round_ + 1}/{options.rounds}")
                    # Each round starts where the last stopped: distinct questions while they last.
                    start = offsets.get((bot, kind), 0)
                    batch = list(scripts[start:]) + list(scripts[:start])
                    offsets[(bot, kind)] = (start + options.sequential_n) % len(scripts)
                    got = meter.measure(("sequential", bot, kind),
                                        lambda: asyncio.run(load.sequential(url[bot], batch, options.sequential_n)))
                    samples[bot][kind].add(got)
        for bot, bot_kinds in samples.items():
            for kind, s in bot_kinds.items():
                results["bots"][bot]["sequential"][kind] = meter.annotate(
                    ("sequential", bot, kind), _summary(kind, s, title=SEQUENTIAL_TITLES.get(kind, kind))
                )
        moodbot_script = [[Turn(m) for m in MOODBOT_SCRIPT]]
        # The same conversation twice: first with the dev questions (cached after their first
        # round), then at the headline level with questions never asked before (the cache stays cold).
        mixed_questions = {"concurrent": questions, "concurrent_distinct": distinct}
        for key, levels in options.mixed_levels().items():
            scripts = {"govbot": govbot_scripts(mixed_questions[key]), "moodbot": moodbot_script}
            for i, level in enumerate(levels):
                # The headline level is measured in several windows, the two bots taking turns, so a
                # passing disturbance of the machine weighs on both ratios' sides alike.
                windows = options.windows(level)
                merged = {bot: load.Samples() for bot in scripts}
                for window in range(windows):
                    order = ["moodbot", "govbot"] if (i + window) % 2 == 0 else ["govbot", "moodbot"]
                    for bot in order:
                        progress(f"并发 {bot} × {level}{MIXED_RUNS[key]}")
                        played = window_scripts(key, bot, scripts[bot], window, windows)
                        merged[bot].add(meter.measure((key, bot, level), lambda: asyncio.run(
                            load.concurrent(url[bot], played, level, options.duration, options.warmup))))
                for bot, got in merged.items():
                    results["bots"][bot][key][str(level)] = meter.annotate(
                        (key, bot, level), _summary(f"c{level}", got, level))
        for level in options.kind_levels:
            for bot, bot_kinds in kinds.items():
                for kind, scripts in bot_kinds.items():
                    if kind in SEQUENTIAL_ONLY:
                        continue
                    progress(f"并发 {bot} {kind} × {level}")
                    key = ("kind", bot, kind, level)
                    got = meter.measure(key, lambda: asyncio.run(
                        load.concurrent(url[bot], scripts, level, options.duration, options.warmup)))
                    results["bots"][bot]["concurrent_by_kind"].setdefault(kind, {})[str(level)] = meter.annotate(
                        key, _summary(f"{kind}-c{level}", got, level, SEQUENTIAL_TITLES.get(kind, kind))
                    )
        for bot, stack in stacks.items():
            results["bots"][bot]["peak_rss_mb"] = stack.memory()
    finally:
        for stack in stacks.values():
            stack.stop()
    results["bots"]["moodbot"]["model"] = {"train_seconds": moodbot_info.get("train_seconds"), "model_mb": moodbot_info.get("model_mb")}
    results["bots"]["govbot"]["model"] = {"model_mb": round(options.model.stat().st_size / 2**20, 2)}
    if options.retrieval:
        progress("检索与建索引（进程内）")
        results["retrieval"] = retrieval_timing(questions)
        results["index_build"] = index_build_timing()
    results["machine"]["loadavg_end"] = _loadavg()
    results["ratios"] = ratios(results)
    results["ratios_distinct"] = ratios(results, "concurrent_distinct")
    results["targets"] = targets(results)
    return results


def retrieval_timing(questions: list[str]) -> dict:
    """Retrieval alone, in this process: query embedding and full search, per question (ms)."""
    from bot.embeddings.encoder import QUERY_CACHE_ENV
    from bot.knowledge.service import KnowledgeService

    # Without the query-vector cache: every search below embeds its question (cold figures).
    saved = os.environ.get(QUERY_CACHE_ENV)
    os.environ[QUERY_CACHE_ENV] = "0"
    try:
        service = KnowledgeService()
        service.build()
        embedder = service.embedder
    finally:
        if saved is None:
            os.environ.pop(QUERY_CACHE_ENV, None)
        else:
            os.environ[QUERY_CACHE_ENV] = saved
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
    return {
        "embed_query": summarise("embed_query", embed_s).as_dict(),
        "search": summarise("search", search_s).as_dict(),
        "backend": embedder.backend,
        "torch_threads": embedder.torch_threads,
    }


def index_build_timing() -> dict:
    """A full build of today's knowledge base, in this process, into an empty index directory: every
    passage, phrasing and generated phrasing embedded (model loading and its graph not timed)."""
    import tempfile
    from dataclasses import replace

    from bot.knowledge.service import KnowledgeService
    from bot.settings import Settings

    settings = Settings.from_env()
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        cache = Path(tmp)
        if not settings.embedding_model:  # the prepared default model, not a second export
            settings.models_dir.mkdir(parents=True, exist_ok=True)
            (cache / "models").symlink_to(settings.models_dir.resolve(), target_is_directory=True)
        service = KnowledgeService(replace(settings, cache_dir=cache))
        embedder = service.embedder
        embedder.prepare_queries()
        cpu = time.process_time()
        stats = service.build()
        cpu = time.process_time() - cpu
    seconds = stats["seconds"]
    return {
        "passages": stats["passages"],
        "phrasings": stats["questions"],
        "seconds": seconds,
        "cpu_seconds": round(cpu, 1),
        "passages_per_second": round(stats["passages"] / seconds, 1) if seconds else None,
        "backend": embedder.backend,
        "workers": embedder.index_workers,
        "loadavg": _loadavg(),
    }


def ratios(results: dict, key: str = "concurrent") -> dict:
    """Per level of one mixed run (`stats.MIXED_RUNS`): this assistant's throughput and p95 over the moodbot's."""
    bots = results["bots"]
    out = {}
    for level in bots["govbot"].get(key, {}):
        ours, theirs = bots["govbot"][key][level], bots["moodbot"].get(key, {}).get(level)
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
        "混合对话：本助手每个发送者走「问候 → 两个知识问题 → 感谢」，moodbot 走它自己的「问候 → 难过 → 是 → 再见」；"
        "知识问题取自检索开发集（前一轮问过的会再问，由查询缓存作答）；「问题不重复」一行的知识问题由 knowledge/ 的内容生成"
        f"（共 {results.get('settings', {}).get('distinct_questions', '—')} 个，整个基准中每个只问一次）；"
        "单独的消息类型每个脚本都是新对话；表单内一轮：先以「我要申请政府信息公开」「公民」开启申请表（不计时，但算在服务器负载里），再逐轮填写姓名、证件类型、证件号码、电话、描述、形式、方式、邮箱直到汇总（每轮计时，不提交）。",
        "",
        targets_table(results.get("targets") or targets(results)),
    ]
    env = results.get("settings", {}).get("env") or {}
    if env:
        lines.insert(1, "本助手的额外环境变量：" + "，".join(f"`{k}={v}`" for k, v in sorted(env.items())) + "。")
    rates = []
    for bot, data in results["bots"].items():
        rows = [(f"顺序 · {s.get('extra', {}).get('title', k)}", s) for k, s in data.get("sequential", {}).items()]
        rows += [(f"混合对话{suffix} × {level}", s)
                 for key, suffix in MIXED_RUNS.items() for level, s in data.get(key, {}).items()]
        rows += [(f"{s.get('extra', {}).get('title', k)} × {level}", s)
                 for k, per_level in data.get("concurrent_by_kind", {}).items() for level, s in per_level.items()]
        rates += [f"{label} {s['extra']['query_cache']['hit_rate']:.0%}" for label, s in rows
                  if s.get("extra", {}).get("query_cache")]
    if rates:
        lines.append("查询向量缓存命中率（动作服务 /metrics；顺序知识问答和问题不重复的混合对话问的都是此前没问过的问题，应接近 0%）：" + "，".join(rates) + "。\n")
    retrieval = results.get("retrieval")
    if retrieval:
        lines.append(
            f"检索（进程内，{retrieval['search']['n']} 个问题，不用查询缓存）：查询嵌入 p50 {retrieval['embed_query']['p50']:.0f} ms，"
            f"完整检索 p50 {retrieval['search']['p50']:.0f} ms / p95 {retrieval['search']['p95']:.0f} ms"
            f"（{BACKEND_NAMES.get(retrieval.get('backend'), retrieval.get('backend', '—'))}，{retrieval['torch_threads']} 线程）。\n"
        )
    build = results.get("index_build")
    if build:
        lines.append(
            f"完整建索引（进程内，空索引目录）：{build['passages']} 个段落、{build['phrasings']} 条问法，用时 {build['seconds']} 秒"
            f"（CPU {build['cpu_seconds']} 秒，负载 {build.get('loadavg')}），{build['passages_per_second']} 段/秒"
            f"（{BACKEND_NAMES.get(build.get('backend'), build.get('backend', '—'))}，{build['workers']} 路并行）。\n"
        )
    memory = []
    for bot, data in results["bots"].items():
        rss = ", ".join(f"{name} {mb:.0f} MiB" for name, mb in (data.get("peak_rss_mb") or {}).items() if mb)
        model = data.get("model") or {}
        extra = f"，训练 {model['train_seconds']} 秒" if model.get("train_seconds") else ""
        memory.append(f"- {bot}：峰值内存 {rss or '—'}；模型 {model.get('model_mb', '—')} MB{extra}")
    lines += ["", *memory, ""]
    return "\n".join(lines)
