"""Split documents along their own numbering (一、 （一） 1.) into citable passages.

Government documents are organised by numbered parts; a passage that keeps its part and heading
path can be cited as 「第五部分」 and read on its own. Passages stay under ~600 characters so the
answer can quote the relevant sentences rather than a wall of text.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from bot.knowledge.documents import Document
from bot.text import split_sentences

MAX_CHARS = 600
# Bump when the splitting rules change, so existing indexes are rebuilt.
CHUNKER_VERSION = "7"

_NUM = "一二三四五六七八九十百零"


@dataclass(frozen=True)
class _HeadingKind:
    level: int
    pattern: re.Pattern
    label: str  # format of the heading label, {n} is the numeral
    locator: str | None  # how a citation names it; None: cite the enclosing part
    titled: bool = True  # False: the line has no title, only a number ("第三十三条 行政机关……")


_KINDS = (
    _HeadingKind(1, re.compile(rf"^第([{_NUM}]{{1,4}})章\s*"), "第{n}章 ", "第{n}章"),
    _HeadingKind(1, re.compile(rf"^第([{_NUM}]{{1,3}})部分\s*"), "第{n}部分 ", "第{n}部分"),
    _HeadingKind(1, re.compile(rf"^([{_NUM}]{{1,3}})\s*[、.．]\s*"), "{n}、", "第{n}部分"),
    # 「第二十条第（一）项」 cites an item of an article; it does not start one.
    _HeadingKind(2, re.compile(rf"^第([{_NUM}]{{1,5}})条(?!第)\s*"), "第{n}条", "第{n}条", titled=False),
    _HeadingKind(2, re.compile(rf"^[（(]\s*([{_NUM}]{{1,3}})\s*[)）]\s*"), "（{n}）", None),
    _HeadingKind(3, re.compile(r"^(?:(\d{1,2})\s*[.．、](?!\d)|[（(](\d{1,2})[)）])\s*"), "{n}. ", None),
    # A policy Q&A: 「问七：什么时候申报？」, cited as 「问七」.
    _HeadingKind(1, re.compile(rf"^问\s*([{_NUM}]{{1,3}}|\d{{1,2}})\s*[：:、.．]\s*"), "问{n}：", "问{n}"),
    # 「附表：主要奖补标准一览表」「附表2」: a table appended to the text is a part of its own.
    _HeadingKind(1, re.compile(r"^(附表\s*\d{0,2})\s*[：:]?\s*"), "{n}：", "{n}"),
)
# A numbered line ending a clause (「2.企业营业执照复印件；」), or one sentence of several clauses
# (「（五）同一项目已获支持的，不得重复申报。」), is an item of a list, not a heading; a heading may
# end with a full stop (「（一）全面推进政务公开。」).
_CLAUSE_END = "；;，,、：:"
_PARENTHESES = re.compile(r"[（(][^（()）]*[）)]")
# Markdown heading marks: 「## 一、围绕稳增长……」 is numbered like any other heading.
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+")
# A Markdown table row and the rule under its header row.
_TABLE_ROW = re.compile(r"^\|.*\|$")
_TABLE_RULE = re.compile(r"^\|(?:\s*:?-{3,}:?\s*\|)+$")
# A column that only numbers the rows.
_SERIAL_HEADERS = {"序号", "编号", "序"}
# The passage made of a document's metadata (文号, 发布机构, dates …), after its text.
METADATA_SECTION = "文件信息"
_HEADING_MAX = 40
_LIST_ITEM_MAX = 20
# "(牵头单位:办公厅)" after a heading names who leads the task; it is not part of the heading.
_TRAILING_NOTE = re.compile(r"\s*[（(][^（()）]*[）)]?\s*$")
# 「第三十三条【答复期限】行政机关……」: an article's subject (条文主旨) joins its heading, so the
# passage is found by what the article is about, while its text (quoted in answers) stays the article.
_SUBJECT = re.compile(r"^【([^【】]{1,30})】\s*")


@dataclass(frozen=True)
class Passage:
    doc_id: str
    title: str
    issuer: str
    date: str
    doc_number: str
    section: str  # heading path, e.g. "五、着力提升… / （二）强化新媒体工作"
    locator: str  # where in the document a citation points: "第五部分", "第三十三条", or ""
    text: str
    ordinal: int
    keywords: str = ""  # the document's other names (see Document.keywords)
    questions: tuple[str, ...] = ()  # how people ask for this passage (bot.knowledge.questions)
    # How a citizen would ask for it, generated from the document (bot.knowledge.phrasings); none
    # where staff wrote phrasings.
    generated: tuple[str, ...] = ()

    @property
    def passage_id(self) -> str:
        return f"{self.doc_id}#{self.ordinal}"

    def embedding_text(self) -> str:
        """Title and headings travel with the text: questions often name the document or topic."""
        return "\n".join(x for x in (self.title, self.section, self.text) if x)

    def keyword_text(self) -> str:
        """What keyword search matches: the embedded text plus the document's other names and the
        passage's common phrasings (their everyday words: 「晒」「告」「多久」)."""
        return "\n".join(x for x in (self.embedding_text(), self.keywords, *self.questions, *self.generated) if x)

    @property
    def phrasings(self) -> tuple[str, ...]:
        """Staff-written, then generated: one question vector each, in this order."""
        return self.questions + self.generated

    def to_dict(self) -> dict:
        return asdict(self)


def _heading(line: str) -> tuple[_HeadingKind, str] | None:
    """(kind, heading label) when the line starts a numbered part, chapter or article."""
    for kind in _KINDS:
        match = kind.pattern.match(line)
        if not match:
            continue
        numeral = next(g for g in match.groups() if g)
        label = kind.label.format(n=numeral)
        rest = line[match.end():]
        if not kind.titled:
            subject = _SUBJECT.match(rest)
            return kind, f"{label} {subject.group(1)}" if subject else label
        # An inline heading ends at the first full stop: "（二）强化新媒体工作。加强…"
        first, _, after = rest.partition("。")
        if not after.strip() and _is_list_item(rest):
            return None  # the whole line is one item: 「（一）在本市依法登记注册，具有独立法人资格；」
        head = _TRAILING_NOTE.sub("", first).strip()
        if kind.level == 3 and len(head) > _LIST_ITEM_MAX:
            return None  # "1.文件起草人完成文件起草,需在…" is a list item, not a heading
        if not head or len(head) > _HEADING_MAX:
            head = rest[:20].rstrip("，,、") + "…" if len(rest) > 20 else rest
        return kind, (label + head.strip()).strip()
    return None


def _is_list_item(rest: str) -> bool:
    plain = _PARENTHESES.sub("", rest).strip()
    if plain[-1:] in _CLAUSE_END:
        return True
    return plain.endswith("。") and any(mark in plain for mark in "，,；;")


def _without_subject(kind: _HeadingKind, line: str) -> str:
    """「第三十三条【答复期限】行政机关……」 → 「第三十三条 行政机关……」 (the subject is in the heading)."""
    number = kind.pattern.match(line)
    subject = _SUBJECT.match(line[number.end():])
    if not subject:
        return line
    return f"{line[:number.end()].rstrip()} {line[number.end() + subject.end():]}"


def _windows(sentences: list[str]) -> list[str]:
    """Pack sentences into pieces of at most MAX_CHARS, overlapping by one sentence."""
    pieces, current = [], []
    for sentence in sentences:
        while len(sentence) > MAX_CHARS:  # a single run-on "sentence" (lists joined by commas)
            if current:
                pieces.append("".join(current))
                current = []
            pieces.append(sentence[:MAX_CHARS])
            sentence = sentence[MAX_CHARS - 60:]
        if current and len("".join(current)) + len(sentence) > MAX_CHARS:
            pieces.append("".join(current))
            current = [current[-1]] if len(current[-1]) + len(sentence) <= MAX_CHARS else []
        current.append(sentence)
    if current:
        pieces.append("".join(current))
    return pieces


def split_document(doc: Document) -> list[Passage]:
    path: dict[int, tuple[str, str | None]] = {}  # level -> (label, locator)
    groups: list[tuple[str, str, list[str]]] = []  # (section, locator, paragraphs)

    def add_paragraph(paragraph: str) -> None:
        section = " / ".join(path[k][0] for k in sorted(path))
        locator = next((path[k][1] for k in sorted(path, reverse=True) if path[k][1]), "")
        if groups and groups[-1][0] == section:
            groups[-1][2].append(paragraph)
        else:
            groups.append((section, locator, [paragraph]))

    for line, is_row in _lines(doc.body):
        found = None if is_row else _heading(line)
        if found:
            kind, label = found
            for deeper in [k for k in path if k >= kind.level]:
                del path[deeper]
            numeral = next(g for g in kind.pattern.match(line).groups() if g)
            path[kind.level] = (label, kind.locator.format(n=numeral) if kind.locator else None)
            if kind.titled and len(line) <= len(label) + 2:  # a heading line with no text of its own
                continue
            if not kind.titled:
                line = _without_subject(kind, line)
        add_paragraph(line)

    metadata = metadata_text(doc)
    if metadata:
        groups.append((METADATA_SECTION, "", [metadata]))
    passages: list[Passage] = []
    for section, locator, paragraphs in groups:
        for text in _pack(paragraphs):
            passages.append(
                Passage(
                    doc_id=doc.id,
                    title=doc.title,
                    issuer=doc.issuer,
                    date=doc.date,
                    doc_number=doc.doc_number,
                    section=section,
                    locator=locator,
                    text=text,
                    ordinal=len(passages),
                    keywords=doc.keywords,
                )
            )
    return passages


def _lines(body: str) -> list[tuple[str, bool]]:
    """(line, is a table row) for each non-empty line; a Markdown table's rows become
    「列名：值；列名：值」 lines (table_row_text) and are never read as headings."""
    raw = [_MARKDOWN_HEADING.sub("", line.strip()) for line in body.splitlines()]
    raw = [line for line in raw if line]
    out: list[tuple[str, bool]] = []
    i = 0
    while i < len(raw):
        if _TABLE_ROW.match(raw[i]) and i + 1 < len(raw) and _TABLE_RULE.match(raw[i + 1].replace(" ", "")):
            header = _cells(raw[i])
            i += 2
            while i < len(raw) and _TABLE_ROW.match(raw[i]):
                text = table_row_text(header, _cells(raw[i]))
                if text:
                    out.append((text, True))
                i += 1
            continue
        out.append((raw[i], False))
        i += 1
    return out


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def table_row_text(header: list[str], cells: list[str]) -> str:
    """One row with its column names: 「项目：收取信息处理费；本年情况：0元」. Columns without a name
    hold the row's labels and lead it: 「一、本年新收政府信息公开申请数量——自然人：61；……；总计：87」."""
    header = header + [""] * (len(cells) - len(header))
    lead = [cell for name, cell in zip(header, cells) if not name and cell]
    pairs = [
        (name, cell)
        for name, cell in zip(header, cells)
        if name and cell and not (name in _SERIAL_HEADERS and cell.isdigit())
    ]
    text = "；".join(f"{name}：{cell}" for name, cell in pairs)
    return "——".join(part for part in (" ".join(lead), text) if part)


def is_table_row(line: str) -> bool:
    """A line table_row_text wrote (「名称：值」 pairs split by 「；」, no full stop): answers quote it
    whole, never one of its cells."""
    segments = line.strip().split("；")
    return len(segments) > 1 and "。" not in line and all("：" in segment for segment in segments)


def metadata_text(doc: Document) -> str:
    """The document's 文号, issuers, 索引号 and dates as lines of text, for questions about them
    (「这个通知的文号是多少」「哪天发布的」); "" for a document that states none of them."""
    published = str(doc.extra.get("published", "")) if doc.extra else ""
    signers, signed = signature_of(doc.body)
    if not (doc.date or doc.index_no or published or signed):
        return ""  # catalogue entries and FAQ answers: no document metadata
    lines = [f"发布机构：{'、'.join(signers) if len(signers) > 1 else doc.issuer}"]
    if doc.doc_number:
        lines.append(f"文号：{doc.doc_number}")
    if doc.index_no:
        lines.append(f"索引号：{doc.index_no}")
    if signed and (not doc.date or _iso_date(signed) == doc.date):
        lines.append(f"成文日期：{signed}")  # as the document writes it: 「2026年3月2日」
    elif doc.date:
        lines.append(f"{'成文日期' if published else '日期'}：{doc.date}")
    if published:
        lines.append(f"发布日期：{published}")
    return "\n".join(lines)


_DATE_LINE = re.compile(r"^\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日$")
_SIGNER = re.compile(r"^[\u4e00-\u9fff（）()]{2,30}(?:局|委|委员会|厅|部|署|政府|办公室|办|中心|院|会|所|站|处|科|公司)$")


def _iso_date(text: str) -> str:
    numbers = re.findall(r"\d+", text)
    return f"{numbers[0]}-{int(numbers[1]):02d}-{int(numbers[2]):02d}" if len(numbers) >= 3 else ""


def signature_of(text: str) -> tuple[list[str], str]:
    """(the bodies that sign, the date as written) from a document's last lines (落款): 「示例市商务局
    示例市财政局」 then 「2026年3月2日」; a 「（此件主动公开）」 after them is skipped."""
    tail = [line.strip() for line in text.splitlines() if line.strip()][-8:]
    for i in range(len(tail) - 1, -1, -1):
        if not _DATE_LINE.match(tail[i]):
            continue
        signers: list[str] = []
        for line in reversed(tail[max(0, i - 2):i]):
            names = [name for name in re.split(r"[\s\u3000]+", line) if name]
            if not names or not all(_SIGNER.match(name) for name in names):
                break
            signers = names + signers
        return signers, re.sub(r"\s+", "", tail[i])
    return [], ""


def _pack(paragraphs: list[str]) -> list[str]:
    """Merge short paragraphs of one section; split long ones by sentences."""
    out, current = [], ""
    for paragraph in paragraphs:
        if len(paragraph) > MAX_CHARS:
            if current:
                out.append(current)
                current = ""
            out.extend(_windows(split_sentences(paragraph)))
        elif current and len(current) + len(paragraph) + 1 > MAX_CHARS:
            out.append(current)
            current = paragraph
        else:
            current = f"{current}\n{paragraph}" if current else paragraph
    if current:
        out.append(current)
    return out
