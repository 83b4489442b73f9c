"""Checks on what clients send, collected field by field so one 400 lists every problem.

The messages are Chinese because the bot may relay them; `field` paths are for integrators.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from bot.casework.request_kinds import PREFIX_GROUP

from .errors import ApiError
from .workflow import Action, Kind, ReplyType, Status

IDEMPOTENCY_KEY_MIN = 8
IDEMPOTENCY_KEY_MAX = 128
# Visible ASCII only: keys travel in an HTTP header and are compared byte for byte.
_KEY_PATTERN = re.compile(r"^[\x21-\x7e]+$")
TRACKING_NUMBER_PATTERN = re.compile(r"^%s[0-9]{12,}$" % PREFIX_GROUP)
_PHONE_CHARACTERS = re.compile(r"^[0-9+\-() ]+$")

CREATE_FIELDS = {"kind", "channel", "conversation_id", "applicant", "request", "transcript"}
TRANSITION_FIELDS = {"action", "note", "reply_type"}
MAX_TRANSCRIPT_TURNS = 200
MAX_NOTE_CHARS = 2000
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _invalid(details: list[dict]) -> ApiError:
    return ApiError(400, "invalid_request", "请求内容不符合要求：" + "；".join(f"{d['field']} {d['message']}" for d in details), details)


# Deepest nesting of objects and arrays a request may have (a case needs 3: transcript, turn, text).
MAX_JSON_DEPTH = 32


def _deeper_than(value: object, limit: int) -> bool:
    """Whether `value` nests objects or arrays more than `limit` levels deep (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_json_object(body: bytes) -> dict:
    """The body as a JSON object; 400 for anything else, JSON nested too deep to parse included
    (json.loads raises RecursionError, which would otherwise be a 500)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "invalid_json", "请求体不是有效的 UTF-8 JSON") from exc
    except RecursionError:
        raise ApiError(400, "invalid_json", f"请求体嵌套过深（不得超过 {MAX_JSON_DEPTH} 层）") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "请求体应为 JSON 对象")
    if _deeper_than(data, MAX_JSON_DEPTH):
        raise ApiError(400, "invalid_json", f"请求体嵌套过深（不得超过 {MAX_JSON_DEPTH} 层）")
    return data


def request_hash(data: dict) -> str:
    """Fingerprint of the body's meaning (key order and whitespace do not matter)."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def idempotency_key(value: str | None) -> str:
    if value is None or not value.strip():
        raise ApiError(400, "idempotency_key_required", "缺少请求头 Idempotency-Key（同一请求重试时须使用相同的值）")
    if not (IDEMPOTENCY_KEY_MIN <= len(value) <= IDEMPOTENCY_KEY_MAX) or not _KEY_PATTERN.match(value):
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"请求头 Idempotency-Key 应为 {IDEMPOTENCY_KEY_MIN}–{IDEMPOTENCY_KEY_MAX} 个可见 ASCII 字符",
        )
    return value


def _nonempty_string(data: dict, key: str, path: str, max_length: int, details: list[dict]) -> None:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        details.append({"field": path, "message": "必填，且应为非空字符串"})
    elif len(value) > max_length:
        details.append({"field": path, "message": f"不能超过 {max_length} 个字符"})


def phone_digits(phone: object) -> str:
    return re.sub(r"[^0-9]", "", phone) if isinstance(phone, str) else ""


@dataclass(frozen=True)
class CreateRequest:
    kind: Kind
    channel: str
    conversation_id: str
    applicant: dict
    request: dict
    transcript: list | None


def create_request(data: dict) -> CreateRequest:
    details: list[dict] = []
    for unknown in sorted(set(data) - CREATE_FIELDS):
        details.append({"field": unknown, "message": "不是可接受的字段"})
    kind = data.get("kind")
    if kind not in {k.value for k in Kind}:
        details.append({"field": "kind", "message": "应为 " + "、".join(k.value for k in Kind) + " 之一"})
    _nonempty_string(data, "channel", "channel", 64, details)
    _nonempty_string(data, "conversation_id", "conversation_id", 128, details)
    applicant = data.get("applicant")
    request = data.get("request")
    if not isinstance(applicant, dict):
        details.append({"field": "applicant", "message": "必填，且应为 JSON 对象"})
    if not isinstance(request, dict):
        details.append({"field": "request", "message": "必填，且应为 JSON 对象"})
    if kind == Kind.DISCLOSURE.value:
        # Art. 29: an application names the applicant, a contact, and describes the information.
        if isinstance(applicant, dict):
            _nonempty_string(applicant, "name", "applicant.name", 200, details)
            phone = applicant.get("phone")
            if not isinstance(phone, str) or not _PHONE_CHARACTERS.match(phone) or not 7 <= len(phone_digits(phone)) <= 20:
                details.append({"field": "applicant.phone", "message": "必填，应为有效的电话号码"})
        if isinstance(request, dict):
            _nonempty_string(request, "description", "request.description", 10000, details)
    transcript = data.get("transcript")
    if transcript is not None:
        if not isinstance(transcript, list):
            details.append({"field": "transcript", "message": "应为对话记录列表"})
        elif len(transcript) > MAX_TRANSCRIPT_TURNS:
            details.append({"field": "transcript", "message": f"不能超过 {MAX_TRANSCRIPT_TURNS} 条"})
        else:
            for index, turn in enumerate(transcript):
                if (
                    not isinstance(turn, dict)
                    or set(turn) != {"role", "text"}
                    or not isinstance(turn.get("role"), str)
                    or not isinstance(turn.get("text"), str)
                ):
                    details.append({"field": f"transcript[{index}]", "message": "应为 {\"role\": 字符串, \"text\": 字符串}"})
    if details:
        raise _invalid(details)
    return CreateRequest(Kind(kind), data["channel"], data["conversation_id"], applicant, request, transcript)


@dataclass(frozen=True)
class TransitionRequest:
    action: Action
    note: str
    reply_type: ReplyType | None


def transition_request(data: dict) -> TransitionRequest:
    details: list[dict] = []
    for unknown in sorted(set(data) - TRANSITION_FIELDS):
        details.append({"field": unknown, "message": "不是可接受的字段"})
    action = data.get("action")
    if action not in {a.value for a in Action}:
        details.append({"field": "action", "message": "应为 " + "、".join(a.value for a in Action) + " 之一"})
    note = data.get("note", "")
    if not isinstance(note, str):
        details.append({"field": "note", "message": "应为字符串"})
    elif len(note) > MAX_NOTE_CHARS:
        details.append({"field": "note", "message": f"不能超过 {MAX_NOTE_CHARS} 个字符"})
    reply_type = data.get("reply_type")
    if reply_type is not None and reply_type not in {r.value for r in ReplyType}:
        details.append({"field": "reply_type", "message": "应为 " + "、".join(r.value for r in ReplyType) + " 之一"})
    if details:
        raise _invalid(details)
    return TransitionRequest(Action(action), note, ReplyType(reply_type) if reply_type is not None else None)


def list_query(query) -> tuple[Status | None, Kind | None, int, int]:
    details: list[dict] = []
    status = query.get("status") or None
    kind = query.get("kind") or None
    if status is not None and status not in {s.value for s in Status}:
        details.append({"field": "status", "message": "应为 " + "、".join(s.value for s in Status) + " 之一"})
    if kind is not None and kind not in {k.value for k in Kind}:
        details.append({"field": "kind", "message": "应为 " + "、".join(k.value for k in Kind) + " 之一"})
    limit = _int_param(query.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT, details)
    offset = _int_param(query.get("offset"), "offset", 0, 0, None, details)
    if details:
        raise _invalid(details)
    return (Status(status) if status else None), (Kind(kind) if kind else None), limit, offset


def _int_param(raw: str | None, name: str, default: int, minimum: int, maximum: int | None, details: list[dict]) -> int:
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw) or int(raw) < minimum or (maximum is not None and int(raw) > maximum):
        bound = f"{minimum}–{maximum}" if maximum is not None else f"不小于 {minimum}"
        details.append({"field": name, "message": f"应为整数（{bound}）"})
        return default
    return int(raw)
