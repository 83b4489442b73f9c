"""`govbot analytics`: from the tracker store to the report, in one call."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Callable

import numpy as np

from bot.analytics.keywords import keywords
from bot.analytics.metrics import Period, Stats, compute
from bot.analytics.report import Names, write_report
from bot.analytics.store import day_bounds, load_events
from bot.analytics.themes import group


def local_timezone():
    """The machine's time zone: staff think in their own days."""
    return datetime.now().astimezone().tzinfo


def _default_embed() -> Callable[[list[str]], np.ndarray]:
    from bot.knowledge.service import KnowledgeService

    embedder = KnowledgeService().embedder
    return embedder.embed_queries


def analyse(
    db_url: str,
    start: date,
    end: date,
    out: Path,
    embed: Callable[[list[str]], np.ndarray] | None = None,
    knowledge_dir: Path | None = None,
    max_themes: int = 10,
    tz=None,
) -> tuple[Stats, Path]:
    """Reads the period's events, counts, groups the unanswered questions and writes the report."""
    period = Period(start, end, tz or local_timezone())
    low, high = day_bounds(start, end, period.tz)
    events = load_events(db_url, low, high)
    stats = compute(events, period, keywords)
    themes = group(stats.unanswered, embed or _default_embed(), keywords, max_themes) if stats.unanswered else []
    if knowledge_dir is None:
        from bot.settings import Settings

        knowledge_dir = Settings.from_env().knowledge_dir
    source = db_url.split("///")[-1] if db_url.startswith("sqlite") else db_url.split("@")[-1]
    path = write_report(stats, themes, Path(out), Names.from_knowledge(knowledge_dir), source=source)
    return stats, path
