"""The portal chat widget end to end: headless Chromium on the project's web server, talking to the
real Rasa and action servers over socketio, as a citizen on the agency's website would."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.conftest import ROOT, SCREENSHOTS

pytestmark = pytest.mark.e2e

QUESTION = "申请政府信息公开需要说明用途吗？"  # an FAQ entry: the answer ends with its 「来源：」 line
THANKS = re.compile("不客气|不用谢")
ANSWER_TIMEOUT = 60_000
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture
def page(browser, web):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(ANSWER_TIMEOUT)
    yield page
    context.close()


def open_widget(page, web):
    page.goto(web.url + "/")
    page.get_by_role("button", name=re.compile("在线咨询")).click()
    return page.get_by_role("dialog", name=re.compile("在线咨询"))


def ask(panel, text: str) -> None:
    panel.get_by_label("输入您的问题").fill(text)
    panel.get_by_role("button", name="发送").click()


def session_id(page) -> str:
    return page.evaluate("window.GovbotWidget.sessionId")


def user_events(web, sender: str) -> list[dict]:
    return [e for e in web.servers.tracker(sender)["events"] if e["event"] == "user"]


def test_answer_with_citation_and_feedback_reaches_the_tracker(page, web):
    requests_seen: list[str] = []
    page.on("request", lambda request: requests_seen.append(request.url))
    panel = open_widget(page, web)
    ask(panel, QUESTION)
    answer = panel.locator(".gb-bot").filter(has=page.locator(".gb-cite")).last
    citation = answer.locator(".gb-cite")
    expect(citation).to_have_text(re.compile(r"^来源：《.+》"))
    expect(answer).to_contain_text("政府信息公开")
    # The citation line looks different from the answer text.
    styles = citation.evaluate("e => [getComputedStyle(e).fontSize, getComputedStyle(e).borderTopStyle]")
    body_size = answer.locator(".gb-line").first.evaluate("e => getComputedStyle(e).fontSize")
    assert float(styles[0].rstrip("px")) < float(body_size.rstrip("px")) and styles[1] == "dashed"
    page.screenshot(path=SCREENSHOTS / "widget-answer.png")

    expect(answer.get_by_text("有帮助吗？")).to_be_visible()
    answer.get_by_role("button", name="有帮助", exact=True).click()
    expect(panel.locator(".gb-bot").last).to_contain_text("感谢您的反馈")
    expect(answer.get_by_role("button", name="没有帮助")).to_be_disabled()
    sender = session_id(page)
    events = user_events(web, sender)
    assert [e["text"] for e in events] == [QUESTION, "/feedback_helpful"]
    assert events[1]["parse_data"]["intent"]["name"] == "feedback_helpful"
    assert {e["input_channel"] for e in events} == {"socketio"}

    # Nothing came from anywhere but this server and Rasa (no CDN).
    allowed = {urlsplit(web.url).netloc, urlsplit(web.servers.rasa_url).netloc}
    assert requests_seen and {urlsplit(url).netloc for url in requests_seen} <= allowed


def test_quick_reply_and_reload_keep_the_conversation(page, web):
    panel = open_widget(page, web)
    ask(panel, QUESTION)
    answer = panel.locator(".gb-bot").filter(has=page.locator(".gb-cite")).last
    expect(answer).to_be_visible()
    answer.get_by_role("button", name="没有帮助").click()
    expect(panel.locator(".gb-bot").last).to_contain_text("抱歉没能帮到您")
    # A form question with quick replies; the choice is sent and shown as the user's message.
    ask(panel, "我要申请政府信息公开")
    choice = panel.get_by_role("group", name="可选回复").last.get_by_role("button", name="公民", exact=True)
    choice.click()
    expect(panel.locator(".gb-user .gb-line").last).to_have_text("公民")
    expect(choice).to_be_disabled()
    expect(panel.locator(".gb-bot").last).to_contain_text("姓名")
    sender = session_id(page)
    before = [m.inner_text() for m in panel.locator(".gb-msg").all()]
    page.screenshot(path=SCREENSHOTS / "widget-quick-reply.png")

    page.reload()
    panel = page.get_by_role("dialog", name=re.compile("在线咨询"))
    expect(panel).to_be_visible()  # stays open across the reload
    expect(panel.locator(".gb-msg")).to_have_count(len(before))
    assert [m.inner_text() for m in panel.locator(".gb-msg").all()] == before
    expect(panel.locator(".gb-fb[aria-pressed=true]")).to_have_count(1)
    # Rasa continues the same conversation after the reload: the form goes on to the next field.
    ask(panel, "张三")
    expect(panel.locator(".gb-bot").last).to_contain_text("身份证件类型")
    assert session_id(page) == sender
    texts = [e["text"] for e in user_events(web, sender)]
    assert texts == [QUESTION, "/feedback_unhelpful", "我要申请政府信息公开", "公民", "张三"]
    page.screenshot(path=SCREENSHOTS / "widget-after-reload.png")

    # An ID number is shown while on the page but kept in the browser only masked.
    ask(panel, "11010519491231002X")
    expect(panel.locator(".gb-user .gb-line").last).to_have_text("11010519491231002X")
    stored = page.evaluate("localStorage.getItem('govbot-widget')")
    assert "11010519491231002X" not in stored and "110*************2X" in stored

    # 新对话 starts a new conversation and forgets the old one in this browser.
    panel.get_by_role("button", name="新对话").click()
    expect(panel.locator(".gb-msg:not(.gb-greeting)")).to_have_count(0)
    page.wait_for_function("s => window.GovbotWidget.sessionId && window.GovbotWidget.sessionId !== s", arg=sender)
    assert sender not in page.evaluate("localStorage.getItem('govbot-widget')")


def test_phone_width_and_keyboard_only(browser, web):
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(ANSWER_TIMEOUT)
    try:
        page.goto(web.url + "/")
        launcher = page.get_by_role("button", name=re.compile("在线咨询"))
        for _ in range(30):  # Tab through the page to the widget's button
            page.keyboard.press("Tab")
            if launcher.evaluate("e => e === document.activeElement"):
                break
        else:
            pytest.fail("the widget button cannot be reached with Tab")
        page.keyboard.press("Enter")
        panel = page.get_by_role("dialog", name=re.compile("在线咨询"))
        expect(panel).to_be_visible()
        box = panel.bounding_box()
        assert box["width"] == 375 and box["x"] == 0  # full width on a phone
        expect(page.get_by_label("输入您的问题")).to_be_focused()
        page.keyboard.type(QUESTION)
        page.keyboard.press("Enter")
        citation = panel.locator(".gb-cite").last
        expect(citation).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
        page.screenshot(path=SCREENSHOTS / "widget-phone.png")
        # Feedback by keyboard: Tab to 👍 and press Space.
        up = panel.get_by_role("button", name="有帮助", exact=True).last
        up.focus()
        page.keyboard.press("Space")
        expect(up).to_have_attribute("aria-pressed", "true")
        page.keyboard.press("Escape")
        expect(panel).to_be_hidden()
        expect(launcher).to_be_focused()
    finally:
        context.close()


def test_accessibility_checks_pass(browser, web):
    """axe-core (an npm dev dependency, run in the page) finds no problem, contrast included."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, bypass_csp=True, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(ANSWER_TIMEOUT)
    try:
        panel = open_widget(page, web)
        ask(panel, QUESTION)
        expect(panel.locator(".gb-cite").last).to_be_visible()
        panel.locator(".gb-bot").last.get_by_role("button", name="没有帮助").click()
        expect(panel.locator(".gb-reply").last).to_be_visible()
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        assert [(v["id"], [n["target"] for n in v["nodes"]]) for v in result["violations"]] == []
        log = panel.get_by_role("log")
        assert log.get_attribute("aria-live") == "polite"
    finally:
        context.close()


def test_a_session_id_in_a_link_is_not_used(page, web):
    """Issue 16 item 5: a link carrying someone's conversation id (session fixation) gets a
    conversation of its own; only the server's signed id or a kiosk's one-time code continue one."""
    fixed = "0123456789abcdef0123456789abcdef"
    page.goto(f"{web.url}/?govbot_session={fixed}")
    assert "govbot_session" not in page.url
    page.get_by_role("button", name=re.compile("在线咨询")).click()
    panel = page.get_by_role("dialog", name=re.compile("在线咨询"))
    ask(panel, "谢谢")
    expect(panel.locator(".gb-bot").last).to_contain_text(THANKS)
    assert session_id(page) not in (None, fixed)
    assert user_events(web, fixed) == []
    assert [e["text"] for e in user_events(web, session_id(page))] == ["谢谢"]
