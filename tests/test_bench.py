"""The pure parts of the benchmark: statistics, ratios, the Markdown table and the closing line."""

import math

import pytest

from bench.run import govbot_scripts, knowledge_questions, ratios
from bench.stats import markdown_table, percentile, ratio, ratio_line, summarise


def test_percentile_interpolates_like_numpy():
    numpy = pytest.importorskip("numpy")
    values = [0.5, 3, 1, 7, 2, 9, 4]
    for q in (0, 10, 50, 95, 99, 100):
        assert percentile(values, q) == pytest.approx(float(numpy.percentile(values, q)))


def test_percentile_of_nothing_is_nan_and_bad_q_is_refused():
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summarise_converts_to_milliseconds_and_counts_only_successes():
    s = summarise("knowledge", [0.010, 0.020, 0.030, 0.040], errors=2, seconds=2.0, concurrency=5)
    assert s.n == 4 and s.errors == 2 and s.concurrency == 5
    assert s.p50 == pytest.approx(25.0)
    assert s.mean == pytest.approx(25.0)
    assert s.p99 == pytest.approx(39.7)
    assert s.throughput == pytest.approx(2.0)


def test_ratio_and_closing_line():
    assert ratio(30.0, 20.0) == pytest.approx(1.5)
    assert math.isnan(ratio(1.0, 0.0))
    assert math.isnan(ratio(math.nan, 2.0))
    assert ratio_line(1.234) == "throughput ratio at 20 concurrent vs moodbot: 1.23"
    assert ratio_line(0.5, 50) == "throughput ratio at 50 concurrent vs moodbot: 0.50"


def _results():
    seq = lambda kind, lat: summarise(kind, lat).as_dict()  # noqa: E731
    conc = lambda lat, secs, c: summarise(f"c{c}", lat, 0, secs, c).as_dict()  # noqa: E731
    return {
        "bots": {
            "moodbot": {
                "sequential": {"greeting": seq("greeting", [0.1, 0.2])},
                "concurrent": {"1": conc([0.1] * 10, 1.0, 1), "20": conc([1.0] * 18, 1.0, 20)},
            },
            "govbot": {
                "sequential": {"knowledge": seq("knowledge", [0.05, 0.07])},
                "concurrent": {"1": conc([0.05] * 20, 1.0, 1), "20": conc([0.5] * 36, 1.0, 20)},
            },
        }
    }


def test_ratios_per_level():
    r = ratios(_results())
    assert r["20"]["throughput"] == pytest.approx(2.0)
    assert r["20"]["p95"] == pytest.approx(0.5)
    assert r["1"]["throughput"] == pytest.approx(2.0)


def test_markdown_table_rows():
    table = markdown_table(_results())
    lines = table.splitlines()
    assert "| 顺序 · knowledge | 本助手 | 2 | 60 | 69 | 70 | 0 |" in lines
    assert "| 顺序 · greeting | moodbot（Rasa 示例） | 2 | 150 | 195 | 199 | 0 |" in lines
    assert "| 20 | 本助手 | 36.0 | 500 | 500 | 36 | 0 | 2.00 |" in lines
    assert "| 20 | moodbot（Rasa 示例） | 18.0 | 1000 | 1000 | 18 | 0 |  |" in lines
    # concurrency levels in numeric order
    assert [l.split("|")[1].strip() for l in lines if l.startswith("| 1 |") or l.startswith("| 20 |")] == ["1", "1", "20", "20"]


def test_each_sender_gets_a_different_pair_of_real_questions():
    questions = knowledge_questions()
    assert len(questions) >= 40 and len(set(questions)) == len(questions)
    scripts = govbot_scripts(questions, 20)
    assert len(scripts) == 20
    assert all(s[0] == "您好" and s[-1] == "谢谢" for s in scripts)
    assert len({q for s in scripts for q in s[1:3]}) == 40
