"""Issue 18: what a person on the web and in the service hall runs into, end to end in headless
Chromium on the real stack (web server, Rasa, action server, case service). The kiosk is tried
in portrait (1080×1920) and landscape (1920×1080), the widget on a phone (390×844); every state is
checked with axe-core in normal and high-contrast display and saved as a screenshot under
tests/artifacts/screenshots/issue18-*.png."""

from __future__ import annotations

import io
import re
import uuid

import pytest
import requests
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from bot.web.topics import kiosk_topics
from tests.conftest import ROOT, SCREENSHOTS

pytestmark = pytest.mark.e2e

ANSWER_TIMEOUT = 60_000
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
KIOSK_VIEWPORTS = {"portrait": {"width": 1080, "height": 1920}, "landscape": {"width": 1920, "height": 1080}}
PHONE = {"width": 390, "height": 844}
SERVICE_PORTAL = "https://zwfw.example.gov.cn"  # knowledge/agency.yml, in every item's 网上办理 line
PHONE_NUMBER = "13912345678"

# WCAG contrast of every visible button, from computed colours (backgrounds blended up the tree):
# text at least 4.5:1; a pressed toggle's fill at least 3:1 against what is around it.
COLOUR_JS = """
  const parse = (c) => {
    const p = (c.match(/rgba?\\(([^)]+)\\)/) || [, "0,0,0,0"])[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const lum = ({ r, g, b }) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const ratio = (x, y) => { const [a, b] = [lum(x), lum(y)].sort((p, q) => q - p); return (a + 0.05) / (b + 0.05); };
  const blend = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a), a: 1,
  });
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c.a > 0) layers.push(c);
      if (c.a >= 1) break;
    }
    return layers.reverse().reduce((under, top) => blend(top, under), { r: 255, g: 255, b: 255, a: 1 });
  };
"""

CONTRAST_JS = "() => {\n" + COLOUR_JS + """  const failures = [];
  for (const b of document.querySelectorAll("button")) {
    const box = b.getBoundingClientRect();
    if (!box.width || !box.height || getComputedStyle(b).visibility === "hidden") continue;
    const bg = background(b);
    const text = ratio(blend(parse(getComputedStyle(b).color), bg), bg);
    if (text < 4.5) failures.push(`${b.textContent.trim()}: text ${text.toFixed(2)}`);
    if (b.getAttribute("aria-pressed") === "true") {
      const fill = ratio(bg, background(b.parentElement));
      const border = ratio(blend(parse(getComputedStyle(b).borderTopColor), bg), background(b.parentElement));
      if (Math.max(fill, border) < 3) failures.push(`${b.textContent.trim()}: pressed ${fill.toFixed(2)}`);
    }
  }
  return failures;
}
"""

# The keyboard focus ring of the focused element against what is around it (non-text, 3:1).
FOCUS_JS = "() => {\n" + COLOUR_JS + """
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const around = background(el.parentElement);
  const shadow = (style.boxShadow.match(/rgba?\\([^)]+\\)/) || [null])[0];
  const rings = [style.outlineStyle !== "none" ? ratio(blend(parse(style.outlineColor), around), around) : 0,
                 shadow ? ratio(blend(parse(shadow), around), around) : 0];
  return [el.textContent.trim().slice(0, 20), Math.max(...rings)];
}
"""



@pytest.fixture(scope="module")
def topics():
    return kiosk_topics(ROOT / "knowledge")


@pytest.fixture(params=list(KIOSK_VIEWPORTS))
def kiosk(request, browser, web):
    """The kiosk in one orientation; `open(idle=…)` loads it and waits for its session and topics."""
    context = browser.new_context(viewport=KIOSK_VIEWPORTS[request.param], has_touch=True, locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(ANSWER_TIMEOUT)
    page.orientation = request.param

    def open_kiosk(idle: int = 600):
        page.goto(f"{web.url}/kiosk?idle={idle}")
        expect(page.locator("#govbot-kiosk[data-session-id]")).to_have_count(1)
        expect(page.locator(".gk-topic").first).to_be_visible()
        return page

    open_kiosk.page = page
    yield open_kiosk
    context.close()


@pytest.fixture
def phone(browser, web):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN", bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(ANSWER_TIMEOUT)
    page.orientation = "phone"
    yield page
    context.close()


def shot(page, name: str) -> None:
    page.screenshot(path=SCREENSHOTS / f"issue18-{name}-{page.orientation}.png")


def axe_violations(page) -> list:
    """axe-core's serious and critical findings on the page as it is now."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]]) for v in result["violations"] if v["impact"] in ("serious", "critical")]


def check_kiosk_state(page, name: str) -> None:
    """This kiosk state passes axe-core and AA contrast in normal and in high-contrast display (screenshots of both)."""
    contrast = page.get_by_role("button", name="高对比")
    for mode in ("normal", "contrast"):
        on = mode == "contrast"
        if (contrast.get_attribute("aria-pressed") == "true") != on:
            contrast.dispatch_event("click")  # the button may sit behind a dialog's backdrop
        expect(contrast).to_have_attribute("aria-pressed", str(on).lower())
        assert axe_violations(page) == [], (name, mode)
        assert page.evaluate(CONTRAST_JS) == [], (name, mode)
        shot(page, f"{name}-{mode}")
        page.keyboard.press("Tab")  # the focus ring, as a keyboard user sees it
        focused = page.evaluate(FOCUS_JS)
        assert focused is None or focused[1] >= 3, (name, mode, focused)
    contrast.dispatch_event("click")


def replies(page, scope: str) -> int:
    return page.locator(f"{scope} .gb-bot").count()


def wait_reply(page, scope: str, before: int) -> None:
    """Waits for a new reply in `scope` and for the typing indicator to go (the turn is over)."""
    page.wait_for_function(
        "([s, n]) => document.querySelectorAll(s + ' .gb-bot').length > n && !document.querySelector(s + ' .gb-typing')",
        arg=[scope, before],
    )
    page.wait_for_timeout(400)  # a turn can have a second message (a citation, a follow-up)


def kiosk_send(page, before: int | None = None) -> None:
    before = replies(page, ".gk-log") if before is None else before
    page.get_by_role("button", name="发送").click()
    wait_reply(page, ".gk-log", before)


def keyboard(page, full: bool = False):
    """The phrase keyboard, opened (with all its rows when `full`)."""
    keys = page.get_by_role("group", name="词组键盘")
    if not keys.is_visible() or (full and keys.get_attribute("data-mode")):
        page.locator(".gk-keys-toggle").click()
    return keys


def type_keys(page, group: str, keys) -> None:
    """Taps each key (a string taps one key per character)."""
    for key in keys:
        keyboard(page).get_by_role("group", name=group).get_by_role("button", name=key, exact=True).click()


def ask_status(page) -> None:
    keyboard(page, full=True).get_by_role("group", name="常用").get_by_role("button", name="办到哪了").click()
    kiosk_send(page)
    expect(page.locator(".gk-log .gb-bot").last).to_contain_text("请输入回执号")


def assert_start_in_view(log, answer) -> None:
    """The answer's first line is on screen; an answer taller than the log starts at its top."""
    log_box, box = log.bounding_box(), answer.bounding_box()
    assert log_box["y"] - 1 <= box["y"] <= log_box["y"] + log_box["height"] - 60, (log_box, box)
    if box["height"] > log_box["height"]:
        assert box["y"] <= log_box["y"] + 40, (log_box, box)


def last_reply(page, scope: str = ".gk-log"):
    return page.locator(f"{scope} .gb-bot").last


def create_case(web, kind: str = "disclosure") -> str:
    """A case filed in the case service as the bot files it; returns its tracking number."""
    cases = web.servers.cases
    response = requests.post(
        f"{cases.url}/cases",
        json={
            "kind": kind, "channel": "web", "conversation_id": uuid.uuid4().hex,
            "applicant": {"name": "张三", "phone": PHONE_NUMBER}, "request": {"description": "2025年老旧小区改造项目清单"},
        },
        headers={"Authorization": f"Bearer {cases.env['GOVBOT_CASE_BOT_TOKEN']}", "Idempotency-Key": uuid.uuid4().hex},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()["tracking_number"]


# ---------------------------------------------------------------- 1. status lookup on the kiosk


def test_kiosk_status_lookup_with_prefix_keys_digits_only_and_a_cancel_button(kiosk, web, topics):
    number = create_case(web)
    page = kiosk()
    ask_status(page)
    # The lookup opens the keyboard with the prefixes and the digits, and offers a way out.
    expect(page.get_by_role("group", name="词组键盘")).to_be_visible()
    prefixes = page.get_by_role("group", name="回执号")
    for prefix in ("GK", "TS", "JY", "RG"):
        expect(prefixes.get_by_role("button", name=prefix, exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="取消办理")).to_be_visible()
    # Only the keys a number needs, so the question stays in view even in portrait.
    expect(page.get_by_role("group", name="常用")).to_be_hidden()
    assert_start_in_view(page.locator(".gk-log"), last_reply(page))
    shot(page, "status-asks-number")

    # Only the 12 digits (no letters): the kiosk offers the four prefixes; the right one is sent.
    type_keys(page, "数字", number[2:])
    before = replies(page, ".gk-log")
    page.get_by_role("button", name="发送").click()
    choices = page.get_by_role("group", name="可选回复").last
    expect(choices.get_by_role("button")).to_have_count(4)
    shot(page, "status-choose-prefix")
    choices.get_by_role("button", name=re.compile(f"^{number}")).click()
    expect(page.locator(".gk-log .gb-user .gb-line").last).to_have_text(number)
    wait_reply(page, ".gk-log", before + 1)
    expect(last_reply(page)).to_contain_text("最后4位")
    type_keys(page, "数字", PHONE_NUMBER[-4:])
    kiosk_send(page)
    expect(last_reply(page)).to_contain_text(f"回执号 {number}：已收到")
    expect(page.get_by_role("button", name="取消办理")).to_be_hidden()
    shot(page, "status-found")

    # With the prefix keys the whole number is typed as on the receipt.
    ask_status(page)
    type_keys(page, "回执号", ["GK"])
    type_keys(page, "数字", number[2:])
    expect(page.get_by_label("您的问题")).to_have_value(number)
    kiosk_send(page)
    expect(last_reply(page)).to_contain_text("最后4位")
    # 取消办理 leaves the lookup at any step.
    before = replies(page, ".gk-log")
    page.get_by_role("button", name="取消办理").click()
    wait_reply(page, ".gk-log", before)
    expect(last_reply(page)).to_contain_text("已取消")
    expect(page.get_by_role("button", name="取消办理")).to_be_hidden()
    expect(page.get_by_role("group", name="词组键盘")).to_be_hidden()  # its number keys are put away

    # A topic button while a number is asked for leaves the lookup and is answered (in a new
    # conversation: a cancelled lookup keeps the number it was given, see the report on issue 18).
    old = page.locator("#govbot-kiosk").get_attribute("data-session-id")
    page.get_by_role("button", name="结束").click()
    page.wait_for_function("old => { const s = document.getElementById('govbot-kiosk').dataset.sessionId; return s && s !== old; }", arg=old)
    ask_status(page)
    question = topics["questions"][0]["label"]
    page.get_by_role("button", name=question).click()
    expect(page.locator(".gk-log .gb-cite").last).to_be_visible()
    assert "回执号" not in last_reply(page).inner_text()
    users = [e["text"] for e in web.servers.tracker(page.locator("#govbot-kiosk").get_attribute("data-session-id"))["events"] if e["event"] == "user"]
    assert users[-2:] == ["/cancel_request", question]
    shot(page, "status-topic-leaves-lookup")


def test_widget_completes_a_tracking_number_it_has_shown(phone, web):
    """A number typed without its letters is completed when the conversation has shown exactly one such number."""
    page = phone
    panel = open_widget(page, web)
    # A suggested question while a number is asked for leaves the lookup and is answered.
    widget_ask(panel, "办到哪了")
    expect(last_reply(page, ".gb-log")).to_contain_text("请输入回执号")
    suggestion = panel.get_by_role("group", name="您可以试试这些问题：").get_by_role("button").first
    question = suggestion.inner_text()
    suggestion.click()
    expect(panel.locator(".gb-cite").last).to_be_visible()
    users = [e["text"] for e in web.servers.tracker(page.evaluate("window.GovbotWidget.sessionId"))["events"] if e["event"] == "user"]
    assert users[-2:] == ["/cancel_request", question]
    for text in ("我想提个建议", "建议", "希望政府信息公开栏目按月份归档，方便查找", "门户网站"):
        widget_ask(panel, text)
    widget_ask(panel, "匿名")
    expect(last_reply(page, ".gb-log")).to_contain_text("请核对您的建议信息")
    expect(panel.get_by_role("button", name="取消办理")).to_be_visible()
    before = replies(page, ".gb-log")
    panel.get_by_role("button", name="确认提交").click()
    wait_reply(page, ".gb-log", before)
    number = re.search(r"JY\d{12}", panel.locator(".gb-log").inner_text()).group(0)
    widget_ask(panel, "办到哪了")
    expect(last_reply(page, ".gb-log")).to_contain_text("请输入回执号")
    widget_ask(panel, number[2:])
    expect(panel.locator(".gb-user .gb-line").last).to_have_text(number)
    expect(last_reply(page, ".gb-log")).to_contain_text("最后4位")
    shot(page, "widget-status-completed-number")
    before = replies(page, ".gb-log")
    panel.get_by_role("button", name="取消办理").click()
    wait_reply(page, ".gb-log", before)
    expect(last_reply(page, ".gb-log")).to_contain_text("已取消")
    expect(panel.get_by_role("button", name="取消办理")).to_be_hidden()


# ---------------------------------------------------------------- 2. free text: continue on a phone


def test_kiosk_form_needing_free_text_continues_on_a_phone(kiosk, browser, web):
    page = kiosk()
    keys = keyboard(page, full=True).get_by_role("group", name="常用")
    keys.get_by_role("button", name="我要申请").click()
    keys.get_by_role("button", name="政府信息公开").click()
    kiosk_send(page)
    before = replies(page, ".gk-log")
    page.get_by_role("group", name="可选回复").last.get_by_role("button", name="公民", exact=True).click()
    wait_reply(page, ".gk-log", before)
    question = last_reply(page).locator(".gb-line").last.inner_text()
    assert "姓名" in question
    # A name cannot be typed here: the form offers the phone, at this very step.
    handover = page.get_by_role("button", name="扫码在手机上继续")
    expect(handover).to_be_visible()
    expect(page.get_by_role("button", name="取消办理")).to_be_visible()
    shot(page, "form-needs-free-text")
    sid = page.locator("#govbot-kiosk").get_attribute("data-session-id")
    handover.click()
    dialog = page.get_by_role("dialog", name="扫码在手机上继续")
    expect(dialog).to_contain_text(f"手机上要回答的是：{question}")
    check_kiosk_state(page, "handover-dialog")
    image = Image.open(io.BytesIO(dialog.locator(".gk-qr svg").screenshot()))
    [url] = [code.text for code in zxingcpp.read_barcodes(image)]
    token = re.search(r"[?&]govbot_handover=([^&#]+)", url).group(1)
    assert token != sid and "govbot_session" not in url  # a signed one-time code, not the bare id
    assert "#govbot_ask=" in url  # the question rides in the fragment, which no server receives

    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN", bypass_csp=True)
    try:
        mobile = context.new_page()
        mobile.set_default_timeout(ANSWER_TIMEOUT)
        mobile.orientation = f"phone-from-{page.orientation}"
        mobile.goto(url)
        panel = mobile.get_by_role("dialog", name=re.compile("在线咨询"))
        expect(panel.locator(".gb-note:not(.gb-greeting)").first).to_have_text(f"已接续您在政务大厅自助终端上的填写，请接着回答：{question}")
        assert "govbot" not in mobile.url  # neither the code nor the question stays in the address bar
        mobile.wait_for_function("s => window.GovbotWidget.sessionId === s", arg=sid)
        widget_ask(panel, "张三")
        expect(last_reply(mobile, ".gb-log")).to_contain_text("身份证件类型")
        assert axe_violations(mobile) == []
        shot(mobile, "phone-continues-form")
    finally:
        context.close()
    # The kiosk cleared itself once the phone took over.
    expect(page.locator(".gk-log .gb-user")).to_have_count(0)
    expect(page.get_by_role("dialog")).to_have_count(0)
    users = [e["text"] for e in web.servers.tracker(sid)["events"] if e["event"] == "user"]
    assert users[-2:] == ["/applicant_type_citizen", "张三"] or users[-1] == "张三", users
    shot(page, "after-handover")


# ---------------------------------------------------------------- 3. high contrast, every state


def test_every_kiosk_state_passes_aa_contrast_and_axe(kiosk, web, topics):
    page = kiosk()
    # Greeting only, toggles off.
    check_kiosk_state(page, "start")
    # An answer with feedback given (pressed and disabled buttons), large type pressed.
    page.get_by_role("button", name=topics["questions"][0]["label"]).click()
    answer = page.locator(".gk-log .gb-bot").filter(has=page.locator(".gb-cite")).last
    answer.get_by_role("button", name="有帮助", exact=True).click()
    expect(page.locator(".gk-log .gb-bot").last).to_contain_text("感谢您的反馈")
    page.get_by_role("button", name="大字").click()
    check_kiosk_state(page, "answer-feedback-large")
    page.get_by_role("button", name="大字").click()
    # A form waiting (the 取消办理 bar) and the phrase keyboard.
    ask_status(page)
    check_kiosk_state(page, "form-keyboard")
    before = replies(page, ".gk-log")
    page.get_by_role("button", name="取消办理").click()
    wait_reply(page, ".gk-log", before)
    # The QR dialog.
    page.get_by_role("button", name="扫码手机继续").click()
    dialog = page.get_by_role("dialog", name="用手机继续咨询")
    expect(dialog).to_be_visible()
    check_kiosk_state(page, "qr-dialog")
    dialog.get_by_role("button", name="关闭").click()
    # The idle warning, in each display: 10 s after the last touch, the reset 5 s later.
    kiosk(idle=15)
    page.get_by_role("button", name="大字").click()  # something to clear, so the kiosk warns
    for mode in ("normal", "contrast"):
        if mode == "contrast":
            page.get_by_role("button", name="高对比").click()
        warning = page.get_by_role("alertdialog")
        expect(warning).to_be_visible(timeout=20_000)
        stay = warning.get_by_role("button", name="继续使用")
        assert axe_violations(page) == [], mode
        assert page.evaluate(CONTRAST_JS) == [], mode
        colours = stay.evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
        if mode == "contrast":
            assert colours == ["rgb(0, 0, 0)", "rgb(255, 235, 59)"]  # black on yellow, not white (1.22:1)
        shot(page, f"idle-warning-{mode}")
        stay.click()
        expect(warning).to_be_hidden()
    # Pressed toggles stand out from the high-contrast header.
    header = page.locator(".gk-header")
    toggle = page.get_by_role("button", name="高对比")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    assert header.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(0, 0, 0)"
    assert toggle.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 235, 59)"
    shot(page, "pressed-toggle-contrast")


# ---------------------------------------------------------------- 4, 6, 7, 8: an item's answer


def test_kiosk_item_answer_links_hints_lists_and_scrolling(kiosk, web, topics):
    page = kiosk()
    item = topics["items"][1]
    page.get_by_role("button", name=item["label"], exact=True).click()
    answer = page.locator(".gk-log .gb-bot").filter(has=page.locator(".gb-cite")).last
    expect(answer).to_contain_text(item["label"])
    page.wait_for_timeout(500)

    # 8: a new answer is shown from its start, not its end.
    assert_start_in_view(page.locator(".gk-log"), answer)

    # 4: the address is text and a QR code, no link that opens a tab.
    expect(answer.locator("a")).to_have_count(0)
    expect(page.locator(".gk-root a[target=_blank]")).to_have_count(0)
    expect(answer.locator(".gb-url").first).to_have_text(SERVICE_PORTAL)
    code = answer.get_by_role("img", name=f"网址二维码：{SERVICE_PORTAL}")
    code.scroll_into_view_if_needed()
    decoded = [c.text for c in zxingcpp.read_barcodes(Image.open(io.BytesIO(code.screenshot())))]
    assert decoded == [SERVICE_PORTAL]
    shot(page, "item-answer-address-qr")

    # 6: 「您还可以问：…」 are buttons; one asks about this item.
    hints = answer.get_by_role("group", name="您还可以问：")
    expect(hints.get_by_role("button")).to_have_count(5)
    assert hints.get_by_role("button").all_inner_texts() == ["申请材料", "受理条件", "办理流程", "设定依据", "咨询电话"]
    hints.scroll_into_view_if_needed()
    shot(page, "item-answer-hint-buttons")
    before = replies(page, ".gk-log")
    hints.get_by_role("button", name="申请材料").click()
    expect(page.locator(".gk-log .gb-user .gb-line").last).to_have_text(f"{item['label']}的申请材料")
    wait_reply(page, ".gk-log", before)

    # 7: the materials are a numbered list, text only.
    materials = last_reply(page)
    expect(materials).to_contain_text("申请材料")
    listed = materials.locator("ol.gb-list > li")
    assert listed.count() >= 2
    assert all(not re.match(r"^\d", t) for t in listed.all_inner_texts())  # the numbers are the list's own
    assert materials.locator("ol.gb-list li *").count() == 0  # nothing but text inside the items
    assert materials.evaluate("e => e.querySelector('ol').previousElementSibling.textContent") == "申请材料："
    assert_start_in_view(page.locator(".gk-log"), materials)
    shot(page, "materials-list")
    check_kiosk_state(page, "materials-list")


def test_multi_line_numbered_reply_is_a_list(phone, web):
    panel = open_widget(phone, web)
    widget_ask(panel, "你能做什么")
    reply = last_reply(phone, ".gb-log")
    expect(reply.locator("ol.gb-list > li")).to_have_count(5)
    assert reply.locator("ol.gb-list li *").count() == 0
    expect(reply.locator(".gb-line").first).to_have_text("我可以：")
    shot(phone, "widget-capabilities-list")


# ---------------------------------------------------------------- 5. portrait greeting


def test_kiosk_greeting_points_to_where_the_topics_are(kiosk):
    page = kiosk()
    greeting = page.locator(".gk-greeting")
    log, side = page.locator(".gk-log").bounding_box(), page.locator(".gk-side").bounding_box()
    if page.orientation == "portrait":
        assert side["y"] >= log["y"] + log["height"]  # the topics are below the conversation
        expect(greeting).to_contain_text("下方的常见问题")
    else:
        assert side["x"] >= log["x"] + log["width"]  # beside it, on the right
        expect(greeting).to_contain_text("右侧的常见问题")
    shot(page, "greeting")
    # Turning the screen turns the wording with the layout.
    page.set_viewport_size({"width": 1920, "height": 1080} if page.orientation == "portrait" else {"width": 1080, "height": 1920})
    expect(greeting).to_contain_text("右侧的常见问题" if page.orientation == "portrait" else "下方的常见问题")


# ---------------------------------------------------------------- 6, 8, 9, 10 on the phone widget


def open_widget(page, web):
    page.goto(web.url + "/")
    page.get_by_role("button", name=re.compile("在线咨询")).click()
    return page.get_by_role("dialog", name=re.compile("在线咨询"))


def widget_ask(panel, text: str) -> None:
    page = panel.page
    before = replies(page, ".gb-log")
    panel.get_by_label("输入您的问题").fill(text)
    panel.get_by_role("button", name="发送").click()
    wait_reply(page, ".gb-log", before)


def test_widget_opens_with_greeting_and_suggested_questions(phone, web, topics):
    page = phone
    panel = open_widget(page, web)
    expect(panel.locator(".gb-greeting")).to_contain_text("您好")
    suggested = panel.get_by_role("group", name="您可以试试这些问题：").get_by_role("button")
    expect(suggested.first).to_be_visible()
    labels = suggested.all_inner_texts()
    assert 3 <= len(labels) <= 5 and labels == [q["label"] for q in topics["questions"][: len(labels)]]
    assert axe_violations(page) == []
    shot(page, "widget-greeting-suggestions")
    page.emulate_media(contrast="more")
    assert axe_violations(page) == []
    shot(page, "widget-greeting-suggestions-contrast")
    page.emulate_media(contrast="no-preference")
    suggested.nth(1).click()
    expect(panel.locator(".gb-user .gb-line").last).to_have_text(labels[1])
    expect(panel.locator(".gb-cite").last).to_be_visible()
    # The suggestions come back after a reload, with the conversation.
    page.reload()
    expect(page.get_by_role("group", name="您可以试试这些问题：").get_by_role("button")).to_have_count(len(labels))


def test_widget_hints_lists_and_long_answer_on_a_phone(phone, web, topics):
    page = phone
    panel = open_widget(page, web)
    item = topics["items"][2]
    widget_ask(panel, item["label"])
    answer = panel.locator(".gb-bot").filter(has=page.locator(".gb-cite")).last
    expect(answer).to_contain_text(item["label"])
    assert_start_in_view(panel.locator(".gb-log"), answer)
    # Links stay links on the web (they open the agency's portal in a new tab).
    expect(answer.locator(f"a[href='{SERVICE_PORTAL}']")).to_have_attribute("target", "_blank")
    # 6: hints are buttons.
    hints = answer.get_by_role("group", name="您还可以问：")
    hints.scroll_into_view_if_needed()
    shot(page, "widget-hint-buttons")
    before = replies(page, ".gb-log")
    hints.get_by_role("button", name="办理流程").click()
    expect(panel.locator(".gb-user .gb-line").last).to_have_text(f"{item['label']}的办理流程")
    wait_reply(page, ".gb-log", before)
    steps = last_reply(page, ".gb-log")
    expect(steps).to_contain_text("办理流程")
    assert steps.locator("ol.gb-list > li").count() >= 2
    assert axe_violations(page) == []
    shot(page, "widget-procedure-list")
    page.emulate_media(contrast="more")
    assert axe_violations(page) == []
    assert page.evaluate(CONTRAST_JS) == []
    shot(page, "widget-procedure-list-contrast")
    page.emulate_media(contrast="no-preference")

    # 8: an answer taller than the phone's log is shown from its start.
    widget_ask(panel, f"{item['label']}的申请材料、受理条件和办理流程")
    long = panel.locator(".gb-bot").filter(has=page.locator(".gb-cite")).last
    log_box, box = panel.locator(".gb-log").bounding_box(), long.bounding_box()
    assert box["height"] > log_box["height"], (box, log_box)
    assert_start_in_view(panel.locator(".gb-log"), long)
    expect(long.locator("ol.gb-list")).to_have_count(3)
    shot(page, "widget-long-answer-start")


class HeldReplies:
    """Holds the bot's replies on their way to the page (Playwright's WebSocket routing), so the
    waiting state can be looked at and photographed before the answer arrives."""

    def __init__(self, page) -> None:
        self.holding = False
        self.held: list = []
        self.sockets: list = []
        page.route_web_socket(re.compile(r"/socket\.io/"), self._route)

    def _route(self, ws) -> None:
        server = ws.connect_to_server()
        self.sockets.append(ws)

        def from_server(message) -> None:
            if self.holding and "bot_uttered" in str(message):
                self.held.append((ws, message))
            else:
                ws.send(message)

        server.on_message(from_server)
        ws.on_message(lambda message: server.send(message))

    def wait_for_held(self, page) -> None:
        for _ in range(600):
            if self.held:
                return
            page.wait_for_timeout(100)
        raise AssertionError("no reply came from the bot")

    def release(self) -> None:
        self.holding = False
        for ws, message in self.held:
            ws.send(message)
        self.held.clear()


def test_typing_indicator_on_the_widget_and_favicon(phone, web, topics):
    page = phone
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 and r.url.startswith(web.url) else None)
    replies_held = HeldReplies(page)
    panel = open_widget(page, web)
    expect(panel.get_by_role("group", name="您可以试试这些问题：")).to_be_visible()
    replies_held.holding = True
    panel.get_by_label("输入您的问题").fill(topics["questions"][0]["label"])
    panel.get_by_role("button", name="发送").click()
    replies_held.wait_for_held(page)
    typing = panel.get_by_role("status").filter(has_text="正在查找答案")
    expect(typing).to_be_visible()
    expect(typing.locator(".gb-dots span")).to_have_count(3)
    assert axe_violations(page) == []
    shot(page, "widget-typing")
    replies_held.release()
    expect(panel.locator(".gb-cite").last).to_be_visible()
    expect(panel.locator(".gb-typing")).to_have_count(0)  # gone once the answer is there
    # /favicon.ico is served (an icon, not a 404 in every browser console).
    icon = page.request.get(f"{web.url}/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"] == "image/x-icon"
    assert Image.open(io.BytesIO(icon.body())).format == "ICO"
    assert not failed, failed


def test_typing_indicator_on_the_kiosk(kiosk, topics):
    replies_held = HeldReplies(kiosk.page)
    page = kiosk()
    replies_held.holding = True
    page.get_by_role("button", name=topics["questions"][0]["label"]).click()
    replies_held.wait_for_held(page)
    expect(page.locator(".gk-log").get_by_role("status").filter(has_text="正在查找答案")).to_be_visible()
    check_kiosk_state(page, "typing")
    replies_held.release()
    expect(page.locator(".gk-log .gb-cite").last).to_be_visible()
    expect(page.locator(".gk-log .gb-typing")).to_have_count(0)
