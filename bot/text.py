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
import opencc

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
# Character-level traditional→simplified (OpenCC's t2s): 「條例」→「条例」. Phrase-level variants
# (t2s cannot turn 資訊 into 信息) are left alone rather than guessed.
_to_simplified = opencc.OpenCC("t2s")
_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100}
# 「第三十三条」「第33条」, and 「条例33条」 where 条例 makes "33条" an article, not a count.
_NUMERAL = r"([0-9]{1,3}|[零〇一二两三四五六七八九十百]{1,7})"
_ARTICLE = re.compile(
    rf"(?:第|(?<=条例))\s*{_NUMERAL}\s*条"
    # A follow-up names the next article without 第: 「那十五条呢」「十六条」 (not 「有三条」, a count).
    rf"|(?:^|(?<=[那和及与、，,再看查说讲问]))\s*{_NUMERAL}\s*条(?=\s*(?:呢|吗|说|讲|是|规定|怎么|写|的|内容|[?？。!！]|$))"
)


def normalize(text: str) -> str:
    """NFKC folds full-width letters, digits and punctuation to half-width; spaces collapse."""
    text = unicodedata.normalize("NFKC", text or "")
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in "\n\t")
    return _SPACES.sub(" ", text).strip()


def simplify(text: str) -> str:
    """Traditional characters to simplified ones, so 「政府資訊公開條例」 finds the same passages."""
    return _to_simplified.convert(text) if text else text


def normalize_query(text: str) -> str:
    """What a question is searched as: width- and space-normalised, in simplified characters."""
    return simplify(normalize(text))


def chinese_number(numeral: str) -> int | None:
    """「三十三」→33, 「一百零五」→105, 「十」→10; None for what is not a number below 1000."""
    if numeral.isdigit():
        return int(numeral)
    total, digit, last_unit = 0, None, 1000
    for ch in numeral:
        if ch in "零〇" and total and digit is None:
            continue  # 「一百零五」: the 零 only holds the empty tens place
        if ch in _DIGITS:
            if digit is not None:
                return None  # 「三三」 is not how articles are numbered
            digit = _DIGITS[ch]
        elif ch in _UNITS:
            if _UNITS[ch] >= last_unit:
                return None  # 「十百」: units only go down
            last_unit = _UNITS[ch]
            total += (1 if digit is None else digit) * _UNITS[ch]
            digit = None
        else:
            return None
    total += digit or 0
    return total if 0 < total < 1000 else None


def chinese_numeral(number: int) -> str:
    """33→「三十三」, 105→「一百零五」, 10→「十」: how the documents number their articles."""
    if not 0 < number < 1000:
        raise ValueError(f"article numbers run from 1 to 999, not {number}")
    names = "零一二三四五六七八九"
    hundreds, tens, ones = number // 100, number // 10 % 10, number % 10
    out = f"{names[hundreds]}百" if hundreds else ""
    if tens:
        out += ("" if tens == 1 and not hundreds else names[tens]) + "十"
    elif hundreds and ones:
        out += "零"
    return out + (names[ones] if ones else "")


def article_numbers(text: str) -> set[int]:
    """Article numbers a question cites: 「第三十三条」「第33条」「条例33条」 all give 33."""
    found = set()
    for match in _ARTICLE.finditer(normalize(text)):
        number = chinese_number(match.group(1) or match.group(2))
        if number:
            found.add(number)
    return found


def without_articles(text: str) -> str:
    """The text with its article references taken out: a follow-up naming another article replaces them."""
    return _ARTICLE.sub("", normalize(text))


def article_label(number: int) -> str:
    """The locator of an article passage, as chunking writes it: 33 → 「第三十三条」."""
    return f"第{chinese_numeral(number)}条"


def _load_domain_dictionary() -> None:
    global _jieba_ready
    with _jieba_lock:
        if _jieba_ready:
            return
        _add_domain_words(jieba.dt)  # jieba's global tokenizer
        _jieba_ready = True


def _add_domain_words(tokenizer: jieba.Tokenizer) -> None:
    jieba.setLogLevel(60)
    for path in sorted(Path(JIEBA_DICT_DIR).glob("*.txt")):
        tokenizer.load_userdict(str(path))


_search_jieba: jieba.Tokenizer | None = None


def _search_tokenizer() -> jieba.Tokenizer:
    """jieba for keyword search: its own instance with the domain dictionary only.

    jieba's global dictionary grows at run time (the service-item recogniser adds every item name),
    so cutting passages and questions with it would depend on what the process had loaded when: the
    index is tokenised by `govbot kb build`, questions by the action server.
    """
    global _search_jieba
    with _jieba_lock:
        if _search_jieba is None:
            tokenizer = jieba.Tokenizer()
            _add_domain_words(tokenizer)
            _search_jieba = tokenizer
        return _search_jieba


def tokenize(text: str) -> list[str]:
    """Search-oriented jieba tokens without stop words or punctuation, for BM25."""
    tokens = []
    for token in _search_tokenizer().cut_for_search(normalize(text).lower()):
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
    """Adjacent letter/digit/Hanzi pairs: matching that does not depend on jieba's segmentation."""
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
