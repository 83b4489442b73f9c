"""Retrieval quality on a question set: Hit@1, Hit@5, MRR and the not-found calibration.

A hit is a passage of the expected document that contains the expected fact, so a right
document with the wrong paragraph does not count. A question may list `also` passages that
answer it just as fully (the FAQ entry restating an article); any of them counts, and `fact` may
be a list of strings any one of which counts. Results are also given per content type, because one
type can regress while the total holds. With an `answer` function, the answer itself is checked
too: found, citing an expected document, with the fact in the text shown. Two-turn follow-ups
(`turns` instead of `q`) are reported apart: retrieval alone sees one message, so they are asked
as their last turn alone and as the turns joined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
from pathlib import Path

import yaml

from bot.knowledge.answering import answer_floor
from bot.knowledge.retriever import Hit


def _squash(text: str) -> str:
    return "".join(text.split())


def is_hit(hit: Hit, doc_id: str, fact: str) -> bool:
    return hit.passage.doc_id == doc_id and _squash(fact) in _squash(hit.passage.text)


def _facts(fact) -> list[str]:
    return [str(f) for f in fact] if isinstance(fact, list) else [str(fact)]


def accepted(item: dict) -> list[tuple[str, str]]:
    """(doc, fact) pairs that answer the question: the expected ones first, then `also`."""
    pairs = [(item["doc"], f) for f in _facts(item["fact"])]
    return pairs + [(a["doc"], f) for a in item.get("also") or [] for f in _facts(a["fact"])]


def answers_with_fact(answer, item: dict) -> bool:
    """The answer a person reads is found, cites an expected document and states one of its facts."""
    if not answer.found or not answer.hits:
        return False
    cited = answer.hits[0].passage.doc_id
    return any(doc == cited and _squash(fact) in _squash(answer.message) for doc, fact in accepted(item))


def content_type(doc_id: str) -> str:
    """Coarse type of a document, for per-type results: FAQ, service item, or the document itself."""
    if doc_id.startswith("faq-"):
        return "faq"
    if doc_id.startswith("service-item-"):
        return "service-item"
    return doc_id


@dataclass
class EvalReport:
    total: int = 0
    hit_at_1: float = 0.0
    hit_at_5: float = 0.0
    mrr: float = 0.0
    answered: float = 0.0  # answerable questions whose top score clears the threshold
    rejected: float = 0.0  # unanswerable questions whose top score stays below it
    # Between the tentative threshold and the answer threshold, where the closest passage is quoted as
    # possibly related (answering.TENTATIVE_LEAD): answerable and unanswerable questions there.
    tentative: float = 0.0
    tentative_unanswerable: float = 0.0
    # answers found, citing an expected document, with the fact in their text (None: not checked)
    answered_with_fact: float | None = None
    # two-turn follow-ups: {"n", and per way of asking ("last turn", "turns joined") Hit@1, Hit@5,
    # answered with the fact}
    followups: dict = field(default_factory=dict)
    misses: list[dict] = field(default_factory=list)
    # content type -> {"n", "hit_at_1", "hit_at_5", "mrr"}; the type is the question's `type`, the
    # set's `types` entry for its expected document, or derived from that document (content_type)
    by_type: dict[str, dict] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def load_question_set(path: Path) -> dict:
    """YAML ({questions: [...], unanswerable: [...], types: {doc: type}}) or JSONL ({q, doc, fact} a line)."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        if Path(path).suffix.lower() == ".jsonl":
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
            data = {"questions": [r for r in rows if r.get("doc")], "unanswerable": [r["q"] for r in rows if not r.get("doc")]}
        else:
            data = yaml.safe_load(text) or {}
    except (ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"问题集 {path} 无法解析：{exc}") from exc
    questions = data.get("questions", [])
    bad = [i for i, q in enumerate(questions, 1) if not ((q.get("q") or q.get("turns")) and q.get("doc") and q.get("fact"))]
    bad += [i for i, q in enumerate(questions, 1) if q.get("turns") and not (isinstance(q["turns"], list) and len(q["turns"]) > 1)]
    bad += [
        i
        for i, q in enumerate(questions, 1)
        if not isinstance(q.get("also") or [], list)
        or not all(isinstance(a, dict) and a.get("doc") and a.get("fact") for a in q.get("also") or [])
    ]
    if bad:
        raise ValueError(f"问题集 {path} 第 {sorted(set(bad))[:5]} 条缺少 q、doc 或 fact（also 中每项也须有 doc 和 fact）")
    types = data.get("types") or {}
    if not isinstance(types, dict):
        raise ValueError(f"问题集 {path} 的 types 应为“文档编号: 类型”的映射")
    return {
        "questions": [q for q in questions if not q.get("turns")],
        "followups": [q for q in questions if q.get("turns")],
        "unanswerable": data.get("unanswerable", []),
        "types": types,
    }


def evaluate(search, question_set: dict, threshold: float, top_k: int = 5, answer=None, tentative_threshold: float | None = None) -> EvalReport:
    """`search(query, top_k)` returns hits best first (e.g. KnowledgeService.search); `answer(query)`,
    when given, the Answer a person would read (e.g. KnowledgeService.answer)."""
    floor = answer_floor(threshold, tentative_threshold)
    in_band = lambda hits: bool(hits) and floor <= hits[0].closeness < threshold  # noqa: E731
    questions = question_set["questions"]
    types = question_set.get("types") or {}
    report = EvalReport(total=len(questions))
    h1 = h5 = rr = answered = tentative = with_fact = 0.0
    ranks: dict[str, list[int | None]] = {}
    for item in questions:
        hits = search(item["q"], top_k)
        rank = _rank(hits, item)
        kind = item.get("type") or types.get(item["doc"]) or content_type(item["doc"])
        ranks.setdefault(kind, []).append(rank)
        h1 += rank == 1
        h5 += rank is not None and rank <= 5
        rr += 1 / rank if rank else 0
        answered += bool(hits) and hits[0].closeness >= threshold
        tentative += in_band(hits)
        if answer is not None:
            with_fact += answers_with_fact(answer(item["q"]), item)
        if rank != 1:
            top = hits[0].passage if hits else None
            report.misses.append(
                {"q": item["q"], "expected": item["doc"], "rank": rank, "got": top.passage_id if top else None}
            )
    n = max(len(questions), 1)
    report.hit_at_1, report.hit_at_5, report.mrr, report.answered = h1 / n, h5 / n, rr / n, answered / n
    report.tentative = tentative / n
    if answer is not None:
        report.answered_with_fact = with_fact / n
    report.by_type = {kind: _summary(found) for kind, found in sorted(ranks.items())}
    unanswerable = question_set["unanswerable"]
    if unanswerable:
        tops = [search(q, 1) for q in unanswerable]
        report.rejected = sum(not hits or hits[0].closeness < threshold for hits in tops) / len(unanswerable)
        report.tentative_unanswerable = sum(in_band(hits) for hits in tops) / len(unanswerable)
    followups = question_set.get("followups") or []
    if followups:
        report.followups = {"n": len(followups)}
        for way, ask in (("last turn", lambda turns: turns[-1]), ("turns joined", lambda turns: "，".join(turns))):
            found = [_rank(search(ask(item["turns"]), top_k), item) for item in followups]
            result = _summary(found)
            if answer is not None:
                result["answered_with_fact"] = round(
                    sum(answers_with_fact(answer(ask(item["turns"])), item) for item in followups) / len(followups), 4
                )
            report.followups[way] = result
    return report


def _rank(hits, item: dict) -> int | None:
    answers = accepted(item)
    return next((i + 1 for i, h in enumerate(hits) if any(is_hit(h, d, f) for d, f in answers)), None)


def _summary(ranks: list[int | None]) -> dict:
    n = len(ranks)
    return {
        "n": n,
        "hit_at_1": round(sum(r == 1 for r in ranks) / n, 4),
        "hit_at_5": round(sum(r is not None and r <= 5 for r in ranks) / n, 4),
        "mrr": round(sum(1 / r for r in ranks if r) / n, 4),
    }
