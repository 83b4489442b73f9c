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
CHUNKER_VERSION = "2"

_NUM = "一二三四五六七八九十"
_LEVELS = (
    (1, re.compile(rf"^(?:第([{_NUM}]{{1,3}})(?:部分|章)|([{_NUM}]{{1,3}})\s*[、.．])\s*")),
    (2, re.compile(rf"^[（(]\s*([{_NUM}]{{1,3}})\s*[)）]\s*")),
    (3, re.compile(r"^(?:(\d{1,2})\s*[.．、](?!\d)|[（(](\d{1,2})[)）])\s*")),
)
_HEADING_MAX = 40
_LIST_ITEM_MAX = 20
# "(牵头单位:办公厅)" after a heading names who leads the task; it is not part of the heading.
_TRAILING_NOTE = re.compile(r"\s*[（(][^（()）]*[）)]?\s*$")


@dataclass(frozen=True)
class Passage:
    doc_id: str
    title: str
    issuer: str
    date: str
    doc_number: str
    section: str  # heading path, e.g. "五、着力提升… / （二）强化新媒体工作"
    part: str  # top-level part numeral, e.g. "五" (cited as 第五部分)
    text: str
    ordinal: int

    @property
    def passage_id(self) -> str:
        return f"{self.doc_id}#{self.ordinal}"

    def embedding_text(self) -> str:
        """Title and headings travel with the text: questions often name the document or topic."""
        return "\n".join(x for x in (self.title, self.section, self.text) if x)

    def to_dict(self) -> dict:
        return asdict(self)


def _heading(line: str) -> tuple[int, str, str] | None:
    """(level, numeral, heading title) when the line starts a numbered part."""
    for level, pattern in _LEVELS:
        match = pattern.match(line)
        if not match:
            continue
        numeral = next(g for g in match.groups() if g)
        rest = line[match.end():]
        # An inline heading ends at the first full stop: "（二）强化新媒体工作。加强…"
        head = _TRAILING_NOTE.sub("", rest.split("。", 1)[0]).strip()
        if level == 3 and len(head) > _LIST_ITEM_MAX:
            return None  # "1.文件起草人完成文件起草,需在…" is a list item, not a heading
        if not head or len(head) > _HEADING_MAX:
            head = rest[:20].rstrip("，,、") + "…" if len(rest) > 20 else rest
        return level, numeral, _label(level, numeral) + head.strip()
    return None


def _label(level: int, numeral: str) -> str:
    return {1: f"{numeral}、", 2: f"（{numeral}）", 3: f"{numeral}. "}[level]


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
    path: dict[int, str] = {}
    part = ""
    groups: list[tuple[str, str, list[str]]] = []  # (section, part, paragraphs)

    def add_paragraph(paragraph: str) -> None:
        section = " / ".join(path[k] for k in sorted(path))
        if groups and groups[-1][0] == section:
            groups[-1][2].append(paragraph)
        else:
            groups.append((section, part, [paragraph]))

    for raw in doc.body.splitlines():
        line = raw.strip()
        if not line:
            continue
        found = _heading(line)
        if found:
            level, numeral, head = found
            for deeper in [k for k in path if k >= level]:
                del path[deeper]
            path[level] = head
            if level == 1:
                part = numeral
            if len(line) <= len(head) + 2:  # a heading line with no text of its own
                continue
        add_paragraph(line)

    passages: list[Passage] = []
    for section, part_numeral, paragraphs in groups:
        for text in _pack(paragraphs):
            passages.append(
                Passage(
                    doc_id=doc.id,
                    title=doc.title,
                    issuer=doc.issuer,
                    date=doc.date,
                    doc_number=doc.doc_number,
                    section=section,
                    part=part_numeral,
                    text=text,
                    ordinal=len(passages),
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
