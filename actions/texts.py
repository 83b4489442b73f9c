"""What the request actions (actions/requests.py) say, in one place.

Wording is reviewed by people who do not read the action code: every sentence the request forms,
status look-up, cancelling and 转人工 send is here, named by when it is said. Sentences with a
value in them are small functions. Field hints come from bot.casework.request_forms, submission receipts
from bot.casework.case_desk.
"""

from __future__ import annotations

from bot.casework.request_kinds import name_in_sentence, prefix_list

# Starting a request.
DISCLOSURE_START = (
    "好的，我来帮您填写政府信息公开申请。按照《政府信息公开条例》第二十九条，需要您提供姓名或名称、"
    "身份证明、联系方式、所需信息的描述，以及获取信息的形式和方式；不需要说明申请用途。"
    "随时可以说「取消」退出，或说「转人工」。"
)
COMPLAINT_START = "好的，我来帮您登记投诉或建议。随时可以说「取消」退出。"
# Follows bot.casework.request_forms.ART39_REASON when a disclosure application turns into a complaint.
ART39_TURNED_INTO_COMPLAINT = "下面为您转为投诉/建议登记。"
COMPLAINT_IN_DISGUISE_BUTTONS = [
    {"title": "转为投诉/建议", "payload": "/file_complaint"},
    {"title": "取消申请", "payload": "/cancel_request"},
]
CONTACT_CONSENT_HINT = "工作人员可能需要联系您了解情况，您同意吗？请回答「同意」或「不同意」。"

# The summary and submitting it.
SUMMARY_BUTTONS = [
    {"title": "确认提交", "payload": "/confirm_request"},
    {"title": "修改", "payload": "/correct_request"},
    {"title": "取消", "payload": "/cancel_request"},
]
NO_REQUEST_TO_SUMMARISE = "当前没有正在填写的申请。需要申请政府信息公开，请说「我要申请政府信息公开」。"
SUMMARY_BEFORE_SUBMITTING = "提交前请先核对以下信息。\n"
NOTHING_TO_SUBMIT = "当前没有待提交的申请。"
SUBMISSION_STILL_SAVING = "您的申请已经保存，正在提交中，无需重复提交。"
FORM_NOT_COMPLETE = "申请还没有填写完整，我们接着填。"
PHONE_MISSING = "缺少联系电话，请先补充。"


def already_submitted(kind: str | None, tracking_number: str) -> str:
    """A second 「确认提交」 after the request went through."""
    return f"您的{name_in_sentence(kind)}已经提交过了，回执号：{tracking_number}。无需重复提交。"


def retype_private_field(label: str) -> str:
    """A full ID number or phone is kept only briefly in the draft store; when it is gone, it is asked again."""
    return f"为保护您的个人信息，{label}需要重新输入一次。"


# 「修改」.
NOTHING_TO_CORRECT = "当前没有正在填写的申请，无需修改。"
WHICH_FIELD_TO_CORRECT = "请问要修改哪一项？"


def provide_again(label: str) -> str:
    return f"好的，请重新提供{label}。"


# 「取消」.
STATUS_LOOKUP_CANCELLED = "好的，已取消进度查询。还有什么可以帮您？"
REQUEST_CANCELLED = "好的，已取消，您填写的信息不会提交，也已删除。还有什么可以帮您？"
NOTHING_TO_CANCEL = "好的。当前没有正在办理的申请。还有什么可以帮您？"


def cannot_withdraw(kind: str | None, tracking_number: str | None) -> str:
    """Cancelling a request that was already confirmed (its turn was lost): say so, never promise otherwise."""
    number = f"，回执号：{tracking_number}" if tracking_number else "，正在提交中"
    return (
        f"您的{name_in_sentence(kind)}已经确认提交{number}，无法在这里撤回。"
        "如需撤回，请联系工作人员或说「转人工」。还有什么可以帮您？"
    )


# Status look-ups.
ASK_TRACKING_NUMBER = "请输入回执号（例如 GK261123482919）。"
REQUESTS_IN_THIS_CONVERSATION = "您在本次对话中提交过："
DIGITS_ONLY = f"请在数字前加上回执号开头的两个字母：{prefix_list()}，例如 GK261123482919。"
NO_NUMBER = (
    "没有回执号也不要紧：工作人员可以根据您申请时留下的姓名和电话帮您查询进度。"
    "需要的话请点「转人工服务」；不查了请点「取消」。找到回执号后也可以直接输入。"
)
NO_NUMBER_BUTTONS = [
    {"title": "转人工服务", "payload": "/request_human"},
    {"title": "取消", "payload": "/cancel_request"},
]
TRACKING_NUMBER_FORMAT = "回执号由两个字母和12位数字组成，例如 GK261123482919，请核对后再输入。"
ASK_PHONE_LAST4 = "请输入申请时所留联系电话的最后4位数字。"


def check_digit_mismatch(tracking_number: str) -> str:
    return f"回执号 {tracking_number} 的最后一位校验码对不上，可能输错了一位，请对照回执核对后再输入。"


def ask_tracking_number(lines: list[str]) -> str:
    """Lists this conversation's requests first, so someone without the number still gets an answer."""
    if not lines:
        return ASK_TRACKING_NUMBER
    return REQUESTS_IN_THIS_CONVERSATION + "\n" + "\n".join(lines) + "\n" + ASK_TRACKING_NUMBER


# 转人工.
def handed_off(tracking_number: str | None, agency: dict) -> str:
    """The last thing the bot says until staff release the conversation; hours and phone from agency.yml."""
    hours, phone = agency.get("hours", "工作日"), agency.get("phone", "本机关咨询电话")
    if tracking_number:
        head = f"已为您转接人工服务（编号 {tracking_number}），工作人员会在本对话中回复您。"
    else:
        head = "已为您登记人工服务请求，工作人员会尽快在本对话中回复您。"
    return (
        f"{head}人工服务时间：{hours}。"
        f"非工作时间请留言，或拨打 {phone}。在工作人员结束人工服务之前，我不会再自动回复。"
    )


def handed_off_closed(tracking_number: str | None, agency: dict) -> str:
    """转人工 outside service hours (bot.handoff.hours): said at once, with a way to leave a message."""
    hours, phone = agency.get("hours", "工作日"), agency.get("phone", "本机关咨询电话")
    number = f"（编号 {tracking_number}）" if tracking_number else ""
    return (
        f"现在是非工作时间，暂时没有工作人员在线（人工服务时间：{hours}）。"
        f"您可以直接在这里留言{number}，并留下联系电话，工作人员上班后会尽快回复您；"
        f"留了电话的，也可以凭编号和电话后4位查询办理情况。急事请在工作时间拨打 {phone}。"
        "在工作人员结束人工服务之前，我不会再自动回复。"
    )
