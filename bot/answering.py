"""Turn retrieved passages into a short answer with its citation, or an honest "not found".

The answer quotes only sentences of the cited passage, so the bot never states anything its
source does not say. It picks the sentences that share the most with the question, in document
order, and keeps the reply short enough to read on a phone or a kiosk.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.knowledge.chunking import Passage
from bot.knowledge.retriever import Hit
from bot.text import char_bigrams, display, split_sentences, tokenize

MAX_ANSWER_CHARS = 220
MAX_SENTENCES = 3

NOT_FOUND_TEXT = (
    "抱歉，没有找到与您的问题直接相关的公开信息。您可以：\n"
    "1. 换个说法再问一次，例如写明单位名称、年份或具体事项；\n"
    "2. 联系本机关政府信息公开工作机构咨询；\n"
    "3. 如需获取尚未主动公开的政府信息，可以依法提出政府信息公开申请（依申请公开）。"
)
RETRIEVAL_ERROR_TEXT = "抱歉，知识库查询暂时出现问题，请稍后再试；如有急事，请联系本机关政府信息公开工作机构。"


@dataclass(frozen=True)
class Answer:
    found: bool
    text: str
    citation: str = ""
    hits: list[Hit] = field(default_factory=list)

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


def _relevance(sentence: str, query_tokens: set[str], query_bigrams: frozenset[str]) -> float:
    tokens = set(tokenize(sentence))
    overlap = sum(len(t) for t in tokens & query_tokens)
    return overlap + 0.5 * len(char_bigrams(sentence) & query_bigrams)


def select_sentences(question: str, text: str) -> str:
    """The few sentences of the passage that answer the question, in their original order."""
    sentences = split_sentences(text)
    if len(text) <= MAX_ANSWER_CHARS or len(sentences) <= 1:
        return text
    query_tokens = set(tokenize(question))
    query_bigrams = char_bigrams(question)
    ranked = sorted(
        range(len(sentences)),
        key=lambda i: (-_relevance(sentences[i], query_tokens, query_bigrams), i),
    )
    best = ranked[0]
    chosen = {best}
    # Extend with neighbours first: the sentence after a heading usually carries the substance.
    for i in [best + 1, best - 1] + ranked[1:]:
        if len(chosen) >= MAX_SENTENCES or not 0 <= i < len(sentences) or i in chosen:
            continue
        if sum(len(sentences[j]) for j in chosen) + len(sentences[i]) > MAX_ANSWER_CHARS:
            continue
        chosen.add(i)
    return "".join(sentences[i] for i in sorted(chosen))


def _faq_answer(text: str) -> str | None:
    """An FAQ passage ("问：…\n答：…\n依据：…") answers with its answer and basis, not its question."""
    if not text.startswith("问："):
        return None
    lines = [line for line in text.splitlines() if line.startswith(("答：", "依据："))]
    return "\n".join(line.removeprefix("答：") for line in lines) or None


def compose_answer(question: str, hits: list[Hit], threshold: float) -> Answer:
    # The absolute cosine decides "found": fused scores carry boosts relative to the rest of the corpus.
    # A question that names the article by number (「第三十三条怎么规定」) asks for exactly that passage.
    if not hits or hits[0].other_place or (hits[0].closeness < threshold and not hits[0].cited):
        return Answer(found=False, text=NOT_FOUND_TEXT, hits=hits)
    top = hits[0].passage
    body = display(_faq_answer(top.text) or select_sentences(question, top.text))
    if len(body) > MAX_ANSWER_CHARS + 40:
        body = body[:MAX_ANSWER_CHARS].rstrip("，、；") + "……"
    return Answer(found=True, text=body, citation=citation(top), hits=hits)
