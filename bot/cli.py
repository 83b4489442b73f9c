"""`govbot`: the staff-facing command line (prepare the model, build and query the knowledge index)."""

from __future__ import annotations

import json
import logging
import os
import sys

import click

# Nothing in this tool may reach a model hub; the default model is exported locally.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _service():
    from bot.service import KnowledgeService

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


@main.group()
def kb() -> None:
    """The knowledge base index."""


@kb.command("build")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def kb_build(quiet: bool) -> None:
    """Bring the index up to date with knowledge/ (only new passages are embedded)."""
    from bot.knowledge.documents import DocumentError

    try:
        stats = _service().build(progress=not quiet)
    except DocumentError as exc:
        _fail(str(exc))
    if stats["rebuilt"]:
        click.echo(
            f"索引已更新：{stats['passages']} 个段落，新嵌入 {stats['embedded']} 个，用时 {stats['seconds']} 秒（{stats['key']}）"
        )
    else:
        click.echo(f"索引已是最新：{stats['passages']} 个段落（{stats['key']}）")


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


@main.command("ask")
@click.argument("question")
def ask(question: str) -> None:
    """Answer a question exactly as the assistant would, with its citation."""
    click.echo(_service().answer(question).message)


if __name__ == "__main__":
    main()
