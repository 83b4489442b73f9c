"""Personal identifiers: checks with specific Chinese hints, masks for echoes, redaction of stored text.

Valid ID numbers and credit codes are built here with check characters computed from the standards'
own definitions (ISO 7064 MOD 11-2 with weights 2^(n-1) mod 11; GB 32100 with weights 3^(i) mod 31),
independently of the weight tables in bot.privacy.validation.
"""

import dataclasses
from datetime import date

import pytest

from bot.privacy.validation import (
    Result,
    check_credit_code,
    check_email,
    check_id_number,
    check_mobile,
    check_phone,
    mask_credit_code,
    mask_email,
    mask_id_number,
    mask_phone,
    redact,
)

STANDARD_SAMPLE_ID = "11010519491231002X"  # the sample printed in GB 11643-1999
PUBLISHED_CREDIT_CODE = "91350100M000100Y43"  # the example widely quoted with GB 32100-2015
CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2: with the check value c, sum(a_i * 2^(i-1) mod 11) + c ≡ 1 (mod 11)."""
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    c = next(c for c in range(11) if (total + c) % 11 == 1)
    return "X" if c == 10 else str(c)


def make_id(region6: str, birth: str, sequence: str) -> str:
    first17 = region6 + birth + sequence
    assert len(first17) == 17
    return first17 + id_check_char(first17)


def credit_check_char(first17: str) -> str:
    """GB 32100: the check value makes sum(value_i * 3^(i-1) mod 31) + check ≡ 0 (mod 31)."""
    total = sum(CREDIT_ALPHABET.index(ch) * pow(3, i, 31) for i, ch in enumerate(first17))
    return CREDIT_ALPHABET[-total % 31]


def make_credit_code(first17: str) -> str:
    assert len(first17) == 17
    return first17 + credit_check_char(first17)


def id_ending_in(check: str) -> str:
    for sequence in range(1000):
        candidate = make_id("440305", "19851003", f"{sequence:03d}")
        if candidate.endswith(check):
            return candidate
    raise AssertionError(check)


def credit_code_ending_in_zero() -> str:
    for n in range(10000):
        candidate = make_credit_code(f"91440300MA5{n:04d}XY")
        if candidate.endswith("0"):
            return candidate
    raise AssertionError("no code with check character 0")


# ---------------------------------------------------------------- the test helpers match the standards


def test_helpers_reproduce_published_examples():
    assert make_id("110105", "19491231", "002") == STANDARD_SAMPLE_ID
    assert make_credit_code(PUBLISHED_CREDIT_CODE[:17]) == PUBLISHED_CREDIT_CODE


# ---------------------------------------------------------------- resident ID numbers

VALID_IDS = [
    STANDARD_SAMPLE_ID,
    make_id("110101", "19900101", "123"),
    make_id("440305", "20000229", "456"),  # leap day
    make_id("650102", "19000101", "001"),  # earliest accepted year
    make_id("310115", "19781231", "999"),
    make_id("540102", "19661015", "200"),
    make_id("710000", "19800520", "031"),  # Taiwan
    make_id("810000", "19950707", "016"),  # Hong Kong residence permit
    make_id("820000", "19971220", "027"),  # Macao residence permit
    make_id("830000", "20010911", "038"),  # Taiwan residence permit
    id_ending_in("X"),
    id_ending_in("0"),
    id_ending_in("1"),
]


@pytest.mark.parametrize("number", VALID_IDS)
def test_valid_id_numbers(number):
    result = check_id_number(number)
    assert result == Result(True, number, "")


@pytest.mark.parametrize(
    "typed",
    [
        "11010519491231002x",
        "１１０１０５１９４９１２３１００２Ｘ",
        "１１０１０５１９４９１２３１００２ｘ",
        "110105 19491231 002X",
        "110105-19491231-002X",
        "  11010519491231002X  ",
        "1101 0519 4912 3100 2X",
        "110105\u200b19491231002X",  # zero-width space pasted from a web page
        "110105－19491231－002x",
    ],
)
def test_id_number_is_normalised(typed):
    assert check_id_number(typed) == Result(True, STANDARD_SAMPLE_ID, "")


@pytest.mark.parametrize(
    "typed, count",
    [("1101051949123100", 16), ("11010519491231002", 17), ("11010519491231002X1", 19), ("1101", 4)],
)
def test_id_number_wrong_length_says_how_many(typed, count):
    result = check_id_number(typed)
    assert not result.ok and result.value == ""
    assert result.hint == f"身份证号码应为18位，您输入了{count}位，请核对后重新输入。"


def test_old_fifteen_digit_id_number_is_explained():
    result = check_id_number("110105491231002")
    assert not result.ok
    assert "15位" in result.hint and "18位" in result.hint


@pytest.mark.parametrize("typed", ["", "   ", None])
def test_empty_id_number_asks_for_one(typed):
    result = check_id_number(typed)
    assert not result.ok and "请输入18位居民身份证号码" in result.hint


@pytest.mark.parametrize(
    "typed", ["11010519491231002Y", "1101051949123100２Ｙ", "身份证11010519491231002X", "110105/19491231/002X"]
)
def test_id_number_with_foreign_characters(typed):
    result = check_id_number(typed)
    assert not result.ok
    assert "只能由数字和最后一位的字母X组成" in result.hint


def test_x_only_allowed_last():
    result = check_id_number("1101051949X231002X")
    assert not result.ok and "只有最后一位可能是字母X" in result.hint


@pytest.mark.parametrize("wrong", [c for c in "0123456789X" if c != "X"])
def test_every_wrong_check_character_is_caught(wrong):
    result = check_id_number(STANDARD_SAMPLE_ID[:17] + wrong)
    assert not result.ok
    assert result.hint == "身份证号码最后一位校验码不对，请核对是否有输错的数字。"


@pytest.mark.parametrize("position", [2, 3, 4, 5, 14, 15, 16])
def test_single_digit_typo_outside_region_and_date_fails_checksum(position):
    digits = list(STANDARD_SAMPLE_ID)
    digits[position] = str((int(digits[position]) + 3) % 10)
    result = check_id_number("".join(digits))
    assert not result.ok and "校验码不对" in result.hint


@pytest.mark.parametrize("position", range(16))
def test_adjacent_transposition_is_never_accepted(position):
    number = make_id("320106", "19871129", "517")
    swapped = number[:position] + number[position + 1] + number[position] + number[position + 2:]
    if swapped != number:
        assert not check_id_number(swapped).ok


@pytest.mark.parametrize(
    "birth",
    ["19490230", "19491301", "19490001", "19491200", "19000229", "20230229", "19490431", "19491332"],
)
def test_impossible_birth_dates(birth):
    result = check_id_number(make_id("110105", birth, "002"))
    assert not result.ok
    assert result.hint.startswith(f"出生日期部分（第7到14位，{birth}）不是有效日期")


def test_birth_before_1900_is_rejected():
    result = check_id_number(make_id("110105", "18991231", "002"))
    assert not result.ok and "早于1900年" in result.hint
    # the well-known textbook example with an 1880 birth date
    assert not check_id_number("440524188001010014").ok


def test_future_birth_date_is_rejected():
    result = check_id_number(make_id("110105", "20991231", "002"))
    assert not result.ok and "晚于今天" in result.hint
    number = make_id("110105", "20240302", "002")
    assert not check_id_number(number, today=date(2024, 3, 1)).ok
    assert check_id_number(number, today=date(2024, 3, 2)).ok  # born today is fine
    assert check_id_number(number).ok


@pytest.mark.parametrize("region", "00 10 16 20 24 30 38 40 47 49 55 60 66 70 72 80 84 90 99".split())
def test_unknown_region_codes(region):
    result = check_id_number(make_id(region + "0105", "19491231", "002"))
    assert not result.ok
    assert result.hint == f"身份证号码前两位（{region}）不是有效的地区代码，请核对后重新输入。"


@pytest.mark.parametrize("region", "11 15 21 23 31 37 41 46 50 54 61 65 71 81 82 83".split())
def test_every_boundary_region_code_is_accepted(region):
    assert check_id_number(make_id(region + "0102", "19700101", "123")).ok


def test_result_is_frozen():
    result = check_id_number(STANDARD_SAMPLE_ID)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.ok = False


# ---------------------------------------------------------------- unified social credit codes

VALID_CREDIT_CODES = [
    PUBLISHED_CREDIT_CODE,
    make_credit_code("91110108MA01ABCDE"),
    make_credit_code("12100000400000624"),
    make_credit_code("52440300MJL12345Y"),
    make_credit_code("Y1330100MA27XYW12"),
    make_credit_code("N2510100MA6CA0B1U"),
    make_credit_code("A1000000MB0123456"),
    make_credit_code("9131000060730345R"),
    credit_code_ending_in_zero(),
]


@pytest.mark.parametrize("code", VALID_CREDIT_CODES)
def test_valid_credit_codes(code):
    assert check_credit_code(code) == Result(True, code, "")


def test_check_value_31_maps_to_zero():
    code = credit_code_ending_in_zero()
    assert code.endswith("0") and check_credit_code(code).ok


@pytest.mark.parametrize(
    "typed",
    [
        "91350100m000100y43",
        "９１３５０１００Ｍ０００１００Ｙ４３",
        "9135 0100 M000 100Y 43",
        "91350100-M000100Y4-3",
        " 91350100M000100Y43 ",
    ],
)
def test_credit_code_is_normalised(typed):
    assert check_credit_code(typed) == Result(True, PUBLISHED_CREDIT_CODE, "")


@pytest.mark.parametrize(
    "typed, count", [("91350100M000100Y4", 17), ("91350100M000100Y433", 19), ("9135", 4)]
)
def test_credit_code_wrong_length(typed, count):
    result = check_credit_code(typed)
    assert not result.ok
    assert result.hint.startswith("统一社会信用代码应为18位，由数字和大写字母组成（不含I、O、Z、S、V）")
    assert f"您输入了{count}位" in result.hint


@pytest.mark.parametrize("letter, digit", [("O", "0"), ("I", "1"), ("Z", "2"), ("S", "5")])
def test_look_alike_letters_point_to_the_digit(letter, digit):
    typed = PUBLISHED_CREDIT_CODE[:5] + letter + PUBLISHED_CREDIT_CODE[6:]
    result = check_credit_code(typed)
    assert not result.ok
    assert f"第6位的“{letter}”可能是数字“{digit}”" in result.hint


def test_letter_v_is_not_in_the_alphabet():
    result = check_credit_code("91350100V000100Y43")
    assert not result.ok and "第9位的“V”" in result.hint and "不使用字母I、O、Z、S、V" in result.hint


@pytest.mark.parametrize("typed", ["91350100M000100Y4#", "统一社会信用代码91350100M000100Y43", "91350100M000100Y4.3"])
def test_credit_code_with_other_symbols(typed):
    result = check_credit_code(typed)
    assert not result.ok and "请不要输入其他符号" in result.hint


@pytest.mark.parametrize("first", ["0", "E", "F", "H", "K", "X"])
def test_unknown_registering_department(first):
    result = check_credit_code(make_credit_code(first + PUBLISHED_CREDIT_CODE[1:17]))
    assert not result.ok and "第1位（登记管理部门代码）" in result.hint


@pytest.mark.parametrize("wrong", [c for c in CREDIT_ALPHABET if c != "3"])
def test_every_wrong_credit_check_character_is_caught(wrong):
    result = check_credit_code(PUBLISHED_CREDIT_CODE[:17] + wrong)
    assert not result.ok
    assert result.hint == "统一社会信用代码最后一位校验码不对，请核对是否有输错的字符。"


def test_empty_credit_code():
    assert check_credit_code("").hint == "请输入18位统一社会信用代码。"


# ---------------------------------------------------------------- mobile numbers


@pytest.mark.parametrize(
    "typed",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+8613812345678",
        "+86 138 1234 5678",
        "+86-138-1234-5678",
        "86 13812345678",
        "8613812345678",
        "0086 13812345678",
        "(+86) 138-1234-5678",
        "１３８１２３４５６７８",
        "＋８６　１３８－１２３４－５６７８",
    ],
)
def test_mobile_numbers_are_normalised(typed):
    assert check_mobile(typed) == Result(True, "13812345678", "")


@pytest.mark.parametrize("number", [f"1{second}{second}12345678" for second in "3456789"])
def test_every_mobile_prefix(number):
    assert check_mobile(number).ok


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("1381234567", "手机号码应为以1开头的11位数字，您输入了10位，请核对后重新输入。"),
        ("138123456789", "手机号码应为以1开头的11位数字，您输入了12位，请核对后重新输入。"),
        ("12812345678", "手机号码应为以1开头的11位数字，第二位应为3到9，请核对后重新输入。"),
        ("10812345678", "手机号码应为以1开头的11位数字，第二位应为3到9，请核对后重新输入。"),
        ("23812345678", "手机号码应为以1开头的11位数字，请核对第一位。"),
        ("138l2345678", "手机号码应为以1开头的11位数字，请不要输入字母或其他符号。"),
        ("", "请输入11位手机号码。"),
    ],
)
def test_invalid_mobile_numbers(typed, expected):
    assert check_mobile(typed) == Result(False, "", expected)


# ---------------------------------------------------------------- phone numbers (mobile or landline)


@pytest.mark.parametrize(
    "typed, value",
    [
        ("13812345678", "13812345678"),
        ("+86 139 1234 5678", "13912345678"),
        ("010-12345678", "010-12345678"),
        ("01012345678", "010-12345678"),
        ("010 1234 5678", "010-12345678"),
        ("(010)12345678", "010-12345678"),
        ("（010）12345678", "010-12345678"),
        ("020-8765432", "020-8765432"),
        ("0755-12345678", "0755-12345678"),
        ("075512345678", "0755-12345678"),
        ("０７５５－１２３４５６７８", "0755-12345678"),
        ("0311-87654321", "0311-87654321"),
        ("010-12345678转123", "010-12345678转123"),
        ("010-12345678-123", "010-12345678转123"),
        ("0755-12345678 ext. 8001", "0755-12345678转8001"),
        ("0755-12345678分机66", "0755-12345678转66"),
        ("+86 10 12345678", "010-12345678"),
        ("+86-755-12345678", "0755-12345678"),
    ],
)
def test_valid_phones(typed, value):
    assert check_phone(typed) == Result(True, value, "")


@pytest.mark.parametrize(
    "typed", ["12345678", "87654321", "6234-5678", "1234567", "62345678转123", "62345678-123"]
)
def test_landline_without_area_code_asks_for_it(typed):
    result = check_phone(typed)
    assert not result.ok
    assert result.hint.startswith("座机号码请加上区号") and "010-12345678" in result.hint


@pytest.mark.parametrize("typed", ["400-810-8888", "4008108888", "800 810 8888", "800-8208820", "４００８１０８８８８"])
def test_service_numbers_are_not_personal_phones(typed):
    result = check_phone(typed)
    assert not result.ok
    assert "400、800开头的是单位的客服热线" in result.hint and "本人" in result.hint


@pytest.mark.parametrize("typed", ["0755-123", "01112345678", "0012345678", "0755-123456789"])
def test_malformed_landlines(typed):
    result = check_phone(typed)
    assert not result.ok and result.hint.startswith("座机号码应为区号加7到8位号码")


@pytest.mark.parametrize("typed", ["1381234567", "12812345678"])
def test_phone_passes_on_the_mobile_hint(typed):
    assert check_phone(typed) == check_mobile(typed)


@pytest.mark.parametrize("typed", ["", "电话", "abc", "95588123456789"])
def test_phone_general_hint(typed):
    result = check_phone(typed)
    assert not result.ok and "手机号码" in result.hint and "区号" in result.hint


# ---------------------------------------------------------------- e-mail


@pytest.mark.parametrize(
    "typed, value",
    [
        ("zhangsan@example.com", "zhangsan@example.com"),
        ("Zhang.San@Example.COM", "Zhang.San@example.com"),
        ("li_si+gov@mail.example.gov.cn", "li_si+gov@mail.example.gov.cn"),
        ("13812345678@163.com", "13812345678@163.com"),
        ("wang-wu@sub-domain.example.org", "wang-wu@sub-domain.example.org"),
        ("zhangsan＠qq.com", "zhangsan@qq.com"),
        ("ｚｈａｎｇｓａｎ＠ｑｑ．ｃｏｍ", "zhangsan@qq.com"),
        ("zhangsan@qq。com", "zhangsan@qq.com"),
        ("  zhangsan@qq.com。", "zhangsan@qq.com"),
    ],
)
def test_valid_emails(typed, value):
    assert check_email(typed) == Result(True, value, "")


@pytest.mark.parametrize(
    "typed, fragment",
    [
        ("zhang san@qq.com", "不能有空格"),
        ("zhangsan@qq .com", "不能有空格"),
        ("zhangsan.qq.com", "应包含“@”"),
        ("a@b@qq.com", "只能包含一个“@”"),
        ("张三@qq.com", "不要包含中文"),
        ("@qq.com", "用户名部分"),
        (".zhangsan@qq.com", "用户名部分"),
        ("zhang..san@qq.com", "用户名部分"),
        ("zhangsan@qq", "域名部分"),
        ("zhangsan@.com", "域名部分"),
        ("zhangsan@qq.c", "域名部分"),
        ("zhangsan@-qq.com", "域名部分"),
        ("zhangsan@qq..com", "域名部分"),
        ("a" * 60 + "@" + "b" * 200 + ".com", "过长"),
        ("", "请输入电子邮箱地址"),
    ],
)
def test_invalid_emails(typed, fragment):
    result = check_email(typed)
    assert not result.ok and result.value == ""
    assert fragment in result.hint


# ---------------------------------------------------------------- masking


@pytest.mark.parametrize(
    "value, masked",
    [
        (STANDARD_SAMPLE_ID, "1101**********002X"),
        ("11010519491231002x", "1101**********002X"),
        ("110105 19491231 002X", "1101**********002X"),
        ("110105491231002", "1101*******1002"),
        ("1234567", "*******"),
    ],
)
def test_mask_id_number(value, masked):
    assert mask_id_number(value) == masked


def test_mask_credit_code():
    assert mask_credit_code(PUBLISHED_CREDIT_CODE) == "9135**********0Y43"
    assert mask_credit_code("91350100m000100y43") == "9135**********0Y43"


@pytest.mark.parametrize(
    "value, masked",
    [
        ("13812345678", "138****5678"),
        ("+86 138-1234-5678", "138****5678"),
        ("010-12345678", "010-******78"),
        ("(0755) 1234567", "0755-*****67"),
        ("010-12345678转123", "010-******78转123"),
    ],
)
def test_mask_phone(value, masked):
    assert mask_phone(value) == masked


@pytest.mark.parametrize(
    "value, masked",
    [
        ("zhangsan@example.com", "z***@example.com"),
        ("z@example.com", "z***@example.com"),
        ("13812345678@163.com", "1***@163.com"),
        ("Li.Si@Example.COM", "L***@example.com"),
    ],
)
def test_mask_email(value, masked):
    assert mask_email(value) == masked


def test_masks_hide_the_middle():
    assert "19491231" not in mask_id_number(STANDARD_SAMPLE_ID)
    assert "1234" not in mask_phone("13812345678")
    assert "hangsan" not in mask_email("zhangsan@example.com")


# ---------------------------------------------------------------- redaction of free text

REDACTION_CASES = [
    (
        f"我的身份证号是{STANDARD_SAMPLE_ID}，手机13812345678，麻烦尽快回复。",
        "我的身份证号是1101**********002X，手机138****5678，麻烦尽快回复。",
    ),
    ("身份证11010519491231002x。", "身份证1101**********002X。"),
    ("号码：110105 19491231 002X", "号码：1101**********002X"),
    # a mistyped ID (bad checksum) and an old 15-digit one are personal data all the same
    ("身份证110105194912310021（可能输错了）", "身份证1101**********0021（可能输错了）"),
    ("旧证号110105491231002", "旧证号1101*******1002"),
    ("电话+86 138-1234-5678或者138 1234 5678", "电话138****5678或者138****5678"),
    ("请拨8613912345678", "请拨139****5678"),
    ("Tel:13812345678;", "Tel:138****5678;"),
    ("手机１３８１２３４５６７８", "手机138****5678"),
    ("座机010-12345678转8001", "座机010-******78转8001"),
    ("座机（0755）87654321", "座机0755-******21"),
    ("电话02087654321，工作日联系", "电话020-******21，工作日联系"),
    ("邮箱 zhangsan@example.com 或 13812345678@163.com", "邮箱 z***@example.com 或 1***@163.com"),
    (
        "根据商办发〔2020〕12号文件，2020年补贴5000元，申请日期2021-03-15，联系人手机15012345678。",
        "根据商办发〔2020〕12号文件，2020年补贴5000元，申请日期2021-03-15，联系人手机150****5678。",
    ),
]


@pytest.mark.parametrize("text, expected", REDACTION_CASES)
def test_redact(text, expected):
    assert redact(text) == expected


UNTOUCHED = [
    "2020年",
    "商办发〔2020〕12号",
    "京政办发[2021]3号",
    "国办发〔2019〕14号文规定",
    "依据GB 11643-1999和GB 32100-2015",
    "补贴金额为12,345,678.90元，共1380万元",
    "2021-03-15 14:30",
    "20210315",
    "时间戳20210315123045",
    "请拨打12345政务服务便民热线",
    "客服电话400-810-8888",
    "第13号、第138号",
    "２０２０年１２月",
    "统一社会信用代码91350100M000100Y43",
    "",
]


@pytest.mark.parametrize("text", UNTOUCHED)
def test_redact_leaves_ordinary_numbers_alone(text):
    assert redact(text) == text


@pytest.mark.parametrize("text", [case[0] for case in REDACTION_CASES] + UNTOUCHED)
def test_redact_is_idempotent(text):
    once = redact(text)
    assert redact(once) == once


def test_redact_mixed_paragraph_leaves_no_personal_digits():
    number = make_id("440305", "19851003", "417")
    text = (
        f"本人张三（身份证号{number}），于2023年5月依据《条例》第二十七条申请公开"
        "粤府办〔2022〕8号文件，联系电话0755-83456789或+86 186 1234 5678，"
        "邮箱zhangsan@qq.com，另附旧证号440305851003417和银行卡6222021234567890123。"
    )
    scrubbed = redact(text)
    secrets = [number, number[4:14], "83456789", "18612345678", "1234 5678", "zhangsan", "5851003"]
    for secret in secrets + ["6222021234567890123", "2021234567890"]:
        assert secret not in scrubbed
    for kept in ["2023年5月", "第二十七条", "粤府办〔2022〕8号", "《条例》"]:
        assert kept in scrubbed
    assert redact(scrubbed) == scrubbed


def test_strip_personal_identifiers_removes_numbers_but_keeps_the_question():
    from bot.privacy.validation import strip_personal_identifiers

    assert strip_personal_identifiers("我电话13812345678，住房公积金提取要多久") == "我电话，住房公积金提取要多久"
    assert strip_personal_identifiers("身份证11010519491231002X，邮箱a.b@example.com") == "身份证，邮箱"
    # Years, document numbers and hotlines are part of questions: kept.
    for kept in ("2020年第12号文件", "12345热线", "商办发〔2020〕12号"):
        assert strip_personal_identifiers(kept) == kept


# ---------------------------------------------------------------- every format the checks accept is masked
#
# Issue 16: an ID number, phone or e-mail typed in a format the form's checks accepted but the
# redactor did not know (other groupings, en/em dashes, line breaks, full-width characters, 。 in
# an e-mail) was stored unmasked. Each variant below is first shown to pass the check, then to be
# masked in free text: both read the text through the same `fold`.

SEPARATORS = [" ", "-", "\u2013", "\u2014", "\u2212", "\u3000", "\n", "\r\n", " - ", "\uff0d", "\u200b"]
ID_GROUPINGS = [(4, 4, 4, 4, 2), (6, 8, 4), (6, 4, 4, 4), (3, 3, 4, 4, 4), (6, 8, 3, 1), (2, 4, 12)]
MOBILE_GROUPINGS = [(3, 4, 4), (4, 3, 4), (3, 3, 5), (4, 4, 3), (2, 9), (1,) * 11]
FULL_WIDTH = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")


def grouped(value: str, groups: tuple, separator: str) -> str:
    parts, at = [], 0
    for size in groups:
        parts.append(value[at: at + size])
        at += size
    assert at == len(value)
    return separator.join(parts)


def digits_of(text: str) -> str:
    from bot.privacy.validation import fold

    return "".join(ch for ch in fold(text)[0] if ch.isdigit() or ch in "Xx")


def variants(value: str, groupings: list) -> list[str]:
    found = []
    for groups in groupings:
        for separator in SEPARATORS:
            typed = grouped(value, groups, separator)
            found += [typed, typed.translate(FULL_WIDTH)]
    return found


ID_VARIANTS = variants(STANDARD_SAMPLE_ID, ID_GROUPINGS) + variants(make_id("440305", "19851003", "417"), ID_GROUPINGS)
MOBILE_VARIANTS = variants("13800138000", MOBILE_GROUPINGS) + ["+86 138 0013 8000", "0086–138–0013–8000", "(138)00138000"]


@pytest.mark.parametrize("typed", ID_VARIANTS)
def test_every_id_number_format_the_check_accepts_is_masked(typed):
    number = check_id_number(typed)
    assert number.ok, (typed, number.hint)
    for text in (typed, f"我的身份证号是{typed}，请尽快办理", f"身份证：\n{typed}\n谢谢"):
        masked = redact(text)
        assert number.value[4:14] not in digits_of(masked), (text, masked)
        assert mask_id_number(number.value) in masked
        assert redact(masked) == masked


@pytest.mark.parametrize("typed", MOBILE_VARIANTS)
def test_every_mobile_format_the_check_accepts_is_masked(typed):
    phone = check_phone(typed)
    assert phone.ok, (typed, phone.hint)
    for text in (typed, f"电话{typed}，工作日联系", f"手机：\n{typed}\n"):
        masked = redact(text)
        assert "0013" not in digits_of(masked), (text, masked)
        assert "138****8000" in masked
        assert redact(masked) == masked


@pytest.mark.parametrize(
    "typed",
    ["010 1234 5678", "010–1234–5678", "(010)1234 5678", "（０１０）１２３４５６７８", "+86 10 1234 5678", "0755\n8765 4321"],
)
def test_every_landline_format_the_check_accepts_is_masked(typed):
    phone = check_phone(typed)
    assert phone.ok, (typed, phone.hint)
    masked = redact(f"座机{typed}，谢谢")
    area, number = phone.value.split("-")
    assert number[:-2] not in digits_of(masked), masked
    assert mask_phone(typed) in masked


@pytest.mark.parametrize(
    "typed",
    [
        "zhang.san@example。com",  # 。 typed by a Chinese input method
        "ｚｈａｎｇ．ｓａｎ＠ｅｘａｍｐｌｅ．ｃｏｍ",  # full width throughout
        "zhang.san＠example.com",
        "zhang.san@example．com。",
        "zhang.san@EXAMPLE。COM",
        "zhang\u200b.san@example.com",
    ],
)
def test_every_email_format_the_check_accepts_is_masked(typed):
    email = check_email(typed)
    assert email.ok and email.value.lower() == "zhang.san@example.com", (typed, email.hint)
    masked = redact(f"邮箱：{typed}，谢谢")
    assert "hang" not in masked and "san" not in masked, masked
    assert "z***@example.com" in masked.lower()


def test_odd_email_user_names_the_check_accepts_are_masked_whole():
    for typed in ("zhang'san@qq.com", "zhang+gov@qq.com", "li/si@qq.com", "wang_wu-1@qq.com"):
        assert check_email(typed).ok
        masked = redact(f"邮箱{typed}。")
        local = typed.split("@")[0]
        assert local[1:] not in masked, masked


@pytest.mark.parametrize(
    "text, secret",
    [
        ("我的护照号是E12345678，", "12345678"),
        ("护照 EA1234567", "1234567"),
        ("港澳通行证H1234567890", "1234567890"),
        ("passport: g12345678.", "12345678"),
    ],
)
def test_passport_and_permit_numbers_in_free_text_are_masked(text, secret):
    masked = redact(text)
    assert secret not in masked and secret[1:-2] not in masked, masked
    assert redact(masked) == masked


def test_short_document_numbers_are_masked_harder_than_resident_ids():
    assert mask_id_number("E12345678") == "E******78"
    assert mask_id_number("E 1234–5678") == "E******78"


@pytest.mark.parametrize(
    "typed, secret",
    [
        ("E12345678", "2345"),  # passport
        ("我的证件号 Ｇ１２３４ ５６７８", "2345"),
        ("A1234567(8)", "34567"),  # Hong Kong identity card
        ("H 0123 4567 89", "34567"),
        ("98765", "876"),
        ("zhang@@example", "hang"),  # not a valid address, still not kept
        ("1101 0519 4912 3100 2X", "05194912"),
        ("1380 013 8000", "0013"),
    ],
)
def test_an_identifier_answer_is_masked_whatever_its_format(typed, secret):
    from bot.privacy.validation import redact_identifier_answer

    masked = redact_identifier_answer(typed)
    assert secret not in digits_of(masked) and secret not in masked, masked
    assert redact_identifier_answer(masked) == masked


def test_an_identifier_answer_keeps_words_and_intent_payloads():
    from bot.privacy.validation import redact_identifier_answer

    for text in ("/cancel_request", "取消", "为什么要填身份证号？", '/correct_request{"request_field": "phone"}'):
        assert redact_identifier_answer(text) == text


def test_ordinary_grouped_numbers_stay_readable():
    for text in ("2019 2020 2021 2022年的数据", "回执号 GK 2026 1123 0001", "2021-03-15 14:30 至 16:30", "第 3 - 5 条"):
        assert redact(text) == text
