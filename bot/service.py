"""Wires settings, embedding model, index and retriever into one answering service.

The action server and the `govbot` CLI both go through here, so they load the model once and
always agree on which index and threshold are in force.
"""

from __future__ import annotations

import logging
import threading
from functools import cached_property

from bot.answering import RETRIEVAL_ERROR_TEXT, Answer, compose_answer
from bot.knowledge.documents import load_documents
from bot.knowledge.index import KnowledgeIndex, build_index
from bot.knowledge.retriever import Hit, Retriever, load_issuer_aliases
from bot.settings import Settings

log = logging.getLogger(__name__)


class KnowledgeService:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self._lock = threading.Lock()
        self._retriever: Retriever | None = None

    @cached_property
    def embedder(self):
        from bot.embeddings.encoder import Embedder, ensure_default_model

        model = self.settings.embedding_model or str(ensure_default_model(self.settings.models_dir))
        return Embedder(model, self.settings.query_prompt, self.settings.passage_prompt)

    def build(self, progress: bool = False) -> dict:
        """Bring the index up to date with knowledge/ and switch the retriever to it."""
        documents = load_documents(self.settings.documents_dir)
        index, stats = build_index(documents, self.embedder, self.settings.index_dir, progress=progress)
        self._use(index)
        return stats

    def _use(self, index: KnowledgeIndex) -> None:
        aliases = load_issuer_aliases(self.settings.knowledge_dir / "issuers.yml")
        retriever = Retriever(
            index,
            self.embedder,
            aliases,
            bm25_weight=self.settings.bm25_weight,
            issuer_boost=self.settings.issuer_boost,
        )
        with self._lock:
            self._retriever = retriever

    @property
    def retriever(self) -> Retriever:
        with self._lock:
            retriever = self._retriever
        if retriever is None:
            self.build()
            retriever = self._retriever
        return retriever

    def search(self, query: str, top_k: int | None = None, issuers: set[str] | None = None) -> list[Hit]:
        return self.retriever.search(query, top_k or self.settings.top_k, issuers=issuers)

    def answer(self, question: str, issuers: set[str] | None = None) -> Answer:
        """Never raises: a failure becomes an apology the user can read, and a log entry."""
        try:
            hits = self.search(question, issuers=issuers)
            return compose_answer(question, hits, self.settings.answer_threshold)
        except Exception:
            log.exception("knowledge answer failed for a question of %d characters", len(question or ""))
            return Answer(found=False, text=RETRIEVAL_ERROR_TEXT)


_service: KnowledgeService | None = None
_service_lock = threading.Lock()


def get_service() -> KnowledgeService:
    global _service
    with _service_lock:
        if _service is None:
            _service = KnowledgeService()
        return _service
