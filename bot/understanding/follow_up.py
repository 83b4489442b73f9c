"""Elliptical follow-ups (「那要钱吗」「传真呢」「多久」) keep the subject of the last answer.

The subject is the last full question that was answered; a follow-up is searched together with it,
and a new full question replaces it. Service items keep their own subject (the `service_item`
slot, bot.knowledge.service_items), which names the item exactly.
"""

from __future__ import annotations

import re

from bot.understanding.routing import content_length
from bot.text import article_numbers, normalize, without_articles

# 「其中…」「这里面…」 ask about part of what was just answered.
_LEADS = re.compile(r"^(那|那么|那要|那得|那如果|还有|另外|再问下?|再问一下|对了|顺便问下?|还想问下?|其中|这其中|这里面|这些里面)")
_TRAILING_NE = re.compile(r"呢[?？。!！~\s]*$")
# Words that carry no subject of their own: what is left after them tells whether one was named.
_FILLERS = re.compile(
    r"那么|那|还有|另外|再问|一下|对了|顺便|呢|吗|嘛|呀|啊|吧|的|了|要|得|是|不|能|可以|需要|请问|多少|怎么|咋|啥|什么|"
    r"多久|几天|几|什么时候|啥时候|多会儿|何时|时候|哪|在哪|办|交|钱|收费|网上|时间|电话|地址|材料|带|去|我|你们|这个|那个|个|一般|大概|还|也|都|就|会"
)
FOLLOW_UP_MAX_CHARS = 12
OWN_SUBJECT_MIN_CHARS = 4


def is_elliptical(text: str) -> bool:
    """A short message that leans on what was said before rather than naming its own subject."""
    text = normalize(text)
    length = content_length(text)
    if length == 0 or length > FOLLOW_UP_MAX_CHARS:
        return False
    own_subject = content_length(_FILLERS.sub("", text))
    if _LEADS.search(text) or _TRAILING_NE.search(text):
        return own_subject < OWN_SUBJECT_MIN_CHARS + 2
    return own_subject < OWN_SUBJECT_MIN_CHARS


def with_subject(question: str, subject: str | None) -> str:
    """What is searched: the follow-up together with the subject it leans on."""
    if subject and is_elliptical(question):
        if article_numbers(question):  # 「那十五条呢」 after 第十四条 asks for 15 only
            subject = without_articles(subject)
        return f"{subject}，{question}"
    return question


def next_subject(question: str, subject: str | None, answered: bool) -> str | None:
    """The subject for the next turn: a full question answered becomes it; a follow-up keeps the old one."""
    if is_elliptical(question):
        return subject
    return question if answered else None


def with_subject_if_it_helps(question: str, subject: str | None) -> str | None:
    """The follow-up with the subject it leans on, for a second search when it found nothing alone.

    「那要是直接去法院告呢 有期限没得」 after 复议 is too long to count as elliptical, yet it asks about
    the same matter: it starts like a follow-up (那…, 还有…, …呢). None when it does not lean on
    the previous turn or there is no subject.
    """
    if not subject or is_elliptical(question) or not leans_on_previous(question):
        return None
    return f"{subject}，{question}"


def own_words(question: str) -> set[str]:
    """The follow-up's own content as character pairs (fillers removed): a passage found only with the
    subject's help must still mention one of them (「法院」), or the follow-up asked about something else."""
    rest = _FILLERS.sub(" ", normalize(question))
    return {run[i:i + 2] for run in re.findall(r"[\u4e00-\u9fff]+", rest) for i in range(len(run) - 1)}


def leans_on_previous(text: str) -> bool:
    """Starts like a follow-up (「那…」「对了…」) or ends in 呢, whatever its length."""
    text = normalize(text)
    return bool(_LEADS.search(text) or _TRAILING_NE.search(text)) or is_elliptical(text)
