"""What a formal request must contain, and how a person's typed answers become its fields.

Disclosure applications follow Art. 29 of the 2019 《政府信息公开条例》: name (or organisation name),
proof of identity, contact details, a description of the information wanted, and the wished form
and way of obtaining it. The purpose is not required by the regulation, so it is never asked.
Complaints and suggestions need the matter, whom it concerns, and contact details unless the person
makes an anonymous suggestion. Rasa's form actions call into here; nothing here imports Rasa.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from bot.privacy import validation
from bot.casework import request_kinds

DISCLOSURE, COMPLAINT, SUGGESTION = request_kinds.DISCLOSURE.code, request_kinds.COMPLAINT.code, request_kinds.SUGGESTION.code

CITIZEN, ORGANISATION = "公民", "法人或其他组织"
RESIDENT_ID = "居民身份证"
ID_TYPES = (RESIDENT_ID, "港澳居民来往内地通行证", "台湾居民来往大陆通行证", "护照", "其他有效身份证件")
DELIVERY_FORMS = ("纸质", "电子")
DELIVERY_METHODS = ("邮寄", "电子邮件", "当面领取", "网上获取")
NONE_GIVEN = "无"

# Fields holding personal data: the slot keeps a masked form, the full value goes to the draft store.
PRIVATE_FIELDS = ("id_number", "phone", "email")

FIELD_LABELS = {
    "applicant_type": "申请人类型",
    "applicant_name": "姓名/名称",
    "credit_code": "统一社会信用代码",
    "id_type": "证件类型",
    "id_number": "证件号码",
    "phone": "联系电话",
    "email": "电子邮箱",
    "postal_address": "通信地址",
    "info_description": "所需信息的描述",
    "delivery_form": "获取信息的形式",
    "delivery_method": "获取信息的方式",
    "complaint_type": "类型",
    "complaint_matter": "具体事项",
    "complaint_target": "涉及的单位或服务",
    "anonymous": "是否匿名",
    "contact_consent": "是否同意工作人员联系您",
}
# Words people use when they want to change one field (「手机号填错了」「改一下地址」).
FIELD_WORDS = {
    "phone": ("手机", "电话", "号码错", "联系方式"),
    "id_number": ("身份证", "证件号"),
    "id_type": ("证件类型",),
    "credit_code": ("信用代码", "社会信用"),
    "applicant_name": ("姓名", "名字", "名称", "单位名"),
    "applicant_type": ("申请人类型", "身份类型"),
    "email": ("邮箱", "email", "e-mail"),
    "postal_address": ("地址", "住址"),
    "info_description": ("描述", "内容", "信息名称", "文号", "要申请的信息"),
    "delivery_form": ("形式", "纸质", "电子版"),
    "delivery_method": ("方式", "邮寄", "自取", "领取"),
    "complaint_matter": ("事项", "投诉内容", "建议内容"),
    "complaint_target": ("单位", "部门", "窗口"),
    "contact_consent": ("联系我",),
}
SKIP_WORDS = ("跳过", "没有", "无", "不填", "不需要", "不用", "暂无", "不提供", "略")

# Art. 39: 以政府信息公开申请的形式进行信访、投诉、举报等活动 is not handled as an application.
_COMPLAINT_IN_DISGUISE = re.compile(r"投诉|举报|信访|控告|检举|申诉|要求(处理|处罚|查处|赔偿|解决)|讨个说法")

ART39_REASON = (
    "根据《政府信息公开条例》第三十九条，以政府信息公开申请的形式进行信访、投诉、举报等活动的，"
    "不作为政府信息公开申请处理。"
)
ART39_TEXT = (
    ART39_REASON + "您描述的内容更像投诉或举报，我可以帮您转为「投诉/建议」登记；"
    "如果您确实是想获取某项政府信息，请写明信息的名称、文号或其他能够指向该信息的描述。"
)


@dataclass(frozen=True)
class Check:
    """One typed answer checked: `value` goes into the slot, `private` only to the draft store."""

    ok: bool
    value: str | None = None
    private: str | None = None
    hint: str = ""


def _clean(text: object) -> str:
    return unicodedata.normalize("NFKC", str(text or "")).strip()


def is_skip(text: object) -> bool:
    cleaned = re.sub(r"[。.！!，,\s]", "", _clean(text))
    return cleaned in SKIP_WORDS or cleaned in ("没有邮箱", "没有地址", "不留", "不方便")


def choose(text: object, options: dict[str, tuple[str, ...]], hint: str) -> Check:
    """The option whose words the answer contains (first listed wins), or the hint.

    An option's own value is accepted as is: a form re-checks answers it already holds when it
    starts again (「修改」), and 'suggestion' contains none of the words 「建议」 stands for.
    """
    cleaned = _clean(text).lower()
    if cleaned in options:
        return Check(True, cleaned)
    for value, words in options.items():
        if any(word in cleaned for word in words):
            return Check(True, value)
    return Check(False, hint=hint)


def check_applicant_type(text: object) -> Check:
    return choose(
        text,
        {
            ORGANISATION: ("法人", "组织", "企业", "公司", "单位", "机构", "协会", "事务所", "律所"),
            CITIZEN: ("公民", "个人", "自然人", "自己", "本人", "我"),
        },
        "请选择申请人类型：以个人身份申请请选「公民」，以单位名义申请请选「法人或其他组织」。",
    )


def check_name(text: object, organisation: bool = False) -> Check:
    name = re.sub(r"^(我叫|我是|姓名是|名字是|名称是|单位是|公司是)", "", _clean(text)).strip("：: ，,。")
    what = "单位名称" if organisation else "姓名"
    if not name:
        return Check(False, hint=f"请输入{what}。")
    if len(name) > (100 if organisation else 40):
        return Check(False, hint=f"{what}太长了，请只输入{what}本身。")
    if re.fullmatch(r"[\d\W_]+", name):
        return Check(False, hint=f"这看起来不像{what}，请输入与证件一致的{what}。")
    if not organisation and len(name) < 2 and not re.search(r"[A-Za-z]", name):
        return Check(False, hint="请输入完整姓名（与身份证件一致）。")
    return Check(True, name)


def check_credit_code(text: object) -> Check:
    result = validation.check_credit_code(_clean(text))
    if not result.ok:
        return Check(False, hint=result.hint)
    return Check(True, validation.mask_credit_code(result.value), private=result.value)


def check_id_type(text: object) -> Check:
    return choose(
        text,
        {
            RESIDENT_ID: ("身份证", "居民身份"),
            "港澳居民来往内地通行证": ("港澳", "回乡证"),
            "台湾居民来往大陆通行证": ("台湾", "台胞"),
            "护照": ("护照", "passport"),
            "其他有效身份证件": ("其他", "居住证", "军官证"),
        },
        "请选择证件类型，例如「居民身份证」或「护照」。",
    )


def check_id_number(text: object, id_type: str | None) -> Check:
    if (id_type or RESIDENT_ID) == RESIDENT_ID:
        result = validation.check_id_number(_clean(text))
        if not result.ok:
            return Check(False, hint=result.hint)
        return Check(True, validation.mask_id_number(result.value), private=result.value)
    number = validation.compact_identifier(_clean(text)).upper()
    if not re.fullmatch(r"[A-Z0-9]{5,30}", number):
        return Check(False, hint="证件号码应由字母和数字组成（5到30位），请按证件上的号码输入。")
    return Check(True, validation.mask_id_number(number), private=number)


def check_phone(text: object) -> Check:
    result = validation.check_phone(_clean(text))
    if not result.ok:
        return Check(False, hint=result.hint)
    return Check(True, validation.mask_phone(result.value), private=result.value)


def check_email(text: object, required: bool) -> Check:
    if is_skip(text):
        if required:
            return Check(False, hint="您选择了用电子邮件获取信息，需要留一个电子邮箱；也可以回复「修改获取方式」改用其他方式。")
        return Check(True, NONE_GIVEN)
    result = validation.check_email(_clean(text))
    if not result.ok:
        return Check(False, hint=result.hint)
    return Check(True, validation.mask_email(result.value), private=result.value)


def check_postal_address(text: object, required: bool) -> Check:
    address = _clean(text)
    if is_skip(address):
        if required:
            return Check(False, hint="您选择了邮寄，需要留一个收件地址；也可以回复「修改获取方式」改用其他方式。")
        return Check(True, NONE_GIVEN)
    if len(address) < 6:
        return Check(False, hint="请填写完整的通信地址，包括省市区、街道和门牌号，以便邮寄。")
    if len(address) > 200:
        return Check(False, hint="地址太长了，请只填写收件地址。")
    return Check(True, validation.redact(address))


def check_info_description(text: object) -> Check:
    description = _clean(text)
    if _COMPLAINT_IN_DISGUISE.search(description):
        return Check(False, hint=ART39_TEXT)
    if len(description) < 6:
        return Check(
            False,
            hint="请再具体一些：写明您需要的政府信息的名称、文号，或者发布机关、时间、内容等能指向该信息的描述。",
        )
    if len(description) > 2000:
        return Check(False, hint="描述请控制在2000字以内，写明信息名称、文号等关键内容即可。")
    return Check(True, validation.redact(description))


def is_complaint_in_disguise(text: object) -> bool:
    return bool(_COMPLAINT_IN_DISGUISE.search(_clean(text)))


def check_delivery_form(text: object) -> Check:
    return choose(
        text,
        {"纸质": ("纸", "打印", "复印"), "电子": ("电子", "数据", "扫描", "pdf", "文件")},
        "请选择获取信息的形式：「纸质」或「电子」。",
    )


def check_delivery_method(text: object) -> Check:
    return choose(
        text,
        {
            "电子邮件": ("邮件", "邮箱", "email"),
            "邮寄": ("邮寄", "寄", "快递", "ems"),
            "当面领取": ("当面", "自取", "现场", "领取", "自己去", "上门取"),
            "网上获取": ("网上", "在线", "网站", "下载", "平台"),
        },
        "请选择获取方式：「邮寄」「电子邮件」「当面领取」或「网上获取」。",
    )


def check_complaint_type(text: object) -> Check:
    return choose(
        text,
        {SUGGESTION: ("建议", "意见", "提议"), COMPLAINT: ("投诉", "举报", "反映", "不满")},
        "请选择：「投诉」还是「建议」。",
    )


def check_complaint_matter(text: object) -> Check:
    matter = _clean(text)
    if len(matter) < 6:
        return Check(False, hint="请具体说明事情经过：时间、地点、涉及的事项，以及您的诉求或建议。")
    if len(matter) > 2000:
        return Check(False, hint="内容请控制在2000字以内。")
    return Check(True, validation.redact(matter))


def check_complaint_target(text: object) -> Check:
    target = _clean(text)
    if is_skip(target) or target in ("不清楚", "不知道"):
        return Check(True, "未说明")
    if len(target) > 200:
        return Check(False, hint="请简要写明涉及的单位、窗口或服务名称。")
    return Check(True, validation.redact(target))


def check_yes_no(text: object, hint: str) -> Check:
    return choose(
        text,
        {"否": ("不同意", "不愿意", "不用", "不要", "否", "不"), "是": ("同意", "可以", "好", "是", "行", "愿意", "没问题", "嗯")},
        hint,
    )


def check_anonymous(text: object) -> Check:
    return choose(
        text, {"实名": ("实名", "留联系方式", "不匿名", "留下"), "匿名": ("匿名",)}, "请选择「匿名提建议」或「留下联系方式」。"
    )


def required_fields(kind: str | None, slots: dict) -> list[str]:
    """The fields still to ask for, in the order a clerk would ask them."""
    if kind == DISCLOSURE:
        fields = ["applicant_type", "applicant_name"]
        if slots.get("applicant_type") == ORGANISATION:
            fields.append("credit_code")
        else:
            fields += ["id_type", "id_number"]
        fields += ["phone", "info_description", "delivery_form", "delivery_method"]
        if slots.get("delivery_method") == "电子邮件":
            fields.append("email")
        if slots.get("delivery_method") == "邮寄":
            fields.append("postal_address")
        return fields
    fields = ["complaint_type", "complaint_matter", "complaint_target"]
    if slots.get("complaint_type") == SUGGESTION:
        fields.append("anonymous")
    if slots.get("anonymous") != "匿名":
        fields += ["applicant_name", "phone", "contact_consent"]
    return fields


def field_named_in(text: object, kind: str | None) -> str | None:
    """Which field 「手机号填错了，改一下」 wants to change (only fields of this kind of request)."""
    cleaned = _clean(text).lower()
    allowed = set(required_fields(kind, {"applicant_type": None, "delivery_method": "邮寄"}))
    allowed |= {"email", "credit_code", "anonymous"}
    for field, words in FIELD_WORDS.items():
        if field in allowed and any(word in cleaned for word in words):
            return field
    return None


def correctable_fields(kind: str | None, slots: dict) -> list[str]:
    return [f for f in required_fields(kind, slots) if slots.get(f) not in (None, "")]


def summary(kind: str | None, slots: dict) -> str:
    """What the person confirms: every field, personal numbers masked."""
    # Only the three form kinds have a summary; anything else reads 「申请」 as before.
    title = request_kinds.name_in_sentence(kind) if kind in (DISCLOSURE, COMPLAINT, SUGGESTION) else request_kinds.UNKNOWN_NAME
    lines = [f"请核对您的{title}信息："]
    for field in required_fields(kind, slots):
        value = slots.get(field)
        if value in (None, ""):
            continue
        if field == "complaint_type":
            value = {COMPLAINT: "投诉", SUGGESTION: "建议"}.get(value, value)
        lines.append(f"· {FIELD_LABELS[field]}：{value}")
    lines.append("确认无误请点「确认提交」；需要改动请点「修改」；不想提交了请点「取消」。")
    return "\n".join(lines)


def summary_digest(kind: str | None, slots: dict, instance: str | None) -> str:
    """Identifies one summary of one request: any changed answer, or another request, changes it."""
    text = f"{instance}\n{summary(kind, slots)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def build_payload(kind: str, slots: dict, private: dict, channel: str, conversation_id: str) -> dict:
    """The case-system request: full personal numbers from the draft store, the rest from the slots."""

    def value(field: str) -> str | None:
        v = private.get(field) or slots.get(field)
        return None if v in (None, "", NONE_GIVEN) else v

    if kind == DISCLOSURE:
        organisation = slots.get("applicant_type") == ORGANISATION
        applicant = {
            "type": "organisation" if organisation else "citizen",
            "name": value("applicant_name"),
            "phone": value("phone"),
            "email": value("email"),
            "postal_address": value("postal_address"),
        }
        if organisation:
            applicant["credit_code"] = value("credit_code")
        else:
            applicant["id_type"] = value("id_type")
            applicant["id_number"] = value("id_number")
        request = {
            "description": value("info_description"),
            "delivery_form": value("delivery_form"),
            "delivery_method": value("delivery_method"),
        }
    else:
        anonymous = slots.get("anonymous") == "匿名"
        applicant = {} if anonymous else {
            "name": value("applicant_name"),
            "phone": value("phone"),
            "contact_consent": slots.get("contact_consent") == "是",
        }
        request = {
            "matter": value("complaint_matter"),
            "target": value("complaint_target"),
            "anonymous": anonymous,
        }
    return {
        "kind": kind,
        "channel": channel,
        "conversation_id": conversation_id,
        "applicant": {k: v for k, v in applicant.items() if v is not None},
        "request": {k: v for k, v in request.items() if v is not None},
    }


def missing_private(kind: str | None, slots: dict, private: dict) -> list[str]:
    """Masked fields whose full value is gone (e.g. the draft store was reset): ask them again."""
    return [
        f for f in required_fields(kind, slots)
        if f in PRIVATE_FIELDS + ("credit_code",) and slots.get(f) not in (None, "", NONE_GIVEN) and not private.get(f)
    ]
