// Reading the assistant's plain-text replies: numbered lists, 「您还可以问：…」 hints, links, form
// prompts and tracking numbers. The bot sends text only; structure is recognised here so that no
// HTML ever comes from the bot (everything is rendered with textContent).

const URL_RE = /https?:\/\/[^\s，。；、）)」》<>"'\u3000]+/g;
const ITEM_START = /^(?:(\d{1,2})[.．、](?!\d)|[（(](\d{1,2})[)）])\s*/;
const INLINE_NUMBER = /(\d{1,2})[.．、](?!\d)\s*/g;
const HINT = /^(您?还?可以(?:继续)?问)[：:](.+)$/;
const NUMBER_RE = /(GK|TS|JY|RG)\d{12}/g;

/** Tracking-number prefixes (bot.case_service.workflow.KIND_PREFIXES) and what each is for. */
export const PREFIXES = [
  { prefix: "GK", name: "政府信息公开申请" },
  { prefix: "TS", name: "投诉" },
  { prefix: "JY", name: "建议" },
  { prefix: "RG", name: "人工服务" },
];

/** http(s) addresses in a text, each with its position; trailing ASCII punctuation is not part of it. */
export function findUrls(text) {
  const found = [];
  for (const m of text.matchAll(URL_RE)) {
    const url = m[0].replace(/[.,;:!?]+$/, "");
    found.push({ url, index: m.index, end: m.index + url.length });
  }
  return found;
}

/** 「1. 甲；2. 乙；3. 丙。」 inside one line: [lead, items] when at least two items run 1, 2, 3…, else null. */
export function inlineList(line) {
  const starts = [];
  let expected = 1;
  for (const m of line.matchAll(INLINE_NUMBER)) {
    if (Number(m[1]) !== expected) continue;
    const before = m.index === 0 ? "" : line[m.index - 1];
    const boundary = expected === 1 ? /^$|[：:；;。，,\s]/ : /[；;。，,\s]/;
    if (!boundary.test(before)) continue;
    starts.push({ at: m.index, body: m.index + m[0].length });
    expected += 1;
  }
  if (starts.length < 2) return null;
  const items = starts.map((s, i) => {
    const end = i + 1 < starts.length ? starts[i + 1].at : line.length;
    return line.slice(s.body, end).trim().replace(/[；;，,]$/, "").replace(/。$/, "");
  });
  if (items.some((item) => !item)) return null;
  return [line.slice(0, starts[0].at).trim(), items];
}

function lineItem(line) {
  const m = ITEM_START.exec(line);
  if (!m) return null;
  return { n: Number(m[1] || m[2]), text: line.slice(m[0].length).replace(/[；;]$/, "").replace(/。$/, "") };
}

/**
 * A reply's lines as blocks: {type: "p", text} | {type: "list", lead, items, start} |
 * {type: "hints", lead, items}. Consecutive lines numbered 1, 2, 3… make one list; so does a single
 * line holding 「1. …；2. …」.
 */
export function blocks(text) {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const hint = HINT.exec(line);
    if (hint) {
      const items = hint[2].replace(/[。.！!]$/, "").split(/[、，,；;]/).map((s) => s.trim()).filter(Boolean);
      if (items.length) {
        out.push({ type: "hints", lead: `${hint[1]}：`, items });
        continue;
      }
    }
    const first = lineItem(line);
    if (first) {
      const items = [first.text];
      let j = i + 1;
      for (let next; j < lines.length && (next = lineItem(lines[j])) && next.n === first.n + items.length; j++) items.push(next.text);
      if (items.length >= 2) {
        const prev = out[out.length - 1];
        const lead = prev && prev.type === "p" && /[：:]$/.test(prev.text) ? out.pop().text : "";
        out.push({ type: "list", lead, items, start: first.n });
        i = j - 1;
        continue;
      }
    }
    const inline = inlineList(line);
    if (inline) {
      out.push({ type: "list", lead: inline[0], items: inline[1], start: 1 });
      continue;
    }
    out.push({ type: "p", text: line });
  }
  return out;
}

/** The service item a reply is about, from its 「【名称（编码）】」 header, or "". */
export function itemOf(text) {
  const m = /【([^【】（(]+)[（(][^）)]*[）)]】/.exec(text);
  return m ? m[1].trim() : "";
}

/** What a hint button asks: 「<事项>的申请材料」 when the reply names its item, else the hint itself. */
export function hintQuestion(hint, text) {
  const item = itemOf(text);
  return item ? `${item}的${hint}` : hint;
}

// Prompts and hints of the request, complaint and status forms (domain.yml, bot/request_forms.py,
// actions/requests.py): while the last reply of a turn is one of these, a form waits for an answer.
const FORM_PROMPT = new RegExp(
  [
    "请(?:只|重新|按[^，。]{0,8})?输入(?!您的问题)", "请(?:只)?填写", "请选择", "请描述", "请具体说明", "请再具体",
    "请简要写明", "请重新提供", "请核对", "以什么身份", "您希望", "您是要投诉", "涉及哪个单位", "您要匿名",
    "您同意吗", "要修改哪一项", "字以内", "可以直接输入", "修改获取方式", "我们接着填",
  ].join("|"),
);
const TRACKING_PROMPT = /回执号/;
// Answers the kiosk's keys can give: digits (phone, its last 4 digits) and tracking numbers.
const KEYS_ANSWER = /最后4位|联系电话|回执号/;
// Answers only a keyboard can give: names, addresses, descriptions, e-mail, ID and credit codes.
const FREE_TEXT = /姓名|单位名称|收件地址|通信地址|电子邮箱|请描述|请具体说明|请再具体|涉及哪个单位|请简要写明|信用代码|证件号码|描述请/;

/** What the last reply of a turn says about a form: waiting at all, for a tracking number, for free text. */
export function formState(text) {
  const active = FORM_PROMPT.test(text);
  return {
    active,
    tracking: active && TRACKING_PROMPT.test(text) && /请输入|请核对|直接输入/.test(text),
    keys: active && KEYS_ANSWER.test(text),
    freeText: active && !KEYS_ANSWER.test(text) && FREE_TEXT.test(text),
  };
}

/** Tracking numbers the conversation has shown (receipts, 「您在本次对话中提交过」). */
export function numbersIn(texts) {
  const found = new Set();
  for (const t of texts) for (const m of t.matchAll(NUMBER_RE)) found.add(m[0]);
  return [...found];
}

/**
 * A tracking number typed without its letters (the kiosk's keys are digits): the full number when
 * only one known number ends in these 12 digits, else every prefix to choose from; null when the
 * text is not 12 digits.
 */
export function expandTrackingNumber(text, known) {
  const digits = String(text).normalize("NFKC").replace(/[\s-]/g, "");
  if (!/^\d{12}$/.test(digits)) return null;
  const matches = known.filter((n) => n.slice(2) === digits);
  if (matches.length === 1) return { number: matches[0] };
  return { choices: PREFIXES.map((p) => ({ number: p.prefix + digits, name: p.name })) };
}
