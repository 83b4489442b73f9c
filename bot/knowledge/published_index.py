"""Serving a published index snapshot: several action-server replicas, one rebuild.

With more than one action server, the index is built once — `govbot kb build` run as a job against
a directory every replica mounts (GOVBOT_CACHE_DIR) — and published there by the atomic CURRENT
pointer swap of bot.knowledge.index. A replica must then never build or move the pointer itself:
one started from an older image would flip every replica back to its own older index. So in
`GOVBOT_INDEX_MODE=published` the service only loads what CURRENT names (waiting for a first
publication if there is none yet), and KnowledgeService's once-a-second pointer check switches
every replica to the next snapshot within about a second of its publication.

`GOVBOT_VECTOR_STORE=qdrant` serves the dense side from a Qdrant collection instead of the
in-process matrix (bot.knowledge.qdrant_store); the default stays in-process.
"""

from __future__ import annotations

import logging
import threading
import time

from bot.knowledge.index import KnowledgeIndex, current_key, load_index
from bot.knowledge.service import KnowledgeService
from bot.settings import IndexSettings, Settings

log = logging.getLogger(__name__)

INDEX_MODES = IndexSettings.variable("index_mode").choices
VECTOR_STORES = IndexSettings.variable("vector_store").choices
DEFAULT_WAIT_SECONDS = IndexSettings.index_wait_seconds


class IndexNotPublished(RuntimeError):
    """No complete index for this embedding model has been published in the shared directory."""


class ConfigurableKnowledgeService(KnowledgeService):
    """KnowledgeService that can serve a published snapshot and/or use the Qdrant adapter."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        published: bool = False,
        vector_store: str = "memory",
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
    ) -> None:
        super().__init__(settings)
        if vector_store not in VECTOR_STORES:
            raise ValueError(f"GOVBOT_VECTOR_STORE 应为 {' 或 '.join(VECTOR_STORES)}，当前为 {vector_store!r}")
        self.published = published
        self.vector_store = vector_store
        self.wait_seconds = wait_seconds

    def build(self, progress: bool = False) -> dict:
        if not self.published:
            return super().build(progress=progress)
        index = self.wait_for_published()
        self._use(index)
        return {"key": index.key, "rebuilt": False, "passages": len(index.passages), "embedded": 0}

    def wait_for_published(self) -> KnowledgeIndex:
        """The index CURRENT names, once it is complete and made by our embedding model."""
        deadline = time.monotonic() + self.wait_seconds
        index_dir = self.settings.index_dir
        reported = False
        while True:
            key = current_key(index_dir)
            index = load_index(index_dir / key) if key else None
            if index is not None and index.manifest.get("embedder") == self.embedder.identity:
                log.info("serving published knowledge index %s (%d passages)", key, len(index.passages))
                return index
            if time.monotonic() >= deadline:
                raise IndexNotPublished(
                    f"{index_dir} 中没有可用的知识库索引：请先运行 `govbot kb build`（GOVBOT_CACHE_DIR 指向同一目录）"
                )
            if not reported:
                log.warning("waiting for a knowledge index to be published in %s", index_dir)
                reported = True
            time.sleep(1.0)

    def _new_retriever(self, index: KnowledgeIndex, aliases: dict):
        if self.vector_store == "memory":
            return super()._new_retriever(index, aliases)
        from bot.knowledge.qdrant_store import QdrantRetriever

        return QdrantRetriever.from_env(index, self.embedder, aliases, **self._retriever_options())

    @property
    def loaded_index(self) -> KnowledgeIndex | None:
        """The index in force, without triggering a build (for readiness checks)."""
        with self._lock:
            return self._retriever.index if self._retriever is not None else None


def service_from_env(settings: Settings | None = None) -> ConfigurableKnowledgeService:
    """The service as GOVBOT_INDEX_MODE (build|published) and GOVBOT_VECTOR_STORE (memory|qdrant) say."""
    index = IndexSettings.from_env()
    return ConfigurableKnowledgeService(
        settings, published=index.index_mode == "published", vector_store=index.vector_store, wait_seconds=index.index_wait_seconds
    )


_service: ConfigurableKnowledgeService | None = None
_service_lock = threading.Lock()


def get_service() -> ConfigurableKnowledgeService:
    """The process's service, as GOVBOT_INDEX_MODE and GOVBOT_VECTOR_STORE configure it.

    It lives here, not in bot.knowledge.service, so the dependency runs one way: this module builds
    on KnowledgeService, and KnowledgeService knows nothing of how a process configures it."""
    global _service
    with _service_lock:
        if _service is None:
            _service = service_from_env()
        return _service
