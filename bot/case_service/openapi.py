"""The OpenAPI 3.0 description of the case service, as data served at /openapi.json.

Enums are generated from the Python enums so the document cannot drift from what the code accepts;
a test validates the document and checks that every route of the app is described here.
"""

from __future__ import annotations

import copy

from . import __version__
from .validation import IDEMPOTENCY_KEY_MAX, IDEMPOTENCY_KEY_MIN, MAX_LIMIT, MAX_NOTE_CHARS, TRACKING_NUMBER_PATTERN
from .workflow import (
    ACTION_LABELS,
    KIND_LABELS,
    KIND_PREFIXES,
    REPLY_TYPE_LABELS,
    STATUS_LABELS,
    Action,
    Kind,
    ReplyType,
    Status,
)


def _labelled(labels: dict) -> str:
    return "; ".join(f"`{key.value}` {label}" for key, label in labels.items())


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _json(description: str, schema: dict, headers: dict | None = None) -> dict:
    response = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


_DATETIME = {"type": "string", "format": "date-time", "example": "2026-11-23T10:15:00+08:00"}
_NULLABLE_DATETIME = {**_DATETIME, "nullable": True}
_NULLABLE_DATE = {"type": "string", "format": "date", "nullable": True, "example": "2026-12-21"}
_TRACKING = {
    "type": "string",
    "pattern": TRACKING_NUMBER_PATTERN.pattern,
    "example": "GK261123482919",
    "description": "Prefix by kind (" + ", ".join(f"{p} {k.value}" for k, p in KIND_PREFIXES.items())
    + ") + receipt date YYMMDD (Asia/Shanghai) + 5 random digits + a Luhn check digit over those 11 digits. "
    "Numbers issued before (YYYYMMDD + daily sequence, e.g. GK202611230001) stay valid.",
}

_SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {
                        "type": "string",
                        "description": "Stable machine-readable code, e.g. unauthorized, forbidden, invalid_request, "
                        "invalid_json, idempotency_key_required, invalid_idempotency_key, idempotency_conflict, "
                        "payload_too_large, phone_last4_required, case_not_found, not_found, method_not_allowed, invalid_transition, "
                        "extension_already_used, correction_already_requested, case_closed, busy, database_unavailable, internal_error.",
                        "example": "case_not_found",
                    },
                    "message": {"type": "string", "description": "Chinese text fit to show to people.", "example": "未找到该案件"},
                    "details": {
                        "type": "array",
                        "description": "Per-field problems of a 400.",
                        "items": {
                            "type": "object",
                            "required": ["field", "message"],
                            "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                        },
                    },
                },
            }
        },
    },
    "Kind": {"type": "string", "enum": [k.value for k in Kind], "description": _labelled(KIND_LABELS)},
    "Status": {"type": "string", "enum": [s.value for s in Status], "description": _labelled(STATUS_LABELS)},
    "Action": {"type": "string", "enum": [a.value for a in Action], "description": _labelled(ACTION_LABELS)},
    "ReplyType": {
        "type": "string",
        "enum": [r.value for r in ReplyType],
        "description": "Form of the answer to a disclosure application (《政府信息公开条例》Arts. 36, 37, 39): "
        + _labelled(REPLY_TYPE_LABELS),
    },
    "TranscriptTurn": {
        "type": "object",
        "required": ["role", "text"],
        "additionalProperties": False,
        "properties": {"role": {"type": "string", "example": "user"}, "text": {"type": "string"}},
    },
    "NewCase": {
        "type": "object",
        "required": ["kind", "channel", "conversation_id", "applicant", "request"],
        "additionalProperties": False,
        "description": "For kind=disclosure, applicant.name, applicant.phone and request.description are required "
        "(Art. 29). applicant and request are stored exactly as sent and returned to staff unchanged.",
        "properties": {
            "kind": _ref("Kind"),
            "channel": {"type": "string", "minLength": 1, "maxLength": 64, "example": "web"},
            "conversation_id": {"type": "string", "minLength": 1, "maxLength": 128},
            "applicant": {
                "type": "object",
                "additionalProperties": True,
                "properties": {
                    "name": {"type": "string", "example": "张三"},
                    "phone": {"type": "string", "example": "13800138000"},
                    "id_number": {"type": "string"},
                    "address": {"type": "string"},
                    "email": {"type": "string"},
                },
            },
            "request": {
                "type": "object",
                "additionalProperties": True,
                "properties": {
                    "description": {"type": "string", "example": "2025年本区老旧小区改造项目清单"},
                    "purpose": {"type": "string"},
                    "delivery": {"type": "string", "example": "电子邮件"},
                },
            },
            "transcript": {"type": "array", "maxItems": 200, "items": _ref("TranscriptTurn")},
        },
    },
    "HistoryEntry": {
        "type": "object",
        "required": ["action", "status", "status_label", "at"],
        "properties": {
            "action": {"type": "string", "description": "`create` or an Action", "example": "create"},
            "status": _ref("Status"),
            "status_label": {"type": "string", "example": "已收到"},
            "at": _DATETIME,
            "note": {"type": "string", "description": "Staff's internal note: in the staff view only, never the bot's."},
        },
    },
    "CasePublic": {
        "type": "object",
        "description": "What the bot sees: status and dates, no personal data.",
        "required": [
            "tracking_number", "kind", "status", "status_label", "received_at", "deadline", "extended",
            "correction_requested_at", "answered_at", "reply_type", "reply_type_label", "history",
        ],
        "properties": {
            "tracking_number": _TRACKING,
            "kind": _ref("Kind"),
            "status": _ref("Status"),
            "status_label": {"type": "string", "example": "已收到"},
            "received_at": _DATETIME,
            "deadline": {
                **_NULLABLE_DATE,
                "description": "Last day to answer (Asia/Shanghai). Disclosure: 20 working days after receipt "
                "(Art. 33), +20 once when extended; null while waiting for a correction (Art. 30) and for handoff "
                "cases. Complaint/suggestion: the agency's service promise (default 15 working days).",
            },
            "extended": {"type": "boolean"},
            "correction_requested_at": _NULLABLE_DATETIME,
            "answered_at": _NULLABLE_DATETIME,
            # OAS 3.0 ignores `nullable` beside a $ref, so the enum is repeated here with null.
            "reply_type": {
                "type": "string",
                "nullable": True,
                "enum": [r.value for r in ReplyType] + [None],
                "description": "A ReplyType once answered (disclosure cases only), else null.",
            },
            "reply_type_label": {"type": "string", "nullable": True, "example": "予以公开"},
            "history": {"type": "array", "items": _ref("HistoryEntry")},
        },
    },
    "CaseFull": {
        "description": "What staff see: the public view plus applicant, request and transcript as submitted.",
        "allOf": [
            _ref("CasePublic"),
            {
                "type": "object",
                "required": [
                    "kind_label", "channel", "conversation_id", "applicant", "request", "clock_started_on",
                    "correction_received_at", "closed_at", "updated_at",
                ],
                "properties": {
                    "kind_label": {"type": "string", "example": "政府信息公开申请"},
                    "channel": {"type": "string"},
                    "conversation_id": {"type": "string"},
                    "applicant": {"type": "object", "additionalProperties": True},
                    "request": {"type": "object", "additionalProperties": True},
                    "transcript": {
                        "type": "array",
                        "nullable": True,
                        "items": _ref("TranscriptTurn"),
                        "description": "Present when reading one case; omitted in lists.",
                    },
                    "clock_started_on": {
                        **_NULLABLE_DATE,
                        "description": "Day the answer period runs from (receipt, or receipt of the correction).",
                    },
                    "correction_received_at": _NULLABLE_DATETIME,
                    "closed_at": _NULLABLE_DATETIME,
                    "updated_at": _DATETIME,
                },
            },
        ],
    },
    "CaseOrPublic": {"anyOf": [_ref("CaseFull"), _ref("CasePublic")]},
    "CaseList": {
        "type": "object",
        "required": ["items", "total", "limit", "offset"],
        "properties": {
            "items": {"type": "array", "items": _ref("CaseFull")},
            "total": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    },
    "Transition": {
        "type": "object",
        "required": ["action"],
        "additionalProperties": False,
        "properties": {
            "action": _ref("Action"),
            "note": {"type": "string", "maxLength": MAX_NOTE_CHARS, "description": "Internal: shown in the staff view of the case history, never to the bot."},
            "reply_type": {
                "type": "string",
                "enum": [r.value for r in ReplyType],
                "description": "A ReplyType: required for action=answer on a disclosure case; not allowed otherwise.",
            },
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "database"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "database": {"type": "string", "enum": ["ok", "unreachable"]},
        },
    },
}

_TRACKING_PARAMETER = {"name": "tracking_number", "in": "path", "required": True, "schema": _TRACKING}

_PATHS = {
    "/health": {
        "get": {
            "operationId": "health",
            "summary": "Liveness and database reachability",
            "security": [],
            "responses": {
                "200": _json("Service and database are up", _ref("Health")),
                "503": _json("Database unreachable", _ref("Health")),
            },
        }
    },
    "/metrics": {
        "get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics: requests by route, open cases by distance to their deadline",
            "security": [],
            "responses": {
                "200": {
                    "description": "Prometheus text format (OpenMetrics when the Accept header asks for it)",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/live": {
        "get": {
            "operationId": "live",
            "summary": "Liveness: the process answers (no database check)",
            "security": [],
            "responses": {
                "200": _json(
                    "The process is up",
                    {"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok"]}}},
                )
            },
        }
    },
    "/ready": {
        "get": {
            "operationId": "ready",
            "summary": "Readiness: the database answers within 3 seconds",
            "security": [],
            "responses": {
                "200": _json("Ready to take requests", _ref("Health")),
                "503": _json("Database unreachable or too slow", _ref("Health")),
            },
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.0 document", "content": {"application/json": {"schema": {"type": "object"}}}}},
        }
    },
    "/cases": {
        "post": {
            "operationId": "createCase",
            "summary": "Hand a formal request over to the agency (roles: bot, staff)",
            "description": "Idempotent: repeating a request with the same Idempotency-Key and the same body returns the "
            "case already created (200, header Idempotent-Replayed: true); the same key with a different body is a 409. "
            "The bot receives the public view, staff the full view. Body at most 64 KB.",
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": True,
                    "description": "Client-chosen key, the same for every retry of one request (e.g. a UUID).",
                    "schema": {"type": "string", "minLength": IDEMPOTENCY_KEY_MIN, "maxLength": IDEMPOTENCY_KEY_MAX},
                }
            ],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("NewCase")}}},
            "responses": {
                "201": _json(
                    "Case created",
                    _ref("CaseOrPublic"),
                    {"Location": {"description": "Path of the new case", "schema": {"type": "string"}}},
                ),
                "200": _json(
                    "Replay: the case created earlier with this key and body",
                    _ref("CaseOrPublic"),
                    {"Idempotent-Replayed": {"description": "Always `true`", "schema": {"type": "string"}}},
                ),
                "400": _error("Invalid body or Idempotency-Key"),
                "401": _error("Missing or wrong token"),
                "409": _error("Idempotency-Key already used with a different body"),
                "413": _error("Body larger than 64 KB"),
                "503": _error("Case database unavailable, or too busy to allocate a number"),
            },
        },
        "get": {
            "operationId": "listCases",
            "summary": "List cases, newest first (role: staff)",
            "parameters": [
                {"name": "status", "in": "query", "required": False, "schema": _ref("Status")},
                {"name": "kind", "in": "query", "required": False, "schema": _ref("Kind")},
                {"name": "limit", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50}},
                {"name": "offset", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0, "default": 0}},
            ],
            "responses": {
                "200": _json("A page of cases (transcripts omitted) and the total matching", _ref("CaseList")),
                "400": _error("Invalid filter"),
                "401": _error("Missing or wrong token"),
                "403": _error("Not a staff token"),
                "503": _error("Case database unavailable, or too busy to allocate a number"),
            },
        },
    },
    "/cases/{tracking_number}": {
        "get": {
            "operationId": "getCase",
            "summary": "Read one case (roles: bot with phone_last4, staff)",
            "description": "The bot must pass the last four digits of the applicant's phone; a mismatch answers 404 "
            "exactly like an unknown number. Every such 404 counts as a failed look-up of that number; after "
            "GOVBOT_CASE_LOOKUP_MAX_FAILURES (default 5) within GOVBOT_CASE_LOOKUP_LOCK_SECONDS (default 3600) the "
            "number is locked for that long: 429 lookup_locked with Retry-After, for existing and unknown numbers "
            "alike, even with the right digits. Staff are never locked out. "
            "The bot gets the public view (no personal data), staff the full view.",
            "parameters": [
                _TRACKING_PARAMETER,
                {
                    "name": "phone_last4",
                    "in": "query",
                    "required": False,
                    "description": "Required for the bot role; ignored for staff.",
                    "schema": {"type": "string", "pattern": "^[0-9]{4}$"},
                },
            ],
            "responses": {
                "200": _json("The case", _ref("CaseOrPublic")),
                "400": _error("phone_last4 missing or malformed (bot)"),
                "401": _error("Missing or wrong token"),
                "404": _error("No such case, or phone_last4 does not match"),
                "429": _json("Too many failed look-ups of this number (bot): locked for a while", _ref("Error"),
                             {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds until the lock ends"}}),
                "503": _error("Case database unavailable, or too busy to allocate a number"),
            },
        }
    },
    "/cases/{tracking_number}/transitions": {
        "post": {
            "operationId": "transitionCase",
            "summary": "Move a case to its next status (role: staff)",
            "description": "received → correction_requested → (receive_correction) received, clock restarted → "
            "extended (once) → answered → closed. Complaint, suggestion and handoff cases may be answered or "
            "closed directly from received; only disclosure cases take corrections and extensions.",
            "parameters": [_TRACKING_PARAMETER],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Transition")}}},
            "responses": {
                "200": _json("The case after the transition", _ref("CaseFull")),
                "400": _error("Invalid body"),
                "401": _error("Missing or wrong token"),
                "403": _error("Not a staff token"),
                "404": _error("No such case"),
                "409": _error("Transition not allowed in the current status"),
                "413": _error("Body larger than 64 KB"),
                "503": _error("Case database unavailable, or too busy to allocate a number"),
            },
        }
    },
}

_HANDOFF_MESSAGE = {
    "type": "object",
    "required": ["id", "tracking_number", "role", "author", "text", "at"],
    "properties": {
        "id": {"type": "integer", "description": "Increasing over all handoffs: the feed's cursor"},
        "tracking_number": _TRACKING,
        "role": {"type": "string", "enum": ["citizen", "staff", "system"]},
        "author": {"type": "string", "description": "Staff account that replied (empty otherwise)"},
        "text": {"type": "string", "description": "Citizen text arrives masked (ID numbers, phones, e-mails)"},
        "at": _DATETIME,
    },
}
_TEXT_BODY = {
    "type": "object",
    "required": ["text"],
    "properties": {"text": {"type": "string", "maxLength": 2000}, "author": {"type": "string", "maxLength": 64}},
}
_PATHS.update({
    "/handoff-messages": {
        "post": {
            "operationId": "addCitizenMessage",
            "summary": "A message the person typed after a 转人工 handoff (role: bot)",
            "description": "Stored with the conversation's open handoff case. `phone`, when the message carried one, "
            "becomes the case's contact (if it has none), so the handoff's tracking number can be looked up.",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["conversation_id", "text"],
                "properties": {"conversation_id": {"type": "string", "maxLength": 128},
                               "text": {"type": "string", "maxLength": 2000}, "phone": {"type": "string"}},
            }}}},
            "responses": {
                "201": _json("Stored", {"type": "object", "properties": {"tracking_number": _TRACKING, "id": {"type": "integer"}}}),
                "400": _error("Invalid body"),
                "401": _error("Missing or wrong token"),
                "404": _error("The conversation has no open handoff"),
            },
        },
        "get": {
            "operationId": "handoffFeed",
            "summary": "Handoff messages newer than `after`, waiting up to `wait` seconds for one (role: staff)",
            "parameters": [
                {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
                {"name": "wait", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 25, "default": 0}},
            ],
            "responses": {
                "200": _json("Messages in order", {"type": "object", "properties": {
                    "items": {"type": "array", "items": _HANDOFF_MESSAGE}, "last_id": {"type": "integer"}}}),
                "400": _error("Invalid parameter"),
                "401": _error("Missing or wrong token"),
                "403": _error("Not a staff token"),
            },
        },
    },
    "/cases/{tracking_number}/messages": {
        "get": {
            "operationId": "handoffMessages",
            "summary": "All messages of one handoff case (role: staff)",
            "parameters": [_TRACKING_PARAMETER],
            "responses": {
                "200": _json("Messages in order", {"type": "object", "properties": {"items": {"type": "array", "items": _HANDOFF_MESSAGE}}}),
                "401": _error("Missing or wrong token"),
                "403": _error("Not a staff token"),
                "404": _error("No such handoff case"),
            },
        },
        "post": {
            "operationId": "replyToHandoff",
            "summary": "A staff reply, delivered into the person's conversation on its channel (role: staff)",
            "description": "socket.io (widget, kiosk) and WeChat at once through Rasa's HTTP API; REST with the caller's "
            "next message. `delivered` says whether Rasa accepted it.",
            "parameters": [_TRACKING_PARAMETER],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _TEXT_BODY}}},
            "responses": {
                "201": _json("Stored", {"type": "object", "properties": {"message": _HANDOFF_MESSAGE, "delivered": {"type": "boolean"}}}),
                "400": _error("Invalid body"),
                "401": _error("Missing or wrong token"),
                "403": _error("Not a staff token"),
                "404": _error("No such handoff case"),
                "409": _error("The handoff has ended"),
            },
        },
    },
})

_DOCUMENT = {
    "openapi": "3.0.3",
    "info": {
        "title": "政务公开咨询助手 case service",
        "version": __version__,
        "description": "The agency's case system the assistant hands formal requests to: government-information "
        "disclosure applications (《政府信息公开条例》2019), complaints, suggestions and human-handoff cases. "
        "JSON in UTF-8 throughout; dates and times are Asia/Shanghai. Errors share the Error schema.",
    },
    "tags": [{"name": "cases"}],
    "security": [{"bearerAuth": []}],
    "components": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "GOVBOT_CASE_BOT_TOKEN (role bot: create, read one with phone_last4) or "
                "GOVBOT_CASE_STAFF_TOKEN (role staff: everything).",
            }
        },
        "schemas": _SCHEMAS,
    },
    "paths": _PATHS,
}


def openapi_document() -> dict:
    """A fresh copy, so a caller that edits it cannot change what the next request gets."""
    return copy.deepcopy(_DOCUMENT)
