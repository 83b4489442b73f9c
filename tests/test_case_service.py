"""The reference case service over real HTTP, on SQLite and the shared PostgreSQL.

Async tests run through asyncio.run in plain sync tests, so no pytest plugin is needed. The app is
served by aiohttp's TestServer on a free loopback port and called with a real ClientSession; one
test starts `python -m bot.case_service` as a subprocess.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import sqlalchemy
from aiohttp.test_utils import TestServer
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate_spec

from bot.case_service.app import ROUTES, STORE_KEY, create_app
from bot.case_service.config import CaseServiceConfig
from bot.case_service.deadlines import CalendarConfigError, WorkingDayCalendar
from bot.case_service.openapi import openapi_document
from bot.casework.tracking_numbers import plausible
from tests.conftest import require_postgres

ROOT = Path(__file__).resolve().parent.parent
SHANGHAI = ZoneInfo("Asia/Shanghai")
BOT = "bot-token-0123456789"
STAFF = "staff-token-0123456789"
BOT_VIEW_KEYS = {
    "tracking_number", "kind", "status", "status_label", "received_at", "deadline", "extended",
    "correction_requested_at", "answered_at", "reply_type", "reply_type_label", "history",
}
PHONE = "138-0013-8000"
ID_NUMBER = "11010119900101123X"


def asynctest(function):
    """Run an async test body in a fresh event loop (keeps the suite free of asyncio plugins)."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        return asyncio.run(function(*args, **kwargs))

    return run


class Clock:
    """A settable clock, so receipt dates and deadlines are known in advance."""

    def __init__(self, when: dt.datetime):
        self.now = when

    def set(self, year: int, month: int, day: int, hour: int = 10) -> None:
        self.now = dt.datetime(year, month, day, hour, tzinfo=SHANGHAI)

    def __call__(self) -> dt.datetime:
        return self.now


# ---------------------------------------------------------------- databases

@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cases.db'}"
        return
    import psycopg2

    user = require_postgres()
    # A schema of its own per test, so parallel runs never share tables.
    schema = f"case_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user=user, dbname="test")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"postgresql://{user}@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'cases.db'}"


def count_rows(database_url: str, table: str = "cases") -> int:
    engine = sqlalchemy.create_engine(database_url, future=True)
    try:
        with engine.connect() as connection:
            return connection.execute(sqlalchemy.text(f"SELECT count(*) FROM {table}")).scalar_one()
    finally:
        engine.dispose()


# ---------------------------------------------------------------- client

class Client:
    def __init__(self, http: aiohttp.ClientSession, app):
        self.http = http
        self.app = app

    async def call(self, method: str, path: str, *, token: str | None = None, headers: dict | None = None, **kwargs):
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with self.http.request(method, path, headers=headers, **kwargs) as response:
            text = await response.text()
            assert response.headers["Content-Type"].startswith("application/json"), text
            return response.status, json.loads(text), response.headers

    async def create(self, body: dict, key: str | None = None, token: str = BOT):
        return await self.call("POST", "/cases", token=token, headers={"Idempotency-Key": key or uuid.uuid4().hex}, json=body)

    async def transition(self, number: str, action: str, **fields):
        return await self.call("POST", f"/cases/{number}/transitions", token=STAFF, json={"action": action, **fields})


@contextlib.asynccontextmanager
async def service(database_url: str, clock=None, calendar=None, **config):
    settings = CaseServiceConfig(database_url=database_url, bot_token=BOT, staff_token=STAFF)
    settings = CaseServiceConfig(**{**settings.__dict__, **config})
    app = create_app(settings, clock=clock or Clock(dt.datetime(2025, 9, 30, 10, tzinfo=SHANGHAI)), calendar=calendar)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{server.port}") as http:
            yield Client(http, app)
    finally:
        await server.close()


def disclosure(**overrides) -> dict:
    body = {
        "kind": "disclosure",
        "channel": "web",
        "conversation_id": "conv-1",
        "applicant": {"name": "张三", "phone": PHONE, "id_number": ID_NUMBER, "address": "北京市东城区"},
        "request": {"description": "2025年本区老旧小区改造项目清单", "delivery": "电子邮件"},
        "transcript": [{"role": "user", "text": "我想申请公开老旧小区改造清单"}, {"role": "bot", "text": "好的"}],
    }
    body.update(overrides)
    return body


def other(kind: str, **overrides) -> dict:
    body = {"kind": kind, "channel": "wechat", "conversation_id": "conv-2", "applicant": {"phone": "13912345678"}, "request": {"text": "路灯坏了"}}
    body.update(overrides)
    return body


def schema_validator(name: str) -> OAS30Validator:
    document = openapi_document()
    return OAS30Validator({"$ref": f"#/components/schemas/{name}", "components": document["components"]})


# ---------------------------------------------------------------- health, OpenAPI, auth

@asynctest
async def test_health_and_openapi_need_no_token(sqlite_url):
    async with service(sqlite_url) as client:
        status, body, _ = await client.call("GET", "/health")
        assert (status, body) == (200, {"status": "ok", "database": "ok"})
        status, body, _ = await client.call("GET", "/openapi.json")
        assert status == 200 and body["openapi"].startswith("3.0")


@asynctest
async def test_health_is_503_when_the_database_is_unreachable(sqlite_url, tmp_path):
    async with service(sqlite_url) as client:
        store = client.app[STORE_KEY]
        store.engine.dispose()
        # Point the store at a database file that cannot be opened (its directory does not exist).
        store.engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}", future=True)
        store._sessions.configure(bind=store.engine)
        status, body, _ = await client.call("GET", "/health")
        assert status == 503
        assert body == {"status": "unavailable", "database": "unreachable"}
        status, body, _ = await client.call("GET", "/cases", token=STAFF)
        assert status == 503 and body["error"]["code"] == "database_unavailable"


def test_openapi_document_is_valid_and_describes_every_route():
    document = openapi_document()
    validate_spec(document)
    app = create_app(CaseServiceConfig(database_url="sqlite://", bot_token=BOT, staff_token=STAFF))
    routes = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method not in ("HEAD", "OPTIONS")
    }
    assert len(routes) == len(ROUTES)
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert routes == documented
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert document["components"]["schemas"]["Status"]["enum"] == ["received", "correction_requested", "extended", "answered", "closed"]
    assert {"disclosed", "partially_disclosed", "not_disclosed", "not_held", "other_agency", "not_government_information",
            "repeat_application", "already_public"} <= set(document["components"]["schemas"]["ReplyType"]["enum"])


@asynctest
async def test_auth_401_and_403(sqlite_url):
    async with service(sqlite_url) as client:
        for token in (None, "wrong-token", BOT + "x", BOT[:-1]):
            status, body, headers = await client.call("GET", "/cases/GK202509300001?phone_last4=8000", token=token)
            assert status == 401 and body["error"]["code"] == "unauthorized"
            assert "令牌" in body["error"]["message"]
            assert headers["WWW-Authenticate"].startswith("Bearer")
            schema_validator("Error").validate(body)
        status, body, _ = await client.call("GET", "/cases", headers={"Authorization": f"Basic {BOT}"})
        assert status == 401
        status, body, _ = await client.call("POST", "/cases", json=disclosure(), headers={"Idempotency-Key": "k" * 10})
        assert status == 401
        status, body, _ = await client.call("GET", "/cases", token=BOT)
        assert status == 403 and body["error"]["code"] == "forbidden"
        status, body, _ = await client.call("POST", "/cases/GK202509300001/transitions", token=BOT, json={"action": "close"})
        assert status == 403
        status, body, _ = await client.call("GET", "/cases", token=STAFF)
        assert status == 200 and body["total"] == 0
        status, body, _ = await client.call("GET", "/cases", headers={"Authorization": f"bearer {STAFF}"})
        assert status == 200


@asynctest
async def test_a_role_without_token_is_disabled(sqlite_url, caplog):
    caplog.set_level(logging.WARNING)
    async with service(sqlite_url, staff_token=None) as client:
        assert "GOVBOT_CASE_STAFF_TOKEN is not set" in caplog.text
        status, _, _ = await client.call("GET", "/cases", token=STAFF)
        assert status == 401
        status, _, _ = await client.create(disclosure())
        assert status == 201


# ---------------------------------------------------------------- create

@asynctest
async def test_json_nested_too_deep_is_a_400_not_a_500(sqlite_url):
    """30,000 levels make json.loads raise RecursionError (issue 16: it was a 500); 100 levels parse
    but are still refused. Both on creating a case and on a transition."""
    too_deep_to_parse = ("[" * 30000 + "]" * 30000).encode()
    parseable_but_deep = json.dumps(disclosure(request={"description": "清单", "x": json.loads("[" * 100 + "]" * 100)})).encode()
    async with service(sqlite_url) as client:
        _, case, _ = await client.create(disclosure())
        for body in (b'{"kind": ' + too_deep_to_parse + b"}", parseable_but_deep):
            status, answer, _ = await client.call(
                "POST", "/cases", token=BOT, headers={"Idempotency-Key": uuid.uuid4().hex}, data=body
            )
            assert status == 400 and answer["error"]["code"] == "invalid_json" and "嵌套" in answer["error"]["message"]
            status, answer, _ = await client.call(
                "POST", f"/cases/{case['tracking_number']}/transitions", token=STAFF, data=body
            )
            assert status == 400 and answer["error"]["code"] == "invalid_json"
        assert (await client.call("GET", "/health"))[0] == 200


@asynctest
async def test_create_validates_key_body_and_size(sqlite_url):
    async with service(sqlite_url) as client:
        status, body, _ = await client.call("POST", "/cases", token=BOT, json=disclosure())
        assert status == 400 and body["error"]["code"] == "idempotency_key_required"
        status, body, _ = await client.create(disclosure(), key="short")
        assert status == 400 and body["error"]["code"] == "invalid_idempotency_key"
        status, body, _ = await client.create(disclosure(), key="x" * 129)
        assert status == 400 and body["error"]["code"] == "invalid_idempotency_key"
        status, body, _ = await client.call("POST", "/cases", token=BOT, headers={"Idempotency-Key": "abcdefgh"}, data=b"{not json")
        assert status == 400 and body["error"]["code"] == "invalid_json"
        status, body, _ = await client.create({"kind": "petition", "channel": "web", "conversation_id": "c", "applicant": [], "request": "x", "extra": 1})
        assert status == 400 and body["error"]["code"] == "invalid_request"
        assert {d["field"] for d in body["error"]["details"]} == {"kind", "applicant", "request", "extra"}
        schema_validator("Error").validate(body)
        status, body, _ = await client.create(disclosure(applicant={"name": " ", "phone": "12"}, request={"purpose": "科研"}))
        assert status == 400
        assert {d["field"] for d in body["error"]["details"]} == {"applicant.name", "applicant.phone", "request.description"}
        assert "必填" in body["error"]["message"]
        status, body, _ = await client.create(disclosure(transcript=[{"role": "user"}]))
        assert status == 400 and body["error"]["details"][0]["field"] == "transcript[0]"
        # Non-disclosure kinds need no name or description.
        status, body, _ = await client.create(other("suggestion", applicant={}))
        assert status == 201 and body["tracking_number"].startswith("JY250930")
        big = disclosure(request={"description": "多" * 30000})
        status, body, _ = await client.create(big)
        assert status == 413 and body["error"]["code"] == "payload_too_large"
        assert count_rows(sqlite_url) == 1


@asynctest
async def test_create_replay_and_conflict(database_url):
    async with service(database_url) as client:
        body = disclosure()
        status, created, headers = await client.create(body, key="key-create-1")
        assert status == 201
        number = created["tracking_number"]
        assert number.startswith("GK250930") and plausible(number)
        assert headers["Location"] == f"/cases/{number}"
        # Art. 33: 20 working days from 2025-09-30, skipping 10-01..10-08 and counting Saturday 10-11.
        assert created["deadline"] == "2025-11-04"
        assert created["received_at"] == "2025-09-30T10:00:00+08:00"
        assert created["status"] == "received" and created["status_label"] == "已收到"
        assert set(created) == BOT_VIEW_KEYS
        schema_validator("CasePublic").validate(created)

        reordered = json.loads(json.dumps(dict(reversed(list(body.items())))))
        status, replay, headers = await client.create(reordered, key="key-create-1")
        assert status == 200 and replay == created
        assert headers["Idempotent-Replayed"] == "true"

        status, conflict, _ = await client.create(disclosure(channel="app"), key="key-create-1")
        assert status == 409 and conflict["error"]["code"] == "idempotency_conflict"
        assert count_rows(database_url) == 1

        # Each kind has its own prefix; staff get the full view.
        numbers = {}
        for kind, prefix in {"complaint": "TS", "suggestion": "JY", "handoff": "RG"}.items():
            status, case, _ = await client.create(other(kind), token=STAFF)
            numbers[kind] = case["tracking_number"]
            assert status == 201 and numbers[kind].startswith(f"{prefix}250930") and plausible(numbers[kind])
            schema_validator("CaseFull").validate(case)
            assert case["applicant"] == {"phone": "13912345678"}
        status, case, _ = await client.call("GET", f"/cases/{numbers['complaint']}", token=STAFF)
        assert case["deadline"] == "2025-10-28"  # 15 working days: the service promise for complaints
        status, case, _ = await client.call("GET", f"/cases/{numbers['handoff']}", token=STAFF)
        assert case["deadline"] is None


@asynctest
async def test_stored_request_reads_back_exactly(database_url):
    applicant = {"name": "O'Brien \"张\" <b>", "phone": "+86 (10) 6512-3456", "nested": {"list": [1, 2.5, None, True], "empty": {}}}
    request = {
        "description": "<script>alert('x')</script> '; DROP TABLE cases; -- 😀 \u2028 \\ %s {0}",
        "amounts": [0, -1, 10**12],
        "中文键": "值",
    }
    async with service(database_url) as client:
        status, created, _ = await client.create(disclosure(applicant=applicant, request=request))
        assert status == 201
        status, case, _ = await client.call("GET", f"/cases/{created['tracking_number']}", token=STAFF)
        assert case["applicant"] == applicant and case["request"] == request
        assert case["transcript"] == disclosure()["transcript"]
        assert count_rows(database_url) == 1


@asynctest
async def test_concurrent_creates_with_one_key_make_one_case(database_url):
    async with service(database_url) as client:
        results = await asyncio.gather(*(client.create(disclosure(), key="same-key-for-all") for _ in range(20)))
        statuses = sorted(status for status, _, _ in results)
        assert statuses == [200] * 19 + [201]
        assert len({case["tracking_number"] for _, case, _ in results}) == 1
        assert count_rows(database_url) == 1


@asynctest
async def test_concurrent_different_creates_get_distinct_unguessable_numbers(database_url):
    """Issue 16 item 7: numbers are no longer the date and a sequence, so the day's cases cannot be listed."""
    async with service(database_url) as client:
        results = await asyncio.gather(*(client.create(disclosure(conversation_id=f"c{i}")) for i in range(20)))
        assert [status for status, _, _ in results] == [201] * 20
        numbers = [case["tracking_number"] for _, case, _ in results]
        assert len(set(numbers)) == 20
        assert all(n.startswith("GK250930") and plausible(n) for n in numbers)
        sequential = {f"GK20250930{n:04d}" for n in range(1, 21)}
        assert not sequential & set(numbers)
        serials = sorted(int(n[8:13]) for n in numbers)  # the random part: not 20 consecutive values
        assert serials[-1] - serials[0] > 19
        assert count_rows(database_url) == 20


@asynctest
async def test_failed_lookups_lock_a_number_whether_or_not_it_exists(database_url):
    """Issue 16 item 7: a few wrong phone digits lock the number; unknown numbers answer and lock alike."""
    async with service(database_url) as client:
        _, created, _ = await client.create(disclosure())
        number = created["tracking_number"]
        unknown = "GK250930000000"
        answers = {}
        for target in (number, unknown):
            for guess in ("0000", "1111", "2222", "3333", "4444"):  # the real digits are 8000
                status, body, _ = await client.call("GET", f"/cases/{target}?phone_last4={guess}", token=BOT)
                assert status == 404 and body["error"]["code"] == "case_not_found"
                answers.setdefault(target, []).append(body)
        assert answers[number] == answers[unknown]
        # Locked: even the right digits are refused now, and the refusal is the same for both numbers.
        status, locked, headers = await client.call("GET", f"/cases/{number}?phone_last4=8000", token=BOT)
        status_unknown, locked_unknown, _ = await client.call("GET", f"/cases/{unknown}?phone_last4=8000", token=BOT)
        assert status == status_unknown == 429 and locked == locked_unknown
        assert locked["error"]["code"] == "lookup_locked" and 0 < int(headers["Retry-After"]) <= 3600
        # Staff are not locked out, and another number is not affected.
        status, _, _ = await client.call("GET", f"/cases/{number}", token=STAFF)
        assert status == 200
        _, other_case, _ = await client.create(disclosure(conversation_id="c2"))
        status, _, _ = await client.call("GET", f"/cases/{other_case['tracking_number']}?phone_last4=8000", token=BOT)
        assert status == 200


# ---------------------------------------------------------------- reading

@asynctest
async def test_bot_reads_with_phone_last4_and_sees_no_personal_data(database_url):
    async with service(database_url) as client:
        _, created, _ = await client.create(disclosure())
        number = created["tracking_number"]
        status, case, _ = await client.call("GET", f"/cases/{number}?phone_last4=8000", token=BOT)
        assert status == 200
        assert set(case) == BOT_VIEW_KEYS
        text = json.dumps(case, ensure_ascii=False)
        for secret in (PHONE, "13800138000", ID_NUMBER, "张三", "北京市", "老旧小区", "conv-1"):
            assert secret not in text
        schema_validator("CasePublic").validate(case)

        status, wrong, _ = await client.call("GET", f"/cases/{number}?phone_last4=1234", token=BOT)
        status_unknown, unknown, _ = await client.call("GET", "/cases/GK209901010001?phone_last4=8000", token=BOT)
        status_malformed, malformed, _ = await client.call("GET", "/cases/nonsense?phone_last4=8000", token=BOT)
        assert status == status_unknown == status_malformed == 404
        assert wrong == unknown == malformed
        assert wrong["error"]["code"] == "case_not_found"

        for query in ("", "?phone_last4=800", "?phone_last4=８０００"):
            status, body, _ = await client.call("GET", f"/cases/{number}{query}", token=BOT)
            assert status == 400 and body["error"]["code"] == "phone_last4_required"

        status, full, _ = await client.call("GET", f"/cases/{number}", token=STAFF)
        assert status == 200 and full["applicant"]["phone"] == PHONE and full["kind_label"] == "政府信息公开申请"


@asynctest
async def test_staff_list_newest_first_with_filters(sqlite_url):
    clock = Clock(dt.datetime(2025, 9, 29, 9, tzinfo=SHANGHAI))
    async with service(sqlite_url, clock=clock) as client:
        numbers = []
        for index, kind in enumerate(["disclosure", "complaint", "disclosure", "handoff"]):
            clock.now += dt.timedelta(hours=1)
            body = disclosure() if kind == "disclosure" else other(kind)
            _, case, _ = await client.create(body)
            numbers.append(case["tracking_number"])
        status, page, _ = await client.call("GET", "/cases", token=STAFF)
        assert status == 200 and page["total"] == 4
        assert [c["tracking_number"] for c in page["items"]] == numbers[::-1]
        assert "transcript" not in page["items"][0]
        schema_validator("CaseList").validate(page)
        status, page, _ = await client.call("GET", "/cases?kind=disclosure&limit=1&offset=1", token=STAFF)
        assert page["total"] == 2 and [c["tracking_number"] for c in page["items"]] == [numbers[0]]
        await client.transition(numbers[1], "answer", note="已修复")
        status, page, _ = await client.call("GET", "/cases?status=answered", token=STAFF)
        assert [c["tracking_number"] for c in page["items"]] == [numbers[1]]
        for query in ("status=open", "kind=x", "limit=0", "limit=201", "offset=-1", "limit=abc"):
            status, body, _ = await client.call("GET", f"/cases?{query}", token=STAFF)
            assert status == 400, query


# ---------------------------------------------------------------- transitions

@asynctest
async def test_disclosure_lifecycle_with_correction_and_extension(database_url):
    clock = Clock(dt.datetime(2025, 9, 30, 10, tzinfo=SHANGHAI))
    async with service(database_url, clock=clock) as client:
        _, created, _ = await client.create(disclosure())
        number = created["tracking_number"]

        clock.set(2025, 9, 30, 15)
        status, case, _ = await client.transition(number, "request_correction", note="请补充所需信息的文件名称或文号")
        assert status == 200, case
        assert case["status"] == "correction_requested" and case["status_label"] == "待补正"
        assert case["deadline"] is None  # Art. 30: the clock stops
        assert case["correction_requested_at"] == "2025-09-30T15:00:00+08:00"

        clock.set(2025, 10, 9)
        status, case, _ = await client.transition(number, "receive_correction")
        # Restart: 20 working days counted from 2025-10-09, the day the correction arrived.
        assert case["status"] == "received" and case["deadline"] == "2025-11-05"
        assert case["clock_started_on"] == "2025-10-09"

        clock.set(2025, 10, 20)
        status, case, _ = await client.transition(number, "extend", note="需协调其他部门")
        assert case["status"] == "extended" and case["extended"] is True
        assert case["deadline"] == "2025-12-03"  # +20 working days from 2025-11-05

        clock.set(2025, 11, 20)
        status, case, _ = await client.transition(number, "answer", reply_type="partially_disclosed", note="涉及第三方部分不予公开")
        assert case["status"] == "answered" and case["answered_at"] == "2025-11-20T10:00:00+08:00"
        assert case["reply_type_label"] == "部分公开"

        status, case, _ = await client.transition(number, "close")
        assert case["status"] == "closed" and case["status_label"] == "已办结"
        schema_validator("CaseFull").validate(case)

        status, view, _ = await client.call("GET", f"/cases/{number}?phone_last4=8000", token=BOT)
        assert status == 200 and set(view) == BOT_VIEW_KEYS
        assert [(h["action"], h["status"]) for h in view["history"]] == [
            ("create", "received"),
            ("request_correction", "correction_requested"),
            ("receive_correction", "received"),
            ("extend", "extended"),
            ("answer", "answered"),
            ("close", "closed"),
        ]
        assert all("note" not in h for h in view["history"])  # staff's notes are internal (issue 16)
        staff_view = (await client.call("GET", f"/cases/{number}", token=STAFF))[1]
        assert staff_view["history"][1]["note"] == "请补充所需信息的文件名称或文号"
        assert view["reply_type"] == "partially_disclosed" and view["extended"] is True


@asynctest
async def test_invalid_transitions_are_refused(sqlite_url):
    async with service(sqlite_url) as client:
        _, case, _ = await client.create(disclosure())
        gk = case["tracking_number"]

        async def refused(number, action, status=409, code=None, **fields):
            got, body, _ = await client.transition(number, action, **fields)
            assert got == status, (action, body)
            if code:
                assert body["error"]["code"] == code
            assert body["error"]["message"]
            return body

        await refused(gk, "receive_correction", code="invalid_transition")
        body = await refused(gk, "close", code="invalid_transition")
        assert "答复" in body["error"]["message"]
        await refused(gk, "answer", status=400, code="invalid_request")  # reply_type required
        await refused(gk, "extend", status=400, reply_type="disclosed")  # reply_type only with answer
        await refused(gk, "reopen", status=400, code="invalid_request")
        await refused(gk, "answer", status=400, reply_type="maybe")
        await refused("GK209901010001", "close", status=404, code="case_not_found")

        assert (await client.transition(gk, "extend"))[0] == 200
        await refused(gk, "extend", code="extension_already_used")
        await refused(gk, "request_correction", code="invalid_transition")
        assert (await client.transition(gk, "answer", reply_type="disclosed"))[0] == 200
        await refused(gk, "answer", reply_type="disclosed", code="invalid_transition")
        assert (await client.transition(gk, "close"))[0] == 200
        await refused(gk, "close", code="case_closed")

        # Correction may be requested once only (Art. 30: 一次性告知).
        _, case, _ = await client.create(disclosure(conversation_id="c2"))
        second = case["tracking_number"]
        assert (await client.transition(second, "request_correction"))[0] == 200
        await refused(second, "extend", code="invalid_transition")
        await refused(second, "answer", reply_type="disclosed", code="invalid_transition")
        assert (await client.transition(second, "receive_correction"))[0] == 200
        await refused(second, "request_correction", code="correction_already_requested")
        # No correction in time: the application lapses (Art. 30) and can be closed.
        _, case, _ = await client.create(disclosure(conversation_id="c3"))
        third = case["tracking_number"]
        await client.transition(third, "request_correction")
        assert (await client.transition(third, "close", note="逾期未补正，视为放弃申请"))[1]["status"] == "closed"

        # Complaints and handoffs: straight to answered or closed; no corrections, no extensions.
        _, case, _ = await client.create(other("complaint"))
        ts = case["tracking_number"]
        await refused(ts, "request_correction", code="invalid_transition")
        await refused(ts, "extend", code="invalid_transition")
        await refused(ts, "answer", status=400, reply_type="disclosed")
        status, case, _ = await client.transition(ts, "answer", note="已转城管部门处理")
        assert status == 200 and case["reply_type"] is None
        _, case, _ = await client.create(other("handoff"))
        status, case, _ = await client.transition(case["tracking_number"], "close", note="已电话联系")
        assert status == 200 and case["status"] == "closed"


# ---------------------------------------------------------------- deadlines

def test_deadlines_over_the_2025_national_day_holiday():
    calendar = WorkingDayCalendar()
    assert calendar.is_workday(dt.date(2025, 9, 28))  # Sunday, adjusted working day
    assert calendar.is_workday(dt.date(2025, 10, 11))  # Saturday, adjusted working day
    assert not any(calendar.is_workday(dt.date(2025, 10, d)) for d in range(1, 9))
    # Received Tue 09-30: 10-09, 10-10, 10-11 (Sat) are days 1-3; day 20 is Tue 11-04.
    assert calendar.add_working_days(dt.date(2025, 9, 30), 20) == dt.date(2025, 11, 4)
    # Received Fri 09-26: the adjusted Sunday 09-28 is day 1; day 20 is Thu 10-30.
    assert calendar.add_working_days(dt.date(2025, 9, 26), 20) == dt.date(2025, 10, 30)
    # The receipt day itself never counts.
    assert calendar.add_working_days(dt.date(2025, 10, 9), 1) == dt.date(2025, 10, 10)


def test_deadlines_over_the_2026_spring_festival():
    calendar = WorkingDayCalendar()
    # Received Thu 02-12: 02-13, 02-14 (Sat, adjusted), holiday 02-15..02-23, 02-24..02-27,
    # 02-28 (Sat, adjusted) make 7; then 13 March working days end on Wed 03-18.
    assert calendar.add_working_days(dt.date(2026, 2, 12), 20) == dt.date(2026, 3, 18)


def test_extension_adds_twenty_working_days_to_the_deadline():
    calendar = WorkingDayCalendar()
    assert calendar.add_working_days(dt.date(2025, 11, 4), 20) == dt.date(2025, 12, 2)


def test_deadlines_across_the_2026_2027_boundary():
    calendar = WorkingDayCalendar()
    assert dt.date(2027, 1, 1).weekday() == 4 and not calendar.is_workday(dt.date(2027, 1, 1))  # 元旦, a Friday
    # Received Sun 2026-12-06: 19 working days in December, 元旦 skipped, day 20 is Mon 2027-01-04.
    assert calendar.add_working_days(dt.date(2026, 12, 6), 20) == dt.date(2027, 1, 4)
    # Extension: 20 more working days from 01-04 end on Mon 02-01, before 春节.
    assert calendar.add_working_days(dt.date(2027, 1, 4), 20) == dt.date(2027, 2, 1)
    assert calendar.add_working_days(dt.date(2026, 12, 31), 1) == dt.date(2027, 1, 4)
    # Received Mon 12-28: 12-29..12-31 are days 1-3, day 20 is Tue 2027-01-26.
    assert calendar.add_working_days(dt.date(2026, 12, 28), 20) == dt.date(2027, 1, 26)
    # Its extension crosses 春节: 01-27..02-04 are 7, 02-05 and 02-08..02-10 are off, day 20 is Mon 03-01.
    assert calendar.add_working_days(dt.date(2027, 1, 26), 20) == dt.date(2027, 3, 1)


def test_deadlines_over_the_2027_spring_festival():
    calendar = WorkingDayCalendar()
    # 春节 2027 is Sat 02-06: 除夕 Fri 02-05 and 初一..初三 02-06..02-08 are holidays, and the two
    # falling on the weekend are made up on Tue 02-09 and Wed 02-10 (补假).
    off = [dt.date(2027, 2, d) for d in (5, 8, 9, 10)]
    assert not any(calendar.is_workday(day) for day in off)
    assert calendar.is_workday(dt.date(2027, 2, 4)) and calendar.is_workday(dt.date(2027, 2, 11))
    # Received Thu 02-04: 02-11 is day 1; day 20 is Wed 03-10.
    assert calendar.add_working_days(dt.date(2027, 2, 4), 20) == dt.date(2027, 3, 10)
    # The other 2027 statutory days are known too: 清明 Mon 04-05, 劳动节 05-03/05-04 (补假),
    # 端午 Wed 06-09, 中秋 Wed 09-15, 国庆 10-01 and 10-04/10-05 (补假).
    for day in ("2027-04-05", "2027-05-03", "2027-05-04", "2027-06-09", "2027-09-15", "2027-10-01", "2027-10-04", "2027-10-05"):
        assert not calendar.is_workday(dt.date.fromisoformat(day)), day


def test_unpublished_years_warn_once_that_adjusted_working_days_may_be_missing(caplog):
    caplog.set_level(logging.WARNING, logger="bot.case_service.deadlines")
    calendar = WorkingDayCalendar()
    calendar.add_working_days(dt.date(2026, 2, 12), 20)
    assert not caplog.records  # 2026's notice is published: no warning
    calendar.add_working_days(dt.date(2026, 12, 6), 20)
    calendar.add_working_days(dt.date(2027, 2, 4), 20)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "2027" in warnings[0] and "调休" in warnings[0]
    calendar.add_working_days(dt.date(2028, 1, 3), 2)
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2
    # An agency that lists the year's adjusted working days has filled the gap: no warning.
    caplog.clear()
    listed = WorkingDayCalendar(extra_workdays=frozenset({dt.date(2027, 2, 20)}))
    assert listed.add_working_days(dt.date(2027, 2, 4), 20) == dt.date(2027, 3, 9)
    assert not caplog.records


def test_agency_override_file(tmp_path, monkeypatch, caplog):
    path = tmp_path / "calendar.yml"
    path.write_text("holidays: [2027-01-01, 2025-10-09]\nworkdays: ['2027-01-02']\n", encoding="utf-8")
    calendar = WorkingDayCalendar.from_file(path)
    # 2027: New Year's Day off and Saturday 01-02 worked, as the agency says.
    assert calendar.add_working_days(dt.date(2026, 12, 31), 2) == dt.date(2027, 1, 4)
    # Overrides beat the national calendar too: a local holiday on 2025-10-09 moves the deadline a day.
    assert calendar.add_working_days(dt.date(2025, 9, 30), 20) == dt.date(2025, 11, 5)
    # ... and a national holiday the agency works on counts: 02-08 (春节) becomes day 1, 03-09 day 20.
    path.write_text("holidays: [2027-01-04]\nworkdays: [2027-02-08]\n", encoding="utf-8")
    calendar = WorkingDayCalendar.from_file(path)
    assert not calendar.is_workday(dt.date(2027, 1, 4))  # a Monday, off by the agency's file
    assert calendar.add_working_days(dt.date(2026, 12, 31), 1) == dt.date(2027, 1, 5)
    assert calendar.add_working_days(dt.date(2027, 2, 4), 20) == dt.date(2027, 3, 9)

    monkeypatch.setenv("GOVBOT_CASE_CALENDAR", str(path))
    assert CaseServiceConfig.from_env().calendar_path == path

    path.write_text("holidays: [2027-01-01]\nworkdays: [2027-01-01]\n", encoding="utf-8")
    with pytest.raises(CalendarConfigError, match="同时"):
        WorkingDayCalendar.from_file(path)
    path.write_text("holidays: [2027-13-01]\n", encoding="utf-8")
    with pytest.raises(CalendarConfigError, match="无效日期"):
        WorkingDayCalendar.from_file(path)


@asynctest
async def test_the_service_uses_the_override_file(sqlite_url, tmp_path):
    path = tmp_path / "calendar.yml"
    path.write_text("holidays: [2025-10-09]\n", encoding="utf-8")
    async with service(sqlite_url, calendar_path=path) as client:
        _, case, _ = await client.create(disclosure())
        assert case["deadline"] == "2025-11-05"


@asynctest
async def test_applications_received_in_december_2026_get_2027_deadlines(sqlite_url):
    clock = Clock(dt.datetime(2026, 12, 6, 10, tzinfo=SHANGHAI))
    async with service(sqlite_url, clock=clock) as client:
        _, first, _ = await client.create(disclosure())
        assert first["deadline"] == "2027-01-04"  # not 01-01: 元旦 is no working day
        clock.set(2026, 12, 20)
        status, case, _ = await client.transition(first["tracking_number"], "extend", note="需协调其他部门")
        assert status == 200 and case["deadline"] == "2027-02-01"

        clock.set(2026, 12, 6)
        _, second, _ = await client.create(disclosure())
        clock.set(2026, 12, 10)
        await client.transition(second["tracking_number"], "request_correction", note="请补充所需信息的文号")
        # The corrected application arrives Wed 2027-01-20: 20 working days afresh, over 春节.
        clock.set(2027, 1, 20)
        status, case, _ = await client.transition(second["tracking_number"], "receive_correction")
        assert status == 200 and case["deadline"] == "2027-02-23" and case["clock_started_on"] == "2027-01-20"
        status, case, _ = await client.transition(second["tracking_number"], "extend")
        assert status == 200 and case["deadline"] == "2027-03-23"

        clock.set(2026, 12, 28)
        _, third, _ = await client.create(disclosure())
        assert third["deadline"] == "2027-01-26"


# ---------------------------------------------------------------- the real command

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_python_m_bot_case_service_runs(tmp_path):
    port = _free_port()
    database = tmp_path / "var" / "cases.db"
    env = {**os.environ, "GOVBOT_CASE_BOT_TOKEN": BOT, "GOVBOT_CASE_STAFF_TOKEN": STAFF}
    env.pop("GOVBOT_CASE_DATABASE_URL", None)
    log = tmp_path / "service.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.case_service", "--port", str(port), "--database-url", f"sqlite:///{database}"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )
    try:
        asyncio.run(_exercise_subprocess(port, process, log))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert database.exists()
    text = log.read_text(encoding="utf-8")
    assert "GET /cases/GK" in text and "phone_last4" not in text  # access log without query strings
    assert count_rows(f"sqlite:///{database}") == 1


async def _exercise_subprocess(port: int, process: subprocess.Popen, log: Path) -> None:
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession(base_url=base) as http:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text(encoding="utf-8")
            try:
                async with http.get("/health") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientConnectionError:
                pass
            assert time.monotonic() < deadline, "case service did not start: " + log.read_text(encoding="utf-8")
            await asyncio.sleep(0.2)
        client = Client(http, None)
        status, case, _ = await client.create(disclosure(), key="subprocess-key-1")
        assert status == 201
        number = case["tracking_number"]
        assert len(number) == 14 and number.startswith("GK") and number[2:].isdigit()
        received = dt.date.fromisoformat(case["received_at"][:10])
        assert number[2:8] == received.strftime("%y%m%d") and plausible(number)
        assert case["received_at"].endswith("+08:00")
        assert dt.date.fromisoformat(case["deadline"]) > received + dt.timedelta(days=20)
        status, view, _ = await client.call("GET", f"/cases/{number}?phone_last4=8000", token=BOT)
        assert status == 200 and view["tracking_number"] == number
        status, case, _ = await client.transition(number, "answer", reply_type="not_held")
        assert status == 200 and case["reply_type_label"].startswith("本机关不掌握")
        status, spec, _ = await client.call("GET", "/openapi.json")
        validate_spec(spec)
