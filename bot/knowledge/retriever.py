"""Hybrid search over the knowledge index: e5 cosine plus weighted BM25, issuer-aware.

Measured on the dev set: dense retrieval alone beats BM25 alone, and a small BM25 weight on top of
the cosine helps more than rank fusion. The keyword side mixes jieba-word BM25 with character-pair
BM25, which does not depend on how jieba cuts a colloquial question. When a question names an
agency or a place, passages of that issuer are preferred; naming a place the knowledge base has
nothing from marks every hit, so "北京市的要点" is not answered from Shanghai's document. A question
citing an article (「第三十三条」「第33条」) prefers that article's passage. Questions are searched in
simplified characters, so 「條例」 finds 「条例」. Keyword search also looks for the document terms of
the colloquial phrases a question uses (knowledge/query_terms.yml: 「要等几天」 → 「期限 时限」); the
model reads the question as asked. A passage is also compared with the common phrasings staff wrote
for its section (knowledge/questions.yml, FAQ variants, service-item field phrasings): a question
close to one of them finds the passage even when it shares few words with its text. Other places'
documents (another city's guide, a county's notices) answer a question only when it names their
agency, place or subject; otherwise this agency's own and national documents do (ELSEWHERE_PENALTY).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np
import yaml

from bot.knowledge.chunking import METADATA_SECTION, Passage
from bot.knowledge.dialect import standard_mandarin
from bot.knowledge.homophones import HomophoneRepair
from bot.knowledge.index import KnowledgeIndex
from bot.knowledge.phrasings import subjects
from bot.knowledge.preamble import without_preamble
from bot.text import article_label, article_numbers, char_bigrams, normalize_query, tokenize
from bot.privacy.validation import strip_personal_identifiers

# Provinces and large cities: a question naming one of these asks about that place.
PLACE_NAMES = (
    "北京 天津 河北 山西 内蒙古 辽宁 吉林 黑龙江 上海 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 "
    "广东 广西 海南 重庆 四川 贵州 云南 西藏 陕西 甘肃 青海 宁夏 新疆 香港 澳门 台湾 "
    "深圳 广州 杭州 南京 武汉 成都 西安 苏州 青岛 厦门 大连 宁波 沈阳 长沙 郑州 济南 合肥 昆明 楚雄"
).split()


# Share of the keyword weight given to character-pair BM25 (the rest goes to jieba words).
# Dev set (135 questions, BM25 weight 0.05): 0 → Hit@1 0.726 / Hit@5 0.933 / MRR 0.807;
# 0.8 → 0.756 / 0.948 / 0.829. Weights tuned on odd-numbered questions alone also lift the even
# ones (Hit@1 0.765 → 0.779) and vice versa (0.687 → 0.716); 0.8 sat between the two optima.
# With passage vectors that mix text-alone and in-context embeddings (bot.knowledge.index) and BM25
# k1 1.2 / b 0.5, a grid (BM25 weight 0.03–0.08, share 0.6–1.0, heading weight 0.03–0.06, k1/b)
# chosen on odd-numbered questions gave weight 0.05, share 0.6, heading 0.06: odd Hit@1 0.779 →
# 0.838, and on the even questions it was not tuned on 0.731 → 0.761 (Hit@5 0.955 both).
BIGRAM_SHARE = 0.6
# Colloquial phrases and the document terms searched with them (staff edit it, see load_query_terms).
QUERY_TERMS_FILE = "query_terms.yml"
# Added to the passage of an article the question cites by number (「第三十三条讲的什么」).
ARTICLE_BOOST = 0.2
# A passage's cosine is at least that of its closest common phrasing (bot.knowledge.questions) less
# this margin: two questions are closer to each other than a question is to its answer, so a
# phrasing's cosine is worth less than the text's. Dev set (135 questions, phrasings written by
# people who never saw it or the held-out set; OWN_TEXT_SHARE 0): 0.02 → Hit@1 0.911, unanswerable
# rejected 73%; 0.03 → 0.904, 83%; 0.04 → 0.896, 83%. Margin 0, measured when only FAQ entries had
# phrasings, already sent questions to them: rejected 63%, Hit@1 0.763.
QUESTION_MARGIN = 0.03
# A generated phrasing (bot.knowledge.phrasings) names its document's subject and the one thing it
# asks, closer to the passage's own words than a staff-written one, so it is discounted less. Dev,
# old and blind held-out sets: Hit@1, answered and rejected identical at 0.03, 0.015 and (Hit@1 dev
# one question less) 0; fresh-documents set (looked at in choosing, so no longer blind for this
# number): answered with the fact 79.6% at 0.03, 83.7% at 0.015, 84.7% at 0.
GENERATED_MARGIN = 0.015
# The passages of one long section share its phrasings, so part of the score stays the passage's
# own cosine and decides among them (dev Hit@1 0.904 → 0.911; held-out unchanged).
OWN_TEXT_SHARE = 0.1


# Specific beats generic: a question that uses words found in the subject of few published documents
# (the title without issuer, place and kind of document: a programme's name, a year, 年度报告) is
# about those documents, so every passage of each gets up to TITLE_BOOST, in proportion to how rare
# its matched words are. Character pairs are compared (「以旧换新」, 「2025」 → 「25」), each weighted
# log(rare / df) / log(rare) when fewer than rare = TITLE_RARE_SHARE of the published documents'
# subjects (at least 2) hold it, so words many share (「政务公开」) weigh nothing and a pair found in
# one subject only weighs 1; TITLE_FULL such pairs are a full match. Dividing by log(rare) keeps that
# the same however many documents there are: undivided (TITLE_FULL 3.5 ≈ 5 × log 2 for today's
# documents, same ranking), with 1,000 more documents one pair that crosses two words (「公开信息」 →
# 「开信」, only in 「政府信息公开信息处理费管理办法」) weighed log(201) = 5.3, a full match by itself,
# and 「小区」 of 「老旧小区改造」 two thirds of one (fresh-documents set: answered with the fact 87.8%
# → 88.8%; dev and held-out sets unchanged). Catalogue entries and FAQ answers have no such subject
# (they are found by their aliases, field phrasings and questions), so one that shares only generic words with the question (申请,
# 材料, 专项资金) falls behind the document the question names.
TITLE_BOOST = 0.05
TITLE_RARE_SHARE = 0.2
TITLE_FULL = 5.0
# A document's metadata passage (文号, 发布机构, dates: bot.knowledge.chunking.metadata_text) names the
# document as strongly as a question about its subject does, but answers only questions about its
# metadata: without one of these words it drops this much.
METADATA_WORDS = re.compile(
    r"文号|字号|第几号|号文|发文|发布|印发|出台|发的|索引|落款|成文|机构|哪个部门|什么部门|哪些部门|几个部门|哪个单位|什么单位|谁发|谁出"
)
METADATA_PENALTY = 0.1
# A question that plainly asks for a document's metadata — its 文号 or 索引号, when or by whom a
# notice (公告, 解读, 年报 …) was issued — lifts the metadata passages this much: the document's body
# shares every word of its subject and would otherwise be quoted without the date or number asked
# for. Broader metadata words (机构, 发布) only lift the penalty above: 「哪个部门负责公开」 asks about
# the body, and 「钱什么时候发」 is not about issuing a document (which passage: Retriever._lift_metadata).
METADATA_ASKED = re.compile(
    r"文号|字号|第几号|索引号|成文日期|发布日期|发布时间|印发日期"
    r"|(?:通知|公告|通告|文件|解读|报告|年报|要点|公示|办法|意见|方案|细则|规定|指南)[^，,。？?；;]{0,10}"
    r"(?:(?:哪天|哪一天|什么时候|啥时候|啥时|何时|几号|多会儿|哪年)(?:发布|印发|出台|发|出)|(?:发|发布|印发|出|出台)的)"
    r"|(?:谁|哪个部门|哪个单位|什么部门|什么单位|哪家单位)(?:发|发布|印发|出|出台)的"
)
METADATA_BOOST = 0.04
# A question for one of these fields (asked as, the label its metadata passage states it under, how
# a body passage quotes one).
METADATA_FIELDS = (
    (re.compile(r"索引号"), "索引号：", re.compile(r"索引号")),
    (re.compile(r"文号|字号|第几号"), "文号：", re.compile(r"〔\d{4}〕\d+号|\[\d{4}\]\d+号|\d{4}年第\d+号")),
)
METADATA_REACH = 0.03
# Home beats elsewhere: a knowledge base that also holds other places' documents (a province's, a
# county's: notices, work plans and annual reports that reuse the same model sentences) answers a
# question that names no agency or place from what holds here — this agency's own entries and
# documents, and national ones (商务部, 国务院) — unless the question names the other document's
# subject (title_matches). Without it, among hundreds of near-identical passages one of another
# city's usually embeds a little closer to 「传真号」 or 「补贴多久审完」 than this agency's guide.
# Which passages are elsewhere: bot.knowledge.places. The same amount is
# taken off those passages' cosine when judging whether anything relevant exists (closeness), so
# another city's passage neither answers nor keeps 「没有找到」 from being said. The figures of the
# scale check (bench/distractors.py) are in README「规模检验」; 「沪」 names Shanghai in
# knowledge/issuers.yml so that 「沪商务委…」 still counts as naming it.
ELSEWHERE_PENALTY = 0.1
# 「你们」「贵局」: the question is put to this agency (knowledge/agency.yml), so its own documents
# (the guide, its FAQ and catalogue) are preferred to national ones that state the general rule
# (「该向谁投诉」: the guide names the superior body, the regulation only "上一级行政机关"). Less than
# naming it (issuer_boost): chosen on the blind sets' tuning half (0.03 changed nothing, 0.05 to
# 0.15 the same gain); the dev set, with one such question, is unchanged.
ADDRESSED = re.compile(r"你们|贵局|贵单位|贵机关|咱们局|你局")
ADDRESSED_BOOST = 0.05


class QueryEmbedder(Protocol):
    def embed_queries(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float
    dense: float
    bm25: float
    # The question names a place the knowledge base has nothing from: never an answer.
    other_place: bool = False
    # The question cites this passage's article by number (「第三十三条」): it asks for exactly this.
    cited: bool = False
    # The best cosine of any passage for this question (None: this hit's own).
    best_dense: float | None = None
    # The passage holds a rare document term the question's colloquial words stand for (term_evidence).
    evidence: bool = False

    @property
    def closeness(self) -> float:
        """How close the knowledge base comes to the question: what the not-found threshold checks.

        The best cosine anywhere, not the top hit's: keyword matches on generic words (「多久」 →
        期限) decide which passage is cited, but must not decide whether anything relevant exists.
        """
        return self.dense if self.best_dense is None else self.best_dense

    def to_dict(self) -> dict:
        p = self.passage
        return {
            "doc_id": p.doc_id,
            "title": p.title,
            "issuer": p.issuer,
            "date": p.date,
            "section": p.section,
            "text": p.text,
            "score": round(self.score, 4),
        }


def load_query_terms(path: Path) -> list[tuple[str, str]]:
    """(colloquial phrase, document terms) pairs from knowledge/query_terms.yml, longest phrase first.

    The file maps document wording to how citizens put it: 「期限 时限: [多久, 几天]」.
    """
    if not Path(path).exists():
        return []
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    pairs = [
        (normalize_query(str(phrase)), " ".join(str(terms).split()))
        for terms, phrases in data.items()
        for phrase in phrases or []
        if str(phrase).strip()
    ]
    return sorted(pairs, key=lambda pair: -len(pair[0]))


def load_issuer_aliases(path: Path) -> dict[str, list[str]]:
    if not Path(path).exists():
        return {}
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return {str(k): [str(a) for a in (v or [])] for k, v in data.items()}


# A staff document term counts as evidence when at most this share of passages use it.
RARE_TERM_SHARE = 0.02


class Retriever:
    # How many passages a vector store scores exactly beyond its own nearest ones (see dense_scores).
    candidates = 100

    def __init__(
        self,
        index: KnowledgeIndex,
        embedder: QueryEmbedder,
        issuer_aliases: dict[str, list[str]] | None = None,
        bm25_weight: float = 0.05,
        issuer_boost: float = 0.15,
        heading_weight: float = 0.0,
        bigram_share: float = BIGRAM_SHARE,
        article_boost: float = ARTICLE_BOOST,
        query_terms: list[tuple[str, str]] | None = None,
        question_margin: float = QUESTION_MARGIN,
        title_boost: float = TITLE_BOOST,
        metadata_penalty: float = METADATA_PENALTY,
        metadata_boost: float = METADATA_BOOST,
        generated_margin: float | None = None,
        elsewhere_penalty: float = ELSEWHERE_PENALTY,
        home_issuer: str | None = None,
        addressed_boost: float = ADDRESSED_BOOST,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.bm25_weight = bm25_weight
        self.bigram_share = bigram_share
        self.article_boost = article_boost
        self.question_margin = question_margin
        self.issuer_boost = issuer_boost
        self.heading_weight = heading_weight
        # The innermost heading only: outer parts are shared by many passages and say little.
        self._heading_tokens = [set(tokenize(p.section.split(" / ")[-1])) if p.section else set() for p in index.passages]
        titles: dict[tuple[str, str], set[str]] = {}  # the document's other names count as its title
        for p in index.passages:  # tokenized once per document, not once per passage
            if (p.title, p.keywords) not in titles:
                titles[(p.title, p.keywords)] = set(tokenize(f"{p.title} {p.keywords}"))
        self._title_tokens = [titles[(p.title, p.keywords)] for p in index.passages]
        # For _heading_coverage without a Python loop over passages: which passages have a heading,
        # and per word the passages whose heading or title holds it.
        self._has_heading = np.array([bool(h) for h in self._heading_tokens], dtype=bool)
        self._heading_postings = _postings(self._heading_tokens)
        self._title_postings = _postings(self._title_tokens)
        # For asked_scores: phrasing rows are grouped by passage (KnowledgeIndex.question_owners is
        # sorted), so each passage's best phrasing is one np.maximum.reduceat over its rows.
        owners = index.question_owners
        self._asked_starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]]) if len(owners) else owners
        self._asked_passages = owners[self._asked_starts] if len(owners) else owners
        aliases = dict(issuer_aliases or {})
        for passage in index.passages:  # every issuer is at least known by its own name
            aliases.setdefault(passage.issuer, [passage.issuer])
        # Longest alias first, so 上海市商务委员会 is matched before 上海.
        self._aliases = sorted(
            ((alias, issuer) for issuer, names in aliases.items() for alias in names),
            key=lambda pair: -len(pair[0]),
        )
        self._issuers = np.array([p.issuer for p in index.passages])
        # Issuers as small integers: matching named issuers per question compares numbers, not strings.
        codes: dict[str, int] = {}
        self._issuer_codes = np.array([codes.setdefault(p.issuer, len(codes)) for p in index.passages], dtype=np.int64)
        self._issuer_code = codes
        self._locators = np.array([p.locator for p in index.passages])
        self.query_terms = list(query_terms or [])
        self.title_boost = title_boost
        self.generated_margin = GENERATED_MARGIN if generated_margin is None else generated_margin
        self.metadata_penalty = metadata_penalty
        # Per phrasing row, the margin it is discounted by (computed once, not per question).
        self._margins = np.where(index.question_generated, self.generated_margin, self.question_margin).astype(np.float32)
        self.metadata_boost = metadata_boost
        self._metadata = index.metadata
        self._metadata_with = {
            label: self._metadata & np.array([label in p.text for p in index.passages], dtype=bool) for _, label, _ in METADATA_FIELDS
        }
        documents: dict[str, int] = {}
        self._document_of = np.array([documents.setdefault(p.doc_id, len(documents)) for p in index.passages], dtype=np.int64)
        # Published documents (those with a metadata passage: a date, a 索引号 …); a catalogue entry or
        # FAQ answer has its own ways to be found (aliases, field phrasings, its question).
        published = {d for p, d in zip(index.passages, self._document_of) if p.section == METADATA_SECTION}
        names: dict[int, frozenset[str]] = {}
        for p, d in zip(index.passages, self._document_of):
            if d not in names:  # the title without its issuer, place and kind: what it is about
                names[d] = char_bigrams(f"{subjects(p.title, p.issuer)[0]} {p.keywords}") if d in published else frozenset()
        self._title_bigrams = [names[d] for d in range(len(documents))]
        self._title_documents = _postings(self._title_bigrams)  # bigram -> documents whose subject holds it
        frequency = Counter(b for pairs in self._title_bigrams for b in pairs)
        rare = max(2.0, TITLE_RARE_SHARE * len(published))
        self._title_weights = {b: math.log(rare / n) / math.log(rare) for b, n in frequency.items() if n < rare}
        self.title_full = TITLE_FULL
        self.elsewhere_penalty = elsewhere_penalty
        self._elsewhere = index.elsewhere
        self.addressed_boost = addressed_boost
        self._home = self._issuers == home_issuer if home_issuer else None

    @cached_property
    def homophones(self) -> HomophoneRepair:
        """Pinyin-slip repair (申清→申请) learnt from this index's words and the staff's colloquial terms."""
        texts = {p.title for p in self.index.passages}
        texts.update(p.text for p in self.index.passages)
        return HomophoneRepair(texts, [word for pair in self.query_terms for word in pair])

    def expand(self, query: str, added: list[str] | None = None) -> str:
        """The question plus the document terms for the colloquial phrases it uses (query_terms.yml):
        「要等几天」 is also searched as 「期限 时限」. `added`: added_terms(query), when already known."""
        added = self.added_terms(query) if added is None else added
        return f"{query} {' '.join(added)}" if added else query

    def added_terms(self, query: str) -> list[str]:
        added: list[str] = []
        for phrase, terms in self.query_terms:
            if phrase in query:
                added.extend(t for t in terms.split() if t not in query and t not in added)
        return added

    @cached_property
    def _rare_term_passages(self) -> dict[str, np.ndarray]:
        """Staff document terms that few passages use (区分处理, 授权委托书), and which passages do."""
        terms = {t for _, line in self.query_terms for t in line.split()}
        found = {t: np.array([t in p.text for p in self.index.passages], dtype=bool) for t in terms}
        most = max(1, int(RARE_TERM_SHARE * len(self.index.passages)))
        return {t: rows for t, rows in found.items() if 0 < rows.sum() <= most}

    def term_evidence(self, added: list[str]) -> np.ndarray:
        """Passages holding a rare document term that the question's colloquial words stand for
        (`added`: added_terms of the question): the staff's own mapping says the question is about what
        these passages say (「涂黑」 → 区分处理)."""
        evidence = np.zeros(len(self.index.passages), dtype=bool)
        for term in added:
            rows = self._rare_term_passages.get(term)
            if rows is not None:
                evidence |= rows
        return evidence

    def named_issuers(self, query: str) -> set[str]:
        text = normalize_query(query)
        found = set()
        for alias, issuer in self._aliases:
            if alias in text:
                found.add(issuer)
                text = text.replace(alias, " ")
        return found

    def names_unknown_place(self, query: str, named: set[str]) -> bool:
        if named:
            return False
        text = normalize_query(query)
        return any(place in text for place in PLACE_NAMES)

    def _heading_coverage(self, query_tokens: list[str]) -> np.ndarray:
        """Share of the question's words found in each passage's heading (0–1).

        Words of the passage's document title do not count: every passage of the document shares
        them, so in 「安徽省商务厅2017年政务公开工作存在哪些问题」 only 「存在」「问题」 choose the part.
        """
        words = {t for t in query_tokens if len(t) > 1}
        n = len(self._heading_tokens)
        if not words:
            return np.zeros(n, dtype=np.float32)
        asked = np.zeros(n, dtype=np.int64)  # per passage: the question's words not in its title
        shared = np.zeros(n, dtype=np.int64)  # … and of those, how many its heading holds
        for word in words:
            in_title = np.zeros(n, dtype=bool)
            in_title[self._title_postings.get(word, _NO_ROWS)] = True
            asked += ~in_title
            rows = self._heading_postings.get(word, _NO_ROWS)
            shared[rows] += ~in_title[rows]
        coverage = np.divide(shared, asked, out=np.zeros(n), where=self._has_heading & (asked > 0))
        return coverage.astype(np.float32)

    def title_matches(self, query: str) -> np.ndarray:
        """Per passage, 0–1: how rare the words are that the question shares with its document's title."""
        asked = {b: w for b in char_bigrams(query) if (w := self._title_weights.get(b))}
        if not asked:
            return np.zeros(len(self._document_of), dtype=np.float32)
        per_document = np.zeros(len(self._title_bigrams), dtype=np.float64)
        for pair, weight in asked.items():
            per_document[self._title_documents[pair]] += weight
        return np.minimum(1.0, per_document / self.title_full).astype(np.float32)[self._document_of]

    def keyword_scores(self, query: str, query_tokens: list[str]) -> np.ndarray:
        """BM25 in 0–1 (best passage 1, the text and the metadata passages each on their own scale):
        jieba words and character pairs, mixed by `bigram_share`."""
        scores = np.zeros(len(self.index.passages), dtype=np.float32)
        pairs = sorted(char_bigrams(query)) if self.bigram_share else []
        for rows, words_bm25, pairs_bm25 in self.index.keyword_groups:
            words = _scaled(words_bm25.get_scores(query_tokens))[: len(rows)]
            if self.bigram_share:
                words = (1 - self.bigram_share) * words + self.bigram_share * _scaled(pairs_bm25.get_scores(pairs))[: len(rows)]
            scores[rows] = words
        return scores

    def _lift_metadata(self, query: str, query_vector: np.ndarray, asked: np.ndarray, dense: np.ndarray, sparse: np.ndarray) -> None:
        """For a question about a document's 文号, 索引号, date or issuer, lift the metadata passage
        that answers it above the body passages (dense and sparse updated in place).

        A date or issuer: the leading document's. A 文号 or 索引号: the closest metadata passage that
        holds one, within METADATA_REACH of the leader, unless the leading passage already quotes
        one (a policy interpretation cites the measures it explains with their 文号).
        """
        top = int(np.argmax(dense + sparse))
        field = next(((label, quoted) for asked, label, quoted in METADATA_FIELDS if asked.search(query)), None)
        if field is None:
            rows = np.flatnonzero(self._metadata & (self._document_of == self._document_of[top]))
        else:
            label, quoted = field
            if quoted.search(self.index.passages[top].text):
                return
            rows = np.flatnonzero(self._metadata_with[label])
        if not len(rows):
            return
        # A vector store may not have scored them: their cosine from the index's own vectors.
        cosine = self.with_phrasings(self.index.vectors[rows] @ query_vector, asked[rows])
        best = int(np.argmax(cosine + sparse[rows]))
        if cosine[best] + sparse[rows[best]] >= dense[top] + sparse[top] - METADATA_REACH:
            dense[rows[best]] = cosine[best]
            sparse[rows[best]] += self.metadata_boost

    def article_matches(self, query: str) -> np.ndarray:
        """True for passages of the articles the question cites by number."""
        labels = [article_label(n) for n in article_numbers(query)]
        if not labels:
            return np.zeros(len(self._locators), dtype=bool)
        return np.isin(self._locators, labels)

    def dense_scores(self, query_vector: np.ndarray, named: set[str], front_runners: np.ndarray) -> np.ndarray:
        """Cosine of every passage. A vector store may override this and score only its nearest
        passages, the named issuers' and `front_runners` (best by the other signals)."""
        return self.index.vectors @ query_vector

    def asked_scores(self, query_vector: np.ndarray) -> np.ndarray:
        """Per passage, the cosine of its closest common phrasing less the margin (-1: none)."""
        scores = np.full(len(self.index.passages), -1.0, dtype=np.float32)
        if len(self.index.question_vectors):
            best = np.maximum.reduceat(self.index.question_vectors @ query_vector - self._margins, self._asked_starts)
            scores[self._asked_passages] = np.maximum(scores[self._asked_passages], best)
        return scores

    def with_phrasings(self, text: np.ndarray, asked: np.ndarray) -> np.ndarray:
        """The cosine a passage is ranked and judged by: its text's or its closest phrasing's."""
        return (1 - OWN_TEXT_SHARE) * np.maximum(text, asked) + OWN_TEXT_SHARE * text

    def search(self, query: str, top_k: int = 5, issuers: set[str] | None = None) -> list[Hit]:
        """Best passages first. `issuers` adds issuers recognised elsewhere (Rasa's entities)."""
        query = standard_mandarin(normalize_query(strip_personal_identifiers(without_preamble(query))))
        if not self.index.passages or not query:
            return []
        # The model reads the question as asked; only keyword search adds the document terms
        # (embedding them too made unanswerable questions look answerable).
        added = self.added_terms(query)
        expanded = self.expand(query, added)
        query_vector = self.embedder.embed_queries([query])[0]
        query_tokens = tokenize(expanded)
        bm25_norm = self.keyword_scores(expanded, query_tokens)
        sparse = self.bm25_weight * bm25_norm
        if self.heading_weight:
            sparse = sparse + self.heading_weight * self._heading_coverage(query_tokens)
        cited = self.article_matches(query)
        if self.article_boost:
            sparse = sparse + self.article_boost * cited

        title = self.title_matches(expanded) if self.title_boost or self.elsewhere_penalty else None
        if self.title_boost:
            sparse = sparse + self.title_boost * title
        if self.metadata_penalty and not METADATA_WORDS.search(query):
            sparse = sparse - self.metadata_penalty * self._metadata
        named = self.named_issuers(query) | (set(issuers or ()) & self._issuer_code.keys())
        other_place = self.names_unknown_place(query, named)
        if named:
            sparse = sparse + self.issuer_boost * np.isin(self._issuer_codes, [self._issuer_code[i] for i in named])
        elif self._home is not None and self.addressed_boost and ADDRESSED.search(query):
            sparse = sparse + self.addressed_boost * self._home
        elsewhere = 0.0
        if self.elsewhere_penalty and not named and self._elsewhere.any():
            elsewhere = self.elsewhere_penalty * self._elsewhere * (1.0 - title)
            sparse = sparse - elsewhere
        front_runners = _best(sparse, self.candidates) if sparse.any() else np.array([], dtype=np.int64)
        # Phrasings are few and held in process, also when passages are in a vector store; the
        # passages of the closest phrasings are front-runners too, so a store scores their text.
        asked = self.asked_scores(query_vector)
        if (asked > -1.0).any():
            front_runners = np.union1d(front_runners, _best(asked, self.candidates))
        dense = self.with_phrasings(self.dense_scores(query_vector, named, front_runners), asked)
        if self.metadata_boost and METADATA_ASKED.search(query):
            self._lift_metadata(query, query_vector, asked, dense, sparse)
        scores = dense + sparse
        evidence = self.term_evidence(added)

        order = _best(scores, top_k)
        # Whether anything relevant exists is judged on what may answer: another place's document
        # counts only as far as the question points to it.
        best = float((dense - elsewhere).max())
        return [
            Hit(
                self.index.passages[i], float(scores[i]), float(dense[i]), float(bm25_norm[i]), other_place, bool(cited[i]), best,
                evidence=bool(evidence[i]),
            )
            for i in order
        ]

_NO_ROWS = np.zeros(0, dtype=np.int64)


def _best(values: np.ndarray, k: int) -> np.ndarray:
    """Rows of the k largest values, largest first, without sorting every row."""
    if k >= len(values):
        return np.argsort(-values, kind="stable")
    chosen = np.argpartition(-values, k)[:k]
    return chosen[np.argsort(-values[chosen], kind="stable")]


def _postings(token_sets: list[set[str]]) -> dict[str, np.ndarray]:
    """word -> rows (ascending) of the sets that hold it."""
    rows: dict[str, list[int]] = {}
    for i, tokens in enumerate(token_sets):
        for token in tokens:
            rows.setdefault(token, []).append(i)
    return {token: np.array(found, dtype=np.int64) for token, found in rows.items()}


def _scaled(raw) -> np.ndarray:
    scores = np.asarray(raw, dtype=np.float32)
    top = float(scores.max()) if len(scores) else 0.0
    return scores / top if top > 0 else np.zeros_like(scores)
