"""The staff console in headless Chromium on the real stack (`web` fixture: bot.web with the stack's
case service and Rasa): sign-in, refusals, a case filed through the case service handled in the
page, the analytics with the widget, kiosk and REST traffic apart; every console page screenshotted
at 1366×768 and 1920×1080 (tests/artifacts/screenshots/console-*.png) and checked with axe-core."""

from __future__ import annotations

import re
import secrets
import subprocess

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import ROOT, SCREENSHOTS, VENV_BIN

pytestmark = pytest.mark.e2e

AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = ({"width": 1366, "height": 768}, {"width": 1920, "height": 1080})
TIMEOUT = 60_000
STAFF_PASSWORD = "staff-" + secrets.token_urlsafe(10)


def govbot_staff(web, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / "govbot"), "staff", *args, "--db-url", web.console_db], cwd=ROOT, input=stdin,
        capture_output=True, text=True, timeout=60,
    )


@pytest.fixture(scope="module")
def staff_account(web):
    result = govbot_staff(web, "create", "zhangsan", "--name", "张三", "--password-stdin", stdin=STAFF_PASSWORD + "\n")
    assert result.returncode == 0 or "已存在" in result.stderr, result.stderr
    return "zhangsan"


@pytest.fixture
def context(browser):
    """A browser that obeys the pages' CSP, and fails the test on any CSP violation it reports."""
    context = browser.new_context(viewport=VIEWPORTS[0], locale="zh-CN")
    context.set_default_timeout(TIMEOUT)
    violations: list[str] = []
    context.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    yield context
    context.close()
    assert violations == []


@pytest.fixture
def axe_context(browser):
    """For axe-core's injected script only (the pages allow no inline script), as tests/test_web_usability.py."""
    context = browser.new_context(viewport=VIEWPORTS[0], locale="zh-CN", bypass_csp=True)
    context.set_default_timeout(TIMEOUT)
    yield context
    context.close()


def sign_in(page, web, username: str, password: str) -> None:
    page.goto(f"{web.url}/console/login")
    page.get_by_label("账号").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def axe_serious(page) -> list:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in result["violations"] if v["impact"] in ("serious", "critical")
    ]


def shoot_and_check(page, name: str) -> None:
    """Screenshots at both sizes and axe-core's serious/critical findings (none allowed)."""
    for viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        page.screenshot(path=SCREENSHOTS / f"console-{name}-{viewport['width']}x{viewport['height']}.png", full_page=True)
    assert axe_serious(page) == [], name
    page.set_viewport_size(VIEWPORTS[0])


def file_case(web, kind: str = "disclosure", **request) -> str:
    cases = web.servers.cases
    body = {
        "kind": kind, "channel": "socketio", "conversation_id": "console-" + secrets.token_hex(6),
        "applicant": {"name": "李四", "id_type": "居民身份证", "id_number": "11010519491231002X", "phone": "13900139000"},
        "request": request or {"description": "本区2025年政府信息公开工作年度报告的原始统计数据"},
    }
    response = requests.post(
        f"{cases.url}/cases", json=body, timeout=30,
        headers={"Authorization": f"Bearer {cases.env['GOVBOT_CASE_BOT_TOKEN']}", "Idempotency-Key": secrets.token_hex(16)},
    )
    assert response.status_code == 201, response.text
    return response.json()["tracking_number"]


def test_sign_in_wrong_password_and_every_page_screenshotted_and_accessible(axe_context, web, staff_account):
    page = axe_context.new_page()
    page.goto(f"{web.url}/console/cases")
    expect(page).to_have_url(re.compile(r"/console/login\?next=/console/cases$"))
    shoot_and_check(page, "login")
    sign_in(page, web, "admin", "wrong-password-here")
    expect(page.get_by_role("alert")).to_have_text("账号或密码不正确，或账号已停用。")
    shoot_and_check(page, "login-error")
    sign_in(page, web, "admin", web.console_admin_password)
    expect(page).to_have_url(re.compile(r"/console/(inbox|cases)$"))
    number = file_case(web)
    page.goto(f"{web.url}/console/cases")
    expect(page.get_by_role("link", name=number)).to_be_visible()
    shoot_and_check(page, "cases")
    page.get_by_role("link", name=number).click()
    expect(page.get_by_role("heading", name=f"办件 {number}")).to_be_visible()
    expect(page.get_by_text("11010519491231002X")).to_be_visible()
    shoot_and_check(page, "case")
    page.get_by_role("link", name="统计").click()
    expect(page.get_by_role("heading", name="各渠道")).to_be_visible()
    shoot_and_check(page, "analytics")
    page.get_by_role("link", name="账号").click()
    expect(page.get_by_role("heading", name="全部账号")).to_be_visible()
    shoot_and_check(page, "accounts")
    page.get_by_role("link", name="修改密码").click()
    shoot_and_check(page, "password")


def test_staff_account_is_refused_on_admin_pages(axe_context, web, staff_account):
    page = axe_context.new_page()
    sign_in(page, web, staff_account, STAFF_PASSWORD)
    expect(page.get_by_text("张三（工作人员）")).to_be_visible()
    nav = page.get_by_role("navigation", name="控制台导航")
    expect(nav.get_by_role("link", name="办件")).to_be_visible()
    expect(nav.get_by_role("link", name="账号")).to_have_count(0)
    expect(nav.get_by_role("link", name="知识库")).to_have_count(0)
    response = page.goto(f"{web.url}/console/accounts")
    assert response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("只对管理员开放")
    shoot_and_check(page, "forbidden")


def test_throttling_after_repeated_failures(context, web):
    result = govbot_staff(web, "create", "locked", "--password-stdin", stdin="locked-password-1\n")
    assert result.returncode == 0, result.stderr
    page = context.new_page()
    for _ in range(5):
        sign_in(page, web, "locked", "not-my-password")
        expect(page.get_by_role("alert")).to_contain_text("账号或密码不正确")
    sign_in(page, web, "locked", "locked-password-1")
    expect(page.get_by_role("alert")).to_contain_text("登录失败次数过多，请 15 分钟后再试")
    expect(page).to_have_url(re.compile(r"/console/login$"))


def test_forged_csrf_is_refused_in_the_browser(context, web, staff_account):
    page = context.new_page()
    sign_in(page, web, staff_account, STAFF_PASSWORD)
    number = file_case(web)
    page.goto(f"{web.url}/console/cases/{number}")
    form = page.locator("form[aria-label='告知补正']")
    form.locator("input[name=csrf_token]").evaluate("e => e.value = 'forged'")
    form.get_by_role("button", name="告知补正").click()
    expect(page.get_by_role("alert")).to_contain_text("请求来源不明")
    assert web.servers.cases.staff("GET", f"/cases/{number}").json()["status"] == "received"


def test_a_case_filed_through_the_case_service_is_answered_in_the_console(context, web, staff_account):
    number = file_case(web)
    page = context.new_page()
    sign_in(page, web, staff_account, STAFF_PASSWORD)
    page.goto(f"{web.url}/console/cases?kind=disclosure")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=number))
    expect(row).to_contain_text("剩 20 个工作日")
    row.get_by_role("link", name=number).click()
    answer = page.locator("form[aria-label='答复']")
    answer.get_by_label("答复类型").select_option(label="予以公开")
    answer.get_by_label("备注").fill("已邮寄纸质件")
    answer.get_by_role("button", name="答复").click()
    expect(page.get_by_role("status")).to_have_text("已完成：答复。")
    expect(page.get_by_text("予以公开")).to_be_visible()
    case = web.servers.cases.staff("GET", f"/cases/{number}").json()
    assert case["status"] == "answered" and case["reply_type"] == "disclosed" and case["history"][-1]["note"] == "已邮寄纸质件"
    page.locator("form[aria-label='办结']").get_by_role("button", name="办结").click()
    expect(page.get_by_role("status")).to_have_text("已完成：办结。")
    assert web.servers.cases.staff("GET", f"/cases/{number}").json()["status"] == "closed"


def channel_counts(page, web) -> dict:
    page.goto(f"{web.url}/console/analytics")
    counts = {}
    for code in ("widget", "kiosk", "wechat", "rest"):
        cells = page.locator(f"tr[data-channel={code}] td")
        counts[code] = int(cells.nth(1).inner_text())
    return counts


def test_analytics_show_widget_kiosk_and_rest_apart_on_the_default_store(context, browser, web):
    page = context.new_page()
    sign_in(page, web, "admin", web.console_admin_password)
    before = channel_counts(page, web)
    expect(page.get_by_role("row", name=re.compile("^网站挂件"))).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("^自助终端"))).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("^微信公众号"))).to_be_visible()
    question = "申请政府信息公开需要说明用途吗？"
    # The widget on the portal page.
    portal = context.new_page()
    portal.goto(web.url + "/")
    portal.get_by_role("button", name=re.compile("在线咨询")).click()
    panel = portal.get_by_role("dialog", name=re.compile("在线咨询"))
    panel.get_by_label("输入您的问题").fill(question)
    panel.get_by_role("button", name="发送").click()
    expect(panel.locator(".gb-bot .gb-cite").last).to_be_visible()
    # The kiosk.
    kiosk = context.new_page()
    kiosk.goto(f"{web.url}/kiosk?idle=600")
    expect(kiosk.locator("#govbot-kiosk[data-session-id]")).to_have_count(1)
    kiosk.locator(".gk-topic").first.click()
    expect(kiosk.locator(".gk-log .gb-cite").last).to_be_visible()
    # REST, as the agency's own server calls it.
    web.servers.send("console-rest-" + secrets.token_hex(4), question)
    after = channel_counts(page, web)
    assert after["widget"] - before["widget"] == 1, (before, after)
    assert after["kiosk"] - before["kiosk"] == 1
    assert after["rest"] - before["rest"] == 1
    assert after["wechat"] == before["wechat"]
    for viewport in VIEWPORTS:  # the page with traffic in it (the empty one is checked by axe above)
        page.set_viewport_size(viewport)
        page.screenshot(path=SCREENSHOTS / f"console-analytics-traffic-{viewport['width']}x{viewport['height']}.png", full_page=True)
    expect(page.get_by_text("日期按北京时间计算")).to_be_visible()
