"""办件: applications, complaints/suggestions and handoffs in one filtered list; a case page with its
fields (identifiers in full: staff only, each view in the audit log), the statutory deadline and the
working days left, and forms for the transitions the case service supports."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import urlencode

from aiohttp import web

from bot.case_service.deadlines import CalendarConfigError, WorkingDayCalendar
from bot.case_service.workflow import ACTION_LABELS, KIND_LABELS, REPLY_TYPE_LABELS, STATUS_LABELS, Action, Kind, Status
from bot.casework.tracking_numbers import plausible

from .auth import audit, require_role
from .case_client import CaseServiceError, case_client, setup_http
from .config import CONSOLE_CONFIG_KEY
from .layout import BEIJING, render

CALENDAR_KEY = web.AppKey("console_calendar", WorkingDayCalendar)
PAGE_SIZE = 50
MAX_SCAN = 2000  # the deadline filters look through at most this many cases
DUE_SOON_WORKING_DAYS = 3
OPEN_STATUSES = {Status.RECEIVED.value, Status.EXTENDED.value}

CHANNEL_LABELS = {"socketio": "网站挂件 / 自助终端", "kiosk": "自助终端", "widget": "网站挂件", "rest": "REST 接口", "wechat": "微信公众号"}
FIELD_LABELS = {
    "type": "申请人类型", "name": "姓名/名称", "id_type": "证件类型", "id_number": "证件号码", "credit_code": "统一社会信用代码",
    "phone": "联系电话", "email": "电子邮箱", "postal_address": "通信地址", "contact_consent": "同意工作人员联系",
    "description": "所需信息的描述", "delivery_form": "获取信息的形式", "delivery_method": "获取信息的方式",
    "matter": "具体事项", "target": "涉及的单位或服务", "anonymous": "匿名", "purpose": "用途", "reason": "原因",
    "contact": "联系方式", "question": "问题",
}
VALUE_LABELS = {"citizen": "公民", "organisation": "法人或其他组织", True: "是", False: "否"}
DEADLINE_FILTERS = {"overdue": "已超期", "due_soon": "3 个工作日内到期"}


@dataclass(frozen=True)
class DeadlineInfo:
    text: str
    css: str = ""  # "overdue", "due-soon" or ""
    working_days_left: int | None = None


def working_days_between(calendar: WorkingDayCalendar, start: dt.date, end: dt.date) -> int:
    """Working days in (start, end]."""
    count, day = 0, start
    while day < end:
        day += dt.timedelta(days=1)
        if calendar.is_workday(day):
            count += 1
    return count


def deadline_info(case: dict, today: dt.date, calendar: WorkingDayCalendar) -> DeadlineInfo:
    status = case.get("status")
    if status == Status.CORRECTION_REQUESTED.value:
        return DeadlineInfo("补正期间暂停计时")
    if status in (Status.ANSWERED.value, Status.CLOSED.value):
        return DeadlineInfo(STATUS_LABELS[Status(status)])
    if not case.get("deadline"):
        return DeadlineInfo("无法定期限")
    deadline = dt.date.fromisoformat(case["deadline"])
    if deadline < today:
        late = working_days_between(calendar, deadline, today)
        return DeadlineInfo(f"已超期 {late} 个工作日" if late else "已超期", "overdue", -late)
    left = working_days_between(calendar, today, deadline)
    text = "今天到期" if deadline == today else f"剩 {left} 个工作日"
    return DeadlineInfo(text, "due-soon" if left <= DUE_SOON_WORKING_DAYS else "", left)


def available_actions(case: dict) -> list[str]:
    """The transitions worth offering in this state (the case service still judges each one)."""
    status, kind = case.get("status"), case.get("kind")
    disclosure = kind == Kind.DISCLOSURE.value
    actions = []
    if disclosure and status == Status.RECEIVED.value and not case.get("correction_requested_at"):
        actions.append(Action.REQUEST_CORRECTION.value)
    if status == Status.CORRECTION_REQUESTED.value:
        actions.append(Action.RECEIVE_CORRECTION.value)
    if disclosure and status == Status.RECEIVED.value and not case.get("extended") and case.get("deadline"):
        actions.append(Action.EXTEND.value)
    if status in OPEN_STATUSES:
        actions.append(Action.ANSWER.value)
    if status == Status.ANSWERED.value or status == Status.CORRECTION_REQUESTED.value or (
        not disclosure and status == Status.RECEIVED.value
    ):
        actions.append(Action.CLOSE.value)
    return actions


def _today() -> dt.date:
    return dt.datetime.now(BEIJING).date()


def _display(value) -> str:
    if isinstance(value, bool):
        return VALUE_LABELS[value]
    if value in (None, ""):
        return "—"
    return str(VALUE_LABELS.get(value, value)) if isinstance(value, str) else str(value)


def _fields(data: dict | None) -> list[tuple[str, str]]:
    return [(FIELD_LABELS.get(key, key), _display(value)) for key, value in (data or {}).items()]


def _row(case: dict, today: dt.date, calendar: WorkingDayCalendar) -> dict:
    return dict(
        case,
        kind_label=KIND_LABELS.get(Kind(case["kind"]), case["kind"]) if case.get("kind") in {k.value for k in Kind} else case.get("kind"),
        channel_label=CHANNEL_LABELS.get(case.get("channel", ""), case.get("channel", "")),
        applicant_name=(case.get("applicant") or {}).get("name") or "（匿名）",
        due=deadline_info(case, today, calendar),
    )


@require_role("staff")
async def case_list(request: web.Request) -> web.Response:
    query = request.query
    status = query.get("status", "") if query.get("status", "") in {s.value for s in Status} else ""
    kind = query.get("kind", "") if query.get("kind", "") in {k.value for k in Kind} else ""
    due = query.get("due", "") if query.get("due", "") in DEADLINE_FILTERS else ""
    number = query.get("number", "").strip().upper()
    if number:
        if plausible(number):
            raise web.HTTPFound(f"/console/cases/{number}")
    try:
        page = max(1, int(query.get("page", "1")))
    except ValueError:
        page = 1
    client = case_client(request)
    calendar = request.config_dict[CALENDAR_KEY]
    today = _today()
    error, rows, total = "", [], 0
    try:
        if due:
            # The case service filters by status and kind; the deadline is judged here, over every open case.
            scanned, offset = [], 0
            while offset < MAX_SCAN:
                body = await client.list_cases(status, kind, 200, offset)
                scanned.extend(body["items"])
                offset += 200
                if offset >= body["total"]:
                    break
            rows = [r for r in (_row(c, today, calendar) for c in scanned) if r["due"].css == ("overdue" if due == "overdue" else "due-soon")]
            total = len(rows)
            rows = rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        else:
            body = await client.list_cases(status, kind, PAGE_SIZE, (page - 1) * PAGE_SIZE)
            rows = [_row(c, today, calendar) for c in body["items"]]
            total = body["total"]
    except CaseServiceError as exc:
        error = exc.message
    if number:
        error = f"「{number}」不是有效的受理编号（两个字母加 12 位数字，如 GK261123482919）。"
    filters = {"status": status, "kind": kind, "due": due}
    base = {k: v for k, v in filters.items() if v}
    pages = max(1, -(-total // PAGE_SIZE))
    return render(
        request, "cases.html", title="办件", rows=rows, total=total, error=error, filters=filters, number=number,
        statuses=[(s.value, STATUS_LABELS[s]) for s in Status], kinds=[(k.value, KIND_LABELS[k]) for k in Kind],
        due_filters=list(DEADLINE_FILTERS.items()), page=page, pages=pages,
        prev_url=f"?{urlencode({**base, 'page': page - 1})}" if page > 1 else "",
        next_url=f"?{urlencode({**base, 'page': page + 1})}" if page < pages else "",
        today=today, status=503 if error and not number else 200,
    )


async def _case_page(request: web.Request, tracking_number: str, *, notice: str = "", error: str = "", status: int = 200) -> web.Response:
    try:
        case = await case_client(request).get_case(tracking_number)
    except CaseServiceError as exc:
        message = "没有这个受理编号的办件。" if exc.status == 404 else exc.message
        return render(request, "error.html", title="办件", message=message, status=exc.status if exc.status in (404, 503, 504) else 502)
    await audit(request, "case_view", tracking_number)
    row = _row(case, _today(), request.config_dict[CALENDAR_KEY])
    return render(
        request, "case.html", title=f"办件 {tracking_number}", case=row, applicant=_fields(case.get("applicant")),
        request_fields=_fields(case.get("request")), transcript=case.get("transcript") or [],
        actions=[(a, ACTION_LABELS[Action(a)]) for a in available_actions(case)],
        reply_types=[(r.value, label) for r, label in REPLY_TYPE_LABELS.items()],
        action_labels={a.value: label for a, label in ACTION_LABELS.items()},
        notice=notice, error=error, status=status,
    )


def _number(request: web.Request) -> str:
    number = request.match_info["tracking_number"].upper()
    if not re.fullmatch(r"[A-Z]{2}\d{12}", number):
        raise web.HTTPNotFound(text="没有这个受理编号的办件。")
    return number


@require_role("staff")
async def case_page(request: web.Request) -> web.Response:
    number = _number(request)
    done = request.query.get("done", "")
    notice = f"已完成：{ACTION_LABELS[Action(done)]}。" if done in {a.value for a in Action} else ""
    return await _case_page(request, number, notice=notice)


@require_role("staff")
async def case_transition(request: web.Request) -> web.Response:
    number = _number(request)
    form = await request.post()
    action = str(form.get("action", ""))
    if action not in {a.value for a in Action}:
        return await _case_page(request, number, error="未知的操作。", status=400)
    note = str(form.get("note", "")).strip()
    reply_type = str(form.get("reply_type", "")) or None
    if action != Action.ANSWER.value:
        reply_type = None
    try:
        await case_client(request).transition(number, action, note, reply_type)
    except CaseServiceError as exc:
        await audit(request, "case_transition_refused", number, f"{action}: {exc.message}")
        return await _case_page(request, number, error=f"未能{ACTION_LABELS[Action(action)]}：{exc.message}", status=exc.status)
    await audit(request, "case_transition", number, action + (f" reply_type={reply_type}" if reply_type else ""))
    raise web.HTTPSeeOther(f"/console/cases/{number}?done={action}")


def setup(app: web.Application) -> None:
    config = app[CONSOLE_CONFIG_KEY]
    try:
        app[CALENDAR_KEY] = WorkingDayCalendar.from_file(config.calendar_path)
    except CalendarConfigError as exc:
        raise ValueError(str(exc)) from exc
    setup_http(app)
    app.router.add_get("/console/cases", case_list)
    app.router.add_get("/console/cases/{tracking_number}", case_page)
    app.router.add_post("/console/cases/{tracking_number}/transitions", case_transition)
