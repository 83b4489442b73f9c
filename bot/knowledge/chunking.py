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
CHUNKER_VERSION = "6"

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
    _HeadingKind(2, re.compile(rf"^第([{_NUM}]{{1,5}})条\s*"), "第{n}条", "第{n}条", titled=False),
    _HeadingKind(2, re.compile(rf"^[（(]\s*([{_NUM}]{{1,3}})\s*[)）]\s*"), "（{n}）", None),
    _HeadingKind(3, re.compile(r"^(?:(\d{1,2})\s*[.．、](?!\d)|[（(](\d{1,2})[)）])\s*"), "{n}. ", None),
)
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

    @property
    def passage_id(self) -> str:
        return f"{self.doc_id}#{self.ordinal}"

    def embedding_text(self) -> str:
        """Title and headings travel with the text: questions often name the document or topic."""
        return "\n".join(x for x in (self.title, self.section, self.text) if x)

    def keyword_text(self) -> str:
        """What keyword search matches: the embedded text plus the document's other names and the
        passage's common phrasings (their everyday words: 「晒」「告」「多久」)."""
        return "\n".join(x for x in (self.embedding_text(), self.keywords, *self.questions) if x)

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
        head = _TRAILING_NOTE.sub("", rest.split("。", 1)[0]).strip()
        if kind.level == 3 and len(head) > _LIST_ITEM_MAX:
            return None  # "1.文件起草人完成文件起草,需在…" is a list item, not a heading
        if not head or len(head) > _HEADING_MAX:
            head = rest[:20].rstrip("，,、") + "…" if len(rest) > 20 else rest
        return kind, (label + head.strip()).strip()
    return None


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

    for raw in doc.body.splitlines():
        line = raw.strip()
        if not line:
            continue
        found = _heading(line)
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
