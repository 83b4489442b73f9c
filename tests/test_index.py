"""The index persists, rebuilds only what changed, and publishes atomically."""

import shutil

import pytest

from bot.knowledge.documents import DocumentError, load_documents
from bot.knowledge.index import CURRENT_POINTER, build_index, load_current
from tests.conftest import ROOT


@pytest.fixture()
def knowledge_copy(tmp_path):
    target = tmp_path / "documents"
    shutil.copytree(ROOT / "knowledge" / "documents", target)
    return target


class CountingEmbedder:
    """The real embedder, counting how many texts it is asked to embed (two per passage: with and
    without its title and headings, see bot.knowledge.index.passage_vectors; one per phrasing)."""

    def __init__(self, embedder):
        self._embedder = embedder
        self.identity = embedder.identity
        self.passages = self.questions = 0

    @property
    def embedded(self) -> int:
        return self.passages + self.questions

    def embed_passages(self, texts, show_progress=False):
        self.passages += len(texts)
        return self._embedder.embed_passages(texts, show_progress=show_progress)

    def embed_questions(self, texts, show_progress=False):
        self.questions += len(texts)
        return self._embedder.embed_questions(texts, show_progress=show_progress)


def test_unchanged_knowledge_loads_without_embedding(embedder, knowledge_copy, tmp_path):
    counting = CountingEmbedder(embedder)
    docs = load_documents(knowledge_copy)
    first, stats = build_index(docs, counting, tmp_path / "index")
    assert stats["rebuilt"] and counting.passages == 2 * len(first.passages) > 0
    assert stats["embedded"] == len(first.passages)
    # each distinct generated phrasing once (bot.knowledge.phrasings; no staff-written ones here)
    assert counting.questions == stats["questions_embedded"] == len({q for p in first.passages for q in p.generated}) > 0
    embedded = counting.embedded
    again, stats = build_index(docs, counting, tmp_path / "index")
    assert not stats["rebuilt"] and counting.embedded == embedded
    assert again.key == first.key and (again.vectors == first.vectors).all()


def test_editing_one_document_reembeds_only_its_changed_passages(embedder, knowledge_copy, tmp_path):
    counting = CountingEmbedder(embedder)
    first, _ = build_index(load_documents(knowledge_copy), counting, tmp_path / "index")
    path = knowledge_copy / "shanghai-commerce-2020-disclosure-points.md"
    path.write_text(path.read_text(encoding="utf-8").replace("强化新媒体工作。", "强化新媒体工作和短视频工作。"), "utf-8")
    before = counting.passages, counting.questions
    second, stats = build_index(load_documents(knowledge_copy), counting, tmp_path / "index")
    assert stats["rebuilt"] and second.key != first.key
    assert counting.passages - before[0] == 2 and stats["embedded"] == 1
    # the heading's generated phrasing changed with it; every other phrasing's vector is reused
    assert counting.questions - before[1] == stats["questions_embedded"] == 1
    assert (tmp_path / "index" / CURRENT_POINTER).read_text().strip() == second.key
    assert load_current(tmp_path / "index").key == second.key


def test_bad_document_is_reported_by_name(knowledge_copy):
    (knowledge_copy / "broken.md").write_text("---\ntitle: 没有发布机关\n---\n正文", "utf-8")
    with pytest.raises(DocumentError, match="broken.md.*issuer"):
        load_documents(knowledge_copy)


def test_index_never_points_at_a_partial_build(embedder, knowledge_copy, tmp_path):
    build_index(load_documents(knowledge_copy), embedder, tmp_path / "index")
    leftovers = [p for p in (tmp_path / "index").iterdir() if p.name.startswith(".build-")]
    assert leftovers == []
    current = load_current(tmp_path / "index")
    assert (tmp_path / "index" / current.key / "manifest.json").exists()


def test_postings_bm25_scores_equal_rank_bm25s_bit_for_bit():
    """The faster BM25 gives exactly BM25Okapi's scores on the real knowledge base and dev questions."""
    import numpy as np
    import yaml
    from rank_bm25 import BM25Okapi

    from bot.knowledge.chunking import split_document
    from bot.knowledge.index import PostingsBM25
    from bot.knowledge.sources import load_knowledge
    from bot.text import char_bigrams, tokenize

    passages = [p for doc in load_knowledge(ROOT / "knowledge") for p in split_document(doc)]
    assert len(passages) > 100
    questions = [q["q"] for q in yaml.safe_load((ROOT / "tests/data/retrieval_dev.yml").read_text())["questions"]]
    questions += ["不在知识库里的词语", "", "第三十三条 第三十三条"]
    for corpus, query_terms in (
        ([tokenize(p.embedding_text()) for p in passages], tokenize),
        ([sorted(char_bigrams(p.embedding_text())) for p in passages], lambda q: sorted(char_bigrams(q))),
    ):
        fast, reference = PostingsBM25(corpus), BM25Okapi(corpus)
        for question in questions:
            terms = query_terms(question)
            assert np.array_equal(fast.get_scores(terms), reference.get_scores(terms)), question


def test_retrievers_per_question_shortcuts_equal_the_plain_loops(knowledge_service):
    """Heading coverage and each passage's best phrasing, computed without Python loops over
    passages, equal the plain loops bit for bit on the real index and the dev questions."""
    import numpy as np
    import yaml

    from bot.text import tokenize

    retriever = knowledge_service.retriever
    index = retriever.index
    questions = [q["q"] for q in yaml.safe_load((ROOT / "tests/data/retrieval_dev.yml").read_text())["questions"]]
    questions += ["政务公开", "", "第三十三条 第三十三条"]
    margins = np.where(index.question_generated, retriever.generated_margin, retriever.question_margin).astype(np.float32)
    for question in questions:
        tokens = tokenize(retriever.expand(question))
        words = {t for t in tokens if len(t) > 1}
        coverage = np.zeros(len(index.passages), dtype=np.float32)
        for i, (heading, title) in enumerate(zip(retriever._heading_tokens, retriever._title_tokens)):
            if heading and words:
                asked = words - title
                coverage[i] = len(asked & heading) / len(asked) if asked else 0.0
        assert np.array_equal(retriever._heading_coverage(tokens), coverage), question
        vector = knowledge_service.embedder.embed_queries([question or "空"])[0]
        best = np.full(len(index.passages), -1.0, dtype=np.float32)
        np.maximum.at(best, index.question_owners, index.question_vectors @ vector - margins)
        assert np.array_equal(retriever.asked_scores(vector), best), question
