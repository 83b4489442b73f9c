"""The kinds of formal request: their codes, tracking-number prefixes and Chinese names, in one place.

The chat, the action server, the case service, its OpenAPI document and the analytics report all
name the same four kinds; they read them from here so a new kind (or a renamed one) is one edit.
The names differ by where they appear, on purpose: staff see 「转人工服务」, the person is told
「您的人工服务请求已提交成功」, and the report's table is headed 「转人工」. For the three other kinds
all three names are the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestKind:
    code: str  # the API and outbox value: "disclosure", "complaint", ...
    prefix: str  # the tracking number's two letters
    label: str  # staff views, the case API and its OpenAPI document
    in_sentence: str  # what the person is told: 「您的{in_sentence}已提交成功」
    short_label: str  # the analytics report and the list of prefixes: 「RG（转人工）」


DISCLOSURE = RequestKind("disclosure", "GK", "政府信息公开申请", "政府信息公开申请", "政府信息公开申请")
COMPLAINT = RequestKind("complaint", "TS", "投诉", "投诉", "投诉")
SUGGESTION = RequestKind("suggestion", "JY", "建议", "建议", "建议")
HANDOFF = RequestKind("handoff", "RG", "转人工服务", "人工服务请求", "转人工")

KINDS = (DISCLOSURE, COMPLAINT, SUGGESTION, HANDOFF)
BY_CODE = {kind.code: kind for kind in KINDS}
# Used when a kind is unknown (an outbox row from a newer version, say): 「您的申请……」.
UNKNOWN_NAME = "申请"

PREFIXES = tuple(kind.prefix for kind in KINDS)
# "(GK|TS|JY|RG)": every tracking-number pattern is built on this group.
PREFIX_GROUP = "(%s)" % "|".join(PREFIXES)
# A tracking number as found in text: the letters and 12 digits (see bot.casework.tracking_numbers).
TRACKING_NUMBER = re.compile(PREFIX_GROUP + r"\d{12}")


def name_in_sentence(code: str | None) -> str:
    """「政府信息公开申请」, 「人工服务请求」...; 「申请」 for an unknown kind."""
    kind = BY_CODE.get(code or "")
    return kind.in_sentence if kind else UNKNOWN_NAME


def prefix_list() -> str:
    """「GK（政府信息公开申请）、TS（投诉）、JY（建议）或 RG（转人工）」, for the person who typed only digits."""
    parts = [f"{kind.prefix}（{kind.short_label}）" for kind in KINDS]
    return "、".join(parts[:-1]) + "或 " + parts[-1]
