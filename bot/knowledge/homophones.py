"""Repairs pinyin-input slips in a question before it is searched: 申清→申请, 传针→传真, 油编→邮编.

Citizens type on phones with a pinyin keyboard (or dictate), and a wrong candidate character breaks
the one word the question turns on. A slip here is a two-character piece that is not a word (jieba
does not know it, or splits it into single characters), sounds exactly like a word characteristic
of this knowledge base (far more frequent in it than in general Chinese), and keeps one of that
word's characters in place. Only such domain words are restored, so 「改个名字」 and 「我是寄平信」
stay as typed.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

import jieba
from pypinyin import lazy_pinyin

_HAN2 = re.compile(r"[\u4e00-\u9fff]{2}")
# How much more often (log ratio) a word must occur in the knowledge base than in jieba's general
# dictionary to count as a domain word worth restoring (申请 6.0, 传真 4.5; 改革 1.0, 得到 0.4).
MIN_SALIENCE = 3.0
MIN_COUNT = 2
# Characters that stand alone as grammar words: a piece holding one is two words, not a slip
# (「才会收费」 is not 回收, 「不懂」 is not 不动).
_GRAMMAR = frozenset("不没会是的地得了着过在有个要能可就都也还和与跟吗呢吧啊呀么啥咋嘛呗哦哈")


@lru_cache(maxsize=8192)
def _sound(word: str) -> str:
    return "".join(lazy_pinyin(word))


class HomophoneRepair:
    """Built once per index from its passages (and the staff's colloquial terms); `repair` is pure."""

    def __init__(self, texts: Iterable[str], extra_words: Iterable[str] = ()) -> None:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(w for w in jieba.cut(text) if _HAN2.fullmatch(w))
        # The staff's colloquial words (邮编, 执照) are domain words by declaration, however rare.
        declared = {w for word in extra_words for w in jieba.cut_for_search(word) if _HAN2.fullmatch(w)}
        self._known = counts.keys() | declared
        freq, total = jieba.dt.FREQ, jieba.dt.total
        corpus = sum(counts.values()) or 1
        by_sound: dict[str, str] = {}
        for word, count in counts.items():
            if count < MIN_COUNT:
                continue
            salience = math.log((count + 1) / corpus) - math.log((freq.get(word, 0) + 1) / total)
            if salience < MIN_SALIENCE:
                continue
            sound = _sound(word)
            if sound not in by_sound or counts[by_sound[sound]] < count:
                by_sound[sound] = word
        for word in sorted(declared):
            by_sound.setdefault(_sound(word), word)
        self._by_sound = by_sound

    def _restore(self, piece: str) -> str | None:
        if not _HAN2.fullmatch(piece) or piece in self._known or jieba.dt.FREQ.get(piece, 0) > 0:
            return None
        if any(ch in _GRAMMAR for ch in piece):
            return None
        word = self._by_sound.get(_sound(piece))
        if word is None or word == piece or not any(a == b for a, b in zip(piece, word)):
            return None
        return word

    def _is_word(self, token: str) -> bool:
        return token in self._known or jieba.dt.FREQ.get(token, 0) > 0

    def repair(self, text: str) -> str:
        """The text with each slip replaced by the domain word it sounds like; unchanged otherwise.

        A slip hides in a run of pieces jieba could not make words of (single characters and unknown
        pairs: 「去备|按」 for 去备案); each run is read two characters at a time, left to right.
        """
        if not text or not self._by_sound:
            return text
        out: list[str] = []
        run = ""
        for token in jieba.lcut(text):
            if len(token) == 1 or len(token) == 2 and not self._is_word(token):
                run += token
                continue
            out.append(self._repair_run(run))
            out.append(token)
            run = ""
        out.append(self._repair_run(run))
        return "".join(out)

    def _repair_run(self, run: str) -> str:
        out, i = [], 0
        while i < len(run):
            word = self._restore(run[i : i + 2]) if i + 1 < len(run) else None
            if word:
                out.append(word)
                i += 2
            else:
                out.append(run[i])
                i += 1
        return "".join(out)
