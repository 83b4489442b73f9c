"""Dialect and chat words put into standard Mandarin before a question is searched.

The embedding model and the documents speak 普通话; citizens type 「多会儿能给答复」, 「俺咋申请」,
「要带啥」. Only words with one plain meaning are rewritten, and only for searching: routing and
the reply still read the question as typed. Pronouns (俺, 咱) are left alone: they carry nothing
the search needs.
"""

from __future__ import annotations

import re

# Longer forms first (「咋整」 before 「咋」); each maps to what the documents would say.
_STANDARD = {
    "多会儿": "多久",
    "多咱": "什么时候",
    "多早晚": "什么时候",
    "咋整": "怎么办",
    "咋办": "怎么办",
    "咋弄": "怎么办",
    "咋样": "怎么样",
    "咋": "怎么",
    "为啥": "为什么",
    "干啥": "干什么",
    "干嘛": "干什么",
    "啥": "什么",
    "晓得": "知道",
    "木有": "没有",
    "甭": "不用",
    "搁哪": "在哪",
    "报备": "备案",
}
_WORDS = re.compile("|".join(sorted(_STANDARD, key=len, reverse=True)))


def standard_mandarin(text: str) -> str:
    """「申请交上去 多会儿能给我答复」 → 「申请交上去 多久能给我答复」."""
    return _WORDS.sub(lambda m: _STANDARD[m.group()], text) if text else text
