// Builds the DOM for one conversation entry. Text is only ever set with textContent (never
// innerHTML), so nothing a message contains can run in the page.

const CITATION = /^(来源|出处)[：:]/;
const BASIS = /^依据[：:]/;
const URL = /https?:\/\/[^\s，。；、）)」》<>"']+/g;

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

/** 「正在查找答案……」, turning into a notice if no answer comes within `seconds`. */
export function waitingNote(seconds = 45) {
  const note = el("p", "gb-waiting", "正在查找答案……");
  setTimeout(() => {
    if (note.isConnected) note.textContent = "暂时没有收到回复，请稍后再试。";
  }, seconds * 1000);
  return note;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Appends text to a node with http(s) links made clickable. */
function appendLinked(node, text) {
  let last = 0;
  for (const match of text.matchAll(URL)) {
    node.append(text.slice(last, match.index));
    const link = el("a", "gb-link", match[0]);
    link.href = match[0];
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    node.append(link);
    last = match.index + match[0].length;
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

/**
 * @param {object} entry  {who: "user"|"bot"|"note", text, buttons?, cited?, feedback?, replied?}
 * @param {{reply: (button, entry) => void, feedback: (kind, entry) => void}} handlers
 */
export function renderEntry(entry, handlers) {
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
  for (const raw of entry.text.split("\n")) {
    const line = raw.trim();
    if (!line) continue;
    const cls = CITATION.test(line) ? "gb-line gb-cite" : BASIS.test(line) ? "gb-line gb-basis" : "gb-line";
    const p = el("p", cls);
    appendLinked(p, line);
    item.append(p);
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
