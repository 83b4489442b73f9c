"""Case kinds, statuses, staff actions and the rules that move a case between statuses.

Kept free of HTTP and SQL so the legal rules (《政府信息公开条例》Arts. 30, 33, 36) read in one place:
the store calls `Workflow.decide` inside its transaction with the case row locked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum

from bot.casework import request_kinds

from .config import DISCLOSURE_WORKING_DAYS, EXTENSION_WORKING_DAYS
from .deadlines import WorkingDayCalendar
from .errors import ApiError


class Kind(str, Enum):
    DISCLOSURE = "disclosure"
    COMPLAINT = "complaint"
    SUGGESTION = "suggestion"
    HANDOFF = "handoff"


# Labels and tracking-number prefixes come from the one vocabulary (bot.casework.request_kinds).
KIND_LABELS = {Kind(kind.code): kind.label for kind in request_kinds.KINDS}
KIND_PREFIXES = {Kind(kind.code): kind.prefix for kind in request_kinds.KINDS}


class Status(str, Enum):
    RECEIVED = "received"
    CORRECTION_REQUESTED = "correction_requested"
    EXTENDED = "extended"
    ANSWERED = "answered"
    CLOSED = "closed"


STATUS_LABELS = {
    Status.RECEIVED: "已收到",
    Status.CORRECTION_REQUESTED: "待补正",
    Status.EXTENDED: "已延期答复",
    Status.ANSWERED: "已答复",
    Status.CLOSED: "已办结",
}


class Action(str, Enum):
    REQUEST_CORRECTION = "request_correction"
    RECEIVE_CORRECTION = "receive_correction"
    EXTEND = "extend"
    ANSWER = "answer"
    CLOSE = "close"


# The history entry a new case starts with.
CREATE_ACTION = "create"

ACTION_LABELS = {
    Action.REQUEST_CORRECTION: "告知补正",
    Action.RECEIVE_CORRECTION: "收到补正材料",
    Action.EXTEND: "延长答复期限",
    Action.ANSWER: "答复",
    Action.CLOSE: "办结",
}


class ReplyType(str, Enum):
    """Forms of answer to a disclosure application (Art. 36, partial disclosure Art. 37, Art. 39)."""

    ALREADY_PUBLIC = "already_public"  # 36(1)
    DISCLOSED = "disclosed"  # 36(2)
    PARTIALLY_DISCLOSED = "partially_disclosed"  # 37
    NOT_DISCLOSED = "not_disclosed"  # 36(3)
    NOT_HELD = "not_held"  # 36(4)
    OTHER_AGENCY = "other_agency"  # 36(5)
    REPEAT_APPLICATION = "repeat_application"  # 36(6)
    SPECIAL_PROCEDURE = "special_procedure"  # 36(7)
    NOT_GOVERNMENT_INFORMATION = "not_government_information"  # Art. 2 / 39


REPLY_TYPE_LABELS = {
    ReplyType.ALREADY_PUBLIC: "已主动公开（告知获取途径）",
    ReplyType.DISCLOSED: "予以公开",
    ReplyType.PARTIALLY_DISCLOSED: "部分公开",
    ReplyType.NOT_DISCLOSED: "不予公开",
    ReplyType.NOT_HELD: "本机关不掌握相关政府信息（信息不存在）",
    ReplyType.OTHER_AGENCY: "非本机关负责公开（告知向其他机关申请）",
    ReplyType.REPEAT_APPLICATION: "重复申请（不予重复处理）",
    ReplyType.SPECIAL_PROCEDURE: "依照有关法律、行政法规的特别规定办理",
    ReplyType.NOT_GOVERNMENT_INFORMATION: "不属于政府信息",
}


@dataclass
class CaseState:
    """What the rules need to know about a case; the store fills it from the locked row."""

    kind: Kind
    status: Status
    deadline: dt.date | None
    extended: bool
    correction_requested_at: dt.datetime | None


@dataclass
class Decision:
    """A permitted transition: the new status and the columns it changes."""

    status: Status
    changes: dict = field(default_factory=dict)


def _reject(code: str, message: str) -> ApiError:
    return ApiError(409, code, message)


class Workflow:
    """Deadline policy and transition rules, parameterised by the agency's calendar."""

    def __init__(self, calendar: WorkingDayCalendar, promise_working_days: int):
        self.calendar = calendar
        self.promise_working_days = promise_working_days

    def initial_deadline(self, kind: Kind, received_on: dt.date) -> dt.date | None:
        if kind is Kind.DISCLOSURE:
            return self.calendar.add_working_days(received_on, DISCLOSURE_WORKING_DAYS)
        if kind in (Kind.COMPLAINT, Kind.SUGGESTION):
            return self.calendar.add_working_days(received_on, self.promise_working_days)
        return None

    def decide(self, case: CaseState, action: Action, reply_type: ReplyType | None, now: dt.datetime, today: dt.date) -> Decision:
        """Check `action` against the case and say what changes; raise ApiError(409) if not allowed."""
        if reply_type is not None and action is not Action.ANSWER:
            raise ApiError(400, "invalid_request", "只有“答复”操作可以填写答复类型 reply_type",
                           [{"field": "reply_type", "message": "仅 action=answer 时可填写"}])
        if case.status is Status.CLOSED:
            raise _reject("case_closed", "该案件已办结，不能再变更状态")
        disclosure = case.kind is Kind.DISCLOSURE
        label = STATUS_LABELS[case.status]

        if action is Action.REQUEST_CORRECTION:
            if not disclosure:
                raise _reject("invalid_transition", "只有政府信息公开申请可以要求补正")
            if case.correction_requested_at is not None:
                raise _reject("correction_already_requested", "补正应当一次性告知申请人，本案已告知过补正（《政府信息公开条例》第三十条）")
            if case.status is not Status.RECEIVED:
                raise _reject("invalid_transition", f"案件当前状态为“{label}”，不能告知补正")
            # Art. 30: the answer period does not run while the applicant corrects.
            return Decision(Status.CORRECTION_REQUESTED, {"deadline": None, "correction_requested_at": now})

        if action is Action.RECEIVE_CORRECTION:
            if case.status is not Status.CORRECTION_REQUESTED:
                raise _reject("invalid_transition", f"案件当前状态为“{label}”，没有待收取的补正材料")
            # Art. 30: the 20 working days count afresh from receipt of the corrected application.
            return Decision(Status.RECEIVED, {
                "correction_received_at": now,
                "clock_started_on": today,
                "deadline": self.calendar.add_working_days(today, DISCLOSURE_WORKING_DAYS),
            })

        if action is Action.EXTEND:
            if not disclosure:
                raise _reject("invalid_transition", "只有政府信息公开申请可以延长答复期限")
            if case.extended:
                raise _reject("extension_already_used", "答复期限只能延长一次（《政府信息公开条例》第三十三条）")
            if case.status is not Status.RECEIVED or case.deadline is None:
                raise _reject("invalid_transition", f"案件当前状态为“{label}”，不能延长答复期限")
            # Art. 33: at most 20 further working days, counted on from the current deadline.
            return Decision(Status.EXTENDED, {
                "extended": True,
                "deadline": self.calendar.add_working_days(case.deadline, EXTENSION_WORKING_DAYS),
            })

        if action is Action.ANSWER:
            if case.status not in (Status.RECEIVED, Status.EXTENDED):
                raise _reject("invalid_transition", f"案件当前状态为“{label}”，不能答复")
            if disclosure and reply_type is None:
                raise ApiError(400, "invalid_request", "答复政府信息公开申请须填写答复类型 reply_type",
                               [{"field": "reply_type", "message": "必填"}])
            if not disclosure and reply_type is not None:
                raise ApiError(400, "invalid_request", "答复类型 reply_type 只适用于政府信息公开申请",
                               [{"field": "reply_type", "message": "仅政府信息公开申请可填写"}])
            return Decision(Status.ANSWERED, {"answered_at": now, "reply_type": reply_type.value if reply_type else None})

        if action is Action.CLOSE:
            if case.status is Status.ANSWERED:
                return Decision(Status.CLOSED, {"closed_at": now})
            if case.status is Status.CORRECTION_REQUESTED:
                # Art. 30: no correction in time counts as withdrawal of the application.
                return Decision(Status.CLOSED, {"closed_at": now})
            if not disclosure and case.status is Status.RECEIVED:
                return Decision(Status.CLOSED, {"closed_at": now})
            raise _reject("invalid_transition", f"案件当前状态为“{label}”，须先答复才能办结")

        raise ApiError(400, "invalid_request", "未知的操作")  # unreachable: action is an Action
