"""PNG charts of a benchmark run (matplotlib, Agg; ASCII labels, the machine may lack CJK fonts)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"govbot": "#08519c", "moodbot": "#fd8d3c"}
# One line style per message kind measured on its own (the mixed conversation is solid).
KIND_STYLES = {"knowledge": "--", "service_item": "-.", "greeting": ":", "form": (0, (5, 1, 1, 1)), "mood": "--"}


def latency_chart(results: dict, path: Path) -> Path:
    """Sequential p50/p95/p99 per message kind, one group of bars per (bot, kind)."""
    groups = [
        (f"{bot}\n{kind}", s)
        for bot, data in results["bots"].items()
        for kind, s in data.get("sequential", {}).items()
    ]
    fig, ax = plt.subplots(figsize=(max(8, 1.4 * len(groups)), 4))
    width = 0.25
    for offset, (q, shade) in enumerate((("p50", 1.0), ("p95", 0.7), ("p99", 0.45))):
        xs = [i + (offset - 1) * width for i in range(len(groups))]
        ax.bar(xs, [s[q] for _, s in groups], width, label=q, alpha=shade, color="#3182bd")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([label for label, _ in groups], fontsize=8)
    ax.set_ylabel("ms")
    ax.set_title("Sequential latency through the REST channel")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def throughput_chart(results: dict, path: Path) -> Path:
    """Messages/s and p95 latency against concurrent senders: the mixed conversation (solid; diamond: its
    run with distinct questions) and each kind alone."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for bot, data in results["bots"].items():
        series = [(f"{bot} mixed", "-", "o", data.get("concurrent", {})),
                  (f"{bot} mixed, distinct questions", "-", "D", data.get("concurrent_distinct", {}))]
        series += [
            (f"{bot} {kind}", KIND_STYLES.get(kind, "--"), "o", per_level)
            for kind, per_level in data.get("concurrent_by_kind", {}).items()
        ]
        for label, style, marker, per_level in series:
            levels = sorted(int(c) for c in per_level)
            if not levels:
                continue
            points = [per_level[str(c)] for c in levels]
            common = dict(marker=marker, markersize=3 if marker == "o" else 5, color=COLOURS.get(bot),
                          linestyle=style, label=label)
            left.plot(levels, [p["throughput"] for p in points], **common)
            right.plot(levels, [p["p95"] for p in points], **common)
    left.set_title("Throughput")
    left.set_xlabel("concurrent senders")
    left.set_ylabel("timed messages / s")
    right.set_title("p95 latency")
    right.set_xlabel("concurrent senders")
    right.set_ylabel("ms")
    for ax in (left, right):
        ax.grid(alpha=0.3)
    right.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
