"""Turn retrieved passages into a short answer with its citation, or an honest "not found".

The answer quotes only sentences of the cited passage, so the bot never states anything its
source does not say. It picks the sentences that share the most with the question and, when the
embedding model is at hand (bot.knowledge.sentence_relevance), that it reads as closest, in
document order, and keeps the reply short enough to read on a phone or a kiosk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np

from bot.knowledge.chunking import Passage, is_table_row
from bot.knowledge.retriever import Hit
from bot.text import char_bigrams, display, split_sentences, tokenize

MAX_ANSWER_CHARS = 220
MAX_SENTENCES = 3
# How much the model's reading weighs against shared words in choosing the sentences to quote:
# each sentence's word score (the best sentence's 1) plus this times its cosine's distance below the
# closest sentence's. On long passages holding the asked fact, the fact was quoted in 29 of 39 dev
# questions by words alone and in 35 with any weight from 0.5 to 5; on the blind retrieval held-out
# set, not used to choose it, 13 → 18 of 19.
SENTENCE_DENSE_WEIGHT = 2.0
# (question, sentences) -> cosine per sentence: bot.knowledge.sentence_relevance.SentenceRelevance.
Relevance = Callable[[str, list[str]], np.ndarray]

NOT_FOUND_TEXT = (
    "抱歉，没有找到与您的问题直接相关的公开信息。您可以：\n"
    "1. 换个说法再问一次，例如写明单位名称、年份或具体事项；\n"
    "2. 联系本机关政府信息公开工作机构咨询；\n"
    "3. 如需获取尚未主动公开的政府信息，可以依法提出政府信息公开申请（依申请公开）。"
)
# Introduces a passage that is the closest the knowledge base has but less close than a confident
# answer: the person reads it as a lead to check, not as the answer.
TENTATIVE_LEAD = "以下内容与您的问题可能不完全对应，仅供参考："
RETRIEVAL_ERROR_TEXT = "抱歉，知识库查询暂时出现问题，请稍后再试；如有急事，请联系本机关政府信息公开工作机构。"


@dataclass(frozen=True)
class Answer:
    found: bool
    text: str
    citation: str = ""
    hits: list[Hit] = field(default_factory=list)
    # Closer than the tentative threshold but not the answer threshold: introduced by TENTATIVE_LEAD.
    tentative: bool = False

    @property
    def message(self) -> str:
        """What a text-only channel shows: the answer, then the citation on its own line."""
        return f"{self.text}\n{self.citation}" if self.citation else self.text


def citation(passage: Passage) -> str:
    parts = [f"《{passage.title}》", passage.issuer]
    if passage.doc_number:
        parts.append(passage.doc_number)
    if passage.date:
        parts.append(passage.date)
    if passage.locator:
        parts.append(passage.locator)
    return "来源：" + "，".join(parts)


@lru_cache(maxsize=16384)
def _words(text: str) -> frozenset[str]:
    """A sentence's jieba words, kept: the same passages' sentences are judged question after question."""
    return frozenset(tokenize(text))


@lru_cache(maxsize=16384)
def _pairs(text: str) -> frozenset[str]:
    return frozenset(char_bigrams(text))


def _relevance(sentence: str, query_tokens: dict[str, float], query_bigrams: dict[str, float]) -> float:
    tokens = _words(sentence)
    overlap = sum(w for t, w in query_tokens.items() if t in tokens)
    bigrams = _pairs(sentence)
    return overlap + 0.5 * sum(w for b, w in query_bigrams.items() if b in bigrams)


def _weights(asked, units: list[str], known, size) -> dict[str, float]:
    """Each question word's weight in choosing among the passage's sentences: its length, none for
    a word of the document's title (it names the document, not the sentence), and a third for a
    word most sentences share (「电商」 in every row of a list of e-commerce projects)."""
    kept = {a for a in asked if a not in known} or set(asked)
    weights = {}
    for a in kept:
        shared = sum(a in unit for unit in units)
        weights[a] = size(a) / (3 if len(units) >= 4 and shared * 3 > len(units) else 1)
    return weights


def quoted_units(text: str) -> tuple[list[str], set[int], list[str]]:
    """A passage's sentences, which of them are table rows, and what each is judged by: a row by
    its own cells, since the column names every row repeats tell rows apart no more than they tell
    a row from the text around the table."""
    sentences: list[str] = []
    rows: set[int] = set()
    for line in text.splitlines():
        if is_table_row(line):
            rows.add(len(sentences))
            sentences.append(line.strip())
        else:
            sentences += split_sentences(line)
    judged = [_row_cells(sentence) if i in rows else sentence for i, sentence in enumerate(sentences)]
    return sentences, rows, judged


def quotes_part_of(text: str) -> bool:
    """Whether an answer from this passage quotes some of its sentences rather than all of it."""
    return len(text) > MAX_ANSWER_CHARS and _faq_answer(text) is None


def select_sentences(question: str, text: str, title: str = "", relevance: Relevance | None = None) -> str:
    """The few sentences of the passage that answer the question, in their original order; a table
    row (「项目：收取信息处理费；本年情况：0元」) counts as one sentence, so it is quoted whole.
    With `relevance`, the model's reading of each sentence counts too (SENTENCE_DENSE_WEIGHT)."""
    sentences, rows, judged = quoted_units(text)
    if len(text) <= MAX_ANSWER_CHARS or len(sentences) <= 1:
        return text
    unit_tokens = [_words(unit) for unit in judged]
    unit_bigrams = [_pairs(unit) for unit in judged]
    query_tokens = _weights(set(tokenize(question)), unit_tokens, _words(title), len)
    query_bigrams = _weights(char_bigrams(question), unit_bigrams, _pairs(title), lambda _: 1.0)
    scores = [_relevance(unit, query_tokens, query_bigrams) for unit in judged]
    for asked, stated in _ASKED_AND_STATED:  # the sentence that states what is asked (a period, a lead office, a count)
        if asked.search(question):
            scores = [score + (2.0 if stated.search(unit) else 0.0) for score, unit in zip(scores, judged)]
    if relevance is not None:
        cosine = np.asarray(relevance(question, judged), dtype=np.float64)
        top = max(scores) or 1.0
        scores = [score / top + SENTENCE_DENSE_WEIGHT * float(c - cosine.max()) for score, c in zip(scores, cosine)]
    ranked = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))
    best = ranked[0]
    chosen = {best}
    # Extend with neighbours first: the sentence after a heading usually carries the substance. A
    # row answers on its own; the rows around it are other things (other companies, other years).
    candidates = [i for i in ranked[1:] if scores[i] == scores[best]] if best in rows else [best + 1, best - 1] + ranked[1:]
    for i in candidates:
        if len(chosen) >= MAX_SENTENCES or not 0 <= i < len(sentences) or i in chosen:
            continue
        if sum(len(sentences[j]) for j in chosen) + len(sentences[i]) > MAX_ANSWER_CHARS:
            continue
        chosen.add(i)
    out, previous = "", -1
    for i in sorted(chosen):  # a row stands on its own line
        out += ("\n" if out and (i in rows or previous in rows) else "") + sentences[i]
        previous = i
    return out


def _row_cells(row: str) -> str:
    """「一、本年新收申请数量——自然人：61；总计：87」 → 「一、本年新收申请数量 61 87」."""
    lead, _, rest = row.rpartition("——")
    return " ".join([lead, *(part.split("：", 1)[1] for part in rest.split("；") if "：" in part)]).strip()


def _faq_answer(text: str) -> str | None:
    """An FAQ passage ("问：…\n答：…\n依据：…") answers with its answer and basis, not its question."""
    if not text.startswith("问："):
        return None
    lines = [line for line in text.splitlines() if line.startswith(("答：", "依据："))]
    return "\n".join(line.removeprefix("答：") for line in lines) or None


# 「收到收费通知几天内得交」 asks for a period: a passage that states one beats a near-equal that does not.
_ASKS_PERIOD = re.compile(r"多久|几天|多少天|期限|多长时间|啥时候|什么时候|几个工作日|多少个工作日|几日|多少日|时限|时间限制")
_PERIOD = re.compile(r"(?<![月年0-9])[0-9一二三四五六七八九十两]+\s*(?:个)?(?:工作日|日|天|个月)(?:内|以内|之内|前)")
PERIOD_MARGIN = 0.02
# What a question asks for, and how a sentence states it: 「哪个科负责」 is answered by 「（商务运行科牵头；
# 相关科室配合）」, 「一天接待多少人」 by the sentence with 「120余人次」.
_ASKED_AND_STATED = (
    (_ASKS_PERIOD, _PERIOD),
    _LEAD_OFFICE := (
        re.compile(r"(哪个|哪些|什么|啥)(科|司|处|部门|单位|机构)\S{0,2}(负责|牵头|管|抓)|谁(来)?(负责|牵头|管|抓)|牵头|责任单位|负责单位"),
        re.compile(r"牵头|责任单位|负责单位|(科|司|处|室|办公室|局)(负责|配合)"),
    ),
    (
        re.compile(r"多少(个|件|项|家|人|位|名|次|起|条|篇|场)|几(个|件|项|家|位|名|次|起|条|篇|场)(?!工作日)|多少(办事)?的?人|多少人次"),
        re.compile(r"(?<![第0-9])[0-9一二三四五六七八九十百千万两]+\s*(余|多)?\s*(个|件|项|家|人次|人|位|名|次|起|条|篇|场|户)"),
    ),
)


# The first kind the question asks for decides (「牵头的是哪个部门」 asks for the lead office).
_ASKED_IN_PASSAGE = ((_ASKS_PERIOD, _PERIOD), _LEAD_OFFICE)


# What must be done within the period asked: 「多久内能申请复议」 → 申请复议, 「复议期限是多久」 → 复议.
_PERIOD_OF = re.compile(
    r"(?:多久|几天|多少天|多长时间|多少个?工作日|几个工作日|几个月)(?:之内|以内|内)?(?:能|可以|得|要|去|才能|必须|还能)?([\u4e00-\u9fff]{2,6})"
    r"|([\u4e00-\u9fff]{2,4})(?:的|有没有)?(?:期限|时限|时间限制)"
)
# Said of every period: they do not tell one period from another.
_PERIOD_GENERIC = frozenset({"申请", "办理", "提交", "答复", "回复", "时间", "期限", "可以", "能够", "之内", "以内", "多久"})
# A passage whose period is for the very thing asked may be a little further down than PERIOD_MARGIN.
PERIOD_OF_MARGIN = 0.03


# How far after a period its action is said: 「60日内，依法向示例市人民政府申请行政复议」.
PERIOD_ACTION_CHARS = 24


def _period_actions(text: str) -> list[str]:
    """What each period of the passage is for: the words after it, up to the end of its clause."""
    return [re.split(r"[。；;]", text[m.end() : m.end() + PERIOD_ACTION_CHARS], maxsplit=1)[0] for m in _PERIOD.finditer(text)]


def _period_for(question: str) -> frozenset[str]:
    """The bigrams of what the asked period is for, less those every period shares."""
    match = _PERIOD_OF.search(question)
    if match is None:
        return frozenset()
    return frozenset(char_bigrams(match.group(1) or match.group(2))) - _PERIOD_GENERIC


def cited_hit(question: str, hits: list[Hit]) -> Hit:
    """The hit to quote: the best, unless the question asks for something it does not state (a
    period, the lead office) and a hit within PERIOD_MARGIN of it does. Asked for the period of
    something (「多久内能申请复议」), a near hit whose period is for that thing beats one whose period
    is for another (the answer period of 「对答复不满意」)."""
    top = hits[0]
    asked_for = next((stated for asked, stated in _ASKED_IN_PASSAGE if asked.search(question)), None)
    if asked_for is _PERIOD and (wanted := _period_for(question)):
        near = [h for h in hits if h.score >= top.score - PERIOD_OF_MARGIN]
        fitting = [h for h in near if any(wanted & frozenset(char_bigrams(a)) for a in _period_actions(h.passage.text))]
        if fitting:
            return fitting[0]
    if asked_for is None or asked_for.search(top.passage.text):
        return top
    return next((h for h in hits[1:] if h.score >= top.score - PERIOD_MARGIN and asked_for.search(h.passage.text)), top)


# How much lower the closeness may be when the top passage holds a rare document term the question's
# colloquial words stand for (Hit.evidence): quoted tentatively, never as a sure answer.
EVIDENCE_MARGIN = 0.012


def answer_floor(threshold: float, tentative_threshold: float | None = None) -> float:
    """The closeness below which nothing is quoted: the tentative threshold when it is lower."""
    return threshold if tentative_threshold is None else min(threshold, tentative_threshold)


def compose_answer(
    question: str, hits: list[Hit], threshold: float, tentative_threshold: float | None = None, relevance: Relevance | None = None
) -> Answer:
    """The answer from the best hits; between `tentative_threshold` and `threshold` it is quoted
    with TENTATIVE_LEAD, below both it is 「没有找到」. `relevance`: see select_sentences."""
    # The absolute cosine decides "found": fused scores carry boosts relative to the rest of the corpus.
    # A question that names the article by number (「第三十三条怎么规定」) asks for exactly that passage.
    floor = answer_floor(threshold, tentative_threshold) - (EVIDENCE_MARGIN if hits and hits[0].evidence else 0.0)
    if not hits or hits[0].other_place or (hits[0].closeness < floor and not hits[0].cited):
        return Answer(found=False, text=NOT_FOUND_TEXT, hits=hits)
    tentative = hits[0].closeness < threshold and not hits[0].cited
    chosen = cited_hit(question, hits)
    hits = [chosen] + [h for h in hits if h is not chosen]
    top = chosen.passage
    body = display(_faq_answer(top.text) or select_sentences(question, top.text, top.title, relevance))
    if len(body) > MAX_ANSWER_CHARS + 40:
        body = body[:MAX_ANSWER_CHARS].rstrip("，、；") + "……"
    if tentative:
        body = f"{TENTATIVE_LEAD}\n{body}"
    return Answer(found=True, text=body, citation=citation(top), hits=hits, tentative=tentative)
