"""The polite frame around a long question, left out before it is searched.

「老师您好，我是示例大学的研二学生，正在写信息公开的毕业论文，想请问贵局有没有电子邮箱？谢谢！」
asks only for the e-mail address; the greeting, who the person is and what they are writing pull
the search towards passages about students, theses or the Ministry. Only clauses that are nothing
but such a frame are dropped, and never the whole question: 「我是开饭店的，预付卡要备案吗」 keeps
its first clause, which says what business asks.
"""

from __future__ import annotations

import re

_CLAUSE = re.compile(r"[^，,。！!？?；;\s]+[，,。！!？?；;\s]*")
# Whole clauses that only greet, thank, or say who is asking and for what piece of writing.
_FRAME = re.compile(
    r"^(hi|hello|hey|嗨|哈喽|(老师|同志|领导|工作人员|小编|客服)?(您|你)?好(呀|啊)?|打扰(了|一下)|冒昧打扰|麻烦(您|你)了)$|"
    r"^(谢谢|多谢|感谢|非常感谢|万分感谢)(您|你|你们|老师)?(了|啦)?$|"
    r"^(我是|本人是?)\S{0,24}(学生|研究生|研[一二三]|大[一二三四]|博士生?|硕士生?|记者|编辑|律师|律师助理|老师|教师|代表|代表助理|助理|志愿者|网格员)$|"
    r"^(目前|现在|最近)?(正在|在)?(写|做|准备)\S{0,24}(论文|课题|报告|调研|稿子|作业|研究)$"
)
# Below this many characters a message has no frame worth taking off.
MIN_FRAMED_CHARS = 24


def without_preamble(text: str) -> str:
    """`text` without its greeting, thanks and self-introduction clauses (all of it if nothing is left)."""
    if not text or len(text) < MIN_FRAMED_CHARS:
        return text
    clauses = _CLAUSE.findall(text)
    kept = [c for c in clauses if not _FRAME.search(re.sub(r"[，,。！!？?；;\s]+$", "", c).strip().lower())]
    rest = "".join(kept).strip()
    return rest if rest and len(kept) < len(clauses) else text
