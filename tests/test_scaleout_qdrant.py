"""The Qdrant adapter (qdrant-client local mode) ranks like the in-process index on the dev questions."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = pytest.mark.scaleout

qdrant_client = pytest.importorskip("qdrant_client")


def dev_questions() -> list[str]:
    data = yaml.safe_load((ROOT / "tests" / "data" / "retrieval_dev.yml").read_text(encoding="utf-8"))
    return [item["q"] for item in data["questions"]]


@pytest.fixture(scope="module")
def in_process(knowledge_service):
    return knowledge_service.retriever


@pytest.fixture(scope="module")
def qdrant(in_process, knowledge_service, tmp_path_factory):
    from bot.knowledge.qdrant_store import QdrantRetriever
    from bot.knowledge.retriever import load_issuer_aliases

    aliases = load_issuer_aliases(knowledge_service.settings.knowledge_dir / "issuers.yml")
    client = qdrant_client.QdrantClient(path=str(tmp_path_factory.mktemp("qdrant")))
    retriever = QdrantRetriever(
        in_process.index, in_process.embedder, aliases, client=client, bm25_weight=in_process.bm25_weight, issuer_boost=in_process.issuer_boost,
        heading_weight=in_process.heading_weight, query_terms=in_process.query_terms,
    )
    yield retriever
    client.close()


def test_qdrant_returns_the_same_top_results_as_the_in_process_index(in_process, qdrant):
    questions = dev_questions()
    assert len(questions) >= 100
    differing = []
    for question in questions:
        expected = [h.passage.passage_id for h in in_process.search(question, 5)]
        if [h.passage.passage_id for h in qdrant.search(question, 5)] != expected:
            differing.append(question)
    assert not differing, f"{len(differing)} of {len(questions)} differ, e.g. {differing[:3]}"
    # Scores agree too (cosine from Qdrant vs the in-process matrix product).
    question = questions[0]
    a, b = in_process.search(question, 1)[0], qdrant.search(question, 1)[0]
    assert abs(a.score - b.score) < 1e-4


def test_the_collection_is_reused_per_index_key_and_old_ones_are_pruned(in_process, qdrant):
    from bot.knowledge.qdrant_store import QdrantRetriever

    client = qdrant.client
    assert client.count(qdrant.collection, exact=True).count == len(in_process.index.passages)
    again = QdrantRetriever(in_process.index, in_process.embedder, client=client)
    assert again.collection == qdrant.collection
    names = {c.name for c in client.get_collections().collections}
    assert names == {qdrant.collection}


def test_the_service_uses_qdrant_when_configured(monkeypatch, knowledge_service, tmp_path):
    from bot.knowledge.published_index import service_from_env
    from bot.knowledge.qdrant_store import QdrantRetriever

    monkeypatch.setenv("GOVBOT_VECTOR_STORE", "qdrant")
    monkeypatch.setenv("GOVBOT_QDRANT_PATH", str(tmp_path / "q"))
    service = service_from_env(knowledge_service.settings)
    service.embedder = knowledge_service.embedder  # cached_property: share the loaded model
    service.build()
    assert isinstance(service.retriever, QdrantRetriever)
    question = "上海市商务委2020年对政务新媒体提了什么要求"
    assert service.answer(question).text == knowledge_service.answer(question).text
    monkeypatch.setenv("GOVBOT_VECTOR_STORE", "elastic")
    with pytest.raises(ValueError, match="GOVBOT_VECTOR_STORE"):
        service_from_env(knowledge_service.settings)
