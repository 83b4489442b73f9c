"""Live 转人工 end to end (bot.handoff, bot/console/inbox.py): headless Chromium as the citizen in
the widget or at the kiosk, a second browser signed in to the console as a clerk, in front of the
session's real Rasa, action server and case service (tests/conftest.py `servers`, `web`).

The citizen hands off; what they type reaches the case (masked) and appears live in the inbox;
the clerk's reply appears in the citizen's own conversation; 结束人工服务 resumes the bot, which then
answers the next question. The inbox is screenshot at 1366×768 and 1920×1080 and checked with
axe-core. The session stack is staffed around the clock (GOVBOT_HANDOFF_HOURS=always).
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import time

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS, ROOT, SCREENSHOTS, VENV_BIN, free_port, wait_until

pytestmark = pytest.mark.e2e
expect.set_options(timeout=30_000)

AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
TIMEOUT = 120_000
SIZES = ((1366, 768), (1920, 1080))
PHONE = "13812345678"


class Console:
    def __init__(self, url: str, accounts: dict) -> None:
        self.url, self.accounts = url, accounts


@pytest.fixture(scope="module")
def console(servers, tmp_path_factory):
    """`python -m bot.web` with the console, a staff client of the session's case service."""
    from bot.console.store import ConsoleStore

    state = tmp_path_factory.mktemp("handoff-console")
    port = free_port()
    database = f"sqlite:///{state / 'console.db'}"
    clerk = ("clerk", "clerk-" + secrets.token_urlsafe(12))
    env = dict(
        {k: v for k, v in os.environ.items() if not k.startswith(("GOVBOT_", "WECHAT_"))},
        GOVBOT_KNOWLEDGE_DIR=str(servers.knowledge_dir), GOVBOT_CACHE_DIR=str(servers.cache_dir),
        GOVBOT_CONSOLE_DATABASE_URL=database, GOVBOT_CONSOLE_ADMIN_PASSWORD="admin-" + secrets.token_urlsafe(12),
        GOVBOT_CASE_URL=servers.cases.url, GOVBOT_CASE_STAFF_TOKEN=servers.cases.env["GOVBOT_CASE_STAFF_TOKEN"],
        GOVBOT_WEB_PORT=str(port), GOVBOT_WEB_RASA_URL=servers.rasa_url,
        GOVBOT_CANNED_REPLIES_PATH=str(state / "canned.txt"),
    )
    log = ARTIFACTS / "handoff-console-web.log"
    process = subprocess.Popen(
        [str(VENV_BIN / "python"), "-m", "bot.web", "--host", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT,
    )
    try:
        wait_until(f"http://127.0.0.1:{port}/console/login", process, log, timeout=60)
        store = ConsoleStore(database)
        store.create_user(*clerk, role="staff", display_name="王科员")
        store.dispose()
        yield Console(f"http://127.0.0.1:{port}", {"clerk": clerk})
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def clerk_page(browser, console):
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(console.url + "/console/login")
    page.get_by_label("账号").fill(console.accounts["clerk"][0])
    page.get_by_label("密码").fill(console.accounts["clerk"][1])
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("button", name="退出登录")).to_be_visible()
    yield page
    context.close()


@pytest.fixture
def citizen_page(browser, web):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    yield page
    context.close()


def axe_violations(page) -> list:
    """axe-core's serious and critical findings on the page as it is now."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
            if v["impact"] in ("serious", "critical")]


def handoff_case(servers, conversation_id: str) -> dict:
    cases = servers.cases.staff("GET", "/cases", params={"kind": "handoff", "limit": "200"}).json()["items"]
    [case] = [c for c in cases if c["conversation_id"] == conversation_id]
    return servers.cases.staff("GET", f"/cases/{case['tracking_number']}").json()


def messages(servers, number: str) -> list[dict]:
    return servers.cases.staff("GET", f"/cases/{number}/messages").json()["items"]


class Widget:
    """The citizen's side in the portal widget."""

    channel_label, name = "网站咨询挂件", "widget"

    def __init__(self, page, web) -> None:
        self.page = page
        page.goto(web.url + "/")
        page.get_by_role("button", name=re.compile("在线咨询")).click()
        self.panel = page.get_by_role("dialog", name=re.compile("在线咨询"))
        self.human = self.panel.locator(".gb-human")
        self.bot = self.panel.locator(".gb-bot")

    def say(self, text: str) -> None:
        self.panel.get_by_label("输入您的问题").fill(text)
        self.panel.get_by_role("button", name="发送").click()

    def conversation_id(self) -> str:
        return self.page.evaluate("window.GovbotWidget.sessionId")


class Kiosk:
    """The citizen's side at the service-hall kiosk (its input has no on-screen keyboard needed here)."""

    channel_label, name = "政务大厅自助终端", "kiosk"

    def __init__(self, page, web) -> None:
        self.page = page
        page.goto(web.url + "/kiosk")
        self.panel = page.locator(".gk-convo")
        self.human = page.locator(".gk-human")
        self.bot = self.panel.locator(".gb-bot")
        expect(page.locator("[data-session-id]")).to_have_count(1)

    def say(self, text: str) -> None:
        self.page.get_by_label("您的问题").fill(text)
        self.page.get_by_role("button", name="发送", exact=True).click()

    def conversation_id(self) -> str:
        return self.page.locator("[data-session-id]").get_attribute("data-session-id")


def until(check, timeout: float = 60.0):
    """The first truthy value of `check()`, polled until `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def run_handoff(citizen, clerk_page, console, servers, shots: str | None = None) -> None:
    clerk_page.goto(console.url + "/console/inbox")  # the clerk is already looking at the inbox
    # The citizen asks for a person: told so at once, and the widget shows 「人工服务中」.
    citizen.say("转人工")
    expect(citizen.bot.last).to_contain_text("已为您转接人工服务", timeout=TIMEOUT)
    expect(citizen.human).to_be_visible()
    expect(citizen.human).to_contain_text("人工服务中")
    citizen.page.screenshot(path=SCREENSHOTS / f"handoff-{citizen.name}-active.png")
    assert axe_violations(citizen.page) == []  # the 「人工服务中」 state is accessible too
    conversation = citizen.conversation_id()
    case = handoff_case(servers, conversation)
    number = case["tracking_number"]
    assert case["channel"] == "socketio" and case["applicant"] == {}

    # What they type now reaches the case, masked; the phone becomes the case's contact in full.
    citizen.say(f"我想问申请进度，电话{PHONE}")
    stored = until(lambda: [m for m in messages(servers, number) if m["role"] == "citizen"])
    assert stored and PHONE not in stored[0]["text"] and "138****5678" in stored[0]["text"], stored
    assert handoff_case(servers, conversation)["applicant"]["phone"] == PHONE
    # ... and its own tracking number can now be looked up with the phone's last four digits.
    looked_up = requests.get(
        f"{servers.cases.url}/cases/{number}", params={"phone_last4": PHONE[-4:]}, timeout=30,
        headers={"Authorization": f"Bearer {servers.cases.env['GOVBOT_CASE_BOT_TOKEN']}"},
    )
    assert looked_up.status_code == 200 and looked_up.json()["tracking_number"] == number

    # The clerk hears of the new handoff without reloading; the list shows it with its channel,
    # waiting time and masked transcript.
    expect(clerk_page.locator("#inbox-new")).to_be_visible()
    clerk_page.get_by_role("link", name="刷新列表").click()
    card = clerk_page.locator(f"#case-{number}")
    expect(card).to_be_visible()
    expect(card).to_contain_text(citizen.channel_label)
    expect(card.locator(".waiting")).to_contain_text("已等待")
    expect(card.locator(".thread")).to_contain_text("转人工")
    expect(card.locator(".thread")).to_contain_text("138****5678")
    expect(card.locator(".thread")).not_to_contain_text(PHONE)
    expect(card).to_contain_text("138****5678")  # the contact, masked

    # A new message appears live, without reloading the page.
    citizen.say("请问还要多久？")
    expect(card.locator(".thread li.fresh")).to_contain_text("请问还要多久？")

    if shots:
        for width, height in SIZES:
            clerk_page.set_viewport_size({"width": width, "height": height})
            clerk_page.screenshot(path=SCREENSHOTS / f"console-inbox-{shots}-{width}x{height}.png", full_page=True)
            assert axe_violations(clerk_page) == [], width
        clerk_page.set_viewport_size({"width": 1366, "height": 768})

    # A canned reply fills the box; the clerk edits and sends it; it reaches the citizen's conversation.
    card.get_by_label("常用回复").select_option(index=2)
    box = card.get_by_label("回复", exact=True)
    expect(box).to_have_value(re.compile("请稍等"))
    box.fill("您好，您的申请已受理，预计本周内答复。")
    card.get_by_role("button", name="发送回复").click()
    expect(card.locator(".sent")).to_contain_text("已送达对方")
    expect(citizen.bot.last).to_contain_text("【工作人员】您好，您的申请已受理，预计本周内答复。")
    expect(card.locator(".thread")).to_contain_text("工作人员（clerk）")
    staff = [m for m in messages(servers, number) if m["role"] == "staff"]
    assert staff and staff[-1]["author"] == "clerk"

    # 结束人工服务: the citizen is told, 「人工服务中」 goes away, and the bot answers again.
    card.get_by_role("button", name="结束人工服务").click()
    expect(clerk_page.locator("p.notice[role=status]:not(#inbox-new)")).to_contain_text("已结束人工服务")
    expect(clerk_page.locator(f"#case-{number}")).to_have_count(0)
    expect(citizen.bot.last).to_contain_text("人工服务已结束")
    expect(citizen.human).to_be_hidden()
    assert handoff_case(servers, conversation)["status"] == "closed"
    before = citizen.bot.count()
    citizen.say("政府信息公开申请多久答复")
    expect(citizen.bot).to_have_count(before + 1, timeout=TIMEOUT)
    expect(citizen.bot.last).to_contain_text("工作日")
    expect(citizen.bot.last).not_to_contain_text("工作人员")


def test_widget_handoff_reply_and_end(citizen_page, clerk_page, console, servers, web):
    run_handoff(Widget(citizen_page, web), clerk_page, console, servers, shots="widget")


def test_kiosk_handoff_reply_and_end(citizen_page, clerk_page, console, servers, web):
    run_handoff(Kiosk(citizen_page, web), clerk_page, console, servers)


def test_canned_replies_are_edited_on_the_inbox_page_with_csrf(console):
    session = requests.Session()
    session.headers["Accept"] = "text/html"
    login = session.get(f"{console.url}/console/login", timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
    username, password = console.accounts["clerk"]
    assert session.post(f"{console.url}/console/login", timeout=30,
                        data={"username": username, "password": password, "csrf_token": token}).ok
    page = session.get(f"{console.url}/console/inbox", timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)

    refused = session.post(f"{console.url}/console/inbox/canned", data={"replies": "伪造的回复"}, timeout=30)
    assert refused.status_code == 403 and "伪造的回复" not in session.get(f"{console.url}/console/inbox", timeout=30).text
    too_many = session.post(f"{console.url}/console/inbox/canned", timeout=30,
                            data={"csrf_token": token, "replies": "\n".join(f"回复{i}" for i in range(31))})
    assert too_many.status_code == 400 and "常用回复最多 30 条" in too_many.text
    saved = session.post(f"{console.url}/console/inbox/canned", timeout=30,
                         data={"csrf_token": token, "replies": "您好，这里是信息公开办。\n\n请留下您的电话。\n"})
    assert saved.status_code == 200 and "常用回复已保存" in saved.text
    assert ">您好，这里是信息公开办。\n请留下您的电话。</textarea>" in saved.text  # blank lines dropped
    empty = session.post(f"{console.url}/console/inbox/RG261206000000/reply", data={"csrf_token": token, "text": " "}, timeout=30)
    assert empty.status_code == 400 and "回复内容不能为空" in empty.text
