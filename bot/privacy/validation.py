"""Checking, masking and scrubbing the personal identifiers people type into the assistant.

Applications for government information ask for an ID number, a phone number or an e-mail, and
people type them in every width, with spaces and hyphens, and with typos. The checks here say
precisely what is wrong (in Chinese, for the person), the masks keep echoes and logs from
repeating full numbers, and `redact` scrubs them from conversation text before it is stored.
Pure standard library, so the Rasa actions, the CLI and the tests can all use it.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

__all__ = [
    "Result",
    "check_id_number",
    "check_credit_code",
    "check_mobile",
    "check_phone",
    "check_email",
    "mask_id_number",
    "mask_credit_code",
    "mask_phone",
    "mask_email",
    "redact",
    "redact_identifier_answer",
    "strip_personal_identifiers",
    "fold",
    "compact_identifier",
]


@dataclass(frozen=True)
class Result:
    """Outcome of a check: the normalised value when ok, otherwise a hint for the person."""

    ok: bool
    value: str = ""
    hint: str = ""


def _ok(value: str) -> Result:
    return Result(True, value, "")


def _fail(hint: str) -> Result:
    return Result(False, "", hint)


# ---------------------------------------------------------- normalisation

# Spaces (line breaks included) and every dash people, or their input methods, put between digit
# groups: hyphen, the Unicode hyphens and en/em dashes (U+2010–2015), minus. Checks drop them;
# the redactor accepts them between the digit groups of a number.
_SEPARATOR_CHARS = r"\s\-\u2010-\u2015\u2212"
_SEPARATORS = re.compile(rf"[{_SEPARATOR_CHARS}]+")
_DASHES = re.compile(r"[\-\u2010-\u2015\u2212]")


# Format characters (Cf: zero-width spaces, bidirectional marks, ...), all in the BMP and plane 14.
_FORMAT_CHARS = re.compile(
    "["
    + "".join(
        re.escape(chr(code))
        for code in (*range(0x80, 0x10000), *range(0xE0000, 0xE1000))
        if unicodedata.category(chr(code)) == "Cf"
    )
    + "]"
)


@functools.lru_cache(maxsize=8192)
def _fold_char(char: str) -> str:
    if unicodedata.category(char) == "Cf":
        return ""
    return unicodedata.normalize("NFKC", char)


def fold(text: str) -> tuple[str, list[int] | None]:
    """The normalisation every check and every mask here applies, with where each character came from.

    Each character is NFKC-normalised on its own (full-width digits, letters, @ and ． become ASCII;
    ① becomes 1) and format characters such as zero-width spaces are dropped. Returns the folded
    text and, for each of its characters, the index in `text` it came from (None when nothing
    changed), so a number found in the folded text is masked where the person typed it.
    """
    if text.isascii():
        return text, None
    if unicodedata.is_normalized("NFKC", text) and not _FORMAT_CHARS.search(text):
        return text, None
    parts: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        folded = char if char < "\x80" else _fold_char(char)
        parts.append(folded)
        origin.extend([index] * len(folded))
    folded_text = "".join(parts)
    if len(origin) == len(text) and folded_text == text:
        return text, None
    return folded_text, origin


def _nfkc(text: object) -> str:
    """`fold`ed text without surrounding whitespace: what the checks look at."""
    return fold("" if text is None else str(text))[0].strip()


def _compact(text: object) -> str:
    return _SEPARATORS.sub("", _nfkc(text))


def compact_identifier(text: object) -> str:
    """An identifier as the checks read it: `fold`ed, spaces, line breaks and dashes removed."""
    return _compact(text)


def _mask_middle(value: str, head: int, tail: int) -> str:
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[len(value) - tail:]


# ---------------------------------------------------------- resident ID number (GB 11643-1999)

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"
# Province-level codes (GB/T 2260), plus 71 (Taiwan) and 81/82/83 used on residence permits for
# Hong Kong, Macao and Taiwan residents.
_ID_REGIONS = frozenset(
    [str(n) for n in (*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47))]
    + [str(n) for n in (*range(50, 55), *range(61, 66))]
    + ["71", "81", "82", "83"]
)


def _id_check_char(first17: str) -> str:
    return _ID_CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS)) % 11]


def check_id_number(text: object, *, today: date | None = None) -> Result:
    """A mainland resident ID number: 18 characters, region, birth date and MOD 11-2 check."""
    value = _compact(text).upper()
    if not value:
        return _fail("请输入18位居民身份证号码。")
    if not re.fullmatch(r"[0-9X]+", value):
        return _fail("身份证号码只能由数字和最后一位的字母X组成，请不要输入其他字符。")
    if len(value) == 15 and value.isdigit():
        return _fail("您输入的是15位的旧版身份证号码，请输入现行的18位居民身份证号码。")
    if len(value) != 18:
        return _fail(f"身份证号码应为18位，您输入了{len(value)}位，请核对后重新输入。")
    if not value[:17].isdigit():
        return _fail("身份证号码只有最后一位可能是字母X，前17位都应是数字，请核对后重新输入。")
    if value[:2] not in _ID_REGIONS:
        return _fail(f"身份证号码前两位（{value[:2]}）不是有效的地区代码，请核对后重新输入。")
    digits = value[6:14]
    try:
        birth = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return _fail(f"出生日期部分（第7到14位，{digits}）不是有效日期，请核对后重新输入。")
    if birth.year < 1900:
        return _fail(f"出生日期部分（第7到14位，{digits}）的年份早于1900年，请核对后重新输入。")
    if birth > (today or date.today()):
        return _fail(f"出生日期部分（第7到14位，{digits}）晚于今天，请核对后重新输入。")
    if _id_check_char(value[:17]) != value[17]:
        return _fail("身份证号码最后一位校验码不对，请核对是否有输错的数字。")
    return _ok(value)


# ---------------------------------------------------------- unified social credit code (GB 32100-2015)

_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CREDIT_DEPARTMENTS = "123456789ABCDGNY"
# Letters the standard leaves out, and the digit each is usually a typo for.
_CREDIT_LOOKALIKES = {"I": "1", "O": "0", "Z": "2", "S": "5"}
_CREDIT_FORMAT = "统一社会信用代码应为18位，由数字和大写字母组成（不含I、O、Z、S、V）"


def _credit_check_char(first17: str) -> str:
    total = sum(_CREDIT_ALPHABET.index(c) * w for c, w in zip(first17, _CREDIT_WEIGHTS))
    return _CREDIT_ALPHABET[(31 - total % 31) % 31]


def check_credit_code(text: object) -> Result:
    """An 18-character unified social credit code: alphabet, registering department and check char."""
    value = _compact(text).upper()
    if not value:
        return _fail("请输入18位统一社会信用代码。")
    if not re.fullmatch(r"[0-9A-Z]+", value):
        return _fail(f"{_CREDIT_FORMAT}，请不要输入其他符号。")
    if len(value) != 18:
        return _fail(f"{_CREDIT_FORMAT}，您输入了{len(value)}位，请核对后重新输入。")
    for position, char in enumerate(value, start=1):
        if char not in _CREDIT_ALPHABET:
            guess = _CREDIT_LOOKALIKES.get(char)
            if guess:
                return _fail(
                    f"统一社会信用代码不使用字母I、O、Z、S、V，第{position}位的“{char}”可能是数字“{guess}”，"
                    "请核对后重新输入。"
                )
            return _fail(f"统一社会信用代码不使用字母I、O、Z、S、V，请核对第{position}位的“{char}”。")
    if value[0] not in _CREDIT_DEPARTMENTS:
        return _fail(
            "统一社会信用代码第1位（登记管理部门代码）应为数字1到9或字母A、B、C、D、G、N、Y，"
            "请核对后重新输入。"
        )
    if _credit_check_char(value[:17]) != value[17]:
        return _fail("统一社会信用代码最后一位校验码不对，请核对是否有输错的字符。")
    return _ok(value)


# ---------------------------------------------------------- phone numbers

_MOBILE_HINT = "手机号码应为以1开头的11位数字"
_LANDLINE_EXAMPLE = "例如 010-12345678 或 0755-12345678"
# 010 and 020–029 have three-digit area codes, every other area code has four digits.
_AREA_CODE = r"0(?:10|2[0-9]|[3-9][0-9]{2})"
_LANDLINE = re.compile(rf"({_AREA_CODE})([1-9][0-9]{{6,7}})")
_EXTENSION = re.compile(r"(?:转|分机|ext\.?|x|#)\s*([0-9]{1,6})$", re.IGNORECASE)


def _strip_country_code(digits: str) -> str:
    """Removes +86 / 0086, and a bare 86 in front of an 11-digit number."""
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            return digits[len(prefix):]
    if digits.startswith("86") and len(digits) == 13:
        return digits[2:]
    return digits


def check_mobile(text: object) -> Result:
    """A mainland mobile number, 1[3-9] and nine more digits, optionally after +86 / 86."""
    value = re.sub(r"[()]", "", _compact(text))
    if not value:
        return _fail("请输入11位手机号码。")
    value = _strip_country_code(value)
    if not re.fullmatch(r"[0-9]+", value):
        return _fail(f"{_MOBILE_HINT}，请不要输入字母或其他符号。")
    if len(value) != 11:
        return _fail(f"{_MOBILE_HINT}，您输入了{len(value)}位，请核对后重新输入。")
    if value[0] != "1":
        return _fail(f"{_MOBILE_HINT}，请核对第一位。")
    if value[1] not in "3456789":
        return _fail(f"{_MOBILE_HINT}，第二位应为3到9，请核对后重新输入。")
    return _ok(value)


def _parse_landline(text: str) -> tuple[str, str, str] | None:
    """(area code, number, extension) for a landline with area code, else None."""
    extension = ""
    match = _EXTENSION.search(text)
    if match:
        extension, text = match.group(1), text[: match.start()]
    text = _DASHES.sub("-", re.sub(r"[\s()]", "", text))
    international = text.startswith(("+86", "0086"))
    if international:
        text = text[3:] if text.startswith("+") else text[4:]
        text = text.lstrip("-")
    candidates = [(text.replace("-", ""), extension)]
    head, _, tail = text.rpartition("-")
    if not extension and head and re.fullmatch(r"[0-9]{1,6}", tail):
        candidates.append((head.replace("-", ""), tail))  # 010-12345678-123
    for digits, ext in candidates:
        if international and not digits.startswith("0"):
            digits = "0" + digits  # +86 10 12345678 drops the trunk prefix
        found = _LANDLINE.fullmatch(digits)
        if found:
            return found.group(1), found.group(2), ext
    return None


def check_phone(text: object) -> Result:
    """A personal contact number: a mobile, or a landline with its area code (extension allowed)."""
    cleaned = _nfkc(text)
    if not cleaned:
        return _fail(f"请输入11位手机号码，或带区号的座机号码（{_LANDLINE_EXAMPLE}）。")
    mobile = check_mobile(cleaned)
    if mobile.ok:
        return mobile
    landline = _parse_landline(cleaned)
    if landline:
        area, number, extension = landline
        return _ok(f"{area}-{number}" + (f"转{extension}" if extension else ""))

    dashed = _DASHES.sub("-", re.sub(r"[\s()]", "", _EXTENSION.sub("", cleaned)))
    main = _strip_country_code(dashed.replace("-", ""))
    if re.fullmatch(r"[48]00[0-9]{7}", main):
        return _fail("400、800开头的是单位的客服热线，不是个人联系电话，请留下您本人的手机号码或座机号码。")
    if not re.fullmatch(r"[0-9]+", main):
        return _fail(f"电话号码只能包含数字，请输入11位手机号码，或带区号的座机号码（{_LANDLINE_EXAMPLE}）。")
    if main.startswith("0"):
        return _fail(f"座机号码应为区号加7到8位号码（{_LANDLINE_EXAMPLE}），请核对后重新输入。")
    head, _, tail = dashed.rpartition("-")
    local_with_extension = len(tail) <= 6 and re.fullmatch(r"[1-9][0-9]{6,7}", head.replace("-", ""))
    if re.fullmatch(r"[1-9][0-9]{6,7}", main) or local_with_extension:
        return _fail(f"座机号码请加上区号（{_LANDLINE_EXAMPLE}），以便工作人员与您联系。")
    if main.startswith("1"):
        return mobile
    return _fail(f"请输入11位手机号码，或带区号的座机号码（{_LANDLINE_EXAMPLE}）。")


# ---------------------------------------------------------- e-mail

_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_EMAIL_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")
_EMAIL_EXAMPLE = "例如 zhangsan@example.com"


def check_email(text: object) -> Result:
    """An e-mail address, local@domain.tld; full-width characters and 。 typed by an IME are folded."""
    value = _nfkc(text).replace("。", ".")
    value = re.sub(r"[.,;，；]+$", "", value)
    if not value:
        return _fail(f"请输入电子邮箱地址，{_EMAIL_EXAMPLE}。")
    if re.search(r"\s", value):
        return _fail("电子邮箱地址中不能有空格，请核对后重新输入。")
    if "@" not in value:
        return _fail(f"电子邮箱地址应包含“@”符号，{_EMAIL_EXAMPLE}。")
    if value.count("@") > 1:
        return _fail("电子邮箱地址只能包含一个“@”符号，请核对后重新输入。")
    if not value.isascii():
        return _fail("电子邮箱地址只能使用英文字母、数字和常用符号，请不要包含中文。")
    local, domain = value.split("@")
    if not local or len(local) > 64 or not _EMAIL_LOCAL.fullmatch(local):
        return _fail(f"“@”前面的用户名部分不完整或含有不允许的符号，{_EMAIL_EXAMPLE}。")
    if len(value) > 254:
        return _fail("电子邮箱地址过长，请核对后重新输入。")
    if not _EMAIL_DOMAIN.fullmatch(domain):
        return _fail("“@”后面的域名部分不正确，应类似 example.com 或 qq.com，请核对后重新输入。")
    return _ok(f"{local}@{domain.lower()}")


# ---------------------------------------------------------- masking


def mask_id_number(value: str) -> str:
    """Resident ID numbers (and other numbers of 15+ characters) keep their first 4 and last 4
    characters: 11010519491231002X -> 1101**********002X. Shorter document numbers (passports,
    travel permits) keep only the first and the last 2 (E12345678 -> E******78), and up to 8
    characters nothing at all."""
    value = _compact(value).upper()
    if len(value) >= 15:
        return _mask_middle(value, 4, 4)
    if len(value) > 8:
        return _mask_middle(value, 1, 2)
    return "*" * len(value)


def mask_credit_code(value: str) -> str:
    """First 4 and last 4 characters kept, like ID numbers."""
    return _mask_middle(_compact(value).upper(), 4, 4)


def mask_phone(value: str) -> str:
    """Mobiles keep 3 + 4 digits (138****5678); landlines keep the area code and last 2 digits."""
    result = check_phone(value)
    if result.ok:
        if "-" not in result.value:
            return result.value[:3] + "****" + result.value[7:]
        area, _, rest = result.value.partition("-")
        number, sep, extension = rest.partition("转")
        return f"{area}-{_mask_middle(number, 0, 2)}{sep}{extension}"
    return _mask_middle(re.sub(r"[^0-9]", "", _nfkc(value)), 3, 2)


def mask_email(value: str) -> str:
    """First character of the user name kept, the domain kept: z***@example.com."""
    result = check_email(value)
    text = result.value if result.ok else _nfkc(value)
    local, at, domain = text.rpartition("@")
    if not at or not local:
        return _mask_middle(text, 1, 0)
    return f"{local[0]}***@{domain}"


# ---------------------------------------------------------- redaction
#
# Redaction looks at the `fold`ed text, the same normalisation the checks use, and masks in the
# original text. A number is a chain of digit groups joined by short runs (at most 3 characters)
# of the separators the checks drop, plus the parentheses of (010)12345678: whatever grouping a
# person chooses, 「1101 0519 4912 3100 2X」, 「1380 013 8000」, 「138–1234–5678」 or groups on
# separate lines, the digits the check would read are found. Within a chain, the longest run of
# whole groups that forms an identifier is masked, from left to right.

_CHAIN_SEPARATORS = rf"[{_SEPARATOR_CHARS}()]"
_CHAIN = re.compile(rf"[0-9]+(?:{_CHAIN_SEPARATORS}{{1,3}}[0-9]+)*(?:{_CHAIN_SEPARATORS}{{0,3}}[Xx](?![A-Za-z0-9]))?")
_DIGIT_GROUP = re.compile(r"[0-9]+")
_MOBILE_DIGITS = re.compile(r"(?:0086|86)?1[3-9][0-9]{9}")
_LANDLINE_DIGITS = re.compile(rf"(?:{_AREA_CODE}|0086(?:10|2[0-9]|[3-9][0-9]{{2}}))[1-9][0-9]{{6,7}}")
# After a "+": +86 10 12345678 drops the trunk 0 of the area code.
_INTERNATIONAL_LANDLINE_DIGITS = re.compile(r"86(?:10|2[0-9]|[3-9][0-9]{2})[1-9][0-9]{6,7}")
_LONG_RUN = re.compile(r"[0-9]{14,}[0-9X]")  # one unbroken run: IDs (valid or not), old IDs, bank cards
_MAX_CHAIN_DIGITS = 24
# E-mail: the user-name characters the check accepts; 。 (typed by Chinese input methods) as a dot.
_EMAIL_CHARS = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~\-"
_DOT = r"[.\u3002]"
_EMAIL = re.compile(
    rf"(?<![{_EMAIL_CHARS}.\u3002])[{_EMAIL_CHARS}]+(?:{_DOT}[{_EMAIL_CHARS}]+)*@"
    rf"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:{_DOT}[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*{_DOT}[A-Za-z]{{2,63}}"
)
# Passports and travel permits: one or two letters and 7 to 10 digits (E12345678, EA1234567,
# H1234567890), standing alone.
_DOCUMENT = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{1,2}[0-9]{7,10}(?![A-Za-z0-9])")
# While a form asks for an identifier, any run of letters and digits with a digit in it and at
# least 5 characters (the shortest document number the form accepts), separators allowed.
_ANSWER_CHAIN = re.compile(rf"[A-Za-z0-9]+(?:{_CHAIN_SEPARATORS}{{1,3}}[A-Za-z0-9]+)*")
_CANDIDATE = re.compile(r"[0-9@]")  # every identifier has a digit or an @
# Characters whose `fold` has a digit or an @ (full-width, circled, superscript, mathematical
# digits, ＠ ...): none of them in a text, and it holds no identifier. NFKC maps nothing beyond
# plane 1 to ASCII.
_MAY_FOLD_TO_CANDIDATE = re.compile(
    "[0-9@"
    + "".join(
        re.escape(chr(code))
        for code in range(0x80, 0x20000)
        if not 0xD800 <= code <= 0xDFFF and _CANDIDATE.search(unicodedata.normalize("NFKC", chr(code)))
    )
    + "]"
)
_ANSWER_EMAIL = re.compile(r"[^\s,;，；、]*@[^\s,;，；、]*")


def _looks_like_id(digits: str) -> bool:
    """An 18- or 15-character ID number typed in groups: a region code and a plausible birth date
    (a wrong check character still counts), so that grouped years or amounts are left alone."""
    if digits[:2] not in _ID_REGIONS:
        return False
    if len(digits) == 18 and digits[:17].isdigit():
        year, month, day = digits[6:10], digits[10:12], digits[12:14]
    elif len(digits) == 15 and digits.isdigit():
        year, month, day = "19" + digits[6:8], digits[8:10], digits[10:12]
    else:
        return False
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return 1900 <= int(year) <= 2099


def _classify(digits: str, groups: int, plus: bool) -> str | None:
    """'phone' or 'id' for the digits of whole digit groups, else None."""
    if _MOBILE_DIGITS.fullmatch(digits) or _LANDLINE_DIGITS.fullmatch(digits):
        return "phone"
    if plus and _INTERNATIONAL_LANDLINE_DIGITS.fullmatch(digits):
        return "phone"
    if groups == 1 and _LONG_RUN.fullmatch(digits):
        return "id"
    if groups > 1 and _looks_like_id(digits):
        return "id"
    return None


def _chain_spans(folded: str, match: re.Match) -> list[tuple[int, int, str]]:
    """(start, end, kind) in `folded` of the identifiers in one chain of digit groups."""
    groups = [(g.start(), g.end()) for g in _DIGIT_GROUP.finditer(match.group(0))]
    base = match.start()
    text = match.group(0)
    has_x = text[-1] in "Xx"
    digits = [text[a:b] for a, b in groups]
    spans = []
    i = 0
    while i < len(groups):
        found = None
        total, last = 0, i
        for j in range(i, len(groups)):
            total += len(digits[j])
            if j > i and total > _MAX_CHAIN_DIGITS:
                break
            last = j
        for j in range(last, i - 1, -1):
            candidate = "".join(digits[i: j + 1])
            end = base + groups[j][1]
            if j == len(groups) - 1 and has_x:
                candidate, end = candidate + "X", match.end()
            start = base + groups[i][0]
            plus = start > 0 and folded[start - 1] == "+"
            kind = _classify(candidate, j - i + 1, plus)
            if kind:
                if start > 0 and folded[start - 1] in "+(":
                    start -= 1  # +86 …, (010) …: the mask takes them in
                found = (start, end, kind, j)
                break
        if found:
            spans.append(found[:3])
            i = found[3] + 1
        else:
            i += 1
    return spans


def _spans(folded: str, answer: bool = False) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, kind) of the personal identifiers in `folded`, in order.

    E-mails first (a mobile number is often the user name: 13812345678@163.com), then passport-like
    document numbers, then digit chains; with `answer`, also whatever is left that looks like a
    typed identifier.
    """
    taken: list[tuple[int, int, str]] = []
    if not _CANDIDATE.search(folded):
        return taken

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b, _ in taken)

    for match in _EMAIL.finditer(folded):
        taken.append((match.start(), match.end(), "email"))
    for match in _DOCUMENT.finditer(folded):
        if free(match.start(), match.end()):
            taken.append((match.start(), match.end(), "document"))
    for match in _CHAIN.finditer(folded):
        for start, end, kind in _chain_spans(folded, match):
            if free(start, end):
                taken.append((start, end, kind))
    if answer:
        for match in _ANSWER_EMAIL.finditer(folded):
            if "@" in match.group(0) and free(match.start(), match.end()):
                taken.append((match.start(), match.end(), "email"))
        for match in _ANSWER_CHAIN.finditer(folded):
            compact = _SEPARATORS.sub("", re.sub(r"[()]", "", match.group(0)))
            if len(compact) >= 5 and re.search(r"[0-9]", compact) and free(match.start(), match.end()):
                taken.append((match.start(), match.end(), "document"))
    return sorted(taken)


def _mask(kind: str, found: str) -> str:
    if kind == "email":
        return mask_email(found)
    if kind == "phone":
        return mask_phone(found)
    return mask_id_number(re.sub(r"[()]", "", found))


def _replace_personal(text: str, replacement, answer: bool = False) -> str:
    """`text` with every personal identifier replaced by `replacement(kind, original substring)`;
    identifiers are found in the `fold`ed text and replaced where they were typed."""
    if not text or not _MAY_FOLD_TO_CANDIDATE.search(text):
        return text  # most strings: no digit or @ in any width, nothing to fold
    folded, origin = fold(text)
    parts, last = [], 0
    for start, end, kind in _spans(folded, answer):
        if origin is not None:
            start, end = origin[start], origin[end - 1] + 1
        if start < last:  # two spans from one typed character (e.g. ⑴): already masked
            continue
        parts.append(text[last:start])
        parts.append(replacement(kind, text[start:end]))
        last = end
    parts.append(text[last:])
    return "".join(parts)


def strip_personal_identifiers(text: str) -> str:
    """`text` with ID numbers, phone numbers and e-mails removed.

    For search: a number the person added (「我电话138…，…要多久」) says nothing about what they ask,
    yet its digits pull towards passages full of telephone numbers; and it then never reaches the
    query cache or the embedding model.
    """
    return _replace_personal(text, lambda kind, found: "")


def redact(text: str) -> str:
    """Masks ID numbers (valid or not), passport-like document numbers, mobiles, landlines with area
    code and e-mails in free text, in every width and grouping the checks accept.

    Years, dates, amounts and document numbers (商办发〔2020〕12号) are left alone; running it twice
    changes nothing more.
    """
    return _replace_personal(text, _mask)


def redact_identifier_answer(text: str) -> str:
    """`redact`, and also every other run of letters and digits (with a digit, 5+ characters) and
    anything with an @ in it: for the answer a person types while a form asks for an ID number,
    phone, e-mail or credit code, whatever its format or document type."""
    return _replace_personal(text, _mask, answer=True)
