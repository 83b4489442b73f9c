// Builds the DOM for one conversation entry. Text is only ever set with textContent (never
// innerHTML), so nothing a message contains can run in the page; lists, hint buttons and links are
// recognised in the plain text (text.js).
import { blocks, findUrls, hintQuestion } from "./text.js";
import { qrSvg } from "./qr.js";

const CITATION = /^(来源|出处)[：:]/;
const BASIS = /^依据[：:]/;

export const FEEDBACK = {
  up: { payload: "/feedback_helpful", label: "👍", name: "有帮助", said: "👍 有帮助" },
  down: { payload: "/feedback_unhelpful", label: "👎", name: "没有帮助", said: "👎 没有帮助" },
};

/** A bot message from Rasa's socketio channel as a stored entry. */
export function botEntry(message) {
  const text = typeof message.text === "string" ? message.text : "";
  const buttons = Array.isArray(message.quick_replies)
    ? message.quick_replies
        .filter((b) => b && typeof b.title === "string" && typeof b.payload === "string")
        .map((b) => ({ title: b.title, payload: b.payload }))
    : [];
  const cited = text.split("\n").some((line) => CITATION.test(line.trim()));
  return { who: "bot", text, buttons, cited, feedback: null, replied: false };
}

/**
 * The typing indicator shown while an answer is on its way: three moving dots and 「正在查找答案」,
 * turning into a notice if no answer comes within `seconds`.
 */
export function waitingNote(seconds = 45) {
  // Not a .gb-msg: it is no entry of the conversation and goes away when the answer comes.
  const note = el("div", "gb-typing");
  note.setAttribute("role", "status");
  const dots = el("span", "gb-dots");
  dots.setAttribute("aria-hidden", "true");
  dots.append(el("span"), el("span"), el("span"));
  const text = el("span", "gb-typing-text", "正在查找答案");
  note.append(dots, text);
  setTimeout(() => {
    if (!note.isConnected) return;
    dots.remove();
    note.classList.add("gb-typing-late");
    text.textContent = "暂时没有收到回复，请稍后再试。";
  }, seconds * 1000);
  return note;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * Appends text with its http(s) addresses: links opening a new tab (widget), or plain text with
 * the address collected in `qrs` to be shown as a QR code (kiosk: a new tab would leave the kiosk
 * and its idle reset behind).
 */
function appendLinked(node, text, options, qrs) {
  let last = 0;
  for (const { url, index, end } of findUrls(text)) {
    node.append(text.slice(last, index));
    if (options.links === "qr") {
      node.append(el("span", "gb-url", url));
      if (!qrs.includes(url)) qrs.push(url);
    } else {
      const link = el("a", "gb-link", url);
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      node.append(link);
    }
    last = end;
  }
  node.append(text.slice(last));
}

function button(className, label, onClick, ariaLabel) {
  const b = el("button", className, label);
  b.type = "button";
  if (ariaLabel) b.setAttribute("aria-label", ariaLabel);
  b.addEventListener("click", onClick);
  return b;
}

function addressQr(url) {
  const figure = el("figure", "gb-qr-link");
  const code = el("div", "gb-qr-code");
  code.setAttribute("role", "img");
  code.setAttribute("aria-label", `网址二维码：${url}`);
  code.append(qrSvg(url));
  const caption = el("figcaption", "gb-qr-caption");
  caption.append(el("span", "gb-qr-hint", "用手机扫码打开"), el("span", "gb-url", url));
  figure.append(code, caption);
  return figure;
}

/**
 * @param {object} entry  {who: "user"|"bot"|"note", text, buttons?, cited?, feedback?, replied?}
 * @param {{reply: (button, entry) => void, feedback: (kind, entry) => void, ask?: (text) => void}} handlers
 * @param {{links?: "tab"|"qr"}} options
 */
export function renderEntry(entry, handlers, options = {}) {
  const item = el("div", `gb-msg gb-${entry.who}`);
  if (entry.who === "user") {
    item.append(el("span", "gb-sr", "您说："));
    item.append(el("p", "gb-line", entry.text));
    return item;
  }
  if (entry.who === "note") {
    item.append(el("p", "gb-line", entry.text));
    return item;
  }
  item.append(el("span", "gb-sr", "助手回答："));
  const qrs = []; // addresses met so far; each gets its QR code right after the block it is in
  let shownQrs = 0;
  const line = (text, tag = "p") => {
    const cls = CITATION.test(text) ? "gb-line gb-cite" : BASIS.test(text) ? "gb-line gb-basis" : "gb-line";
    const node = el(tag, tag === "p" ? cls : "");
    appendLinked(node, text, options, qrs);
    return node;
  };
  for (const block of blocks(entry.text)) {
    if (block.type === "list") {
      if (block.lead) item.append(line(block.lead));
      const list = el("ol", "gb-list");
      if (block.start !== 1) list.start = block.start;
      for (const text of block.items) list.append(line(text, "li"));
      item.append(list);
    } else if (block.type === "hints" && handlers.ask) {
      const id = `gb-hints-${Math.random().toString(36).slice(2, 10)}`;
      item.append(Object.assign(el("p", "gb-line gb-hints-lead", block.lead), { id }));
      const group = el("div", "gb-replies gb-hints");
      group.setAttribute("role", "group");
      group.setAttribute("aria-labelledby", id);
      for (const hint of block.items) {
        group.append(button("gb-reply gb-hint", hint, () => handlers.ask(hintQuestion(hint, entry.text))));
      }
      item.append(group);
    } else if (block.type === "hints") {
      item.append(line(block.lead + block.items.join("、") + "。"));
    } else {
      item.append(line(block.text));
    }
    for (; shownQrs < qrs.length; shownQrs++) item.append(addressQr(qrs[shownQrs]));
  }
  if (entry.buttons && entry.buttons.length) {
    const group = el("div", "gb-replies");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "可选回复");
    for (const b of entry.buttons) {
      const choice = button("gb-reply", b.title, () => {
        if (entry.replied) return;
        entry.replied = true;
        group.querySelectorAll("button").forEach((x) => (x.disabled = true));
        choice.setAttribute("aria-pressed", "true");
        handlers.reply(b, entry);
      });
      choice.disabled = !!entry.replied;
      group.append(choice);
    }
    item.append(group);
  }
  if (entry.cited) {
    const box = el("div", "gb-feedback");
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "这条回答有帮助吗");
    box.append(el("span", "gb-feedback-q", "有帮助吗？"));
    const thanks = el("span", "gb-feedback-done", entry.feedback ? "谢谢您的反馈" : "");
    const choices = Object.entries(FEEDBACK).map(([kind, f]) => {
      const b = button("gb-fb", `${f.label} ${f.name}`, () => {
        if (entry.feedback) return;
        entry.feedback = kind;
        choices.forEach((x) => (x.disabled = true));
        b.setAttribute("aria-pressed", "true");
        thanks.textContent = "谢谢您的反馈";
        handlers.feedback(kind, entry);
      }, f.name);
      b.dataset.kind = kind;
      b.disabled = !!entry.feedback;
      if (entry.feedback === kind) b.setAttribute("aria-pressed", "true");
      return b;
    });
    box.append(...choices, thanks);
    item.append(box);
  }
  return item;
}

/**
 * After a reply is shown: keep the start of this turn's answer in view. A reply taller than the
 * log is scrolled to its first line (not its end); a short one is simply scrolled into view.
 */
export function scrollToAnswer(log, first, last = first) {
  const top = first.getBoundingClientRect().top;
  const bottom = last.getBoundingClientRect().bottom;
  const view = log.getBoundingClientRect();
  const pad = 8;
  if (bottom - top > view.height - 2 * pad) log.scrollTop += top - view.top - pad;
  else log.scrollTop = log.scrollHeight;
}
