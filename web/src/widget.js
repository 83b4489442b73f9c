// The portal chat widget: one <script src=".../govbot-widget.js" data-server=... data-title=...
// data-color=...> tag. Keeps the conversation (session id and messages) in localStorage so it
// survives page reloads; Rasa keeps the same conversation because the session id is reused.
import { ChatConnection } from "./connection.js";
import { botEntry, FEEDBACK, renderEntry, scrollToAnswer, waitingNote } from "./render.js";
import { readableOn } from "./colors.js";
import { expandTrackingNumber, formState, numbersIn } from "./text.js";

const STORE_KEY = "govbot-widget";
const MAX_ENTRIES = 200;
// 「扫码手机继续」: a kiosk's QR code carries a single-use hand-over token (bot.access.conversation_ids).
const HANDOVER_PARAM = "govbot_handover";
const LEGACY_SESSION_PARAM = "govbot_session"; // a bare id from an old QR code: never used, only removed
const SUGGESTIONS = 4;

function readConfig(script) {
  const data = (script && script.dataset) || {};
  const given = window.GovbotWidgetConfig || {};
  return {
    server: given.server || data.server || "http://127.0.0.1:5005",
    path: given.path || data.path || "/socket.io",
    title: given.title || data.title || "在线咨询",
    color: given.color || data.color || "#0b5cad",
    greeting:
      given.greeting || data.greeting ||
      "您好！我是政务公开咨询助手。请输入您的问题，回答都摘自本机关公开的文件并注明出处。",
    open: (given.open ?? data.open) === true || (given.open ?? data.open) === "true",
    // Suggested questions from the knowledge base, served next to this script (bot.web).
    suggestions: given.suggestions || data.suggestions || (script && script.src ? new URL(`/api/suggestions?limit=${SUGGESTIONS}`, script.src).href : ""),
  };
}

/**
 * What the user typed, as kept in the browser: ID card, phone and other long numbers and e-mail
 * addresses masked (like the server's tracker store), so a shared computer does not keep them.
 */
export function mask(text) {
  return text
    .replace(/\d{5,}[\dXx]?/g, (m) => m.slice(0, 3) + "*".repeat(Math.max(m.length - 5, 1)) + m.slice(-2))
    .replace(/([\w.+-])[\w.+-]*@([\w-]+(\.[\w-]+)+)/g, "$1***@$2");
}

function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
    if (saved && Array.isArray(saved.entries)) return saved;
  } catch (_) {
    /* unreadable storage: start afresh */
  }
  return { sessionId: null, sessionToken: null, entries: [], open: false };
}

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function addStylesheet(script) {
  if (!script || !script.src || document.querySelector("link[data-govbot-widget]")) return;
  const link = el("link", { rel: "stylesheet", href: script.src.replace(/\.js(\?.*)?$/, ".css"), "data-govbot-widget": "" });
  document.head.append(link);
}

function start(script) {
  const config = readConfig(script);
  addStylesheet(script);
  const state = load();

  // 「扫码手机继续」: the server checks the kiosk's hand-over token and continues that conversation
  // (a stale or used token gets a new conversation and a notice from the server).
  const params = new URLSearchParams(location.search);
  let handover = params.get(HANDOVER_PARAM);
  if (handover) {
    state.sessionId = null;
    state.sessionToken = null;
    // A form left on the kiosk for free text: its question travels in the fragment (never sent to a server).
    const asked = new URLSearchParams(location.hash.slice(1)).get("govbot_ask");
    const question = asked && asked.length <= 60 ? asked : "";
    state.entries = [{
      who: "note",
      text: question
        ? `已接续您在政务大厅自助终端上的填写，请接着回答：${question}`
        : "已接续您在政务大厅自助终端上的咨询，可以继续提问。",
    }];
    state.open = true;
  }
  if (handover || params.has(LEGACY_SESSION_PARAM)) {
    params.delete(HANDOVER_PARAM);
    params.delete(LEGACY_SESSION_PARAM);
    const query = params.toString();
    const hash = location.hash.includes("govbot_ask=") ? "" : location.hash;
    history.replaceState(null, "", location.pathname + (query ? `?${query}` : "") + hash);
  }

  const save = () => {
    state.entries = state.entries.slice(-MAX_ENTRIES);
    const stored = { ...state, entries: state.entries.map((e) => (e.who === "user" ? { ...e, text: mask(e.text) } : e)) };
    try {
      localStorage.setItem(STORE_KEY, JSON.stringify(stored));
    } catch (_) {
      /* storage full or disabled: the conversation still works for this page */
    }
  };

  const root = el("aside", { class: "gb-root", "aria-label": config.title });
  root.style.setProperty("--gb-color", config.color);
  root.style.setProperty("--gb-on-color", readableOn(config.color));
  const launcher = el("button", {
    type: "button", class: "gb-launcher", "aria-expanded": "false", "aria-controls": "govbot-panel",
  });
  launcher.append(el("span", { "aria-hidden": "true" }, "💬"), el("span", {}, config.title));
  const panel = el("section", {
    id: "govbot-panel", class: "gb-panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "govbot-title",
  });
  panel.hidden = true;
  const header = el("div", { class: "gb-header" });
  const title = el("h2", { id: "govbot-title", class: "gb-title" }, config.title);
  const restart = el("button", { type: "button", class: "gb-restart" }, "新对话");
  const close = el("button", { type: "button", class: "gb-close", "aria-label": "关闭咨询窗口" }, "×");
  header.append(title, restart, close);
  const log = el("div", { class: "gb-log", role: "log", "aria-live": "polite", "aria-label": "对话记录", tabindex: "0" });
  const status = el("p", { class: "gb-status", role: "status" });
  const form = el("form", { class: "gb-form" });
  const label = el("label", { for: "govbot-input", class: "gb-sr" }, "输入您的问题");
  const input = el("input", {
    id: "govbot-input", class: "gb-input", type: "text", maxlength: "500", autocomplete: "off", placeholder: "请输入您的问题",
  });
  const send = el("button", { type: "submit", class: "gb-send" }, "发送");
  form.append(label, input, send);
  // While a form waits for an answer, one button leaves it (the status lookup included).
  const formBar = el("div", { class: "gb-formbar" });
  formBar.hidden = true;
  const cancelBtn = el("button", { type: "button", class: "gb-cancel" }, "取消办理");
  formBar.append(el("span", {}, "正在办理中，随时可以取消。"), cancelBtn);
  // While a person handles the conversation (bot.handoff): visible, and announced to screen readers.
  const humanBar = el("p", { class: "gb-human", role: "status" });
  const setHuman = (handoff) => {
    state.handoff = handoff || null;
    humanBar.hidden = !handoff;
    humanBar.textContent = !handoff ? "" : handoff.staffed === false
      ? "人工服务中（非工作时间）：请留言并留下联系电话，工作人员上班后回复。"
      : "人工服务中：工作人员会在这里回复您。";
    root.dataset.handoff = handoff ? "active" : "";
  };
  panel.append(header, humanBar, log, status, formBar, form);
  root.append(launcher, panel);
  document.body.append(root);

  let waiting = null;
  const setWaiting = (on) => {
    if (waiting) waiting.remove();
    waiting = null;
    if (on) {
      waiting = waitingNote();
      log.append(waiting);
    }
  };
  const scroll = () => (log.scrollTop = log.scrollHeight);
  // The clicked button is disabled afterwards, so focus moves to the input instead of being lost.
  const handlers = {
    reply: (button) => { say(button.said || button.title, button.payload); input.focus(); },
    feedback: (kind) => { say(FEEDBACK[kind].said, FEEDBACK[kind].payload); input.focus(); },
    ask: (text) => {
      // A suggestion or hint while a tracking number is asked for: leave the lookup first.
      if (formNow.tracking) {
        setForm("");
        connection.send("/cancel_request");
      }
      say(text);
      input.focus();
    },
  };
  const show = (entry) => {
    const node = renderEntry(entry, handlers);
    log.insertBefore(node, waiting);
    return node;
  };

  let turnStart = null; // the first reply to the latest question: long answers are read from here
  let formNow = formState("");
  const setForm = (text) => {
    formNow = formState(text);
    formBar.hidden = !formNow.active;
  };

  let suggestions = [];
  const suggestionBox = () => {
    const box = el("div", { class: "gb-suggest", role: "group", "aria-labelledby": "govbot-suggest-title" });
    box.append(el("p", { id: "govbot-suggest-title", class: "gb-suggest-title" }, "您可以试试这些问题："));
    for (const q of suggestions) {
      const b = el("button", { type: "button", class: "gb-reply" }, q.label);
      b.addEventListener("click", () => handlers.ask(q.message || q.label));
      box.append(b);
    }
    return box;
  };

  function renderAll() {
    log.replaceChildren(el("p", { class: "gb-msg gb-note gb-greeting" }, config.greeting));
    if (suggestions.length) log.append(suggestionBox());
    waiting = null;
    state.entries.forEach(show);
    const lastBot = [...state.entries].reverse().find((e) => e.who === "bot");
    setForm(lastBot ? lastBot.text : "");
    scroll();
  }

  function loadSuggestions() {
    if (!config.suggestions) return;
    fetch(config.suggestions)
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(String(r.status)))))
      .then((data) => {
        suggestions = (data.questions || []).filter((q) => q && typeof q.label === "string").slice(0, 5);
        const old = log.querySelector(".gb-suggest");
        if (old) old.remove();
        if (suggestions.length) log.querySelector(".gb-greeting")?.after(suggestionBox());
      })
      .catch(() => { /* no suggestions: the greeting alone still invites a question */ });
  }

  function say(text, payload = text) {
    const entry = { who: "user", text };
    state.entries.push(entry);
    save();
    show(entry);
    turnStart = null;
    setWaiting(!state.handoff); // a person answers in their own time: no 「正在查找答案」
    scroll();
    connection.send(payload);
  }

  /** A tracking number typed without its letters: completed when unambiguous, else the prefixes offered. */
  function sayTrackingNumber(text) {
    const known = numbersIn(state.entries.filter((e) => e.who === "bot").map((e) => e.text));
    const found = expandTrackingNumber(text, known);
    if (!found) return false;
    if (found.number) {
      say(found.number);
      return true;
    }
    const user = { who: "user", text };
    const ask = {
      who: "bot", text: "回执号开头是哪两个字母？请对照回执点选：", cited: false, feedback: null, replied: false,
      buttons: found.choices.map((c) => ({ title: `${c.number}（${c.name}）`, payload: c.number, said: c.number })),
    };
    state.entries.push(user, ask);
    save();
    show(user);
    scrollToAnswer(log, show(ask));
    return true;
  }

  let connection;
  function connect() {
    connection = new ChatConnection({
      server: config.server,
      surface: "widget",
      path: config.path,
      sessionToken: state.sessionToken,
      handover: ((token) => ((handover = null), token))(handover), // presented once
      onToken: (token) => {
        state.sessionToken = token;
        save();
      },
      onSession: (id) => {
        state.sessionId = id;
        save();
      },
      onMessage: (message) => {
        if (message.govbot_handoff) {
          setHuman(message.govbot_handoff === "active" ? { staffed: message.staffed !== false } : null);
          save();
          return;
        }
        const entry = botEntry(message);
        if (!entry.text && !entry.buttons.length) return;
        setWaiting(false);
        state.entries.push(entry);
        save();
        const node = show(entry);
        turnStart = turnStart || node;
        scrollToAnswer(log, turnStart, node);
        setForm(entry.text);
      },
      onStatus: (s) => {
        status.textContent = s === "offline" ? "连接中断，正在重新连接……" : "";
        root.dataset.status = s;
      },
    });
    connection.connect();
  }

  function setOpen(open, focus = true) {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    launcher.hidden = open;
    state.open = open;
    save();
    if (open) {
      scroll();
      if (focus) input.focus();
    } else if (focus) {
      launcher.focus();
    }
  }

  launcher.addEventListener("click", () => setOpen(true));
  close.addEventListener("click", () => setOpen(false));
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") setOpen(false);
  });
  restart.addEventListener("click", () => {
    connection.close();
    state.sessionId = null;
    state.sessionToken = null;
    state.entries = [];
    setHuman(null);
    save();
    turnStart = null;
    renderAll();
    connect();
    input.focus();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    if (formNow.tracking && sayTrackingNumber(text)) return;
    say(text);
  });
  cancelBtn.addEventListener("click", () => {
    setForm("");
    say("取消办理", "/cancel_request");
    input.focus();
  });

  setHuman(state.handoff);
  renderAll();
  loadSuggestions();
  connect();
  setOpen(state.open || config.open, false);
  window.GovbotWidget = { open: () => setOpen(true), close: () => setOpen(false), get sessionId() { return state.sessionId; } };
}

const script = document.currentScript;
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => start(script));
else start(script);
