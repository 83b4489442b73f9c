"""Turn files staff have at hand (Markdown, text, saved web pages, DOCX, PDF) into knowledge documents.

Government sites put a header block above the text (索引号, 发布文号, 发文日期 …); it becomes
metadata so citations show the 文号 and date. Web pages lose their navigation and footer, but a
footer's contact lines (电话, 地址 …) are kept because people ask for them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import frontmatter

from bot.knowledge.chunking import signature_of
from bot.knowledge.documents import Document, DocumentError, load_document
from bot.knowledge.tables import Cell, clean, key_value_lines, layout, tidy, to_markdown

SUPPORTED = (".md", ".markdown", ".txt", ".html", ".htm", ".docx", ".pdf")

_HEADER_FIELDS = {
    "index_no": ("索引号",),
    "doc_number": ("发布文号", "文号", "发文字号"),
    "issuer": ("发布单位", "发布机构", "发文机关", "发文单位", "信息来源"),
    "title": ("信息名称", "标题"),
    "date": ("发文日期", "成文日期", "生成日期", "生效日期"),
    # When the page was published; the document's date when it states no other (see to_document).
    "published": ("发布日期",),
}
# Sites space out short keys ("索 引 号", "文  号"), so any key may have spaces between its characters.
_KEY_PATTERN = "|".join(
    r"\s*".join(key) for key in sorted({k for keys in _HEADER_FIELDS.values() for k in keys}, key=len, reverse=True)
)
# A header value runs until the next header key, a table bar or the end of the line.
_VALUE = re.compile(
    rf"(?P<key>{_KEY_PATTERN})\s*[:：|(（]\s*(?P<value>.*?)\s*(?=[|)）]|\s(?:\S{{0,4}}\s?)*?(?:{_KEY_PATTERN})\s*[:：|(（]|$)"
)
_DATE = re.compile(r"(\d{4})\s*[-年/.]\s*(\d{1,2})\s*[-月/.]\s*(\d{1,2})")
_EMPTY_VALUES = {"", "无", "暂无", "-", "—"}
# Other rows of a header block that carry no metadata we keep ("有效性状态 | 废止日期 | 暂无").
_OTHER_KEYS = (
    "关键词", "主题词", "内容分类", "主题分类", "公文目录", "有效期", "有效性状态", "废止日期", "信息格式", "语种",
    "著录日期", "内容概述", "在线链接地址", "属性", "专业属性", "备注", "公开方式", "公开范围", "公开时限", "体裁分类",
    "名称", "有效性",
)
_KEY_VALUE_LINE = re.compile(r"^(?:" + "|".join(r"\s*".join(k) for k in _OTHER_KEYS) + r")\s*[:：|]")
_BREADCRUMB = re.compile(r"(?:>>|»|＞＞|当前位置)")
_TITLE_LINE = re.compile(r"^(?!根据|依据|按照)[^:：，。,]{6,50}(?:方案|通知|要点|总结|办法|意见|指南|报告|决定|规定|细则|公告|通报|批复|规划|计划|公示|问答|解读|清单|名单|公报)$")
_CONTACT = re.compile(r"电话|地址|邮编|传真|邮箱|信箱|E-?mail|办公时间|工作时间", re.I)
_NAVIGATION_HINT = re.compile(
    r"nav|menu|breadcrumb|crumb|position|share|header|top|sidebar|footer|copyright|foot|related|tools", re.I
)
# Cells of a page's header block (索引号 | … | 发布机构 | …), written as 「键：值」 lines rather than a table.
_META_CELL = re.compile(
    "|".join(sorted({k for keys in _HEADER_FIELDS.values() for k in keys} | set(_OTHER_KEYS) | {"名称", "有效性"}, key=len, reverse=True))
)
# Elements that start a new line of text; everything else (a, span, strong …) flows within the line.
_BLOCK_TAGS = (
    "p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
    "section", "article", "header", "footer", "nav", "aside", "blockquote", "pre", "hr", "center", "form",
)
# 「示商务发〔2026〕8号」, 「示例市商务局公告2026年第3号」: a 文号 on a line of its own near the top.
_DOC_NUMBER_LINE = re.compile(
    r"^[\u4e00-\u9fff]{1,20}\s*(?:[〔\[［【(（]\s*\d{4}\s*[〕\]］】)）]\s*\d{1,5}|\d{4}\s*年\s*第\s*\d{1,5})\s*号$"
)
_LETTERHEAD = re.compile(r"^[\u4e00-\u9fff\s]{2,40}文件$")


@dataclass(frozen=True)
class Extracted:
    text: str
    title: str = ""


def extract(path: Path) -> Extracted:
    suffix = path.suffix.lower()
    try:
        if suffix in (".txt", ".md", ".markdown"):
            return Extracted(_read_text(path))
        if suffix in (".html", ".htm"):
            return _extract_html(_read_text(path))
        if suffix == ".docx":
            return _extract_docx(path)
        if suffix == ".pdf":
            return _extract_pdf(path)
    except DocumentError:
        raise
    except Exception as exc:  # a damaged or encrypted file: say which and why
        raise DocumentError(f"无法读取 {path}：{type(exc).__name__}: {exc}") from exc
    raise DocumentError(f"不支持的文件类型 {path.suffix or '（无扩展名）'}：{path}。支持 {'、'.join(SUPPORTED)}")


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DocumentError(f"无法识别 {path} 的文字编码（支持 UTF-8 和 GB18030/GBK）")


def _extract_html(html: str) -> Extracted:
    from bs4 import BeautifulSoup, NavigableString

    soup = BeautifulSoup(html, "lxml")
    title = _html_title(soup)
    for tag in soup(["script", "style", "noscript", "iframe", "form", "button", "select"]):
        tag.decompose()
    # Tables first (innermost ones: an outer table is page layout), each replaced by its lines.
    for table in reversed(soup.find_all("table")):
        if table.find("table") is None:
            table.replace_with(NavigableString("\n" + "\n".join(_html_table(table)) + "\n"))
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before(NavigableString("\n"))
        tag.insert_after(NavigableString("\n"))
    contacts: list[str] = []
    for tag in soup.find_all(["nav", "header", "footer", "aside"]) + [
        t for t in soup.find_all(True) if _NAVIGATION_HINT.search(" ".join([*t.get("class", []), t.get("id", "")]))
    ]:
        if tag.decomposed:
            continue
        if tag.name == "footer" or re.search("foot|copyright", " ".join([*tag.get("class", []), tag.get("id", "")]), re.I):
            contacts += [line for line in _lines(tag.get_text("")) if _CONTACT.search(line)]
        tag.decompose()
    body = soup.body or soup
    lines = _lines(body.get_text(""))
    if contacts:
        lines += ["", "联系方式"] + list(dict.fromkeys(contacts))
    return Extracted("\n".join(lines), title)


def _html_title(soup) -> str:
    """The article's title: the page's ArticleTitle, an <h1> that is not the site's name, or <title>."""
    meta = soup.find("meta", attrs={"name": re.compile(r"^(?:ArticleTitle|title)$", re.I)})
    if meta and meta.get("content", "").strip():
        return meta["content"].strip()
    for h1 in soup.find_all("h1"):
        in_chrome = any(
            _NAVIGATION_HINT.search(" ".join([*parent.get("class", []), parent.get("id", "")])) or parent.name in ("header", "nav")
            for parent in [h1, *h1.parents]
            if getattr(parent, "get", None)
        )
        if not in_chrome and h1.get_text(strip=True):
            return h1.get_text(strip=True)
    page_title = soup.title.get_text(strip=True) if soup.title else ""
    # 「《……》政策问答_示例市商务局」: the site's name follows a separator
    parts = [part.strip() for part in re.split(r"[_|｜]|\s[-—]\s", page_title) if part.strip()]
    return max(parts, key=len) if parts else ""


def _html_table(table) -> list[str]:
    rows = []
    for tr in table.find_all("tr"):
        in_head = tr.find_parent("thead") is not None
        rows.append(
            [
                Cell(cell.get_text("\n"), _span(cell.get("rowspan")), _span(cell.get("colspan")), cell.name == "th" or in_head)
                for cell in tr.find_all(["td", "th"], recursive=False)
            ]
        )
    return _table_lines(layout(rows))


def _span(value) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return 1


def _table_lines(grid) -> list[str]:
    """A header block as 「索引号：…」 lines; any other table as a Markdown table (bot.knowledge.tables)."""
    lines = key_value_lines(grid, _META_CELL)
    if lines is not None:
        return lines
    return ["", *to_markdown(grid), ""] if grid else []


def _extract_docx(path: Path) -> Extracted:
    import docx
    from docx.table import Table

    document = docx.Document(str(path))
    lines: list[str] = []
    title = document.core_properties.title or ""
    for block in document.iter_inner_content():  # paragraphs and tables in reading order
        if isinstance(block, Table):
            lines += _table_lines(_docx_grid(block))
        else:
            lines.append(block.text)
            if not title and block.style is not None and block.style.name in ("Title", "标题"):
                title = block.text.strip()
    return Extracted("\n".join(lines), title)


def _docx_grid(table) -> list:
    """A Word table on its grid: merged cells (gridSpan, vMerge) fill every position they cover."""
    from docx.table import _Cell

    grid: list[list] = []
    origin = 0
    for r, tr in enumerate(table._tbl.tr_lst):
        row: list = []
        for tc in tr.tc_lst:
            span = max(1, tc.grid_span)
            c = len(row)
            if tc.vMerge == "continue" and grid and c < len(grid[-1]):
                slot = grid[-1][c]
            else:
                text = clean("\n".join(p.text for p in _Cell(tc, table).paragraphs))
                slot = (origin, text, False)
                origin += 1
            row.extend([slot] * span)
        grid.append(row)
    return tidy(grid)


def _extract_pdf(path: Path) -> Extracted:
    import pdfplumber
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    if reader.is_encrypted:
        raise DocumentError(f"{path} 已加密，无法读取正文")
    title = str((reader.metadata.title if reader.metadata else None) or "")  # pypdf's string type YAML cannot write
    with pdfplumber.open(str(path)) as pdf:
        items = [item for page in pdf.pages for item in _pdf_page_items(page)]
    text = "\n".join(_pdf_paragraphs(items))
    if not text.strip():
        raise DocumentError(f"{path} 中没有可提取的文字（可能是扫描件，需要先做文字识别）")
    return Extracted(text, title)


# A line that starts a numbered part, an article or a question: never the tail of the line above.
_STARTS_PART = re.compile(
    r"^(?:第[一二三四五六七八九十百零]+[章条部分]|[一二三四五六七八九十]+[、.．]|[（(][一二三四五六七八九十\d]+[)）]"
    r"|\d{1,2}[.．、](?!\d)|问[一二三四五六七八九十\d]+[：:、])"
)


def _pdf_page_items(page) -> list:
    """The page's lines of text (with their ends and the page's margins) and its ruled tables (as
    Markdown lines), top to bottom."""
    tables = page.find_tables()
    boxes = [table.bbox for table in tables]

    def outside_tables(obj) -> bool:
        if obj.get("object_type") != "char":
            return True
        x, y = (obj["x0"] + obj["x1"]) / 2, (obj["top"] + obj["bottom"]) / 2
        return not any(x0 <= x <= x1 and top <= y <= bottom for x0, top, x1, bottom in boxes)

    lines = [
        line
        for line in page.filter(outside_tables).extract_text_lines(return_chars=True)
        if line["text"].strip() and not re.fullmatch(r"[-—\s]*\d{1,4}[-—\s]*", line["text"])  # page numbers
    ]
    items: list[tuple[float, object]] = [(table.bbox[1], _table_lines(_pdf_grid(table))) for table in tables]
    if lines:
        left, right = min(line["x0"] for line in lines), max(line["x1"] for line in lines)
        widths = sorted(c["x1"] - c["x0"] for line in lines for c in line["chars"] if c["text"].strip())
        char = widths[len(widths) // 2] if widths else 10.0
        items += [(line["top"], (line["text"].strip(), line["x0"], line["x1"], left, right, char)) for line in lines]
    return [item for _, item in sorted(items, key=lambda pair: pair[0])]


def _pdf_paragraphs(items: list) -> list[str]:
    """Lines broken at the right margin joined back into paragraphs, also across a page break.

    A line continues the one above when that one reaches the margin and it is neither indented
    (a new paragraph), nor a numbered heading, nor set apart (centred or right-aligned, like the
    signature); a long word (an e-mail address) that did not fit breaks its line early.
    """
    out: list[str] = []
    previous = None
    for item in items:
        if isinstance(item, list):  # a table
            out += item
            previous = None
            continue
        if previous is not None and _continues(previous, item):
            out[-1] += item[0]
        else:
            out.append(item[0])
        previous = item
    return out


def _continues(above: tuple, line: tuple) -> bool:
    text, x0, _, left, _, char = line
    _, above_x0, above_x1, _, right, _ = above
    if x0 > left + 0.5 * char or above_x0 > left + 3 * char or _STARTS_PART.match(text):
        return False
    room = right - above_x1
    word = re.match(r"[A-Za-z0-9@._:/%-]+", text)
    return room < 1.5 * char or (word is not None and room < len(word.group()) * 0.6 * char)


def _pdf_grid(table) -> list:
    """A ruled PDF table on its grid, merged cells found from their boxes."""
    xs = sorted({round(v, 1) for cell in table.cells for v in (cell[0], cell[2])})
    ys = sorted({round(v, 1) for cell in table.cells for v in (cell[1], cell[3])})
    texts = table.extract()
    rows: list[list[Cell]] = []
    for r, row in enumerate(table.rows):
        cells = []
        for i, box in enumerate(row.cells):
            if box is None:
                continue  # covered by a merged cell
            colspan = sum(1 for a, b in zip(xs, xs[1:]) if box[0] - 0.5 <= a and b <= box[2] + 0.5)
            rowspan = sum(1 for a, b in zip(ys, ys[1:]) if box[1] - 0.5 <= a and b <= box[3] + 0.5)
            cells.append(Cell(texts[r][i] if r < len(texts) and i < len(texts[r]) else "", rowspan, colspan))
        rows.append(cells)
    return layout(rows)


def _lines(text: str) -> list[str]:
    return [re.sub(r"[ \t\u3000\xa0]+", " ", line).strip() for line in text.splitlines() if line.strip()]


def parse_header(text: str, scan_lines: int = 15) -> tuple[dict, str]:
    """Metadata from a government site's header block, and the text without that block."""
    lines = text.splitlines()
    meta: dict[str, str] = {}
    header_lines = set()
    for number, line in enumerate(lines[:scan_lines]):
        flat = re.sub(r"\s+", " ", line.replace("|", " | "))
        if _BREADCRUMB.search(flat) or (_is_table_rule(line) and number - 1 in header_lines):
            header_lines.add(number)  # the rule under a header block laid out as a table
            continue
        hits = list(_VALUE.finditer(flat))
        if hits or _KEY_VALUE_LINE.match(flat):
            header_lines.add(number)
        for match in hits:
            key = re.sub(r"\s+", "", match["key"])
            field = next(f for f, keys in _HEADER_FIELDS.items() if key in keys)
            value = match["value"].strip(" |:：")
            if re.fullmatch(rf"(?:{_KEY_PATTERN})\s*[:：]?", value):
                value = ""  # an empty field followed by the next key
            if field in ("date", "published"):
                date = _DATE.search(value)
                value = f"{date[1]}-{int(date[2]):02d}-{int(date[3]):02d}" if date else ""
            if field == "issuer":
                value = value.split()[0] if value.split() else ""  # "商务部 商务部" in table layouts
            if value not in _EMPTY_VALUES and field not in meta:
                meta[field] = value
    body = "\n".join(line for i, line in enumerate(lines) if i not in header_lines)
    title = next((line.strip() for line in body.splitlines()[:30] if _TITLE_LINE.match(line.strip())), "")
    if title:
        meta["title_line"] = title  # a guess: the file's own title (PDF, DOCX, web page) comes first
    return meta, body.strip()


def _is_table_rule(line: str) -> bool:
    return bool(re.fullmatch(r"[\s|:\-—]+", line)) and "-" in line


def _document_id(path: Path, title: str) -> str:
    stem = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")
    if len(stem) >= 3 and not stem.isdigit():
        return stem
    return "doc-" + hashlib.sha1(title.encode("utf-8")).hexdigest()[:10]


def to_document(path: Path, issuer: str | None = None, title: str | None = None, doc_id: str | None = None) -> Document:
    """Read one file into a Document, with metadata from options, front matter, header block, the
    文号 line under a letterhead and the signature (落款) at the end."""
    path = Path(path)
    if not path.is_file():
        raise DocumentError(f"文件不存在：{path}")
    extracted = extract(path)
    if path.suffix.lower() in (".md", ".markdown") and extracted.text.lstrip().startswith("---"):
        post = frontmatter.loads(extracted.text)
        meta, body = {k: str(v) for k, v in post.metadata.items() if v is not None}, post.content
    else:
        meta, body = parse_header(extracted.text)
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    lines = _take_doc_number(lines, meta)
    signers, signed = signature_of("\n".join(lines))
    if signed and "date" not in meta:
        date = _DATE.search(signed)
        meta["date"] = f"{date[1]}-{int(date[2]):02d}-{int(date[3]):02d}"
    markdown_title = lines[0].lstrip("#").strip() if lines and re.match(r"#\s", lines[0]) else ""
    first_line = markdown_title or (lines[0] if lines and len(lines[0]) <= 60 else "")
    # A web page names its article reliably (ArticleTitle, <h1>); a PDF's or DOCX's stored title is
    # often a template's or a draft's, so the title line of the text itself comes first there.
    web_page = path.suffix.lower() in (".html", ".htm")
    resolved_title = (
        title
        or meta.get("title")
        or markdown_title
        or (extracted.title if web_page else "")
        or meta.get("title_line")
        or extracted.title
        or first_line
    )
    if not resolved_title:
        raise DocumentError(f"{path} 没有可识别的标题，请用 --title 指定")
    resolved_issuer = issuer or meta.get("issuer") or (signers[0] if signers else "")
    if not resolved_issuer:
        raise DocumentError(f"{path} 没有可识别的发布机关，请用 --issuer 指定")
    # The title line repeats the title (under a letterhead or the 文号 line, or as a Markdown heading).
    squashed = re.sub(r"\s+", "", resolved_title)
    lines = [line for i, line in enumerate(lines) if not (i < 5 and re.sub(r"[\s#]+", "", line) == squashed)]
    if not lines:
        raise DocumentError(f"{path} 没有正文")
    date = meta.get("date") or meta.get("published", "")
    extra = {"published": meta["published"]} if meta.get("published") and meta["published"] != date else {}
    return Document(
        id=doc_id or meta.get("id") or _document_id(path, resolved_title),
        title=resolved_title,
        issuer=resolved_issuer,
        body=_join(lines),
        date=date,
        doc_number=meta.get("doc_number", ""),
        index_no=meta.get("index_no", ""),
        source=meta.get("source") or f"导入自 {path.name}",
        extra=extra,
    )


def _join(lines: list[str]) -> str:
    """Paragraphs apart by a blank line; the rows of a Markdown table stay together."""
    out = lines[:1]
    for previous, line in zip(lines, lines[1:]):
        out.append(("\n" if previous.startswith("|") and line.startswith("|") else "\n\n") + line)
    return "".join(out)


def _take_doc_number(lines: list[str], meta: dict) -> list[str]:
    """Without the letterhead (「示例市商务局文件」) and the 文号 line under it, which becomes metadata."""
    out = []
    for i, line in enumerate(lines):
        if i < 6 and _LETTERHEAD.match(line):
            continue
        if i < 6 and _DOC_NUMBER_LINE.match(line) and not meta.get("doc_number"):
            meta["doc_number"] = re.sub(r"\s+", "", line)
            continue
        out.append(line)
    return out


def write_document(document: Document, documents_dir: Path) -> Path:
    """Save as Markdown with front matter; the result is read back to prove it loads."""
    documents_dir.mkdir(parents=True, exist_ok=True)
    target = documents_dir / f"{document.id}.md"
    fields = {k: getattr(document, k) for k in ("id", "title", "issuer", "date", "doc_number", "index_no", "source")}
    fields |= {k: v for k, v in document.extra.items() if k not in fields}
    post = frontmatter.Post(document.body, **{k: v for k, v in fields.items() if v})
    tmp = target.with_suffix(".md.tmp")
    tmp.write_text(frontmatter.dumps(post, sort_keys=False) + "\n", encoding="utf-8")
    load_document(tmp)  # never leave a file the index cannot read
    tmp.replace(target)
    return target
