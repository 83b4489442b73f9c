"""The service-hall kiosk (/kiosk) end to end in headless Chromium against the real assistant:
topic buttons from the knowledge base, the phrase keyboard, feedback, accessibility toggles,
privacy resets (idle and 「结束」) and the 「扫码手机继续」 hand-over to the phone widget."""

from __future__ import annotations

import io
import re

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from bot.web.topics import kiosk_topics
from tests.conftest import ROOT, SCREENSHOTS

pytestmark = pytest.mark.e2e

ANSWER_TIMEOUT = 60_000
KIOSK_VIEWPORT = {"width": 1920, "height": 1080}


@pytest.fixture(scope="module")
def topics():
    return kiosk_topics(ROOT / "knowledge")


@pytest.fixture
def kiosk(browser, web):
    """Opens the kiosk; `open(idle=…)` sets the idle time with the page's query parameter."""
    context = browser.new_context(viewport=KIOSK_VIEWPORT, has_touch=True, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(ANSWER_TIMEOUT)

    def open_kiosk(idle: int = 600):
        page.goto(f"{web.url}/kiosk?idle={idle}")
        expect(page.locator("#govbot-kiosk[data-session-id]")).to_have_count(1)
        expect(page.locator(".gk-topic").first).to_be_visible()
        return page

    yield open_kiosk
    context.close()


def kiosk_session(page) -> str:
    return page.locator("#govbot-kiosk").get_attribute("data-session-id")


def new_session(page, old: str) -> None:
    """Waits until the kiosk has confirmed a session other than `old`."""
    page.wait_for_function("old => { const s = document.getElementById('govbot-kiosk').dataset.sessionId; return s && s !== old; }", arg=old)


def storage(page) -> dict:
    return page.evaluate("({local: {...localStorage}, session: {...sessionStorage}})")


def ask_first_topic(page, topics) -> str:
    question = topics["questions"][0]["label"]
    page.get_by_role("button", name=question).click()
    expect(page.locator(".gk-log .gb-cite").last).to_be_visible()
    return question


def test_topic_buttons_come_from_the_knowledge_base_and_answer(kiosk, topics, web):
    page = kiosk()
    assert topics["questions"] and topics["items"]
    shown = page.locator(".gk-topic").all_inner_texts()
    assert shown == [t["label"] for t in topics["questions"]] + [t["label"] for t in topics["items"]]
    question = ask_first_topic(page, topics)
    answer = page.locator(".gk-log .gb-bot").last
    expect(answer.locator(".gb-cite")).to_have_text(re.compile(r"^来源："))
    # Readable from a standing distance: answer text at least 24 px.
    size = answer.locator(".gb-line").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 24
    page.screenshot(path=SCREENSHOTS / "kiosk-answer.png")

    answer.get_by_role("button", name="有帮助", exact=True).click()
    expect(page.locator(".gk-log .gb-bot").last).to_contain_text("感谢您的反馈")
    users = [e for e in web.servers.tracker(kiosk_session(page))["events"] if e["event"] == "user"]
    assert [e["text"] for e in users] == [question, "/feedback_helpful"]


def test_service_item_button_and_phrase_keyboard(kiosk, topics):
    page = kiosk()
    item = topics["items"][1]
    page.get_by_role("button", name=item["label"], exact=True).click()
    expect(page.locator(".gk-log .gb-bot").last).to_contain_text(item["label"])
    # Compose 「<short name>需要什么材料」 on the phrase keyboard, no physical keyboard.
    page.get_by_role("button", name="输入问题").click()
    keyboard = page.get_by_role("group", name="词组键盘")
    short = next(group for group in topics["phrases"] if group["title"] == "事项")["phrases"][1]
    keyboard.get_by_role("group", name="事项").get_by_role("button", name=short, exact=True).click()
    keyboard.get_by_role("button", name="需要什么材料").click()
    expect(page.get_by_label("您的问题")).to_have_value(f"{short}需要什么材料")
    page.screenshot(path=SCREENSHOTS / "kiosk-phrase-keyboard.png")
    bots = page.locator(".gk-log .gb-bot").count()
    page.get_by_role("button", name="发送").click()
    page.wait_for_function("n => document.querySelectorAll('.gk-log .gb-bot').length > n", arg=bots)
    answer = page.locator(".gk-log .gb-bot").last
    expect(answer).to_contain_text(item["label"])
    expect(answer).to_contain_text("材料")


def test_larger_text_and_high_contrast(kiosk, topics):
    page = kiosk()
    ask_first_topic(page, topics)
    line = page.locator(".gk-log .gb-bot .gb-line").first
    before = line.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    page.get_by_role("button", name="大字").click()
    expect(page.get_by_role("button", name="大字")).to_have_attribute("aria-pressed", "true")
    assert line.evaluate("e => parseFloat(getComputedStyle(e).fontSize)") >= before * 1.25
    page.get_by_role("button", name="高对比").click()
    colours = line.evaluate("e => [getComputedStyle(e).color, getComputedStyle(e.parentElement).backgroundColor]")
    assert colours == ["rgb(255, 255, 255)", "rgb(0, 0, 0)"]
    page.screenshot(path=SCREENSHOTS / "kiosk-large-high-contrast.png")


def test_idle_reset_clears_screen_storage_and_session(kiosk, topics):
    page = kiosk(idle=8)  # warning after 5 s, reset after 8 s
    first = kiosk_session(page)
    question = ask_first_topic(page, topics)
    # 继续使用 in the warning keeps the conversation.
    warning = page.get_by_role("alertdialog")
    expect(warning).to_be_visible(timeout=15_000)
    expect(warning).to_contain_text("秒后将清除本次对话")
    page.screenshot(path=SCREENSHOTS / "kiosk-idle-warning.png")
    warning.get_by_role("button", name="继续使用").click()
    expect(warning).to_be_hidden()
    expect(page.locator(".gk-log")).to_contain_text(question)
    # Left alone, the kiosk wipes the conversation and starts a new session.
    expect(page.get_by_role("alertdialog")).to_be_visible(timeout=15_000)
    expect(page.locator(".gk-log .gb-user")).to_have_count(0, timeout=15_000)
    expect(page.locator(".gk-log .gb-bot")).to_have_count(0)
    expect(page.locator(".gk-log")).not_to_contain_text(question)
    expect(page.get_by_role("alertdialog")).to_have_count(0)
    new_session(page, first)
    assert storage(page) == {"local": {}, "session": {}}
    page.screenshot(path=SCREENSHOTS / "kiosk-after-idle-reset.png")


def test_end_button_resets(kiosk, topics):
    page = kiosk()
    first = kiosk_session(page)
    question = ask_first_topic(page, topics)
    page.get_by_role("button", name="大字").click()
    page.get_by_role("button", name="结束").click()
    expect(page.locator(".gk-log .gb-user")).to_have_count(0)
    expect(page.locator(".gk-log")).not_to_contain_text(question)
    expect(page.get_by_role("button", name="大字")).to_have_attribute("aria-pressed", "false")
    new_session(page, first)
    assert storage(page) == {"local": {}, "session": {}}


def test_qr_code_hands_the_conversation_to_the_phone(kiosk, topics, browser, web):
    page = kiosk()
    question = ask_first_topic(page, topics)
    sid = kiosk_session(page)
    page.get_by_role("button", name="扫码手机继续").click()
    dialog = page.get_by_role("dialog", name="用手机继续咨询")
    # A one-time hand-over code, never the conversation id (issue 16 item 5).
    expected = re.compile(re.escape(f"{web.url}/?govbot_handover=") + r"[0-9a-f]{32}\.[0-9a-f]{8}\.[\w.-]+$")
    expect(dialog.locator(".gk-qr-url")).to_have_text(expected)
    page.screenshot(path=SCREENSHOTS / "kiosk-qr.png")
    image = Image.open(io.BytesIO(dialog.locator(".gk-qr svg").screenshot()))
    decoded = [code.text for code in zxingcpp.read_barcodes(image)]
    assert len(decoded) == 1 and expected.match(decoded[0]) and decoded[0] == dialog.locator(".gk-qr-url").inner_text()

    phone = browser.new_context(viewport={"width": 390, "height": 800}, is_mobile=True, has_touch=True, locale="zh-CN")
    try:
        mobile = phone.new_page()
        mobile.set_default_timeout(ANSWER_TIMEOUT)
        mobile.goto(decoded[0])
        panel = mobile.get_by_role("dialog", name=re.compile("在线咨询"))
        expect(panel).to_be_visible()
        expect(panel).to_contain_text("已接续")
        assert "govbot_handover" not in mobile.url  # the code is not left in the address bar
        mobile.get_by_label("输入您的问题").fill("谢谢")
        mobile.get_by_role("button", name="发送").click()
        expect(panel.locator(".gb-bot").last).to_contain_text(re.compile("不客气|不用谢"))
        assert mobile.evaluate("window.GovbotWidget.sessionId") == sid
        mobile.screenshot(path=SCREENSHOTS / "phone-continues-kiosk.png")
        # The kiosk has left the conversation and cleared its screen for the next person.
        new_session(page, sid)
        expect(page.locator(".gk-log")).not_to_contain_text(question)
        # The same QR code scanned again (someone photographed it): a new conversation, not this one.
        again = phone.new_page()
        again.goto(decoded[0])
        expect(again.get_by_role("dialog", name=re.compile("在线咨询"))).to_contain_text("二维码已失效")
        assert again.evaluate("window.GovbotWidget.sessionId") not in (None, sid)
    finally:
        phone.close()
    users = [e["text"] for e in web.servers.tracker(sid)["events"] if e["event"] == "user"]
    assert users == [question, "谢谢"]


def test_accessibility_checks_pass(browser, web, topics):
    """axe-core finds no problem on the kiosk, in normal and in high-contrast display."""
    context = browser.new_context(viewport=KIOSK_VIEWPORT, bypass_csp=True, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(ANSWER_TIMEOUT)
    try:
        page.goto(f"{web.url}/kiosk?idle=600")
        ask_first_topic(page, topics)
        page.add_script_tag(path=str(ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"))
        for _ in ("normal", "high contrast"):
            result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
            assert [(v["id"], [n["target"] for n in v["nodes"]]) for v in result["violations"]] == []
            page.get_by_role("button", name="高对比").click()
    finally:
        context.close()
