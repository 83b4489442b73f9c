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
