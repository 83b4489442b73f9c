"""Questions that ask what a term means: 「三同步是个啥」「补正是啥意思」「啥叫政府信息」.

Such a question carries almost nothing but the term, so its cosine to any passage stays low and the
not-found threshold turns it away, although the knowledge base uses the term and often defines it.
A term the agency's own documents use is in scope by that fact alone, so the answer is the passage
that uses it: one that defines it (条例所说的“政府信息”，是指…; “三同步”要求) before one that merely
mentions it, otherwise the one retrieval ranks highest. A term the documents never use (「公积金是啥」)
is left to the threshold as before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.knowledge.retriever import Hit

_LEAD = r"(?:请问|问一下|想问下?|那个?|你们说的|文件里的|这个|上面说的)?"
_TERM = r"[“”\"「」『』]?(?P<term>[\u4e00-\u9fffA-Za-z0-9]{2,10}?)[“”\"「」『』]?"
_ASKS = r"(?:到底)?(?:是个?啥|是个?什么|是啥意思|是什么意思|啥意思|什么意思|指的?是啥|指的?是什么|指啥|指什么|怎么理解|咋理解)"
_TAIL = r"(?:啊|呀|呢|嘛|哦|\?|？|。|！|!|\s)*$"
_DEFINITION_QUESTIONS = (
    re.compile(rf"^{_LEAD}{_TERM}{_ASKS}{_TAIL}"),
    re.compile(rf"^{_LEAD}(?:啥叫|什么叫|什么是|何为|何谓|怎么理解|咋理解){_TERM}{_TAIL}"),
)
# Words that point at something rather than name it: 「这是啥」 asks about what was just said.
_NOT_TERMS = frozenset(
    "这个 那个 这些 那些 这里 那里 这边 那边 你们 我们 他们 她们 它们 这样 那样 这事 那事 这条 那条 这是 那是".split()
)


def asked_term(question: str) -> str | None:
    """The term a 「X是啥意思」-type question asks about, when the question (or its first clause:
    「啥叫政府信息啊 我爸非要去申请…」) is that."""
    text = (question or "").strip()
    for candidate in (text, re.split(r"[\s，,。；;！!？?]+", text, maxsplit=1)[0]):
        candidate = re.sub(r"\s+", "", candidate)
        for pattern in _DEFINITION_QUESTIONS:
            match = pattern.match(candidate)
            if match and match.group("term") not in _NOT_TERMS:
                return match.group("term")
    return None


def defines(term: str, text: str) -> bool:
    """Whether `text` defines `term` (quotes it, says what it 是指, or heads a numbered point with it)."""
    quoted = rf"[“\"「]{re.escape(term)}[”\"」]"
    return bool(
        re.search(quoted, text)
        or re.search(rf"{re.escape(term)}[，,]?(?:是指|指的是|即)", text)
        or re.search(rf"所(?:说|称)的?{quoted}", text)
        or re.search(rf"[（(]?[一二三四五六七八九十]+[）)、．.]\s*{re.escape(term)}[。．]", text)
    )


def defining_hit(term: str, hits: Sequence[Hit], defined_only: bool = False) -> Hit | None:
    """The best-ranked hit whose passage defines `term`, else (unless `defined_only`) the best-ranked
    one that uses it."""
    using = [hit for hit in hits if term in hit.passage.text]
    defining = [hit for hit in using if defines(term, hit.passage.text)]
    return (defining or ([] if defined_only else using) or [None])[0]
