"""The one vocabulary of request kinds: unique prefixes, a pattern that finds each kind's numbers,
and every consumer naming the kinds from it (with the wording each used before)."""

from __future__ import annotations

import pytest

from bot.casework import request_kinds as rk
from bot.casework.tracking_numbers import PATTERN, new_number, plausible


def test_codes_and_prefixes_are_unique_two_capital_letters():
    assert len({kind.code for kind in rk.KINDS}) == len(rk.KINDS)
    assert len(set(rk.PREFIXES)) == len(rk.KINDS)
    assert all(len(p) == 2 and p.isascii() and p.isupper() for p in rk.PREFIXES)


@pytest.mark.parametrize("kind", rk.KINDS, ids=lambda k: k.code)
def test_the_pattern_finds_each_kinds_numbers(kind):
    number = new_number(kind.prefix, "20261206")
    assert PATTERN is rk.TRACKING_NUMBER
    assert rk.TRACKING_NUMBER.fullmatch(number) and plausible(number)
    assert rk.TRACKING_NUMBER.search(f"我的回执号是{number}，办到哪了").group(0) == number
    assert rk.TRACKING_NUMBER.fullmatch(f"{kind.prefix}202611230001")  # numbers issued before


def test_the_pattern_refuses_other_letters():
    assert not rk.TRACKING_NUMBER.search("XX261206482919")
    assert not rk.TRACKING_NUMBER.search("GK26120648291")  # eleven digits


def test_case_service_uses_the_vocabulary():
    from bot.case_service.openapi import _TRACKING
    from bot.case_service.validation import TRACKING_NUMBER_PATTERN
    from bot.case_service.workflow import KIND_LABELS, KIND_PREFIXES, Kind

    assert {k.value for k in Kind} == set(rk.BY_CODE)
    from bot.casework.outbox import KINDS as OUTBOX_KINDS

    assert OUTBOX_KINDS == ("disclosure", "complaint", "suggestion", "handoff")
    assert {k.value: v for k, v in KIND_LABELS.items()} == {
        "disclosure": "政府信息公开申请", "complaint": "投诉", "suggestion": "建议", "handoff": "转人工服务",
    }
    assert {k.value: v for k, v in KIND_PREFIXES.items()} == {
        "disclosure": "GK", "complaint": "TS", "suggestion": "JY", "handoff": "RG",
    }
    assert TRACKING_NUMBER_PATTERN.pattern == _TRACKING["pattern"] == "^(GK|TS|JY|RG)[0-9]{12,}$"
    for kind in rk.KINDS:
        assert TRACKING_NUMBER_PATTERN.match(new_number(kind.prefix, "20261206"))


def test_every_label_is_used_where_it_was():
    from bot.analytics.metrics import KIND_LABELS as REPORT_LABELS
    from bot.casework import request_forms as rf

    assert REPORT_LABELS == {"disclosure": "政府信息公开申请", "complaint": "投诉", "suggestion": "建议", "handoff": "转人工"}
    assert [rk.name_in_sentence(k.code) for k in rk.KINDS] == ["政府信息公开申请", "投诉", "建议", "人工服务请求"]
    assert rk.name_in_sentence("something_new") == rk.name_in_sentence(None) == "申请"
    assert rk.prefix_list() == "GK（政府信息公开申请）、TS（投诉）、JY（建议）或 RG（转人工）"
    assert rf.summary(rf.DISCLOSURE, {}).startswith("请核对您的政府信息公开申请信息：")
    assert rf.summary(rf.SUGGESTION, {}).startswith("请核对您的建议信息：")
    assert rf.summary(None, {}).startswith("请核对您的申请信息：")
    # Each kind's label, sentence name and short label is read by some consumer above.
    used = set(REPORT_LABELS.values()) | {"转人工服务", "人工服务请求"}
    assert all({k.label, k.in_sentence, k.short_label} <= used for k in rk.KINDS)


def test_the_digits_only_hint_lists_the_prefixes_from_the_vocabulary():
    from actions import texts

    assert texts.DIGITS_ONLY == (
        "请在数字前加上回执号开头的两个字母：GK（政府信息公开申请）、TS（投诉）、JY（建议）或 RG（转人工），"
        "例如 GK261123482919。"
    )
