"""Knowledge upkeep behind the staff console: the same files and index `govbot kb …` uses.

Uploads become documents in knowledge/documents/ (bot.knowledge.ingest), staff phrasings are
written to knowledge/questions.yml and edits of generated ones to generated_questions.yml; every
change is followed by an index build that publishes a new snapshot (bot.knowledge.index), which
every running action server switches to within about a second (KnowledgeService's pointer check).
Nothing is retrained and nothing restarts. One build runs at a time; its progress (stage, passages
embedded of how many) is kept on a Job the console polls.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from ruamel.yaml import YAML

from bot.knowledge.documents import Document, DocumentError
from bot.knowledge.index import build_index
from bot.knowledge.ingest import SUPPORTED, to_document, write_document
from bot.knowledge.phrasings import EDITS_FILE, REPLACE_KEY, load_edits, save_edit
from bot.knowledge.questions import MAX_QUESTION_CHARS, QUESTIONS_FILE, load_questions, section_key, section_matches
from bot.knowledge.sources import load_knowledge
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.knowledge.service import KnowledgeService

log = logging.getLogger(__name__)

# Uploads larger than this are refused before anything is read (a regulation PDF is ~1 MB).
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
EMBED_BATCH = 16
KEEP_JOBS = 50


class AdminError(ValueError):
    """A request staff can fix; the message is Chinese and says what to do."""


@dataclass
class Job:
    """One index build and what the console shows of it."""

    id: str
    label: str
    state: str = "queued"  # queued, running, done, failed
    stage: str = "排队等待"
    done: int = 0
    total: int = 0
    message: str = ""
    started: float = field(default_factory=time.time)

    def as_dict(self) -> dict:
        percent = 100 if self.state == "done" else (round(100 * self.done / self.total) if self.total else 0)
        return {
            "id": self.id, "label": self.label, "state": self.state, "stage": self.stage,
            "done": self.done, "total": self.total, "percent": percent, "message": self.message,
        }


class _CountingEmbedder:
    """The service's embedder in small batches, so a build can say how far it has come."""

    def __init__(self, inner, job: Job) -> None:
        self.inner, self.job = inner, job
        self.identity = inner.identity

    def embed_passages(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        return self._batched(self.inner.embed_passages, texts, "嵌入段落")

    def embed_questions(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        return self._batched(self.inner.embed_questions, texts, "嵌入问法")

    def _batched(self, embed, texts: list[str], stage: str) -> np.ndarray:
        job = self.job
        job.stage, job.done, job.total = stage, 0, len(texts)
        parts = []
        for start in range(0, len(texts), EMBED_BATCH):
            parts.append(embed(texts[start:start + EMBED_BATCH]))
            job.done = min(len(texts), start + EMBED_BATCH)
        return np.vstack(parts) if parts else embed([])


class KnowledgeAdmin:
    """Documents, sections, phrasings and trial answers of one knowledge directory."""

    def __init__(self, settings: Settings | None = None, service: "KnowledgeService | None" = None) -> None:
        self.settings = settings or Settings.from_env()
        self._service = service
        self._service_lock = threading.Lock()
        self._build_lock = threading.Lock()
        self._files_lock = threading.Lock()
        self.jobs: dict[str, Job] = {}

    @property
    def service(self) -> "KnowledgeService":
        """The answering service, loaded on first use: it brings PyTorch and the embedding model
        (~0.8 GB), which a web server whose knowledge pages nobody opens should not carry."""
        with self._service_lock:
            if self._service is None:
                from bot.knowledge.service import KnowledgeService

                self._service = KnowledgeService(self.settings)
            return self._service

    @property
    def documents_dir(self) -> Path:
        return self.settings.knowledge_dir / "documents"

    # --- documents ---

    def documents(self) -> list[dict]:
        """Every document in the index in force, with its passage count and whether staff may remove it here."""
        index = self.service.retriever.index
        counts = Counter(p.doc_id for p in index.passages)
        return [
            {
                "id": doc_id, "title": meta.get("title", ""), "issuer": meta.get("issuer", ""),
                "date": meta.get("date", ""), "passages": counts[doc_id],
                "removable": (self.documents_dir / f"{doc_id}.md").is_file(), "kind": _kind(doc_id),
            }
            for doc_id, meta in sorted(index.documents.items())
        ]

    def add_upload(self, filename: str, data: bytes, issuer: str = "", title: str = "") -> Document:
        """Save an uploaded file as a knowledge document (not yet indexed: see start_build)."""
        name = Path(filename or "").name.strip()
        suffix = Path(name).suffix.lower()
        if not name or suffix not in SUPPORTED:
            raise AdminError(f"不支持的文件类型 {suffix or '（无扩展名）'}：请上传 DOCX、PDF、HTML、Markdown 或 TXT 文件")
        if not data:
            raise AdminError(f"文件 {name} 是空的")
        if len(data) > MAX_UPLOAD_BYTES:
            raise AdminError(f"文件 {name} 超过 {MAX_UPLOAD_BYTES // (1024 * 1024)} MB，请拆分后上传")
        with tempfile.TemporaryDirectory(prefix="govbot-upload-") as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            try:
                document = to_document(path, issuer=issuer.strip() or None, title=title.strip() or None)
            except DocumentError as exc:
                message = str(exc).replace(str(path), name)
                message = message.replace("请用 --title 指定", "请在「标题」中填写").replace("请用 --issuer 指定", "请在「发布机关」中填写")
                raise AdminError(message) from exc
        with self._files_lock:
            known = self.service.retriever.index.documents
            if document.id in known or (self.documents_dir / f"{document.id}.md").exists():
                title_known = known.get(document.id, {}).get("title", document.title)
                raise AdminError(f"知识库中已有编号为 {document.id} 的文档《{title_known}》：如要更新，请先删除它再上传")
            write_document(document, self.documents_dir)
        log.info("console: document %s added from %s", document.id, suffix)
        return document

    def remove(self, doc_id: str) -> str:
        """Delete an added document's file (not yet re-indexed: see start_build); returns its title."""
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", doc_id or ""):
            raise AdminError("文档编号不正确")
        path = self.documents_dir / f"{doc_id}.md"
        title = self.service.retriever.index.documents.get(doc_id, {}).get("title", doc_id)
        if not path.is_file():
            if doc_id in self.service.retriever.index.documents:
                raise AdminError(f"《{title}》来自机关信息、办事指南、服务事项或常见问题文件，不能在这里删除")
            raise AdminError(f"没有编号为 {doc_id} 的文档")
        with self._files_lock:
            path.unlink()
        return title

    # --- building ---

    def start_build(self, label: str) -> Job:
        """Rebuild in a background thread; the returned job reports progress."""
        job = Job(uuid.uuid4().hex[:12], label)
        self.jobs[job.id] = job
        for old in list(self.jobs)[:-KEEP_JOBS]:
            self.jobs.pop(old, None)
        threading.Thread(target=self._run_build, args=(job,), name=f"kb-build-{job.id}", daemon=True).start()
        return job

    def _run_build(self, job: Job) -> None:
        try:
            self.build(job)
        except Exception as exc:  # shown to staff; the previous index stays in force
            log.exception("console: knowledge build failed")
            job.state, job.stage = "failed", "失败"
            reason = str(exc) if isinstance(exc, DocumentError) else f"{type(exc).__name__}: {exc}"
            job.message = f"索引未更新，助手仍使用上一版：{reason}"

    def build(self, job: Job | None = None) -> dict:
        """Publish an index of the knowledge directory as it is now; the service switches to it."""
        job = job or Job("direct", "更新索引")
        with self._build_lock:
            job.state, job.stage = "running", "读取知识库"
            documents = load_knowledge(self.settings.knowledge_dir)
            job.stage = "切分段落、生成问法"
            service = self.service
            _index, stats = build_index(documents, _CountingEmbedder(service.embedder, job), self.settings.index_dir)
            job.stage = "发布"
            service.build()  # loads what was just published (same key: no embedding)
        job.state, job.stage = "done", "完成"
        job.message = (
            f"索引已更新：{stats['passages']} 个段落，新嵌入 {stats['embedded']} 个，正在回答问题的助手约 1 秒内改用新索引"
            if stats["rebuilt"] else f"索引已是最新：{stats['passages']} 个段落"
        )
        return stats

    # --- sections and phrasings ---

    def sections(self, doc_id: str) -> dict:
        """A document's sections as questions.yml names them, each with staff and generated phrasings."""
        index = self.service.retriever.index
        passages = [p for p in index.passages if p.doc_id == doc_id]
        if not passages:
            raise AdminError(f"知识库中没有编号为 {doc_id} 的文档")
        written = load_questions(self.settings.knowledge_dir / QUESTIONS_FILE).get(doc_id, {})
        sections: dict[str, dict] = {}
        for passage in passages:
            key = section_key(passage)
            entry = sections.setdefault(key, {"key": key, "text": passage.text[:80], "staff": [], "generated": []})
            for phrasing in passage.questions:
                if all(s["text"] != phrasing for s in entry["staff"]):
                    source = next((k for k, qs in written.items() if phrasing in qs and section_matches(k, passage)), None)
                    entry["staff"].append({"text": phrasing, "source": source})
            for phrasing in passage.generated:
                if phrasing not in entry["generated"]:
                    entry["generated"].append(phrasing)
        return {"id": doc_id, **index.documents.get(doc_id, {}), "sections": list(sections.values())}

    def section_names(self, doc_id: str) -> list[str]:
        return list(dict.fromkeys(section_key(p) for p in self.service.retriever.index.passages if p.doc_id == doc_id))

    def add_staff_phrasing(self, doc_id: str, section: str, phrasing: str) -> str:
        phrasing = _clean_phrasing(phrasing)
        if section not in self.section_names(doc_id):
            raise AdminError(f"文档 {doc_id} 没有段落“{section}”")
        with self._files_lock:
            data = self._questions_yaml()
            sections = data.setdefault(doc_id, {})
            if sections is None:
                sections = data[doc_id] = {}
            phrasings = sections.setdefault(section, [])
            if phrasing in phrasings:
                raise AdminError(f"“{section}”已有这条问法：{phrasing}")
            phrasings.append(phrasing)
            self._save_questions(data)
        return phrasing

    def edit_staff_phrasing(self, doc_id: str, source: str, old: str, new: str | None) -> None:
        """Replace (new) or delete (new None) a staff-written phrasing under its questions.yml key."""
        new = _clean_phrasing(new) if new is not None else None
        with self._files_lock:
            data = self._questions_yaml()
            phrasings = (data.get(doc_id) or {}).get(source)
            if not phrasings or old not in [str(q).strip() for q in phrasings]:
                raise AdminError(f"没有找到这条工作人员问法：{old}（可能已被他人修改，请刷新页面）")
            position = [str(q).strip() for q in phrasings].index(old)
            if new is None:
                del phrasings[position]
                if not phrasings:
                    del data[doc_id][source]
                    if not data[doc_id]:
                        del data[doc_id]
            else:
                phrasings[position] = new
            self._save_questions(data)

    def edit_generated_phrasing(self, doc_id: str, phrasing: str, correction: str | None) -> None:
        """Delete (correction None) or correct a generated phrasing (generated_questions.yml)."""
        generated = {q for p in self.service.retriever.index.passages if p.doc_id == doc_id for q in p.generated}
        if phrasing not in generated:
            raise AdminError(f"{doc_id} 没有这条自动问法：{phrasing}（可能已被修改，请刷新页面）")
        correction = _clean_phrasing(correction) if correction is not None else None
        path = self.settings.knowledge_dir / EDITS_FILE
        with self._files_lock:
            # A phrasing shown corrected is recorded under the generated one it replaces.
            original = next((old for old, new in load_edits(path).get(doc_id, ()) if new == phrasing), phrasing)
            if correction is None and original != phrasing:
                self._drop_correction(path, doc_id, original)
            save_edit(path, doc_id, original, correction)

    @staticmethod
    def _drop_correction(path: Path, doc_id: str, original: str) -> None:
        """Forget 「original → correction」 so that deleting the corrected phrasing deletes it."""
        yaml = _round_trip()
        data = yaml.load(path.read_text(encoding="utf-8"))
        replaced = data[doc_id][REPLACE_KEY]
        del replaced[original]
        if not replaced:
            del data[doc_id][REPLACE_KEY]
        fd, tmp = tempfile.mkstemp(prefix=".generated-questions-", suffix=".yml", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                yaml.dump(data, fh)
            load_edits(Path(tmp))
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _questions_yaml(self):
        path = self.settings.knowledge_dir / QUESTIONS_FILE
        load_questions(path)  # refuse to edit a file the build cannot read
        yaml = _round_trip()
        data = yaml.load(path.read_text(encoding="utf-8")) if path.exists() else None
        return data if data is not None else {}

    def _save_questions(self, data) -> None:
        """Written aside, checked, then renamed: comments and order of the file are kept."""
        path = self.settings.knowledge_dir / QUESTIONS_FILE
        fd, tmp = tempfile.mkstemp(prefix=".questions-", suffix=".yml", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                _round_trip().dump(data, fh)
            load_questions(Path(tmp))
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    # --- trying a question ---

    def try_question(self, question: str) -> dict:
        """What the assistant would answer (KnowledgeService.reply, as the action server calls it)
        and the passages retrieval ranks highest, with their scores."""
        question = " ".join((question or "").split())
        if not question:
            raise AdminError("请输入要试问的问题")
        if len(question) > 500:
            raise AdminError("问题太长了，请控制在 500 字以内")
        service = self.service
        reply = service.reply(question)
        hits = service.search(question)
        return {
            "question": question,
            "answer": reply.text,
            "found": reply.found,
            "doc_id": reply.doc_id,
            "threshold": service.settings.answer_threshold,
            "passages": [
                {
                    "doc_id": h.passage.doc_id, "title": h.passage.title, "section": section_key(h.passage),
                    "text": h.passage.text[:200], "score": round(float(h.score), 4), "closeness": round(float(h.dense), 4),
                }
                for h in hits
            ],
        }


def _round_trip() -> YAML:
    yaml = YAML()
    yaml.allow_unicode = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=2, offset=0)
    return yaml


def _clean_phrasing(text: str | None) -> str:
    phrasing = " ".join((text or "").split())
    if not phrasing:
        raise AdminError("问法不能为空")
    if len(phrasing) > MAX_QUESTION_CHARS:
        raise AdminError(f"问法过长（超过 {MAX_QUESTION_CHARS} 字），请写成群众会问的一句话")
    return phrasing


def _kind(doc_id: str) -> str:
    if doc_id.startswith("service-item-"):
        return "政务服务事项"
    if doc_id.startswith("faq-"):
        return "常见问题"
    return "文件"
