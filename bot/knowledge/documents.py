"""Knowledge-base documents: Markdown files with YAML front matter under knowledge/documents/.

Staff edit these files directly; the metadata (title, issuer, date, 文号) is what citations show,
so a document without a title or issuer is rejected with a message saying which file and field.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import frontmatter

REQUIRED_FIELDS = ("id", "title", "issuer")
# The section key of Document.questions that names every passage of the document.
WHOLE_DOCUMENT = "全文"


class DocumentError(ValueError):
    """A knowledge file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    issuer: str
    body: str
    date: str = ""
    doc_number: str = ""
    index_no: str = ""
    source: str = ""
    path: str = ""
    # Other names people use for what the document is about (a service item's aliases, front
    # matter `keywords`): searched with every passage, never quoted.
    keywords: str = ""
    # (section key, questions) pairs: how people ask for a section (bot.knowledge.questions).
    questions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Staff's deletions ("") and corrections of generated phrasings (bot.knowledge.phrasings).
    generated_edits: tuple[tuple[str, str], ...] = ()
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def content_hash(self) -> str:
        """Changes whenever anything that reaches the index or a citation changes."""
        h = hashlib.sha256()
        for part in (self.id, self.title, self.issuer, self.date, self.doc_number, self.body):
            h.update(part.encode("utf-8"))
            h.update(b"\0")
        if self.keywords:  # documents without keywords keep the hash they always had
            h.update(f"keywords={self.keywords}".encode("utf-8"))
        for key, phrasings in self.questions:  # likewise for documents without questions
            h.update(f"questions[{key}]={chr(1).join(phrasings)}".encode("utf-8"))
        for generated, correction in self.generated_edits:
            h.update(f"edit[{generated}]={correction}".encode("utf-8"))
        if self.extra.get("published"):
            h.update(f"published={self.extra['published']}".encode("utf-8"))
        return h.hexdigest()


def load_document(path: Path, text: str | None = None) -> Document:
    """`text` replaces the file's content (a rendered template); errors still name the file."""
    try:
        post = frontmatter.loads(text) if text is not None else frontmatter.load(str(path))
    except Exception as exc:  # malformed YAML, bad encoding
        raise DocumentError(f"无法读取知识库文件 {path}：{exc}") from exc
    meta = {k: ("" if v is None else str(v)).strip() for k, v in post.metadata.items()}
    meta.setdefault("id", path.stem)
    missing = [name for name in REQUIRED_FIELDS if not meta.get(name)]
    if missing:
        raise DocumentError(f"知识库文件 {path} 缺少必填字段：{', '.join(missing)}")
    body = post.content.strip()
    if not body:
        raise DocumentError(f"知识库文件 {path} 没有正文")
    known = {"id", "title", "issuer", "date", "doc_number", "index_no", "source", "keywords"}
    return Document(
        id=meta["id"],
        title=meta["title"],
        issuer=meta["issuer"],
        date=meta.get("date", ""),
        doc_number=meta.get("doc_number", ""),
        index_no=meta.get("index_no", ""),
        source=meta.get("source", ""),
        keywords=meta.get("keywords", ""),
        body=body,
        path=str(path),
        extra={k: v for k, v in meta.items() if k not in known},
    )


def load_documents(directory: Path) -> list[Document]:
    """All documents in id order; duplicate ids are an error because citations would be ambiguous."""
    documents: dict[str, Document] = {}
    for path in sorted(Path(directory).glob("*.md")):
        doc = load_document(path)
        if doc.id in documents:
            raise DocumentError(f"文档编号 {doc.id} 重复：{documents[doc.id].path} 与 {path}")
        documents[doc.id] = doc
    return [documents[k] for k in sorted(documents)]
