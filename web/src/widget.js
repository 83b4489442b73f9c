// The portal chat widget: one <script src=".../govbot-widget.js" data-server=... data-title=...
// data-color=...> tag. Keeps the conversation (session id and messages) in localStorage so it
// survives page reloads; Rasa keeps the same conversation because the session id is reused.
import { ChatConnection } from "./connection.js";
import { botEntry, FEEDBACK, renderEntry, waitingNote } from "./render.js";
import { readableOn } from "./colors.js";

const STORE_KEY = "govbot-widget";
const MAX_ENTRIES = 200;
const SESSION_PARAM = "govbot_session";
const SESSION_RE = /^[0-9a-f]{32}$/;

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
  return { sessionId: null, entries: [], open: false };
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

  // 「扫码手机继续」: a kiosk's QR code carries its session id; continue that conversation here.
  const params = new URLSearchParams(location.search);
  const handedOver = params.get(SESSION_PARAM);
  if (handedOver && SESSION_RE.test(handedOver)) {
    state.sessionId = handedOver;
    state.entries = [{ who: "note", text: "已接续您在政务大厅自助终端上的咨询，可以继续提问。" }];
    state.open = true;
    params.delete(SESSION_PARAM);
    const query = params.toString();
    history.replaceState(null, "", location.pathname + (query ? `?${query}` : "") + location.hash);
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
  panel.append(header, log, status, form);
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
    reply: (button) => { say(button.title, button.payload); input.focus(); },
    feedback: (kind) => { say(FEEDBACK[kind].said, FEEDBACK[kind].payload); input.focus(); },
  };
  const show = (entry) => {
    log.insertBefore(renderEntry(entry, handlers), waiting);
    scroll();
  };

  function renderAll() {
    log.replaceChildren(el("p", { class: "gb-msg gb-note gb-greeting" }, config.greeting));
    waiting = null;
    state.entries.forEach(show);
  }

  function say(text, payload = text) {
    const entry = { who: "user", text };
    state.entries.push(entry);
    save();
    show(entry);
    setWaiting(true);
    connection.send(payload);
  }

  let connection;
  function connect() {
    connection = new ChatConnection({
      server: config.server,
      path: config.path,
      sessionId: state.sessionId,
      onSession: (id) => {
        state.sessionId = id;
        save();
      },
      onMessage: (message) => {
        const entry = botEntry(message);
        if (!entry.text && !entry.buttons.length) return;
        setWaiting(false);
        state.entries.push(entry);
        save();
        show(entry);
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
    state.entries = [];
    save();
    renderAll();
    connect();
    input.focus();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    say(text);
  });

  renderAll();
  connect();
  setOpen(state.open || config.open, false);
  window.GovbotWidget = { open: () => setOpen(true), close: () => setOpen(false), get sessionId() { return state.sessionId; } };
}

const script = document.currentScript;
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => start(script));
else start(script);
