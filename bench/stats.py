"""Latency and throughput statistics, and the Markdown table (pure functions, unit-tested)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Iterable, Sequence

PERCENTILES = (50, 95, 99)
# The mixed conversation's runs, as keyed in results["bots"][bot], with how a table labels each:
# the dev questions (repeated, so mostly answered from the query cache), and questions never repeated.
MIXED_RUNS = {"concurrent": "", "concurrent_distinct": "（问题不重复）"}
DISTINCT_LABEL = "distinct questions"


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method), NaN for no values."""
    if not values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


@dataclass
class Summary:
    """What one measurement (a message kind, or a concurrency level) amounts to; times in ms."""

    label: str
    n: int
    errors: int
    p50: float
    p95: float
    p99: float
    mean: float
    seconds: float = 0.0
    concurrency: int = 1
    throughput: float = 0.0  # successful messages per second
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def summarise(
    label: str, latencies_s: Iterable[float], errors: int = 0, seconds: float = 0.0, concurrency: int = 1
) -> Summary:
    """Latencies in seconds in, milliseconds out; throughput counts successful messages only."""
    ms = [x * 1000.0 for x in latencies_s]
    p50, p95, p99 = (percentile(ms, q) for q in PERCENTILES)
    mean = sum(ms) / len(ms) if ms else math.nan
    throughput = len(ms) / seconds if seconds > 0 else 0.0
    return Summary(label, len(ms), errors, p50, p95, p99, mean, seconds, concurrency, throughput)


def ratio(ours: float, theirs: float) -> float:
    """ours / theirs, NaN when either is missing or theirs is zero."""
    if theirs is None or ours is None or not theirs or math.isnan(theirs) or math.isnan(ours):
        return math.nan
    return ours / theirs


def headline_level(levels) -> int:
    """The concurrency the closing lines report: 20 senders when measured, else the most."""
    return 20 if 20 in levels else max(levels)


def ratio_line(ratio_value: float, concurrency: int = 20, run: str | None = None) -> str:
    """A closing line of `make bench` (scripts read them); `run` names a variant of the mixed run."""
    variant = f", {run}" if run else ""
    return f"throughput ratio at {concurrency} concurrent vs moodbot{variant}: {ratio_value:.2f}"


def index_rate_line(passages_per_second: float | None) -> str:
    """The closing line with the rate of a full index build (issue 15), before the ratio lines."""
    value = math.nan if passages_per_second is None else passages_per_second
    return f"index build passages per second: {value:.1f}"


def closing_lines(results: dict, level: int) -> list[str]:
    """The last lines of `make bench`, which scripts read: the index build rate, the ratio with
    distinct questions, and the ratio with repeated questions last of all."""
    distinct = results.get("ratios_distinct", {}).get(str(level), {}).get("throughput", math.nan)
    repeated = results.get("ratios", {}).get(str(level), {}).get("throughput", math.nan)
    return [
        index_rate_line((results.get("index_build") or {}).get("passages_per_second")),
        ratio_line(distinct, level, DISTINCT_LABEL),
        ratio_line(repeated, level),
    ]


def _ms(value: float) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.0f}"


def markdown_table(results: dict) -> str:
    """Markdown tables of a results dict as `bench.run` writes it (Chinese headers for the README)."""
    bots = results["bots"]
    names = {"govbot": "本助手", "moodbot": "moodbot（Rasa 示例）"}
    lines = [
        "| 测量 | 对象 | n | p50 ms | p95 ms | p99 ms | 错误 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for bot, data in bots.items():
        for kind, s in data.get("sequential", {}).items():
            lines.append(
                f"| 顺序 · {s.get('extra', {}).get('title', kind)} | {names.get(bot, bot)} | {s['n']} | "
                f"{_ms(s['p50'])} | {_ms(s['p95'])} | {_ms(s['p99'])} | {s['errors']} |"
            )
    lines += [
        "",
        "| 并发发送者（混合对话） | 对象 | 消息/秒 | p50 ms | p95 ms | n | 错误 | 吞吐比（本助手/moodbot） |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, suffix in MIXED_RUNS.items():
        levels = sorted({int(c) for data in bots.values() for c in data.get(key, {})})
        for level in levels:
            ours = bots.get("govbot", {}).get(key, {}).get(str(level))
            theirs = bots.get("moodbot", {}).get(key, {}).get(str(level))
            for bot in bots:
                s = bots[bot].get(key, {}).get(str(level))
                if s is None:
                    continue
                r = ""
                if bot == "govbot" and ours and theirs:
                    r = f"{ratio(ours['throughput'], theirs['throughput']):.2f}"
                lines.append(
                    f"| {level}{suffix} | {names.get(bot, bot)} | {s['throughput']:.1f} | {_ms(s['p50'])} | "
                    f"{_ms(s['p95'])} | {s['n']} | {s['errors']} | {r} |"
                )
    by_kind = [(bot, kind, level, s) for bot, data in bots.items()
               for kind, per_level in data.get("concurrent_by_kind", {}).items() for level, s in per_level.items()]
    if by_kind:
        lines += [
            "",
            "| 消息类型（单独） | 并发发送者 | 对象 | 消息/秒 | p50 ms | p95 ms | n | 错误 |",
            "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for bot, kind, level, s in sorted(by_kind, key=lambda row: (int(row[2]), row[0] != "moodbot")):
            title = s.get("extra", {}).get("title", kind)
            lines.append(
                f"| {title} | {level} | {names.get(bot, bot)} | {s['throughput']:.1f} | {_ms(s['p50'])} | "
                f"{_ms(s['p95'])} | {s['n']} | {s['errors']} |"
            )
    return "\n".join(lines) + "\n"


# Issue 7's targets: sequential knowledge latency, and the mixed conversation at 20 senders vs the moodbot;
# issue 14's floor for the mixed conversation whose questions are never repeated (its goal is 2.0).
KNOWLEDGE_P50_MS = 60.0
KNOWLEDGE_P95_MS = 150.0
THROUGHPUT_RATIO = 1.5
DISTINCT_THROUGHPUT_RATIO = 1.4


def targets(results: dict, level: int = 20) -> list[dict]:
    """Each target with the measured value and whether it was met (NaN when not measured: not met)."""
    bots = results["bots"]
    knowledge = bots.get("govbot", {}).get("sequential", {}).get("knowledge", {})
    ours = bots.get("govbot", {}).get("concurrent", {}).get(str(level), {})
    theirs = bots.get("moodbot", {}).get("concurrent", {}).get(str(level), {})
    ours_distinct = bots.get("govbot", {}).get("concurrent_distinct", {}).get(str(level), {})
    theirs_distinct = bots.get("moodbot", {}).get("concurrent_distinct", {}).get(str(level), {})
    nan = math.nan
    rows = [
        ("知识问答顺序 p50 ms", knowledge.get("p50", nan), KNOWLEDGE_P50_MS, "<="),
        ("知识问答顺序 p95 ms", knowledge.get("p95", nan), KNOWLEDGE_P95_MS, "<="),
        (f"{level} 并发吞吐比（本助手/moodbot）", ratio(ours.get("throughput", nan), theirs.get("throughput", nan)),
         THROUGHPUT_RATIO, ">="),
        (f"{level} 并发 p95 ms（不高于 moodbot）", ours.get("p95", nan), theirs.get("p95", nan), "<="),
        (f"{level} 并发吞吐比（问题不重复）",
         ratio(ours_distinct.get("throughput", nan), theirs_distinct.get("throughput", nan)), DISTINCT_THROUGHPUT_RATIO, ">="),
    ]
    out = []
    for label, value, target, op in rows:
        known = not (value is None or target is None or math.isnan(value) or math.isnan(target))
        met = known and (value <= target if op == "<=" else value >= target)
        out.append({"target": label, "value": value, "limit": target, "op": op, "met": met})
    return out


def targets_table(rows: list[dict]) -> str:
    def fmt(v: float) -> str:
        return "—" if v is None or math.isnan(v) else (f"{v:.2f}" if abs(v) < 10 else f"{v:.0f}")

    lines = ["| 目标 | 实测 | 要求 | 达到 |", "| --- | ---: | ---: | --- |"]
    for r in rows:
        lines.append(f"| {r['target']} | {fmt(r['value'])} | {r['op']} {fmt(r['limit'])} | {'是' if r['met'] else '否'} |")
    return "\n".join(lines) + "\n"
