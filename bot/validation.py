"""Checking, masking and scrubbing the personal identifiers people type into the assistant.

Applications for government information ask for an ID number, a phone number or an e-mail, and
people type them in every width, with spaces and hyphens, and with typos. The checks here say
precisely what is wrong (in Chinese, for the person), the masks keep echoes and logs from
repeating full numbers, and `redact` scrubs them from conversation text before it is stored.
Pure standard library, so the Rasa actions, the CLI and the tests can all use it.
"""

from __future__ import annotations

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

# Spaces and every dash people (or their input methods) put between digit groups.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212]+")
_DASHES = re.compile(r"[\-\u2010-\u2015\u2212]")


def _nfkc(text: object) -> str:
    """NFKC (full-width to half-width), format characters such as zero-width spaces dropped."""
    text = unicodedata.normalize("NFKC", "" if text is None else str(text))
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf").strip()


def _compact(text: object) -> str:
    return _SEPARATORS.sub("", _nfkc(text))


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
    """First 4 and last 4 characters kept: 11010519491231002X -> 1101**********002X."""
    return _mask_middle(_compact(value).upper(), 4, 4)


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

# Full-width ASCII variants map one-to-one onto ASCII, so matching on the folded copy keeps offsets.
_FOLD = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
_SEP = r"[ \-]"
_PERSONAL = re.compile(
    "|".join(
        [
            # e-mail first: a mobile number is often its user name (13812345678@163.com)
            r"(?P<email>(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
            r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,63})",
            # an ID number written 6-8-4, or any run of 15+ digits (old IDs, mistyped IDs, bank cards)
            rf"(?P<id>(?<![0-9])(?:[0-9]{{6}}{_SEP}?[0-9]{{8}}{_SEP}?[0-9]{{3}}[0-9Xx]|[0-9]{{14,}}[0-9Xx])"
            r"(?![0-9]))",
            rf"(?P<mobile>(?<![0-9])(?:(?:\+|00)?86{_SEP}?)?1[3-9][0-9](?:{_SEP}?[0-9]{{4}}){{2}}(?![0-9]))",
            rf"(?P<landline>(?<![0-9])(?:\({_AREA_CODE}\)|{_AREA_CODE}){_SEP}?[1-9][0-9]{{6,7}}(?![0-9]))",
        ]
    )
)


def _mask_match(match: re.Match, original: str) -> str:
    found = original[match.start(): match.end()]
    if match.group("email"):
        return mask_email(found)
    if match.group("id"):
        return mask_id_number(found)
    return mask_phone(found)


def strip_personal_identifiers(text: str) -> str:
    """`text` with ID numbers, phone numbers and e-mails removed.

    For search: a number the person added (「我电话138…，…要多久」) says nothing about what they ask,
    yet its digits pull towards passages full of telephone numbers; and it then never reaches the
    query cache or the embedding model.
    """
    return _replace_personal(text, lambda match: "")


def redact(text: str) -> str:
    """Masks ID numbers (valid or not), mobiles, landlines with area code and e-mails in free text.

    Years, dates, amounts and document numbers (商办发〔2020〕12号) are left alone; running it twice
    changes nothing more.
    """
    return _replace_personal(text, lambda match: _mask_match(match, text))


def _replace_personal(text: str, replacement) -> str:
    """`text` with every personal identifier replaced by `replacement(match)`; the match is found on
    the half-width copy, so full-width digits count too, and offsets are the same in both."""
    if not text:
        return text
    folded = text.translate(_FOLD)
    parts, last = [], 0
    for match in _PERSONAL.finditer(folded):
        parts.append(text[last: match.start()])
        parts.append(replacement(match))
        last = match.end()
    parts.append(text[last:])
    return "".join(parts)
