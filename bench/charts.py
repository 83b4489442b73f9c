"""PNG charts of a benchmark run (matplotlib, Agg; ASCII labels, the machine may lack CJK fonts)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"govbot": "#08519c", "moodbot": "#fd8d3c"}


def latency_chart(results: dict, path: Path) -> Path:
    """Sequential p50/p95/p99 per message kind, one group of bars per (bot, kind)."""
    groups = [
        (f"{bot}\n{kind}", s)
        for bot, data in results["bots"].items()
        for kind, s in data.get("sequential", {}).items()
    ]
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.25
    for offset, (q, shade) in enumerate((("p50", 1.0), ("p95", 0.7), ("p99", 0.45))):
        xs = [i + (offset - 1) * width for i in range(len(groups))]
        ax.bar(xs, [s[q] for _, s in groups], width, label=q, alpha=shade, color="#3182bd")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([label for label, _ in groups])
    ax.set_ylabel("ms")
    ax.set_title("Sequential latency through the REST channel")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def throughput_chart(results: dict, path: Path) -> Path:
    """Messages/s and p95 latency against the number of concurrent senders."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
    for bot, data in results["bots"].items():
        levels = sorted(int(c) for c in data.get("concurrent", {}))
        points = [data["concurrent"][str(c)] for c in levels]
        left.plot(levels, [p["throughput"] for p in points], marker="o", color=COLOURS.get(bot), label=bot)
        right.plot(levels, [p["p95"] for p in points], marker="o", color=COLOURS.get(bot), label=bot)
    left.set_title("Throughput")
    left.set_xlabel("concurrent senders")
    left.set_ylabel("messages / s")
    right.set_title("p95 latency")
    right.set_xlabel("concurrent senders")
    right.set_ylabel("ms")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
