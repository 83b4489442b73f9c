"""`python -m bench` (`make bench`): moodbot vs this assistant; ends with the index build rate, then the
two throughput-ratio lines (distinct questions, then the repeated ones last)."""

from __future__ import annotations

import os
from pathlib import Path

import click
from tqdm import tqdm

from bench.run import Options, run, write_results
from bench.servers import ROOT
from bench.stats import closing_lines, headline_level

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _levels(ctx, param, value: str) -> tuple[int, ...]:
    try:
        levels = tuple(sorted({int(v) for v in value.split(",") if v.strip()}))
    except ValueError:
        raise click.BadParameter("应为逗号分隔的正整数，例如 1,20,50") from None
    if (not levels and param.name == "levels") or (levels and min(levels) < 1):
        raise click.BadParameter("应为逗号分隔的正整数，例如 1,20,50")
    return levels


@click.command()
@click.option("--model", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=ROOT / "models" / "govbot.tar.gz", show_default=True, help="本助手的 Rasa 模型")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=ROOT / "bench" / "results", show_default=True)
@click.option("-n", "--sequential-n", default=15, show_default=True, type=click.IntRange(1), help="每轮每种消息的顺序请求数")
@click.option("--rounds", default=4, show_default=True, type=click.IntRange(1), help="交替测量的轮数")
@click.option("--levels", default="1,20,50", show_default=True, callback=_levels, help="混合对话的并发发送者数")
@click.option("--kind-levels", default="20,50", show_default=True, callback=_levels,
              help="每种消息单独测的并发发送者数（空字符串：不测）")
@click.option("--duration", default=6.0, show_default=True, type=click.FloatRange(1), help="每项并发测量的秒数")
@click.option("--warmup", default=1.5, show_default=True, type=click.FloatRange(0), help="每项并发测量前不计入的秒数")
@click.option("--headline-windows", default=3, show_default=True, type=click.IntRange(1),
              help="标题并发级别（20）下每个机器人的测量窗口数，两者交替，合并计算吞吐")
@click.option("--no-retrieval", is_flag=True, help="不在进程内单独测检索和完整建索引")
@click.option("--env", "env_pairs", multiple=True, metavar="KEY=VALUE",
              help="本助手各进程的额外环境变量（可重复），如 TF_INTRA_OP_PARALLELISM_THREADS=1")
@click.option("--rasa-speedups", is_flag=True,
              help="在 Rasa 进程中启用 bot.rasa_plugins.speedups（动作响应校验器只构建一次），用于对比测量")
def main(model: Path, out: Path, sequential_n: int, rounds: int, levels, kind_levels, duration: float, warmup: float,
         headline_windows: int, no_retrieval: bool, env_pairs: tuple[str, ...], rasa_speedups: bool) -> None:
    """Benchmark this assistant against Rasa's moodbot through the REST channel."""
    env = {}
    for pair in env_pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"应为 KEY=VALUE，收到 {pair!r}", param_hint="--env")
        env[key] = value
    if rasa_speedups:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "bench" / "speedups"), env.get("PYTHONPATH")]))
    options = Options(model, out, sequential_n, rounds, levels, kind_levels, duration, warmup,
                      retrieval=not no_retrieval, env=env, headline_windows=headline_windows)
    with tqdm(total=options.steps(), desc="基准测试", unit="步", leave=False) as bar:
        started: list[str] = []

        def progress(step: str) -> None:
            if started:
                bar.update(1)
            started.append(step)
            bar.set_description(step)

        results = run(options, progress, echo=tqdm.write)
        bar.update(1)
    paths = write_results(results, out)
    click.echo((out / "results.md").read_text(encoding="utf-8"))
    click.echo("结果：" + "，".join(str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p) for p in paths.values()))
    # The repeated-question ratio stays last: scripts read the last line.
    for line in closing_lines(results, headline_level(levels)):
        click.echo(line)


if __name__ == "__main__":
    main()
