"""Chinese text handling shared by indexing, retrieval and answering.

Queries arrive in every width and spelling (全角/半角, stray spaces, emoji); documents use a mix of
ASCII and Chinese punctuation. Normalising both the same way keeps matching honest.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path

import jieba

from bot.settings import PROJECT_ROOT

JIEBA_DICT_DIR = PROJECT_ROOT / "data" / "jieba"

_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])")
_CJK = r"\u4e00-\u9fff"
_SPACES = re.compile(r"\s+")
_STOPWORDS = frozenset(
    "的 了 和 与 及 或 是 在 对 把 被 就 都 也 还 要 有 吗 呢 吧 啊 呀 么 嘛 哪些 什么 怎么 怎样 如何 "
    "哪 谁 多少 几 请问 一下 我 我们 你 你们 他们 这 那 这个 那个 个 些 能 可以 会 想 问 问问 "
    "一 上 中 下 为 以 等 其 之 而 并 从 到 给 让 由 向 于 啥 咋 嘞 哈".split()
)
_jieba_lock = threading.Lock()
_jieba_ready = False


def normalize(text: str) -> str:
    """NFKC folds full-width letters, digits and punctuation to half-width; spaces collapse."""
    text = unicodedata.normalize("NFKC", text or "")
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in "\n\t")
    return _SPACES.sub(" ", text).strip()


def _load_domain_dictionary() -> None:
    global _jieba_ready
    with _jieba_lock:
        if _jieba_ready:
            return
        jieba.setLogLevel(60)
        for path in sorted(Path(JIEBA_DICT_DIR).glob("*.txt")):
            jieba.load_userdict(str(path))
        _jieba_ready = True


def tokenize(text: str) -> list[str]:
    """Search-oriented jieba tokens without stop words or punctuation, for BM25."""
    _load_domain_dictionary()
    tokens = []
    for token in jieba.cut_for_search(normalize(text).lower()):
        token = token.strip()
        if not token or token in _STOPWORDS:
            continue
        if not any(ch.isalnum() for ch in token):
            continue
        tokens.append(token)
    return tokens


def split_sentences(text: str) -> list[str]:
    """Split on Chinese sentence ends, keeping the terminator with its sentence."""
    parts = []
    for line in text.splitlines():
        parts.extend(piece.strip() for piece in _SENTENCE_END.split(line))
    return [p for p in parts if p]


@lru_cache(maxsize=4096)
def char_bigrams(text: str) -> frozenset[str]:
    chars = [c for c in normalize(text).lower() if c.isalnum()]
    return frozenset(a + b for a, b in zip(chars, chars[1:]))


def display(text: str) -> str:
    """Chinese punctuation for text shown to people: the seeds mix ASCII ',' ':' '()' into Chinese."""
    text = re.sub(rf"(?<=[{_CJK}」”）》])\s*,\s*", "，", text)
    text = re.sub(rf",\s*(?=[{_CJK}「“（《])", "，", text)
    text = re.sub(rf"(?<=[{_CJK}])\s*:\s*", "：", text)
    text = re.sub(rf"(?<=[{_CJK}])\s*;\s*", "；", text)
    text = re.sub(r"\(([^()]{1,30})\)", r"（\1）", text)
    text = re.sub(rf"(?<=[{_CJK}])\s+(?=[、，。；：])", "", text)
    return text.strip()
