"""The staff console (/console) over real HTTP on `python -m bot.web`, with the real case service:
sign-in, throttling, CSRF, roles, accounts (web and `govbot staff`), the audit log, cases, analytics."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import ARTIFACTS
from tests.console_stack import ADMIN_PASSWORD, csrf_of, sign_in, start_console_stack

CLERK_PASSWORD = "clerk-password-123"


@pytest.fixture(scope="module")
def console():
    yield from start_console_stack(ARTIFACTS / "console-http", "console-http")


@pytest.fixture(scope="module")
def clerk(console):
    console.create_account("clerk", CLERK_PASSWORD)
    return console.session("clerk", CLERK_PASSWORD)


@pytest.fixture(scope="module")
def admin(console):
    return console.session("admin", ADMIN_PASSWORD)


def test_pages_need_sign_in(console):
    response = requests.get(f"{console.url}/console/cases", headers={"Accept": "text/html"}, allow_redirects=False, timeout=30)
    assert response.status_code == 302 and response.headers["Location"] == "/console/login?next=/console/cases"
    # Scripts get a JSON 401, not a page.
    response = requests.get(f"{console.url}/console/cases", headers={"Accept": "application/json"}, timeout=30)
    assert response.status_code == 401 and response.json()["error"] == "请先登录工作人员控制台"


def test_first_admin_from_the_environment_signs_in_with_a_strict_cookie(console):
    session = requests.Session()
    session.headers["Accept"] = "text/html"
    page = session.get(f"{console.url}/console/login", timeout=30)
    assert page.status_code == 200 and "登录" in page.text
    response = session.post(
        f"{console.url}/console/login", allow_redirects=False, timeout=30,
        data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": csrf_of(page.text), "next": "/console/accounts"},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/console/accounts"
    cookie = next(c for c in response.raw.headers.getlist("Set-Cookie") if c.startswith("govbot_console="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http on loopback; behind an HTTPS proxy it is set (next test)
    page = session.get(f"{console.url}/console/accounts", timeout=30)
    assert page.status_code == 200 and "管理员" in page.text and "admin" in page.text
    assert "Content-Security-Policy" in page.headers and page.headers["Cache-Control"] == "no-store"


def test_cookie_is_secure_behind_https(console):
    session = requests.Session()
    headers = {"X-Forwarded-Proto": "https", "Accept": "text/html"}
    page = session.get(f"{console.url}/console/login", headers=headers, timeout=30)
    assert "Secure" in page.headers["Set-Cookie"]
    token = csrf_of(page.text)
    # The client would send the Secure cookie back over HTTPS only: here it is handed over by hand.
    response = requests.post(
        f"{console.url}/console/login", headers=headers, allow_redirects=False, timeout=30,
        cookies={"govbot_console_login": token}, data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302 and "Secure" in response.headers["Set-Cookie"]


def test_wrong_password_is_refused_in_chinese(console):
    session = requests.Session()
    response = sign_in(session, console.url, "admin", "not-the-password")
    assert response.status_code == 401 and "账号或密码不正确" in response.text
    assert "govbot_console" not in session.cookies.get_dict()
    response = sign_in(session, console.url, "nobody", "not-the-password")
    assert response.status_code == 401 and "账号或密码不正确" in response.text


def test_repeated_failures_lock_the_account_even_for_the_right_password(console):
    console.create_account("target", "target-password-1")
    session = requests.Session()
    for _ in range(5):
        assert sign_in(session, console.url, "target", "guess-guess-guess").status_code == 401
    response = sign_in(session, console.url, "target", "target-password-1")
    assert response.status_code == 429 and "登录失败次数过多，请 15 分钟后再试" in response.text
    # Other accounts are not locked by it.
    assert sign_in(requests.Session(), console.url, "admin", ADMIN_PASSWORD).status_code == 200


def test_sign_in_without_or_with_a_forged_form_token_is_refused(console):
    session = requests.Session()
    session.get(f"{console.url}/console/login", timeout=30)
    for token in ("", "forged-token"):
        response = session.post(
            f"{console.url}/console/login", timeout=30, data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 403 and "请求来源不明" in response.text
        assert "govbot_console" not in session.cookies.get_dict()


def test_post_without_or_with_a_forged_csrf_token_changes_nothing(console, admin):
    for data in ({"username": "sneaky", "role": "admin"}, {"username": "sneaky", "role": "admin", "csrf_token": "forged"}):
        response = admin.post(f"{console.url}/console/accounts", data=data, timeout=30)
        assert response.status_code == 403 and "操作未执行" in response.text
    # A token of another session does not work either.
    other = console.session("admin", ADMIN_PASSWORD)
    other_token = csrf_of(other.get(f"{console.url}/console/accounts", timeout=30).text)
    response = admin.post(f"{console.url}/console/accounts", data={"username": "sneaky", "csrf_token": other_token}, timeout=30)
    assert response.status_code == 403
    # The header form (fetch, uploads) is checked the same way.
    response = admin.post(f"{console.url}/console/accounts", data={"username": "sneaky"}, headers={"X-CSRF-Token": "x"}, timeout=30)
    assert response.status_code == 403
    assert "sneaky" not in console.govbot("list").stdout
    log = admin.get(f"{console.url}/console/accounts", timeout=30).text
    assert "CSRF 校验失败被拒绝" in log


def test_staff_account_is_refused_on_admin_pages(console, clerk):
    for path in ("/console/accounts",):
        response = clerk.get(f"{console.url}{path}", timeout=30)
        assert response.status_code == 403 and "只对管理员开放" in response.text
    token = csrf_of(clerk.get(f"{console.url}/console/password", timeout=30).text)
    response = clerk.post(f"{console.url}/console/accounts", data={"username": "x", "role": "admin", "csrf_token": token}, timeout=30)
    assert response.status_code == 403
    page = clerk.get(f"{console.url}/console/password", timeout=30).text
    # The navigation offers a staff account only its own sections.
    assert 'href="/console/cases"' in page and 'href="/console/accounts"' not in page and 'href="/console/knowledge"' not in page
    assert "x" not in [line.split("\t")[0] for line in console.govbot("list").stdout.splitlines()]


def test_admin_creates_and_disables_an_account_and_the_audit_log_says_who(console, admin):
    page = admin.get(f"{console.url}/console/accounts", timeout=30)
    response = admin.post(
        f"{console.url}/console/accounts", timeout=30,
        data={"username": "wang", "display_name": "王五", "role": "staff", "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 200 and "已创建账号 wang" in response.text
    password = response.text.split("初始密码：")[1].split("。")[0]
    wang = console.session("wang", password)
    assert wang.get(f"{console.url}/console/password", timeout=30).status_code == 200
    response = admin.post(
        f"{console.url}/console/accounts/wang", data={"operation": "disable", "csrf_token": csrf_of(response.text)}, timeout=30
    )
    assert "账号 wang 已停用" in response.text
    # Disabling ends the session at once, and the password no longer signs in.
    assert "/console/login" in wang.get(f"{console.url}/console/password", timeout=30).url
    assert sign_in(requests.Session(), console.url, "wang", password).status_code == 401
    log = admin.get(f"{console.url}/console/accounts", timeout=30).text
    assert "创建账号" in log and "停用账号" in log and "wang" in log


def test_staff_cli_creates_lists_disables_and_resets(console):
    result = console.govbot("create", "li", "--name", "李四")
    assert result.returncode == 0 and "已创建账号 li（工作人员），密码 " in result.stdout
    password = result.stdout.split("密码 ")[1].split("（")[0]
    assert sign_in(requests.Session(), console.url, "li", password).status_code == 200
    duplicate = console.govbot("create", "li")
    assert duplicate.returncode == 1 and "账号 li 已存在" in duplicate.stderr
    short = console.govbot("create", "zhao", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "密码至少 10 个字符" in short.stderr
    listing = console.govbot("list").stdout
    assert any(line.startswith("li\t工作人员\t可用\t李四") for line in listing.splitlines())
    reset = console.govbot("reset-password", "li")
    assert reset.returncode == 0 and "只显示这一次" in reset.stdout
    assert sign_in(requests.Session(), console.url, "li", password).status_code == 401
    assert console.govbot("disable", "li").returncode == 0
    assert any(line.startswith("li\t工作人员\t已停用") for line in console.govbot("list").stdout.splitlines())
    missing = console.govbot("disable", "nobody")
    assert missing.returncode == 1 and "没有账号 nobody" in missing.stderr
    # The only admin cannot be disabled (nobody could manage accounts any more).
    last = console.govbot("disable", "admin")
    assert last.returncode == 1 and "唯一可用的管理员账号" in last.stderr


def test_staff_init_creates_the_first_admin_once_with_a_printed_password(console, tmp_path):
    db = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = {k: v for k, v in console.env.items() if k != "GOVBOT_CONSOLE_ADMIN_PASSWORD"}
    import subprocess

    from tests.conftest import ROOT, VENV_BIN

    run = lambda: subprocess.run(  # noqa: E731
        [str(VENV_BIN / "govbot"), "staff", "init", "--db-url", db], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    first = run()
    assert first.returncode == 0 and "已创建首个管理员账号 admin，密码 " in first.stdout, first.stderr
    password = first.stdout.split("密码 ")[1].split()[0]
    assert len(password) >= 16
    second = run()
    assert second.returncode == 0 and second.stdout == ""  # printed once only
    from bot.console.store import ConsoleStore

    store = ConsoleStore(db)
    assert store.verify_password("admin", password) and store.get_user("admin").is_admin


def test_the_web_server_and_case_service_migrated_their_databases_at_start(console):
    """The stack's web server made its console database, and the case service its case database, by
    the migrations alone (bot.migrations: version tables at the newest revision, every table there)."""
    import sqlalchemy as sa

    from bot import migrations

    for url, name, tables in (
        (console.console_db, "console", {"console_users", "console_sessions", "console_login_failures", "console_audit"}),
        (console.env["GOVBOT_CASE_DATABASE_URL"], "cases", {"cases", "case_events", "lookup_failures", "handoff_messages"}),
    ):
        engine = sa.create_engine(url)
        try:
            with engine.connect() as connection:
                assert migrations.current(connection, name) == migrations.head(name), name
                assert set(sa.inspect(connection).get_table_names()) == tables | {migrations.version_table(name)}
        finally:
            engine.dispose()


def test_govbot_staff_adopts_a_console_database_from_before_migrations(console, tmp_path):
    """A console database the previous version made (create_all, no version table) keeps its
    accounts when `govbot staff` opens it; the migrations then record it at the newest revision."""
    import subprocess

    import sqlalchemy as sa

    from bot import migrations
    from bot.console.store import Base, ConsoleStore
    from tests.conftest import ROOT, VENV_BIN

    db = f"sqlite:///{tmp_path / 'old-console.db'}"
    old = ConsoleStore(db)
    Base.metadata.create_all(old.engine)  # what ConsoleStore.create_tables did before migrations
    old.create_user("wangwu", "wangwu-password-1", "staff", "王五")
    old.dispose()
    listed = subprocess.run(
        [str(VENV_BIN / "govbot"), "staff", "list", "--db-url", db],
        cwd=ROOT, env=console.env, capture_output=True, text=True, timeout=60,
    )
    assert listed.returncode == 0 and "wangwu\t工作人员\t可用\t王五" in listed.stdout, listed.stderr
    engine = sa.create_engine(db)
    try:
        with engine.connect() as connection:
            assert migrations.current(connection, "console") == migrations.head("console")
    finally:
        engine.dispose()
    assert ConsoleStore(db).verify_password("wangwu", "wangwu-password-1")


def test_password_change_ends_sessions(console):
    console.create_account("zhou", "zhou-password-1")
    session = console.session("zhou", "zhou-password-1")
    token = csrf_of(session.get(f"{console.url}/console/password", timeout=30).text)
    response = session.post(
        f"{console.url}/console/password", timeout=30,
        data={"current": "wrong-password", "new": "zhou-password-2", "again": "zhou-password-2", "csrf_token": token},
    )
    assert response.status_code == 400 and "当前密码不正确" in response.text
    response = session.post(
        f"{console.url}/console/password", timeout=30,
        data={"current": "zhou-password-1", "new": "zhou-password-2", "again": "zhou-password-2", "csrf_token": token},
    )
    assert "/console/login" in response.url
    assert sign_in(requests.Session(), console.url, "zhou", "zhou-password-2").status_code == 200


def test_sign_out_ends_the_session(console):
    session = console.session("admin", ADMIN_PASSWORD)
    token = csrf_of(session.get(f"{console.url}/console/accounts", timeout=30).text)
    response = session.post(f"{console.url}/console/logout", data={"csrf_token": token}, timeout=30)
    assert "/console/login" in response.url
    assert "/console/login" in session.get(f"{console.url}/console/accounts", timeout=30).url


# --- 办件 ---

def test_a_case_filed_through_the_case_service_is_listed_and_opened_with_full_identifiers(console, clerk, admin):
    case = console.new_case()
    number = case["tracking_number"]
    page = clerk.get(f"{console.url}/console/cases", timeout=30)
    assert page.status_code == 200 and number in page.text and "政府信息公开申请" in page.text and "剩 20 个工作日" in page.text
    # The list shows no identifier; the case page shows them in full, and the view is logged.
    assert "11010519491231002X" not in page.text and "13800138000" not in page.text
    detail = clerk.get(f"{console.url}/console/cases/{number}", timeout=30)
    assert detail.status_code == 200
    for text in ("11010519491231002X", "13800138000", "张三", "2024年本区老旧小区改造项目清单", "本次查看已记录", case["deadline"]):
        assert text in detail.text
    log = admin.get(f"{console.url}/console/accounts", timeout=30).text
    assert f"<td>clerk</td><td>查看办件</td><td>{number}</td>" in log.replace("\n", "")
    # Filters: by kind and status through the case service.
    complaint = console.new_case("complaint", matter="窗口办事排队时间过长", target="政务服务中心")["tracking_number"]
    listed = clerk.get(f"{console.url}/console/cases", params={"kind": "complaint"}, timeout=30).text
    assert complaint in listed and number not in listed
    listed = clerk.get(f"{console.url}/console/cases", params={"status": "answered"}, timeout=30).text
    assert number not in listed and complaint not in listed and "没有符合条件的办件" in listed
    # Opening by number; a malformed one is explained.
    opened = clerk.get(f"{console.url}/console/cases", params={"number": number.lower()}, timeout=30)
    assert opened.url.endswith(f"/console/cases/{number}")
    bad = clerk.get(f"{console.url}/console/cases", params={"number": "GK123"}, timeout=30)
    assert "不是有效的受理编号" in bad.text
    missing = clerk.get(f"{console.url}/console/cases/GK000000000000", timeout=30)
    assert missing.status_code == 404 and "没有这个受理编号的办件" in missing.text


def transition(session, console, number: str, action: str, **fields) -> requests.Response:
    token = csrf_of(session.get(f"{console.url}/console/cases/{number}", timeout=30).text)
    return session.post(
        f"{console.url}/console/cases/{number}/transitions", data={"action": action, "csrf_token": token, **fields}, timeout=30
    )


def test_transitions_reach_the_case_service(console, clerk):
    number = console.new_case()["tracking_number"]
    response = transition(clerk, console, number, "request_correction", note="请补充信息的文号")
    assert response.status_code == 200 and "已完成：告知补正" in response.text and "补正期间暂停计时" in response.text
    assert console.cases.staff("GET", f"/cases/{number}").json()["status"] == "correction_requested"
    response = transition(clerk, console, number, "receive_correction")
    assert "已完成：收到补正材料" in response.text and "剩 20 个工作日" in response.text
    response = transition(clerk, console, number, "extend", note="需会商")
    assert "已完成：延长答复期限" in response.text and "（已延长一次）" in response.text
    assert console.cases.staff("GET", f"/cases/{number}").json()["extended"] is True
    # 答复 of a disclosure application needs the Art. 36 reply type; the service's refusal is shown.
    response = transition(clerk, console, number, "answer")
    assert response.status_code == 400 and "须填写答复类型" in response.text
    response = transition(clerk, console, number, "answer", reply_type="partially_disclosed", note="部分涉及个人隐私")
    assert "已完成：答复" in response.text and "部分公开" in response.text
    case = console.cases.staff("GET", f"/cases/{number}").json()
    assert case["status"] == "answered" and case["reply_type"] == "partially_disclosed"
    assert [h["note"] for h in case["history"]][-1] == "部分涉及个人隐私"
    # A transition the service refuses (a second extension): its Chinese reason, nothing changed.
    response = transition(clerk, console, number, "extend")
    assert response.status_code == 409 and "未能延长答复期限" in response.text
    assert console.cases.staff("GET", f"/cases/{number}").json()["status"] == "answered"
    # Without the CSRF token nothing happens.
    response = clerk.post(f"{console.url}/console/cases/{number}/transitions", data={"action": "close"}, timeout=30)
    assert response.status_code == 403
    assert console.cases.staff("GET", f"/cases/{number}").json()["status"] == "answered"


def test_deadline_highlighting_counts_working_days():
    import datetime as dt

    from bot.case_service.deadlines import WorkingDayCalendar
    from bot.console.cases import DeadlineInfo, deadline_info

    calendar = WorkingDayCalendar()
    today = dt.date(2026, 3, 6)  # a Friday
    open_case = {"status": "received"}
    assert deadline_info({**open_case, "deadline": "2026-03-11"}, today, calendar) == DeadlineInfo("剩 3 个工作日", "due-soon", 3)
    assert deadline_info({**open_case, "deadline": "2026-03-12"}, today, calendar).css == ""
    assert deadline_info({**open_case, "deadline": "2026-03-06"}, today, calendar).text == "今天到期"
    assert deadline_info({**open_case, "deadline": "2026-03-04"}, today, calendar) == DeadlineInfo("已超期 2 个工作日", "overdue", -2)
    # National holidays are not working days (2026-10-01..07 National Day).
    assert deadline_info({**open_case, "deadline": "2026-10-08"}, dt.date(2026, 9, 30), calendar).working_days_left == 1
    assert deadline_info({"status": "answered", "deadline": "2026-03-04"}, today, calendar).css == ""
    assert deadline_info({"status": "correction_requested", "deadline": None}, today, calendar).text == "补正期间暂停计时"


def test_case_service_outage_is_explained(console, clerk):
    console.cases.stop()
    try:
        response = clerk.get(f"{console.url}/console/cases", timeout=30)
        assert response.status_code == 503 and "办件系统暂时无法访问" in response.text
    finally:
        console.cases.start()


# --- 统计 ---

def test_analytics_without_rasa_says_why_in_chinese(console, clerk):
    response = clerk.get(f"{console.url}/console/analytics", timeout=30)
    assert response.status_code == 503 and "未配置 Rasa 的令牌（GOVBOT_RASA_TOKEN）" in response.text
    bad = clerk.get(f"{console.url}/console/analytics", params={"from": "2026-13-01"}, timeout=30)
    assert "日期格式应为 年-月-日" in bad.text


def test_channels_are_counted_apart():
    import datetime as dt

    from bot.analytics.metrics import Period, compute

    noon = dt.datetime(2026, 11, 2, 4, tzinfo=dt.timezone.utc).timestamp()  # 12:00 in Beijing

    def user(sender, channel, metadata=None):
        return {"event": "user", "timestamp": noon, "sender_id": sender, "text": "你好", "input_channel": channel,
                "metadata": metadata or {}, "parse_data": {"intent": {"name": "greet"}}}

    events = [
        user("a", "socketio", {"surface": "widget"}), user("b", "socketio", {"surface": "kiosk"}),
        user("b", "socketio", {"surface": "kiosk"}), user("c", "wechat"), user("d", "rest"), user("e", "socketio"),
    ]
    from zoneinfo import ZoneInfo

    stats = compute(events, Period(dt.date(2026, 11, 2), dt.date(2026, 11, 2), ZoneInfo("Asia/Shanghai")), lambda text: [])
    assert {k: v["user_messages"] for k, v in stats.per_channel.items()} == {"widget": 1, "kiosk": 2, "wechat": 1, "rest": 1, "socketio": 1}
    assert stats.per_channel["kiosk"]["conversations"] == 1


def test_overdue_and_due_soon_cases_are_highlighted_and_filtered(console, clerk):
    import datetime as dt
    import sqlite3

    from bot.case_service.deadlines import WorkingDayCalendar

    late, soon, later = (console.new_case()["tracking_number"] for _ in range(3))
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    calendar = WorkingDayCalendar()
    # Deadlines moved in the case service's own database, as if the cases had been received weeks ago.
    with sqlite3.connect(console.cases.env["GOVBOT_CASE_DATABASE_URL"].removeprefix("sqlite:///")) as db:
        db.execute("UPDATE cases SET deadline = ? WHERE tracking_number = ?", ((today - dt.timedelta(days=10)).isoformat(), late))
        db.execute("UPDATE cases SET deadline = ? WHERE tracking_number = ?", (calendar.add_working_days(today, 2).isoformat(), soon))
    page = clerk.get(f"{console.url}/console/cases", timeout=30).text
    row = lambda number: page.split(f'<a href="/console/cases/{number}">')[0].rsplit("<tr", 1)[1]  # noqa: E731
    assert 'class="overdue"' in row(late) and 'class="due-soon"' in row(soon) and 'class=""' in row(later)
    assert "已超期" in page and "剩 2 个工作日" in page
    overdue = clerk.get(f"{console.url}/console/cases", params={"due": "overdue"}, timeout=30).text
    assert late in overdue and soon not in overdue and later not in overdue
    due_soon = clerk.get(f"{console.url}/console/cases", params={"due": "due_soon"}, timeout=30).text
    assert soon in due_soon and late not in due_soon and later not in due_soon
    detail = clerk.get(f"{console.url}/console/cases/{late}", timeout=30).text
    assert 'class="badge overdue"' in detail


def test_many_failures_from_one_address_lock_that_address_only(console):
    def attempt(address: str, username: str, password: str) -> requests.Response:
        session = requests.Session()
        session.headers["X-Forwarded-For"] = address  # from the trusted local proxy (GOVBOT_TRUSTED_PROXIES)
        return sign_in(session, console.url, username, password)

    for n in range(20):
        assert attempt("203.0.113.7", f"guess{n}", "wrong-password").status_code == 401
    locked = attempt("203.0.113.7", "admin", ADMIN_PASSWORD)
    assert locked.status_code == 429 and "登录失败次数过多" in locked.text
    assert attempt("198.51.100.9", "admin", ADMIN_PASSWORD).status_code == 200


def test_unknown_console_pages_answer_in_chinese(console, clerk):
    response = clerk.get(f"{console.url}/console/no-such-page", timeout=30)
    assert response.status_code == 404 and "没有这个页面" in response.text and "工作人员控制台" in response.text
    response = clerk.get(f"{console.url}/console/cases/not-a-number", timeout=30)
    assert response.status_code == 404 and "没有这个受理编号的办件" in response.text
    # Not signed in: the sign-in page, whatever the path.
    anonymous = requests.get(f"{console.url}/console/no-such-page", headers={"Accept": "text/html"}, timeout=30)
    assert "/console/login" in anonymous.url
