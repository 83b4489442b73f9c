"""「传真多少」「你们几点开门」: the agency's own contacts, answered exactly from the passage that lists them.

Such questions carry one content word, too little for the embedding model to place them on the
guide's long contact passage; yet they are among the commonest. The value comes from agency.yml
(which the guide is rendered from), and the citation is the passage that states it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.knowledge.chunking import Passage
from bot.text import normalize

# agency.yml field, what it is called in the answer, and how people ask for it.
CONTACT_FIELDS = (
    ("fax", "传真", re.compile(r"传真")),
    ("complaint_phone", "投诉电话", re.compile(r"(投诉|举报|监督)(电话|热线)")),
    # Before the window: 「窗口下午几点关门」 asks when, not where.
    ("hours", "办公时间", re.compile(r"几点|开门|关门|上班|下班|办公时间|工作时间|营业时间|周末|周[六日]|星期[六天日]|礼拜|节假日|中午|午休")),
    ("service_hall", "办事窗口", re.compile(r"窗口|政务服务中心|办事大厅|大厅")),
    ("postcode", "邮政编码", re.compile(r"邮编|邮政编码")),
    ("email", "电子邮箱", re.compile(r"邮箱|电子邮件|e-?mail|email|发邮件", re.I)),
    ("online_application", "网上申请入口", re.compile(r"网上申请(入口|地址|网址|在哪)|在线申请(入口|地址|网址)")),
    ("website", "门户网站", re.compile(r"网址|网站|官网")),
    ("address", "办公地址", re.compile(r"地址|在哪(儿|里)?(办公|上班)?$|在哪儿?$|怎么走|哪条路|门牌|办公地点|位置|寄(到|给|往)?哪|寄给谁")),
    ("phone", "咨询电话", re.compile(r"电话|热线|号码|打给")),
)
# Contacts of the disclosure office itself; the rest (complaint line, service window) are the agency's.
_OFFICE_FIELDS = frozenset({"fax", "postcode", "email", "hours", "address", "phone"})
# Words that name some other subject: then the question is not simply about the agency's contacts.
MAX_OWN_CHARS = 10
_FILLERS = re.compile(
    r"你们|您们|贵局|贵单位|这边|那边|信息公开|政府信息公开|政务公开|办公室|工作机构|商务局|单位|的|是|多少|啥|什么|"
    r"请问|一下|问下|有没有|有|吗|呢|啊|呀|吧|么|几|号|告诉我|给个|给我|我|想|要|能|可以|在|哪|儿|里|"
    r"咨询|联系|申请|[0-9]|\W"
)


@dataclass(frozen=True)
class ContactAnswer:
    text: str
    passage: Passage
    label: str  # what the contact is called: 传真, 办公地址 …
    qualifier: str  # the question's few other words (「搬迁后」), empty for a plain 「传真多少」


# A clause that asks something; the others only say why (「想发个邮件问点事」「我要把申请表传过去」).
_ASKS = re.compile(r"怎么|咋|如何|多久|多少|几|哪|什么|啥|谁|吗|么|呢|[?？]|能不能|可不可以|是不是|有没有|行不行")
# 「号码给一下」 asks for a number without saying which; the kinds another clause may name.
_BARE_NUMBER = re.compile(r"^(你们|您们|贵局)?的?(号码|号)(给|发|说|告诉)")
_NUMBER_KINDS = tuple(field for field in CONTACT_FIELDS if field[0] in ("fax", "complaint_phone"))
_CLAUSES = re.compile(r"[\s,，。;；!！]+")
# Words left beside the contact that ask for something done (fill in, write, help).
_SOMEONE_DOES = re.compile(r"填|写|替|代|帮")
# 「传真交的申请哪天算收到」: the contact as the way something was sent, and something else asked about it…
_SENT_BY = re.compile(r"(传真|邮箱|邮件|电邮)(交|发|寄|传|递|提交|申请|过去|过来)")
# 「在网站哪个地方看」: where on the website (its 专栏), not the website's address.
_WHERE_ON_IT = re.compile(r"(哪个|什么|啥|哪一?个?)(地方|栏目|位置|板块|专栏|页面)(看|查|找|能|可以|有)|(哪个|什么|啥)(栏目|板块|专栏|页面)")
# …unless the value itself is asked for as well (「传真过去的号码是多少」).
_VALUE_ASKED = re.compile(r"号码|号是|多少(?!天|钱|日|个工作日)|是几|(发|传|寄)到?哪|地址|网址")


def asked_contact(question: str) -> str | None:
    """The agency.yml field a short contact question asks for, if that is all it asks: the one
    asking clause names the contact, any other clause only says what it is for."""
    asked = _asked_contact(question)
    return asked[0] if asked else None


def _asked_contact(question: str) -> tuple[str, str] | None:
    """(field, the asking clause's other words) for a short contact question."""
    asked = _asked_contact_words(question)
    return asked[:2] if asked else None


def _asked_contact_words(question: str) -> tuple[str, str, str] | None:
    """(field, the asking clause's other words, the words naming the contact: 「监督电话」)."""
    text = normalize(question)
    clauses = [c for c in _CLAUSES.split(text) if c]
    asking = [c for c in clauses if _ASKS.search(c)]
    if len(clauses) > 1 and len(asking) == 1:
        text = asking[0]
    elif len(clauses) > 1 and not asking and len(bare := [c for c in clauses if _BARE_NUMBER.search(c)]) == 1:
        # 「想把申请表传真过去 你们号码给一下」: the number is asked for, the other clause says which.
        named = next((m.group(0) for c in clauses if c != bare[0] for _, _, p in _NUMBER_KINDS if (m := p.search(c))), "")
        text = named + bare[0]
    if (_SENT_BY.search(text) and not _VALUE_ASKED.search(text)) or _WHERE_ON_IT.search(text):
        return None
    for key, _, pattern in CONTACT_FIELDS:
        if match := pattern.search(text):
            rest = _FILLERS.sub("", pattern.sub("", text))
            if _SOMEONE_DOES.search(rest):
                return None  # 「窗口的同志能替我填吗」 asks what the staff there do, not where they are
            return (key, rest, match.group(0)) if len(rest) <= MAX_OWN_CHARS // 2 else None
    return None


def contact_answer(question: str, agency: dict, passages: list[Passage]) -> ContactAnswer | None:
    """The value and the first passage that states it, or None when the question is about more."""
    key, qualifier, words = _asked_contact_words(question) or (None, "", "")
    value = str(agency.get(key) or "") if key else ""
    if not value:
        return None
    # The value as a whole (0000-12345 must not match inside 0000-12345678).
    stated = re.compile(re.escape(value) + r"(?![0-9A-Za-z])")
    label = dict((k, name) for k, name, _ in CONTACT_FIELDS)[key]
    # A passage that calls the value by the question's own words (「监督电话0000-12345」) names it so.
    called = re.compile(re.escape(words) + r"[：:是为]?\s*" + stated.pattern) if words and words != label else None
    passage = next((p for p in passages if called.search(p.text)), None) if called else None
    if passage is not None:
        label = words
    else:
        passage = next((p for p in passages if stated.search(p.text)), None)
    if passage is None:
        return None
    owner = agency.get("office") if key in _OFFICE_FIELDS else agency.get("name")
    return ContactAnswer(f"{owner or agency.get('name') or '本机关'}{label}：{value}。", passage, label, qualifier)
