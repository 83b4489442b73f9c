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

from bot.knowledge.documents import Document, DocumentError, load_document

SUPPORTED = (".md", ".markdown", ".txt", ".html", ".htm", ".docx", ".pdf")

_HEADER_FIELDS = {
    "index_no": ("索引号",),
    "doc_number": ("发布文号", "文号", "发文字号"),
    "issuer": ("发布单位", "发布机构", "发文机关", "发文单位", "信息来源"),
    "title": ("信息名称", "标题"),
    "date": ("发文日期", "成文日期", "发布日期", "生成日期", "生效日期"),
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
)
_KEY_VALUE_LINE = re.compile(r"^(?:" + "|".join(r"\s*".join(k) for k in _OTHER_KEYS) + r")\s*[:：|]")
_BREADCRUMB = re.compile(r"(?:>>|»|＞＞|当前位置)")
_TITLE_LINE = re.compile(r"^[^:：，。,]{6,50}(?:方案|通知|要点|总结|办法|意见|指南|报告|决定|规定|细则|公告|通报|批复|规划|计划)$")
_CONTACT = re.compile(r"电话|地址|邮编|传真|邮箱|信箱|E-?mail|办公时间|工作时间", re.I)
_NAVIGATION_HINT = re.compile(r"nav|menu|breadcrumb|crumb|share|header|top|sidebar|footer|copyright|foot", re.I)


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
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    title = soup.title.get_text(strip=True) if soup.title else ""
    h1 = soup.find("h1")
    for tag in soup(["script", "style", "noscript", "iframe", "form", "button", "select"]):
        tag.decompose()
    contacts: list[str] = []
    for tag in soup.find_all(["nav", "header", "footer", "aside"]) + [
        t for t in soup.find_all(True) if _NAVIGATION_HINT.search(" ".join([*t.get("class", []), t.get("id", "")]))
    ]:
        if tag.decomposed:
            continue
        if tag.name == "footer" or re.search("foot|copyright", " ".join([*tag.get("class", []), tag.get("id", "")]), re.I):
            contacts += [line for line in _lines(tag.get_text("\n")) if _CONTACT.search(line)]
        tag.decompose()
    body = soup.body or soup
    lines = _lines(body.get_text("\n"))
    if contacts:
        lines += ["", "联系方式"] + list(dict.fromkeys(contacts))
    return Extracted("\n".join(lines), (h1.get_text(strip=True) if h1 else "") or title)


def _extract_docx(path: Path) -> Extracted:
    import docx

    document = docx.Document(str(path))
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    title = document.core_properties.title or ""
    return Extracted("\n".join(lines), title)


def _extract_pdf(path: Path) -> Extracted:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    if reader.is_encrypted:
        raise DocumentError(f"{path} 已加密，无法读取正文")
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    if not text.strip():
        raise DocumentError(f"{path} 中没有可提取的文字（可能是扫描件，需要先做文字识别）")
    title = (reader.metadata.title if reader.metadata else None) or ""
    return Extracted(text, title)


def _lines(text: str) -> list[str]:
    return [re.sub(r"[ \t\u3000\xa0]+", " ", line).strip() for line in text.splitlines() if line.strip()]


def parse_header(text: str, scan_lines: int = 15) -> tuple[dict, str]:
    """Metadata from a government site's header block, and the text without that block."""
    lines = text.splitlines()
    meta: dict[str, str] = {}
    header_lines = set()
    for number, line in enumerate(lines[:scan_lines]):
        flat = re.sub(r"\s+", " ", line.replace("|", " | "))
        if _BREADCRUMB.search(flat) or _is_table_rule(line):
            header_lines.add(number)
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
            if field == "date":
                date = _DATE.search(value)
                value = f"{date[1]}-{int(date[2]):02d}-{int(date[3]):02d}" if date else ""
            if field == "issuer":
                value = value.split()[0] if value.split() else ""  # "商务部 商务部" in table layouts
            if value not in _EMPTY_VALUES and field not in meta:
                meta[field] = value
    body = "\n".join(line for i, line in enumerate(lines) if i not in header_lines)
    if "title" not in meta:
        title = next((line.strip() for line in body.splitlines()[:30] if _TITLE_LINE.match(line.strip())), "")
        if title:
            meta["title"] = title
    return meta, body.strip()


def _is_table_rule(line: str) -> bool:
    return bool(re.fullmatch(r"[\s|:\-—]+", line)) and "-" in line


def _document_id(path: Path, title: str) -> str:
    stem = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")
    if len(stem) >= 3 and not stem.isdigit():
        return stem
    return "doc-" + hashlib.sha1(title.encode("utf-8")).hexdigest()[:10]


def to_document(path: Path, issuer: str | None = None, title: str | None = None, doc_id: str | None = None) -> Document:
    """Read one file into a Document, with metadata from options, front matter and header block."""
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
    first_line = lines[0] if lines and len(lines[0]) <= 60 else ""
    resolved_title = title or meta.get("title") or extracted.title or first_line
    if not resolved_title:
        raise DocumentError(f"{path} 没有可识别的标题，请用 --title 指定")
    resolved_issuer = issuer or meta.get("issuer")
    if not resolved_issuer:
        raise DocumentError(f"{path} 没有可识别的发布机关，请用 --issuer 指定")
    if lines and lines[0] == resolved_title:
        lines = lines[1:]  # the title line repeats the title
    if not lines:
        raise DocumentError(f"{path} 没有正文")
    return Document(
        id=doc_id or meta.get("id") or _document_id(path, resolved_title),
        title=resolved_title,
        issuer=resolved_issuer,
        body="\n\n".join(lines),
        date=meta.get("date", ""),
        doc_number=meta.get("doc_number", ""),
        index_no=meta.get("index_no", ""),
        source=meta.get("source") or f"导入自 {path.name}",
    )


def write_document(document: Document, documents_dir: Path) -> Path:
    """Save as Markdown with front matter; the result is read back to prove it loads."""
    documents_dir.mkdir(parents=True, exist_ok=True)
    target = documents_dir / f"{document.id}.md"
    fields = {k: getattr(document, k) for k in ("id", "title", "issuer", "date", "doc_number", "index_no", "source")}
    post = frontmatter.Post(document.body, **{k: v for k, v in fields.items() if v})
    tmp = target.with_suffix(".md.tmp")
    tmp.write_text(frontmatter.dumps(post, sort_keys=False) + "\n", encoding="utf-8")
    load_document(tmp)  # never leave a file the index cannot read
    tmp.replace(target)
    return target
