"""The action server's side of formal requests: submit through the outbox, look up status, hand off.

One `CaseDesk` per action-server process owns the outbox, its background deliverer and the draft
store, so a request confirmed in the chat is committed before the person is told anything and then
reaches the case system exactly once, even across case-system outages and action-server restarts.
"""

from __future__ import annotations

import asyncio
import re
import threading
import unicodedata
from dataclasses import dataclass

from bot.casework.case_client import CaseLookupLocked, CaseRejected, CaseSystemUnavailable
from bot.casework.drafts import DraftStore
from bot.casework.outbox import Outbox, derive_idempotency_key
from bot.casework.outbox_delivery import Deliverer, deliver_now
from bot.casework.request_kinds import TRACKING_NUMBER, name_in_sentence

# How long the person waits for a tracking number before being told delivery continues in the background.
DELIVER_NOW_SECONDS = 4.0


@dataclass(frozen=True)
class Submission:
    text: str
    tracking_number: str | None
    key: str


def find_tracking_number(text: object) -> str | None:
    cleaned = re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", str(text or ""))).upper()
    match = TRACKING_NUMBER.search(cleaned)
    return match.group(0) if match else None


def digits_only_number(text: object) -> str | None:
    """「261123482919」: the twelve digits of a tracking number typed without its two letters (a kiosk
    keypad, a phone's number pad)."""
    cleaned = re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", str(text or "")))
    return cleaned if re.fullmatch(r"\d{12}", cleaned) else None


def complete_tracking_number(digits: str, known: list[str]) -> str | None:
    """The one number this conversation was given that ends in `digits`; None if none or several."""
    matches = {number for number in known if number[2:] == digits}
    return matches.pop() if len(matches) == 1 else None


def find_last4(text: object) -> str | None:
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", str(text or "")))
    return digits if len(digits) == 4 else None


def request_key(conversation_id: str, form_instance: str, kind: str) -> str:
    return derive_idempotency_key(conversation_id, form_instance, kind)


class CaseDesk:
    def __init__(self, outbox: Outbox | None = None, drafts: DraftStore | None = None) -> None:
        self.outbox = outbox or Outbox()
        self.drafts = drafts or DraftStore(self.outbox.engine)
        self.deliverer = Deliverer(self.outbox)

    def ensure_deliverer(self) -> None:
        """Start background delivery in the running loop (the action server's), once."""
        if not self.deliverer.running:
            self.deliverer.start()

    async def submit(self, kind: str, payload: dict, key: str) -> Submission:
        """Commit to the outbox first, then try to deliver within a few seconds."""
        self.ensure_deliverer()
        entry = await self.outbox.aenqueue(kind, payload, key)
        name = name_in_sentence(kind)
        if not entry.delivered:
            try:
                await deliver_now(self.outbox, key, timeout=DELIVER_NOW_SECONDS)
            except CaseRejected:
                pass
            entry = await self.outbox.astatus(key)
        if entry.delivered and entry.tracking_number:
            return Submission(self._received_text(name, entry.tracking_number), entry.tracking_number, key)
        if entry.rejected:
            return Submission(
                f"抱歉，您的{name}未能登记成功（系统退回）。请联系本机关政府信息公开工作机构，或稍后重新提交。",
                None,
                key,
            )
        self.deliverer.wake()
        return Submission(
            f"您的{name}已经安全保存，不会丢失。办理系统暂时繁忙，回执号生成后，您在本对话中说「我的申请办到哪了」即可看到；"
            "系统会自动继续提交，您无需重复提交。",
            None,
            key,
        )

    @staticmethod
    def _received_text(name: str, tracking_number: str) -> str:
        return (
            f"您的{name}已提交成功，回执号：{tracking_number}。\n"
            "请记下回执号；查询办理进度时请说「我的申请办到哪了」，并提供回执号和联系电话后4位。"
        )

    async def conversation_requests(self, conversation_id: str) -> list[str]:
        """Lines describing this conversation's requests, for 「我的申请办到哪了」."""
        entries = await asyncio.to_thread(self.outbox.entries_for_conversation, conversation_id)
        lines = []
        for entry in entries:
            name = name_in_sentence(entry.kind)
            if entry.delivered and entry.tracking_number:
                lines.append(f"· {name}：回执号 {entry.tracking_number}")
            elif entry.pending:
                lines.append(f"· {name}：正在提交中，回执号稍后生成")
            else:
                lines.append(f"· {name}：未能登记，请联系工作人员")
        return lines

    async def conversation_numbers(self, conversation_id: str) -> list[str]:
        """The tracking numbers this conversation's requests were given."""
        entries = await asyncio.to_thread(self.outbox.entries_for_conversation, conversation_id)
        return [entry.tracking_number for entry in entries if entry.delivered and entry.tracking_number]

    async def case_status(self, tracking_number: str, phone_last4: str) -> str:
        try:
            case = await self.outbox.client.get_case(tracking_number, phone_last4)
        except CaseLookupLocked as exc:
            minutes = max(1, (exc.retry_after + 59) // 60)
            return (f"这个回执号的查询错误次数过多，为保护申请人信息已暂时锁定，请约 {minutes} 分钟后再试；"
                    "如有急事，请联系本机关政府信息公开工作机构。")
        except CaseSystemUnavailable:
            return "抱歉，办理系统暂时无法查询，请稍后再试。"
        except (CaseRejected, ValueError):
            return "抱歉，暂时无法查询这个回执号，请稍后再试或联系工作人员。"
        if case is None:
            return "没有查到这个回执号，或者联系电话后4位不一致。请核对后再试。"
        return describe_case(case)


def describe_case(case: dict) -> str:
    lines = [f"回执号 {case.get('tracking_number')}：{case.get('status_label') or case.get('status')}"]
    if case.get("received_at"):
        lines.append(f"收到日期：{str(case['received_at'])[:10]}")
    if case.get("deadline"):
        extended = "（已依法延长答复期限）" if case.get("extended") else ""
        lines.append(f"答复期限：{case['deadline']}{extended}")
    if case.get("correction_requested_at") and case.get("status") == "correction_requested":
        lines.append("工作人员已请您补正申请内容，请按补正告知书的要求补充后提交；收到补正后重新计算答复期限。")
    if case.get("reply_type_label"):
        lines.append(f"答复类型：{case['reply_type_label']}")
    return "\n".join(lines)


_desk: CaseDesk | None = None
_desk_lock = threading.Lock()


def get_case_desk() -> CaseDesk:
    global _desk
    with _desk_lock:
        if _desk is None:
            _desk = CaseDesk()
        return _desk
