"""Topic keywords of a question: jieba words (with the domain dictionary), Chinese only.

Only words made of Chinese characters are kept, so no number (ID, phone, case number) can end up
in a topic list.
"""

from __future__ import annotations

import re

import jieba

from bot.text import _STOPWORDS, _load_domain_dictionary, normalize

_CHINESE_WORD = re.compile(r"^[\u4e00-\u9fff]{2,}$")
# Question words and politeness that say nothing about the topic.
_GENERIC = frozenset(
    "您好 你好 谢谢 需要 应该 知道 了解 办理 咨询 问题 时候 现在 这样 那么 没有 是否 能否 可不可以 "
    "多久 最多 最多能 哪里 哪个 哪儿 出来 提了 一个月 今年 去年 明年 怎么办 为什么 要求 具体".split()
)


def keywords(text: str) -> list[str]:
    """Distinct topic words of one question, in order of appearance."""
    _load_domain_dictionary()
    seen: list[str] = []
    for word in jieba.cut(normalize(text)):
        if _CHINESE_WORD.match(word) and word not in _STOPWORDS and word not in _GENERIC and word not in seen:
            seen.append(word)
    return seen
