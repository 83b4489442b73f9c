"""How close each sentence of a long passage is to the question, by the embedding model.

Choosing the sentences to quote by shared words alone misses when the question is colloquial and
the sentence is formal (「拿这个干嘛用」 vs 「无需说明申请用途」): the model reads both. Sentence
vectors are made when the index is built and kept beside it (VECTORS_FILE); processes load them at
start-up, and a passage of a newer index is embedded the first time it is quoted.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

import numpy as np

from bot.privacy.validation import strip_personal_identifiers
from bot.text import normalize_query

log = logging.getLogger(__name__)

# Sentences kept (384 floats each with the default model: about 30 MB at most).
CACHE_SIZE = 20000
# Beside an index (its directory is named by the documents and the model): the first process to
# warm up embeds the sentences and leaves them here; the next ones (replicas, restarts) load them.
VECTORS_FILE = "sentence_vectors.npz"


class SentenceEmbedder(Protocol):
    def embed_queries(self, texts: list[str], counted: bool = True) -> np.ndarray: ...

    def embed_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray: ...


class SentenceRelevance:
    """Callable: (question, sentences) -> the cosine of each sentence to the question."""

    def __init__(self, embedder: SentenceEmbedder, cache_size: int = CACHE_SIZE) -> None:
        self.embedder = embedder
        self.cache_size = cache_size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, question: str, sentences: list[str]) -> np.ndarray:
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        # Read as the retriever read it (personal identifiers out, simplified characters), so the
        # query cache serves the vector the retriever has just made and holds no personal data.
        query = self.embedder.embed_queries([normalize_query(strip_personal_identifiers(question))], counted=False)[0]
        return self.vectors(sentences) @ query

    def warm(self, passages, stores=()) -> int:
        """Embeds ahead the sentences of every passage an answer quotes only part of (at start-up,
        so no person waits for it); returns how many sentences that is. `stores`: this index's
        VECTORS_FILE, then older ones whose sentences may be reused; the first is (re)written
        when it did not hold them all."""
        from bot.knowledge.answering import quoted_units, quotes_part_of

        units = list(dict.fromkeys(u for p in passages if quotes_part_of(p.text) for u in quoted_units(p.text)[2]))
        units = units[: self.cache_size]
        stores = [Path(store) for store in stores]
        known = self._read(stores[0]) if stores else {}
        if units and all(u in known for u in units):
            self._remember(known, units)
            return len(units)
        for older in stores[1:]:
            known = self._read(older) | known
        self._remember(known, units)
        if units:
            vectors = self.vectors(units)  # embeds only what neither memory nor a store had
            if stores:
                self._save(stores[0], units, vectors)
        return len(units)

    @staticmethod
    def _read(path: Path) -> dict[str, np.ndarray]:
        """The sentence vectors a store holds (none when it is missing or unreadable)."""
        try:
            with np.load(path, allow_pickle=False) as data:
                return dict(zip(data["texts"].tolist(), data["vectors"]))
        except (OSError, ValueError, KeyError):
            return {}

    def _remember(self, known: dict[str, np.ndarray], units: list[str]) -> None:
        self._keep((u, known[u]) for u in units if u in known)

    def _keep(self, pairs) -> None:
        """Adds (sentence, vector) pairs, dropping the least recently used beyond cache_size."""
        with self._lock:
            self._vectors.update(pairs)
            while len(self._vectors) > self.cache_size:
                self._vectors.popitem(last=False)

    def _save(self, path: Path, units: list[str], vectors: np.ndarray) -> None:
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        try:
            with open(partial, "wb") as out:
                np.savez(out, texts=np.array(units), vectors=vectors)
            os.replace(partial, path)  # readers see the whole file or none
        except OSError as exc:
            log.warning("sentence vectors not kept beside the index (%s): each process embeds its own", exc)
            partial.unlink(missing_ok=True)

    def vectors(self, sentences: list[str]) -> np.ndarray:
        with self._lock:
            known = {s: self._vectors[s] for s in sentences if s in self._vectors}
            for s in known:
                self._vectors.move_to_end(s)
        missing = list(dict.fromkeys(s for s in sentences if s not in known))
        if missing:
            fresh = self.embedder.embed_passages(missing)
            known.update(zip(missing, fresh))
            self._keep(zip(missing, fresh))
        return np.stack([known[s] for s in sentences]).astype(np.float32, copy=False)
