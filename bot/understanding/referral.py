"""Other agencies' business: a short referral instead of a citation from an unrelated document.

The list is staff-editable (knowledge/referrals.yml) and read again when it changes, like
query_terms.yml. A topic matches only when the question does not name one of this agency's own
service items, so 「预付卡备案要营业执照吗」 stays a question about the 预付卡 filing.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.text import normalize

REFERRALS_FILE = "referrals.yml"
# Whether a matter is (to be) disclosed, and this agency's own disclosure fee, are questions about
# the disclosure regulation whoever's matter it is: 「乡政府宅基地审核情况要不要公示」 (第二十一条).
_ABOUT_DISCLOSURE = re.compile(
    r"(要不要|需不需要|需要|该不该|应不应该|应该|会不会|能不能|可不可以|是否|有没有|得)(主动)?(公示|公开)|"
    r"(公示|公开)(吗|不|没|了没|了吗)|政府信息公开|信息公开|依申请公开|主动公开|信息处理费"
)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Referral:
    agency: str
    topics: tuple[tuple[str, ...], ...]  # each topic: words that must all occur
    tip: str

    def matches(self, text: str) -> str | None:
        for words in self.topics:
            if all(word in text for word in words):
                return "+".join(words)
        return None


def parse_referrals(data: object) -> list[Referral]:
    """Referrals from the YAML data; a malformed entry is reported, not guessed."""
    entries = (data or {}).get("referrals") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError("referrals.yml 应包含 referrals: 列表")
    referrals = []
    for i, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not entry.get("agency") or not isinstance(entry.get("topics"), list):
            raise ValueError(f"referrals.yml 第{i}项应有 agency 和 topics 列表")
        topics = tuple(
            tuple(normalize(w) for w in str(t).split("+") if normalize(w)) for t in entry["topics"] if str(t).strip()
        )
        referrals.append(Referral(str(entry["agency"]), tuple(t for t in topics if t), str(entry.get("tip") or "")))
    return referrals


class ReferralDesk:
    """Finds the agency a question belongs to; reloads the file when staff edit it."""

    def __init__(self, knowledge_dir: Path, agency_name: str = "本机关") -> None:
        self.path = Path(knowledge_dir) / REFERRALS_FILE
        self.agency_name = agency_name
        self._lock = threading.Lock()
        self._stamp: float | None = None
        self._referrals: list[Referral] = []

    def _current(self) -> list[Referral]:
        try:
            stamp = self.path.stat().st_mtime
        except OSError:
            return []
        with self._lock:
            if stamp != self._stamp:
                try:
                    self._referrals = parse_referrals(yaml.safe_load(self.path.read_text(encoding="utf-8")))
                except (OSError, yaml.YAMLError, ValueError) as exc:
                    log.error("referrals.yml not used: %s", exc)  # keep the last good list
                self._stamp = stamp
            return self._referrals

    def find(self, question: str) -> Referral | None:
        text = normalize(question)
        if _ABOUT_DISCLOSURE.search(text):
            return None
        for referral in self._current():
            if referral.matches(text):
                return referral
        return None

    def reply(self, referral: Referral) -> str:
        tip = f"建议您{referral.tip}；" if referral.tip else "建议您向该部门咨询；"
        return (
            f"您问的事项属于{referral.agency}的职责，不在{self.agency_name}的办理范围内。"
            f"{tip}也可以拨打12345政务服务便民热线问询。如果还有政务公开或在{self.agency_name}办事方面的问题，欢迎继续问我。"
        )
