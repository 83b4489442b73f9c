"""Writing the staff report: an HTML page, PNG charts and CSV files for one period."""

from __future__ import annotations

import csv
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.analytics.metrics import CHANNEL_LABELS, KIND_LABELS, REASONS, Stats
from bot.analytics.themes import Theme
from bot.privacy.validation import redact

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"
TOP = 15

INTENT_LABELS = {
    "ask_knowledge": "咨询问题",
    "greet": "问候",
    "goodbye": "告别",
    "thank": "感谢",
    "bot_challenge": "问是不是机器人",
    "ask_capabilities": "问能做什么",
    "affirm": "肯定",
    "deny": "否定",
    "out_of_scope": "超出范围",
    "apply_disclosure": "申请政府信息公开",
    "file_complaint": "投诉建议",
    "check_status": "查询进度",
    "request_human": "转人工",
    "cancel_request": "取消",
    "confirm_request": "确认提交",
    "correct_request": "修改",
    "feedback_helpful": "👍 有帮助",
    "feedback_unhelpful": "👎 没帮助",
    "nlu_fallback": "未能识别",
}


@dataclass
class Names:
    """Titles of documents and names of service items, for display."""

    documents: dict = field(default_factory=dict)
    items: dict = field(default_factory=dict)

    @classmethod
    def from_knowledge(cls, knowledge_dir: Path) -> "Names":
        from bot.knowledge.sources import load_knowledge, load_service_catalogue

        names = cls()
        try:
            names.documents = {doc.id: doc.title for doc in load_knowledge(knowledge_dir)}
            catalogue = load_service_catalogue(knowledge_dir)
            names.items = {item.code: item.name for item in (catalogue.items if catalogue else [])}
        except Exception as exc:  # titles are a nicety; the report works with ids alone
            log.warning("knowledge titles unavailable: %s", exc)
        return names


def tables(stats: Stats, themes: list[Theme], names: Names) -> dict[str, list[dict]]:
    """Every table of the report as rows; the CSV files and the HTML page show the same rows."""
    feedback_days = stats.feedback_per_day
    titles = {**stats.document_titles, **names.documents}
    return {
        "daily": [
            {
                "日期": day.isoformat(),
                "对话数": c["conversations"],
                "用户消息": c["user_messages"],
                "助手消息": c["bot_messages"],
                "有帮助": feedback_days.get(day, {}).get("helpful", 0),
                "没帮助": feedback_days.get(day, {}).get("unhelpful", 0),
            }
            for day, c in sorted(stats.per_day.items())
        ],
        "channels": [
            {"渠道": CHANNEL_LABELS.get(channel, channel), "对话数": c["conversations"], "用户消息": c["user_messages"]}
            for channel, c in sorted(stats.per_channel.items(), key=lambda kv: -kv[1]["user_messages"])
        ],
        "intents": [
            {"意图": intent, "含义": INTENT_LABELS.get(intent, intent), "次数": n}
            for intent, n in stats.intents.most_common()
        ],
        "topics": [{"关键词": word, "次数": n} for word, n in stats.topics.most_common(TOP * 2)],
        "documents": [
            {
                "文档编号": doc_id,
                "标题": redact(titles.get(doc_id, "")),
                "引用次数": n,
                "有帮助": stats.feedback_documents.get(doc_id, {}).get("helpful", 0),
                "没帮助": stats.feedback_documents.get(doc_id, {}).get("unhelpful", 0),
            }
            for doc_id, n in stats.documents.most_common()
        ],
        "service_items": [
            {"事项编码": code, "事项名称": names.items.get(code, ""), "回答次数": n}
            for code, n in stats.service_items.most_common()
        ],
        "themes": [
            {
                "主题": theme.label,
                "次数": theme.count,
                "关键词": "、".join(theme.keywords),
                "原因": "；".join(f"{reason} {n}" for reason, n in theme.reasons.items()),
                "示例": " | ".join(theme.examples),
            }
            for theme in themes
        ],
        "unanswered": [
            {"日期": u.day.isoformat(), "渠道": CHANNEL_LABELS.get(u.channel, u.channel), "原因": REASONS.get(u.reason, u.reason), "问题": redact(u.text)}
            for u in sorted(stats.unanswered, key=lambda u: (u.day, u.reason, u.text))
        ],
        "handoffs": [
            {"类型": KIND_LABELS.get(kind, kind), "代码": kind, "次数": n} for kind, n in stats.handoffs.most_common()
        ],
        "failures": [
            {"日期": day.isoformat(), "动作": action, "环节": ACTION_LABELS.get(action, action), "次数": n}
            for (day, action), n in sorted(stats.failures.items())
        ],
    }


def write_csv(rows: list[dict], path: Path, header: list[str] | None = None) -> None:
    """UTF-8 with a byte-order mark, so Excel opens the Chinese correctly."""
    header = header or (list(rows[0]) if rows else [])
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


CSV_HEADERS = {
    "daily": ["日期", "对话数", "用户消息", "助手消息", "有帮助", "没帮助"],
    "channels": ["渠道", "对话数", "用户消息"],
    "intents": ["意图", "含义", "次数"],
    "topics": ["关键词", "次数"],
    "documents": ["文档编号", "标题", "引用次数", "有帮助", "没帮助"],
    "service_items": ["事项编码", "事项名称", "回答次数"],
    "themes": ["主题", "次数", "关键词", "原因", "示例"],
    "unanswered": ["日期", "渠道", "原因", "问题"],
    "handoffs": ["类型", "代码", "次数"],
    "failures": ["日期", "动作", "环节", "次数"],
}
# What each custom action does, for the failures table.
ACTION_LABELS = {
    "action_answer_knowledge": "知识问答",
    "action_start_request": "开始填写申请",
    "action_request_summary": "展示核对清单",
    "action_submit_request": "提交申请",
    "action_cancel_request": "取消申请",
    "action_correct_request": "修改申请",
    "action_check_status": "查询办理进度",
    "action_handoff": "转人工",
    "disclosure_form": "填写公开申请",
    "complaint_form": "填写投诉建议",
    "status_form": "填写查询信息",
    "action_default_ask_affirmation": "确认意图",
    "action_default_fallback": "无法理解时的回复",
}


# Fonts with Chinese glyphs, most common first (Debian/Ubuntu, Windows, macOS).
CJK_FONTS = (
    "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Source Han Sans SC",
    "Microsoft YaHei", "SimHei", "PingFang SC", "Heiti SC",
)
CHART_LABELS = {
    "zh": {
        "daily": "每日对话与用户消息", "user_messages": "用户消息", "conversations": "对话",
        "intents": "热门意图（用户消息）", "feedback": "每日反馈", "helpful": "有帮助", "unhelpful": "没帮助",
        "documents": "引用最多的文件（回答）",
    },
    "en": {
        "daily": "Conversations and user messages per day", "user_messages": "user messages",
        "conversations": "conversations", "intents": "Top intents (user messages)", "feedback": "Feedback per day",
        "helpful": "helpful", "unhelpful": "not helpful", "documents": "Most cited documents (answers)",
    },
}


def cjk_font() -> str | None:
    """The first installed font of CJK_FONTS; None where the machine has none (charts fall back to English).

    matplotlib keeps the font list it built on first use (~/.cache/matplotlib): a font installed
    since (`make fonts`) is found by looking at the system's fonts again when the list has none.
    """
    from matplotlib import font_manager

    manager = font_manager.fontManager
    found = _first_cjk(manager)
    if found is None:
        known = {font.fname for font in manager.ttflist}
        for path in font_manager.findSystemFonts():
            if path not in known:
                try:
                    manager.addfont(path)
                except (OSError, RuntimeError, ValueError):  # a file FreeType cannot read
                    continue
        found = _first_cjk(manager)
    return found


def _first_cjk(manager) -> str | None:
    installed = {font.name for font in manager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def charts(stats: Stats, out: Path) -> dict[str, str]:
    """PNG charts, labelled in Chinese where a CJK font is installed; file names by chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    font = cjk_font()
    text = CHART_LABELS["zh" if font else "en"]
    style = {"font.sans-serif": [font, "DejaVu Sans"], "axes.unicode_minus": False} if font else {}
    with plt.rc_context(style):
        return _draw(plt, stats, out, text)


def _draw(plt, stats: Stats, out: Path, text: dict[str, str]) -> dict[str, str]:
    files = {}
    days = sorted(stats.per_day)
    labels = [d.strftime("%m-%d") for d in days]

    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.bar(labels, [stats.per_day[d]["user_messages"] for d in days], color="#9ecae1", label=text["user_messages"])
    ax.plot(labels, [stats.per_day[d]["conversations"] for d in days], color="#08519c", marker="o",
            label=text["conversations"])
    ax.set_title(text["daily"])
    ax.legend(loc="upper left")
    _finish(fig, ax, out / "daily.png", rotate=len(days) > 10)
    files["daily"] = "daily.png"

    intents = stats.intents
    if text is CHART_LABELS["zh"]:  # staff read 「知识问答」, not ask_knowledge
        intents = Counter()
        for name, n in stats.intents.items():
            # Chart fonts have no emoji (👍 would be an empty box): the words alone.
            intents[INTENT_LABELS.get(name, name).lstrip("👍👎 ")] += n
    files["intents"] = _top_ten(plt, intents, text["intents"], "#6baed6", out / "intents.png")

    fig, ax = plt.subplots(figsize=(8, 3.2))
    helpful = [stats.feedback_per_day.get(d, {}).get("helpful", 0) for d in days]
    unhelpful = [stats.feedback_per_day.get(d, {}).get("unhelpful", 0) for d in days]
    ax.bar(labels, helpful, color="#31a354", label=text["helpful"])
    ax.bar(labels, unhelpful, bottom=helpful, color="#de2d26", label=text["unhelpful"])
    ax.set_title(text["feedback"])
    ax.legend(loc="upper left")
    _finish(fig, ax, out / "feedback.png", rotate=len(days) > 10)
    files["feedback"] = "feedback.png"

    files["documents"] = _top_ten(plt, stats.documents, text["documents"], "#fd8d3c", out / "documents.png")
    plt.close("all")
    return files


def _top_ten(plt, counts, title: str, color: str, path: Path) -> str:
    """A horizontal bar chart of the ten most common entries, largest on top; returns the file name."""
    top = counts.most_common(10)[::-1]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ax.barh([name for name, _ in top], [n for _, n in top], color=color)
    ax.set_title(title)
    _finish(fig, ax, path, value_axis="x")
    return path.name


def _finish(fig, ax, path: Path, rotate: bool = False, value_axis: str = "y") -> None:
    from matplotlib.ticker import MaxNLocator

    (ax.yaxis if value_axis == "y" else ax.xaxis).set_major_locator(MaxNLocator(integer=True))
    if rotate:
        for label in ax.get_xticklabels():
            label.set_rotation(60)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def write_report(
    stats: Stats,
    themes: list[Theme],
    out: Path,
    names: Names | None = None,
    source: str = "",
) -> Path:
    """report.html, *.png and *.csv in `out`; returns the HTML path."""
    out.mkdir(parents=True, exist_ok=True)
    names = names or Names()
    rows = tables(stats, themes, names)
    for name, header in CSV_HEADERS.items():
        write_csv(rows[name], out / f"{name}.csv", header)
    images = charts(stats, out)
    answered_rate = stats.knowledge_answered / stats.knowledge_questions if stats.knowledge_questions else None
    feedback_total = stats.feedback["helpful"] + stats.feedback["unhelpful"]
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    html = environment.get_template("report.html").render(
        period=stats.period,
        stats=stats,
        rows=rows,
        images=images,
        headers=CSV_HEADERS,
        answered_rate=answered_rate,
        helpful_rate=stats.feedback["helpful"] / feedback_total if feedback_total else None,
        handoff_total=sum(stats.handoffs.values()),
        failure_total=sum(stats.failures.values()),
        generated=datetime.now().strftime("%Y-%m-%d %H:%M"),
        source=source,
        top=TOP,
    )
    path = out / "report.html"
    path.write_text(html, encoding="utf-8")
    return path
