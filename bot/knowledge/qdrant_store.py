"""Dense retrieval from Qdrant, for an agency whose knowledge base outgrows in-process search.

The in-process retriever multiplies every passage vector with the question; past a few hundred
thousand passages that wants an approximate-nearest-neighbour engine. `QdrantRetriever` keeps all
of bot.knowledge.retriever's scoring and overrides only its `dense_scores` hook: Qdrant gives the
`candidates` nearest passages of the whole knowledge base; the nearest passages of the issuers a
question names and the front-runners by the other signals are scored exactly from the index's own
vectors, which the process holds anyway (no second round trip; qdrant-client's local mode filtered
and fetched by looping over every point in Python, 0.3 s a question with 6,000 passages). Every
other passage scores as if its cosine were -1, so the ranking equals the in-process one unless a
passage outside all of those sets would have won — the dev-set test checks it does not.

One collection per index key (`<prefix>_<key>`), filled from the published index the first time a
replica serves that key; a new index is a new collection, the old ones are pruned (two are kept,
like the index directories). Selected with GOVBOT_VECTOR_STORE=qdrant:

    GOVBOT_QDRANT_URL         Qdrant server, e.g. http://qdrant.internal:6333 (API key: GOVBOT_QDRANT_API_KEY)
    GOVBOT_QDRANT_PATH        without a URL: qdrant-client's local mode in this directory
                              (one process per directory); default ":memory:"
    GOVBOT_QDRANT_COLLECTION  collection name prefix (default govbot_passages)
    GOVBOT_QDRANT_CANDIDATES  nearest passages fetched per question (default 100)
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from bot.knowledge.index import KnowledgeIndex
from bot.knowledge.retriever import QueryEmbedder, Retriever
from bot.settings import IndexSettings

log = logging.getLogger(__name__)

DEFAULT_COLLECTION = IndexSettings.qdrant_collection
DEFAULT_CANDIDATES = IndexSettings.qdrant_candidates
KEEP_COLLECTIONS = 2
UPLOAD_BATCH = 256
OUTSIDE = -1.0  # the lowest cosine: passages Qdrant did not return never outrank those it did


def client_from_env():
    from qdrant_client import QdrantClient

    settings = IndexSettings.from_env()
    if settings.qdrant_url:
        return QdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key or None, timeout=10)
    return QdrantClient(path=settings.qdrant_path)


class QdrantRetriever(Retriever):
    def __init__(
        self,
        index: KnowledgeIndex,
        embedder: QueryEmbedder,
        issuer_aliases: dict[str, list[str]] | None = None,
        *,
        client=None,
        collection_prefix: str = DEFAULT_COLLECTION,
        candidates: int = DEFAULT_CANDIDATES,
        **weights,
    ) -> None:
        super().__init__(index, embedder, issuer_aliases, **weights)
        self.client = client if client is not None else client_from_env()
        self.collection_prefix = collection_prefix
        self.collection = f"{collection_prefix}_{index.key}"
        self.candidates = max(1, int(candidates))
        self._ensure_collection()

    @classmethod
    def from_env(cls, index: KnowledgeIndex, embedder: QueryEmbedder, aliases=None, **weights) -> "QdrantRetriever":
        return cls(
            index,
            embedder,
            aliases,
            collection_prefix=(settings := IndexSettings.from_env()).qdrant_collection,
            candidates=settings.qdrant_candidates,
            **weights,
        )

    # -- the collection ------------------------------------------------------------------------------

    def _ensure_collection(self) -> None:
        from qdrant_client import models

        vectors = self.index.vectors
        if self.client.collection_exists(self.collection):
            count = self.client.count(self.collection, exact=True).count
            if count == len(self.index.passages):
                return
            log.warning("qdrant collection %s is incomplete (%d of %d points): refilling", self.collection, count,
                        len(self.index.passages))
            self.client.delete_collection(self.collection)
        self.client.create_collection(
            self.collection,
            vectors_config=models.VectorParams(size=int(vectors.shape[1]), distance=models.Distance.COSINE),
        )
        with warnings.catch_warnings():  # local mode ignores payload indexes and says so; a server uses it
            warnings.simplefilter("ignore", UserWarning)
            self.client.create_payload_index(self.collection, "issuer", models.PayloadSchemaType.KEYWORD)
        for start in range(0, len(self.index.passages), UPLOAD_BATCH):
            stop = min(start + UPLOAD_BATCH, len(self.index.passages))
            self.client.upsert(
                self.collection,
                points=models.Batch(
                    ids=list(range(start, stop)),
                    vectors=vectors[start:stop].astype(np.float32).tolist(),
                    payloads=[
                        {"doc_id": p.doc_id, "issuer": p.issuer} for p in self.index.passages[start:stop]
                    ],
                ),
                wait=True,
            )
        log.info("qdrant collection %s filled with %d passages", self.collection, len(self.index.passages))
        self._prune()

    def _prune(self) -> None:
        names = [c.name for c in self.client.get_collections().collections if c.name.startswith(f"{self.collection_prefix}_")]
        old = [n for n in names if n != self.collection]
        for name in old[: max(0, len(old) - (KEEP_COLLECTIONS - 1))]:
            self.client.delete_collection(name)

    # -- searching ----------------------------------------------------------------------------------

    def _nearest(self, query_vector: np.ndarray) -> dict[int, float]:
        result = self.client.query_points(self.collection, query=query_vector.astype(np.float32).tolist(), limit=self.candidates)
        return {int(point.id): float(point.score) for point in result.points}

    def _exact(self, query_vector: np.ndarray, ids) -> dict[int, float]:
        """The cosine of these passages as the in-process retriever computes it."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return {}
        return dict(zip(ids.tolist(), (self.index.vectors[ids] @ query_vector).tolist()))

    def _nearest_of(self, query_vector: np.ndarray, issuers: set[str]) -> dict[int, float]:
        """The `candidates` nearest passages of these issuers."""
        rows = np.flatnonzero(np.isin(self._issuers, sorted(issuers)))
        scores = self.index.vectors[rows] @ query_vector
        keep = np.argsort(-scores)[: self.candidates]
        return dict(zip(rows[keep].tolist(), scores[keep].tolist()))

    def dense_scores(
        self, query_vector: np.ndarray, named: set[str], front_runners: np.ndarray
    ) -> np.ndarray:
        """Cosine for the candidates (Qdrant's nearest, the named issuers' nearest, `front_runners`), -1 elsewhere."""
        found = self._nearest(query_vector)
        if named:
            found.update(self._nearest_of(query_vector, named))
        found.update(self._exact(query_vector, [int(i) for i in front_runners if int(i) not in found]))
        dense = np.full(len(self.index.passages), OUTSIDE, dtype=np.float32)
        if found:
            ids = np.fromiter(found.keys(), dtype=np.int64)
            dense[ids] = np.fromiter(found.values(), dtype=np.float32)
        return dense
