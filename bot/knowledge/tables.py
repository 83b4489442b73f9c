"""Tables as agencies publish them, turned into rows a citizen's question can find and an answer can quote.

A statistics table in an annual report has merged cells: a header over groups of columns
(「法人或其他组织」 over 商业企业, 科研机构 …), row labels spanning many rows (「三、本年度办理结果」),
captions across the whole width (「第二十条第（一）项」) that start a sub-table. Flattened to text, the
numbers lose their meaning. Here a table from HTML, DOCX or PDF is laid out on its grid (spans
repeated), its header rows and row-label columns are found, and it is written as a plain Markdown
table whose every column carries its full name, one line per row; the chunker then turns each row
into 「列名：值；列名：值」 (bot.knowledge.chunking.table_row_text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A grid position: (id of the cell that covers it, the cell's text, whether it was marked a header).
Slot = tuple[int, str, bool]
MAX_SPAN = 100  # malformed pages say colspan="1000"
# Joins the names of nested header cells: 「法人或其他组织·商业企业」.
NAME_JOINER = "·"
_NUMBER = re.compile(r"^[-+]?\d[\d,，.]*\s*(?:%|％|件|个|条|次|元|万元|亿元|人次|家|项|份|篇|场)?$")
_CJK = "\u4e00-\u9fff\u3000-\u303f\uff00-\uffef"


@dataclass(frozen=True)
class Cell:
    text: str
    rowspan: int = 1
    colspan: int = 1
    header: bool = False  # <th>, or a row of <thead>


def clean(text: str | None) -> str:
    """One line of cell text: a line broken inside Chinese text is joined without a space."""
    lines = [line.strip() for line in (text or "").replace("\xa0", " ").replace("\u3000", " ").splitlines()]
    out = ""
    for line in filter(None, lines):
        if out and not (re.match(rf"[{_CJK}]", out[-1]) or re.match(rf"[{_CJK}]", line[0])):
            out += " "
        out += line
    return re.sub(r"[ \t]+", " ", out).replace("|", "｜").strip()


def layout(rows: list[list[Cell]]) -> list[list[Slot]]:
    """The cells on their grid: a merged cell fills every position it covers."""
    taken: dict[tuple[int, int], Slot] = {}
    origin = 0
    for r, cells in enumerate(rows):
        c = 0
        for cell in cells:
            while (r, c) in taken:
                c += 1
            rowspan = max(1, min(cell.rowspan, MAX_SPAN, len(rows) - r))
            colspan = max(1, min(cell.colspan, MAX_SPAN))
            for dr in range(rowspan):
                for dc in range(colspan):
                    taken[(r + dr, c + dc)] = (origin, clean(cell.text), cell.header)
            origin += 1
            c += colspan
    if not taken:
        return []
    height = len(rows)
    width = max(c for _, c in taken) + 1
    grid = []
    for r in range(height):
        row = []
        for c in range(width):
            if (r, c) not in taken:
                taken[(r, c)] = (origin, "", False)
                origin += 1
            row.append(taken[(r, c)])
        grid.append(row)
    return tidy(grid)


def tidy(grid: list[list[Slot]]) -> list[list[Slot]]:
    """Rows padded to one width, without rows or columns that hold no text (layout, not data)."""
    if not grid:
        return []
    width = max(len(row) for row in grid)
    filler = -1
    padded = []
    for row in grid:
        row = list(row)
        while len(row) < width:
            row.append((filler, "", False))
            filler -= 1
        padded.append(row)
    padded = [row for row in padded if any(text for _, text, _ in row)]
    keep = [c for c in range(width) if any(row[c][1] for row in padded)]
    return [[row[c] for c in keep] for row in padded]


def is_number(text: str) -> bool:
    return bool(_NUMBER.match(text.strip()))


def to_markdown(grid: list[list[Slot]]) -> list[str]:
    """Lines of Markdown: a caption line for each full-width title row, then a table per block."""
    if not grid:
        return []
    width = len(grid[0])
    if width == 1 or len(grid) == 1:  # a list or a single line laid out as a table
        return [" ".join(_distinct(row)) for row in grid]
    lines: list[str] = []
    block: list[list[Slot]] = []
    for row in grid:
        if len({origin for origin, _, _ in row}) == 1:  # one cell across the whole width
            lines += _block(block)
            block = []
            lines.append(row[0][1])
        else:
            block.append(row)
    return lines + _block(block)


def _distinct(row: list[Slot]) -> list[str]:
    seen, out = set(), []
    for origin, text, _ in row:
        if text and origin not in seen:
            seen.add(origin)
            out.append(text)
    return out


def _header_rows(block: list[list[Slot]]) -> int:
    marked = 0
    while marked < len(block) - 1 and all(header for _, _, header in block[marked]):
        marked += 1
    if marked:
        return marked
    count = 1
    while count < len(block) - 1:
        above = {origin for row in block[:count] for origin, _, _ in row}
        below = block[count]
        if any(is_number(text) for _, text, _ in below):
            break  # figures: the data has started
        crossing = any(origin in above for origin, _, _ in below)  # a header cell spans down into it
        split = _splits_a_group(block[count - 1], below)
        if not (crossing or split):
            break
        count += 1
    return count


def _splits_a_group(upper: list[Slot], lower: list[Slot]) -> bool:
    """True when a cell spanning several columns has several cells under it (a group header)."""
    columns: dict[int, list[int]] = {}
    for c, (origin, _, _) in enumerate(upper):
        columns.setdefault(origin, []).append(c)
    return any(len(cs) > 1 and len({lower[c][0] for c in cs}) > 1 for cs in columns.values())


def _block(block: list[list[Slot]]) -> list[str]:
    if not block:
        return []
    if len(block) == 1:
        return [" ".join(_distinct(block[0]))]
    width = len(block[0])
    h = _header_rows(block)
    header, data = block[:h], block[h:]
    # Row-label columns: those under a top-left cell that fills every header row (a corner cell),
    # or a first column with no header at all.
    corner = header[0][0][0]
    labels = 0
    if all(row[0][0] == corner for row in header):
        span = sum(1 for c in range(width) if header[0][c][0] == corner)
        labels = span if span > 1 or not header[0][0][1] else 0
    lines: list[str] = []
    if labels and header[0][0][1] and len(header[0][0][1]) > 12:
        lines.append(header[0][0][1])  # a note in the corner (「本列数据的勾稽关系为……」)
    names = [_column_name(header, c, labels, width) for c in range(labels, width)]
    columns = list(range(labels, width))
    # A value spanning several columns under one header (「236」 under 「本年处理决定数量」) is one column.
    kept = [
        i for i, c in enumerate(columns)
        if i == 0 or names[i] != names[i - 1] or any(row[c][0] != row[columns[i - 1]][0] for row in block)
    ]
    names = [names[i] for i in kept]
    columns = [columns[i] for i in kept]
    head = ([""] if labels else []) + names
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + " --- |" * len(head))
    for row in data:
        cells = [row[c][1] for c in columns]
        if not any(cells):
            continue
        lead = [" ".join(_distinct(row[:labels]))] if labels else []
        lines.append("| " + " | ".join(lead + cells) + " |")
    return lines


def _column_name(header: list[list[Slot]], c: int, labels: int, width: int) -> str:
    names: list[str] = []
    seen: set[int] = set()
    for row in header:
        origin, text, _ = row[c]
        if not text or origin in seen:
            continue
        seen.add(origin)
        spans_all = all(row[j][0] == origin for j in range(labels, width))
        if spans_all and len(header) > 1 and width - labels > 1:
            continue  # 「申请人情况」 over every column says nothing about one of them
        names.append(text.rstrip("：:"))
    return NAME_JOINER.join(dict.fromkeys(names))


# --- header blocks laid out as tables (索引号 | … | 发布机构 | …) ---

def key_value_lines(grid: list[list[Slot]], keys: re.Pattern) -> list[str] | None:
    """「索引号：…」 lines when the table is a page's header block (cells alternate key and value)."""
    texts = [_distinct(row) for row in grid]
    if sum(bool(keys.fullmatch(_key(t))) for row in texts for t in row) < 2:
        return None
    lines = []
    for row in texts:
        i = 0
        while i < len(row):
            key = _key(row[i])
            if not keys.fullmatch(key):
                lines.append(row[i])
                i += 1
                continue
            value = row[i + 1] if i + 1 < len(row) and not keys.fullmatch(_key(row[i + 1])) else ""
            lines.append(f"{key}：{value}")
            i += 2 if value else 1
    return lines


def _key(text: str) -> str:
    return re.sub(r"\s+", "", text).rstrip("：:")
