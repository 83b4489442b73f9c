// The service-hall kiosk (/kiosk): a full-screen touch page. Nothing is written to storage; the
// conversation lives only in this page and in Rasa under a fresh session id, and is wiped after an
// idle time or on 「结束」. People without a keyboard type with topic buttons and phrase chips.
import { ChatConnection } from "./connection.js";
import { qrSvg } from "./qr.js";
import { botEntry, FEEDBACK, renderEntry, scrollToAnswer, waitingNote } from "./render.js";
import { expandTrackingNumber, formState, numbersIn, PREFIXES } from "./text.js";

// The same query as kiosk.css's stacked layout: topics below the conversation, not beside it.
const STACKED = "(max-width: 1000px), (orientation: portrait)";

/** The greeting points to where the topics are on this screen. */
function greeting(stacked) {
  const where = stacked ? "下方" : "右侧";
  return `您好！请点击${where}的常见问题或办事事项，或点「输入问题」组词提问。回答摘自本机关公开文件并注明出处。`;
}

/**
 * The question of a form prompt to repeat on the phone: its last line, only when short and free of
 * long digit runs (a prompt never carries what a person typed, but a phone number must not travel).
 */
function handoverQuestion(text) {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  const last = lines[lines.length - 1] || "";
  return last.length <= 60 && !/\d{3,}/.test(last) ? last : "";
}

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(label, className, onClick, attrs = {}) {
  const b = el("button", { type: "button", class: className, ...attrs }, label);
  b.addEventListener("click", onClick);
  return b;
}

function readConfig(root) {
  const params = new URLSearchParams(location.search);
  const seconds = (value, fallback) => {
    const n = Number(value);
    return Number.isFinite(n) && n >= 5 ? n : fallback;
  };
  const idle = seconds(params.get("idle") ?? root.dataset.idle, 120);
  return {
    server: root.dataset.server || "http://127.0.0.1:5005",
    path: root.dataset.path || "/socket.io",
    portalUrl: root.dataset.portalUrl || `${location.origin}/`,
    topicsUrl: root.dataset.topicsUrl || "/api/kiosk/topics",
    agency: root.dataset.agency || "",
    idle,
    warn: Math.min(30, Math.max(3, Math.floor(idle / 3))),
  };
}

function start(root) {
  const config = readConfig(root);
  root.classList.add("gk-root");
  root.replaceChildren();

  // ---- layout ----
  const header = el("header", { class: "gk-header" });
  header.append(el("h1", { class: "gk-title" }, `${config.agency}政务公开咨询`));
  const tools = el("div", { class: "gk-tools", role: "toolbar", "aria-label": "显示与对话" });
  const largeBtn = button("大字", "gk-tool", () => toggle("gk-large", largeBtn), { "aria-pressed": "false" });
  const contrastBtn = button("高对比", "gk-tool", () => toggle("gk-contrast", contrastBtn), { "aria-pressed": "false" });
  const qrBtn = button("扫码手机继续", "gk-tool", () => showQr());
  const endBtn = button("结束", "gk-tool gk-end", () => reset());
  tools.append(largeBtn, contrastBtn, qrBtn, endBtn);
  header.append(tools);

  // Focusable so that the conversation can be scrolled from a keyboard (Art. 43) when nothing in it is.
  const log = el("div", { class: "gk-log", role: "log", "aria-live": "polite", "aria-label": "对话", tabindex: "0" });
  const side = el("aside", { class: "gk-side", "aria-label": "常见问题与办事事项" });
  const composer = el("form", { class: "gk-composer" });
  const input = el("input", {
    type: "text", class: "gk-input", inputmode: "none", maxlength: "200", autocomplete: "off",
    "aria-label": "您的问题", placeholder: "点下面的词组或上方按钮提问",
  });
  const keysBtn = button("输入问题", "gk-keys-toggle", () => setKeyboard(keyboard.hidden || !!keyboard.dataset.mode), {
    "aria-expanded": "false", "aria-controls": "gk-keyboard",
  });
  const backBtn = button("退格", "gk-key-action", () => { input.value = [...input.value].slice(0, -1).join(""); });
  const clearBtn = button("清空", "gk-key-action", () => { input.value = ""; });
  const sendBtn = el("button", { type: "submit", class: "gk-send" }, "发送");
  composer.append(keysBtn, input, backBtn, clearBtn, sendBtn);
  // While a form waits for an answer: leave it with one button (topic buttons cannot be mistaken
  // for its answer then), and, where the answer needs a keyboard, continue on a phone.
  const formBar = el("div", { class: "gk-formbar", role: "group", "aria-label": "正在办理" });
  formBar.hidden = true;
  const formText = el("span", { class: "gk-formbar-text" });
  const cancelBtn = button("取消办理", "gk-cancel", () => cancelForm());
  const handoverBtn = button("扫码在手机上继续", "gk-handover", () => showQr(formPrompt));
  handoverBtn.hidden = true;
  formBar.append(formText, handoverBtn, cancelBtn);
  const keyboard = el("div", { id: "gk-keyboard", class: "gk-keyboard", role: "group", "aria-label": "词组键盘" });
  keyboard.hidden = true;

  const main = el("div", { class: "gk-main" });
  const convo = el("section", { class: "gk-convo", "aria-label": "对话区" });
  // While a person handles the conversation (bot.handoff): visible, and announced to screen readers.
  const humanBar = el("p", { class: "gk-human", role: "status" });
  let handoff = false;
  const setHuman = (active, staffed = true) => {
    handoff = active;
    humanBar.hidden = !active;
    humanBar.textContent = !active ? "" : staffed
      ? "人工服务中：工作人员会在这里回复您。"
      : "人工服务中（非工作时间）：请留言，工作人员上班后回复。";
    root.dataset.handoff = active ? "active" : "";
  };
  setHuman(false);
  convo.append(humanBar, log, formBar, composer, keyboard);
  main.append(convo, side);

  const overlay = el("div", { class: "gk-overlay" });
  overlay.hidden = true;
  root.append(header, main, overlay);

  // ---- conversation ----
  let connection = null;
  let sessionId = null;
  let waiting = null;
  let turnStart = null; // the first reply to the latest question: long answers are read from here
  let botTexts = [];
  let formNow = formState("");
  let formPrompt = ""; // the question a form waits on, shown again on the phone after a hand-over
  const handlers = {
    reply: (b) => say(b.said || b.title, b.payload),
    feedback: (kind) => say(FEEDBACK[kind].said, FEEDBACK[kind].payload),
    ask: (text) => ask(text),
  };
  const show = (entry) => {
    const node = renderEntry(entry, handlers, { links: "qr" });
    log.insertBefore(node, waiting);
    return node;
  };
  const stacked = window.matchMedia(STACKED);
  stacked.addEventListener("change", () => {
    const note = log.querySelector(".gk-greeting");
    if (note) note.textContent = greeting(stacked.matches);
  });

  /** What the last reply says about a form: the 取消办理 bar, the keys it needs, or the phone for free text. */
  function setForm(text, buttons = []) {
    formNow = formState(text);
    // An answer offered as buttons can be tapped here, whatever the question asks.
    const freeText = formNow.freeText && !buttons.length;
    formPrompt = freeText ? handoverQuestion(text) : "";
    formBar.hidden = !formNow.active;
    handoverBtn.hidden = !freeText;
    root.dataset.form = formNow.active ? (formNow.tracking ? "tracking" : freeText ? "text" : "form") : "";
    formText.textContent = formNow.tracking
      ? "请用下面的回执号键和数字键输入，也可以只输入数字。"
      : freeText
        ? "这一步需要输入文字，本机无法输入。"
        : "正在办理中，随时可以取消。";
    if (formNow.keys) setKeyboard(true, formNow.tracking ? "tracking" : "digits");
    else if (keyboard.dataset.mode) setKeyboard(false); // the number keys were for a step now over
  }

  function cancelForm() {
    setForm("");
    say("取消办理", "/cancel_request");
  }
  const setWaiting = (on) => {
    if (waiting) waiting.remove();
    waiting = null;
    if (on) log.append((waiting = waitingNote()));
  };

  function say(text, payload = text) {
    used = true;
    show({ who: "user", text });
    turnStart = null;
    setWaiting(!handoff); // a person answers in their own time: no 「正在查找答案」
    log.scrollTop = log.scrollHeight;
    connection.send(payload);
  }

  /** A topic or hint button: while a tracking number is asked for, the lookup is left first. */
  function ask(text) {
    if (formNow.tracking) {
      setForm("");
      connection.send("/cancel_request");
    }
    say(text);
  }

  /** A tracking number typed without its letters: completed when unambiguous, else the prefixes offered. */
  function sayTrackingNumber(text) {
    const found = expandTrackingNumber(text, numbersIn(botTexts));
    if (!found) return false;
    if (found.number) {
      say(found.number);
      return true;
    }
    used = true;
    show({ who: "user", text });
    const node = show({
      who: "bot", text: "回执号开头是哪两个字母？请对照回执点选：", cited: false, feedback: null, replied: false,
      buttons: found.choices.map((c) => ({ title: `${c.number}（${c.name}）`, payload: c.number, said: c.number })),
    });
    scrollToAnswer(log, node);
    return true;
  }

  function connect() {
    sessionId = null;
    delete root.dataset.sessionId;
    connection = new ChatConnection({
      server: config.server,
      surface: "kiosk",
      path: config.path,
      onEnded: () => reset(), // handed over to a phone: nothing of it stays on this screen
      onSession: (id) => {
        sessionId = id;
        root.dataset.sessionId = id;
      },
      onMessage: (message) => {
        if (message.govbot_handoff) {
          setHuman(message.govbot_handoff === "active", message.staffed !== false);
          activity();
          return;
        }
        const entry = botEntry(message);
        if (!entry.text && !entry.buttons.length) return;
        setWaiting(false);
        botTexts.push(entry.text);
        const node = show(entry);
        turnStart = turnStart || node;
        setForm(entry.text, entry.buttons); // may open the keyboard, which shortens the log: scroll afterwards
        scrollToAnswer(log, turnStart, node);
        activity();
      },
      onStatus: (s) => (root.dataset.status = s),
    });
    connection.connect();
  }

  input.addEventListener("input", () => (used = true));
  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    setKeyboard(false);
    if (formNow.tracking && sayTrackingNumber(text)) return;
    say(text);
  });

  // ---- topics and phrase keyboard, from the knowledge base ----
  function topicGroup(title, topics) {
    const section = el("section", { class: "gk-topics" });
    const id = `gk-topics-${side.children.length}`;
    section.append(el("h2", { id }, title));
    const list = el("div", { class: "gk-topic-list", role: "group", "aria-labelledby": id });
    for (const t of topics) list.append(button(t.label, "gk-topic", () => ask(t.message || t.label)));
    section.append(list);
    return section;
  }

  function phraseRow(title, phrases) {
    const kind = { 回执号: " gk-prefix-row", 数字: " gk-digit-row" }[title] || "";
    const row = el("div", { class: `gk-key-row${kind}`, role: "group", "aria-label": title });
    row.append(el("span", { class: "gk-key-label" }, title));
    for (const p of phrases) row.append(button(p, "gk-key", () => { used = true; input.value += p; }));
    return row;
  }

  fetch(config.topicsUrl)
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(String(r.status)))))
    .then((data) => {
      if (data.questions?.length) side.append(topicGroup("常见问题", data.questions));
      if (data.items?.length) side.append(topicGroup("办事事项", data.items));
      for (const group of data.phrases || []) keyboard.append(phraseRow(group.title, group.phrases));
      keyboard.append(phraseRow("回执号", PREFIXES.map((p) => p.prefix)));
      keyboard.append(phraseRow("数字", ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]));
    })
    .catch(() => side.append(el("p", { class: "gk-error" }, "常见问题暂时无法加载，请点「输入问题」提问。")));

  /**
   * Opens or closes the phrase keyboard. `mode` "tracking" or "digits" shows only the keys a form
   * asks for (prefixes and digits), so that the question stays in view on a portrait screen.
   */
  function setKeyboard(open, mode = "") {
    keyboard.hidden = !open;
    if (mode) keyboard.dataset.mode = mode;
    else delete keyboard.dataset.mode;
    keysBtn.setAttribute("aria-expanded", String(open));
    keysBtn.textContent = open ? (mode ? "全部词组" : "收起词组") : "输入问题";
  }

  // ---- accessibility toggles (Art. 43) ----
  function toggle(cls, btn) {
    used = true;
    const on = root.classList.toggle(cls);
    btn.setAttribute("aria-pressed", String(on));
  }

  // ---- 扫码手机继续 ----
  function closeOverlay() {
    overlay.hidden = true;
    overlay.replaceChildren();
  }

  /**
   * The QR code that hands this conversation to a phone. `question` is given when a form needs
   * free text: the dialog says so and the phone shows the question again (in the address's
   * fragment, which browsers do not send to any server).
   */
  async function showQr(question = "") {
    used = true;
    overlay.replaceChildren();
    const box = el("div", { class: "gk-dialog", role: "dialog", "aria-modal": "true", "aria-labelledby": "gk-qr-title" });
    box.append(el("h2", { id: "gk-qr-title" }, question ? "扫码在手机上继续" : "用手机继续咨询"));
    // A single-use token that expires in minutes, never the conversation id itself (bot.access.conversation_ids).
    const token = sessionId ? await connection.requestHandover() : null;
    if (!token) {
      box.append(el("p", {}, "正在连接，请稍后再试。"));
    } else {
      const url = new URL(config.portalUrl, location.href);
      url.searchParams.set("govbot_handover", token);
      if (question) url.hash = new URLSearchParams({ govbot_ask: question }).toString();
      const figure = el("div", { class: "gk-qr", role: "img", "aria-label": "二维码" });
      figure.append(qrSvg(url.href));
      if (question) {
        box.append(
          el("p", {}, "这一步需要输入文字。请用手机扫描下面的二维码，在手机上接着填写（二维码几分钟内有效，只能用一次）。手机接续后，本机上的对话会自动清除。"),
          el("p", { class: "gk-qr-question" }, `手机上要回答的是：${question}`),
          figure,
        );
      } else {
        box.append(
          el("p", {}, "用手机扫描下面的二维码，在手机上打开本机关网站继续本次咨询（二维码几分钟内有效，只能用一次）。手机接续后，本机上的对话会自动清除。"),
          figure,
          el("p", { class: "gk-qr-url" }, url.href),
        );
      }
    }
    const close = button("关闭", "gk-dialog-btn", closeOverlay);
    box.append(close);
    overlay.append(box);
    overlay.hidden = false;
    close.focus();
  }

  // ---- privacy: idle reset and 「结束」 ----
  let idleTimer = null;
  let countdown = null;
  let used = false; // anything a person did that a reset must clear

  function activity() {
    clearTimeout(idleTimer);
    if (countdown) {
      clearInterval(countdown);
      countdown = null;
      closeOverlay();
    }
    idleTimer = setTimeout(warn, (config.idle - config.warn) * 1000);
  }

  function warn() {
    if (!used) {
      activity(); // nothing on screen to clear: no warning, no new session
      return;
    }
    let left = config.warn;
    overlay.replaceChildren();
    const box = el("div", { class: "gk-dialog gk-warning", role: "alertdialog", "aria-modal": "true", "aria-labelledby": "gk-warn-title", "aria-describedby": "gk-warn-text" });
    const text = el("p", { id: "gk-warn-text", class: "gk-countdown" });
    const render = () => (text.textContent = `为保护您的隐私，${left} 秒后将清除本次对话。`);
    render();
    const stay = button("继续使用", "gk-dialog-btn", () => activity());
    box.append(el("h2", { id: "gk-warn-title" }, "您还在使用吗？"), text, stay);
    overlay.append(box);
    overlay.hidden = false;
    stay.focus();
    countdown = setInterval(() => {
      left -= 1;
      if (left <= 0) reset();
      else render();
    }, 1000);
  }

  function reset() {
    clearInterval(countdown);
    countdown = null;
    if (connection) connection.close();
    closeOverlay();
    setKeyboard(false);
    input.value = "";
    used = false;
    for (const [cls, btn] of [["gk-large", largeBtn], ["gk-contrast", contrastBtn]]) {
      root.classList.remove(cls);
      btn.setAttribute("aria-pressed", "false");
    }
    waiting = null;
    turnStart = null;
    botTexts = [];
    setForm("");
    setHuman(false);
    log.replaceChildren(el("p", { class: "gb-msg gb-note gk-greeting" }, greeting(stacked.matches)));
    for (const store of [localStorage, sessionStorage]) {
      try {
        Object.keys(store).filter((k) => k.startsWith("govbot")).forEach((k) => store.removeItem(k));
      } catch (_) {
        /* storage disabled: nothing to clear */
      }
    }
    window.getSelection()?.removeAllRanges();
    connect();
    activity();
  }

  for (const type of ["pointerdown", "keydown", "touchstart"]) {
    root.addEventListener(type, () => { if (!countdown) activity(); }, { passive: true });
  }
  reset();
}

const root = document.getElementById("govbot-kiosk");
if (root) start(root);
