"""The benchmark's own logic: statistics, tables, targets, charts, the message kinds it sends and how
the load generator counts (against a small REST server on loopback; no timing assertions)."""

import asyncio
import json
import math
import socket
import tempfile
import threading

import pytest
from aiohttp import web

from bench import load
from bench.charts import latency_chart, throughput_chart
from bench.load import Turn
from bench.questions import OPENERS, distinct_questions, faq_questions
from bench.run import (
    FORM_TURNS,
    FORM_OPENING,
    KIND_NAMES,
    WARMUP_QUESTIONS,
    Options,
    bench_texts,
    form_scripts,
    govbot_scripts,
    index_build_timing,
    knowledge_questions,
    markdown_report,
    message_kinds,
    ratios,
    service_item_questions,
    warmup_scripts,
)
from bench.stats import (
    DISTINCT_LABEL,
    closing_lines,
    headline_level,
    index_rate_line,
    markdown_table,
    percentile,
    ratio,
    ratio_line,
    summarise,
    targets,
    targets_table,
)


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
    assert ratio_line(1.405, 20, DISTINCT_LABEL) == "throughput ratio at 20 concurrent vs moodbot, distinct questions: 1.41"
    assert headline_level((1, 20, 50)) == 20 and headline_level((1, 50)) == 50


def test_closing_lines_end_with_the_two_ratios_after_the_index_build_rate():
    results = {"ratios": {"20": {"throughput": 1.6}}, "ratios_distinct": {"20": {"throughput": 1.404}},
               "index_build": {"passages_per_second": 21.46}}
    assert closing_lines(results, 20) == [
        "index build passages per second: 21.5",
        "throughput ratio at 20 concurrent vs moodbot, distinct questions: 1.40",
        "throughput ratio at 20 concurrent vs moodbot: 1.60",
    ]
    # Not measured (--no-retrieval, or a level without a moodbot run): the lines are still there, nan.
    assert closing_lines({"ratios": {}, "ratios_distinct": {}}, 50) == [
        "index build passages per second: nan",
        "throughput ratio at 50 concurrent vs moodbot, distinct questions: nan",
        "throughput ratio at 50 concurrent vs moodbot: nan",
    ]
    assert index_rate_line(7) == "index build passages per second: 7.0"


def test_index_build_is_timed_from_an_empty_index_without_touching_the_real_one(tmp_path, monkeypatch, settings):
    """A full build of a small knowledge base with the prepared model, as `make bench` times today's."""
    knowledge = tmp_path / "knowledge"
    (knowledge / "documents").mkdir(parents=True)
    body = "\n\n".join(f"## {n}、第{n}部分\n\n本机关第{n}项政务公开工作：依法公开财政预决算、重大项目和政策解读，共{n}项。"
                       for n in "一二三四五")
    (knowledge / "documents" / "sample.md").write_text(
        f'---\nid: "sample"\ntitle: "示例政务公开工作要点"\nissuer: "示例市商务局"\ndate: "2026-01-05"\n---\n\n{body}\n',
        encoding="utf-8")
    real_index = settings.index_dir / "CURRENT"
    before = real_index.read_text() if real_index.exists() else None
    monkeypatch.setenv("GOVBOT_KNOWLEDGE_DIR", str(knowledge))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the build's temporary cache goes
    build = index_build_timing()
    assert build["passages"] >= 5 and build["seconds"] > 0
    assert build["passages_per_second"] == round(build["passages"] / build["seconds"], 1)
    assert build["backend"] in ("onnx", "torchscript", "eager") and build["workers"] >= 1
    assert not list(tmp_path.glob("bench-index-*"))  # its temporary cache is gone
    assert (real_index.read_text() if real_index.exists() else None) == before
    report = markdown_report({**_results(), "index_build": build})
    assert f"{build['passages_per_second']} 段/秒" in report and "完整建索引" in report


def _results():
    seq = lambda kind, lat: summarise(kind, lat).as_dict()  # noqa: E731
    conc = lambda lat, secs, c: summarise(f"c{c}", lat, 0, secs, c).as_dict()  # noqa: E731
    return {
        "started": "2026-11-23T00:00:00+00:00",
        "machine": {"cpus": 2, "loadavg_start": [1.0, 1.0, 1.0], "loadavg_end": [2.0, 1.0, 1.0]},
        "bots": {
            "moodbot": {
                "sequential": {"greeting": seq("greeting", [0.1, 0.2])},
                "concurrent": {"1": conc([0.1] * 10, 1.0, 1), "20": conc([1.0] * 18, 1.0, 20)},
                "concurrent_distinct": {"20": conc([1.0] * 20, 1.0, 20)},
                "concurrent_by_kind": {"greeting": {"20": conc([0.8] * 20, 1.0, 20)}},
            },
            "govbot": {
                "sequential": {"knowledge": seq("knowledge", [0.05, 0.07])},
                "concurrent": {"1": conc([0.05] * 20, 1.0, 1), "20": conc([0.5] * 36, 1.0, 20)},
                "concurrent_distinct": {"20": conc([0.7] * 30, 1.0, 20)},
                "concurrent_by_kind": {
                    "form": {"20": {**conc([0.3] * 25, 1.0, 20), "extra": {"title": "表单一轮（填姓名）"}}},
                    "knowledge": {"20": conc([0.4] * 30, 2.0, 20), "50": conc([1.2] * 40, 2.0, 50)},
                },
            },
        },
    }


def test_ratios_per_level():
    r = ratios(_results())
    assert r["20"]["throughput"] == pytest.approx(2.0)
    assert r["20"]["p95"] == pytest.approx(0.5)
    assert r["1"]["throughput"] == pytest.approx(2.0)
    distinct = ratios(_results(), "concurrent_distinct")
    assert list(distinct) == ["20"] and distinct["20"]["throughput"] == pytest.approx(1.5)
    assert distinct["20"]["p95"] == pytest.approx(0.7)


def test_markdown_table_rows():
    table = markdown_table(_results())
    lines = table.splitlines()
    assert "| 顺序 · knowledge | 本助手 | 2 | 60 | 69 | 70 | 0 |" in lines
    assert "| 顺序 · greeting | moodbot（Rasa 示例） | 2 | 150 | 195 | 199 | 0 |" in lines
    assert "| 20 | 本助手 | 36.0 | 500 | 500 | 36 | 0 | 2.00 |" in lines
    assert "| 20 | moodbot（Rasa 示例） | 18.0 | 1000 | 1000 | 18 | 0 |  |" in lines
    # concurrency levels in numeric order, the run with distinct questions after the others
    assert [l.split("|")[1].strip() for l in lines if l.startswith("| 1 |") or l.startswith("| 20 |")] == ["1", "1", "20", "20"]
    repeated = lines.index("| 20 | 本助手 | 36.0 | 500 | 500 | 36 | 0 | 2.00 |")
    assert lines[repeated + 1:repeated + 3] == [
        "| 20（问题不重复） | moodbot（Rasa 示例） | 20.0 | 1000 | 1000 | 20 | 0 |  |",
        "| 20（问题不重复） | 本助手 | 30.0 | 700 | 700 | 30 | 0 | 1.50 |",
    ]


def test_markdown_table_has_each_kind_alone_by_level_moodbot_first():
    lines = markdown_table(_results()).splitlines()
    by_kind = lines[lines.index(next(l for l in lines if l.startswith("| 消息类型"))) + 2:]
    assert by_kind == [
        "| greeting | 20 | moodbot（Rasa 示例） | 20.0 | 800 | 800 | 20 | 0 |",
        "| 表单一轮（填姓名） | 20 | 本助手 | 25.0 | 300 | 300 | 25 | 0 |",
        "| knowledge | 20 | 本助手 | 15.0 | 400 | 400 | 30 | 0 |",
        "| knowledge | 50 | 本助手 | 20.0 | 1200 | 1200 | 40 | 0 |",
    ]


def test_targets_say_which_are_met():
    rows = {r["target"]: r for r in targets(_results())}
    assert rows["知识问答顺序 p50 ms"]["value"] == pytest.approx(60.0) and rows["知识问答顺序 p50 ms"]["met"]
    assert rows["知识问答顺序 p95 ms"]["met"]
    assert rows["20 并发吞吐比（本助手/moodbot）"]["value"] == pytest.approx(2.0)
    assert rows["20 并发吞吐比（本助手/moodbot）"]["met"]
    assert rows["20 并发 p95 ms（不高于 moodbot）"]["limit"] == pytest.approx(1000.0)
    assert rows["20 并发吞吐比（问题不重复）"]["value"] == pytest.approx(1.5)
    assert rows["20 并发吞吐比（问题不重复）"]["limit"] == pytest.approx(1.4) and rows["20 并发吞吐比（问题不重复）"]["met"]
    slow = _results()
    slow["bots"]["govbot"]["concurrent_distinct"]["20"] = summarise("c20", [0.7] * 27, 0, 1.0, 20).as_dict()
    slow["bots"]["govbot"]["sequential"]["knowledge"] = summarise("knowledge", [0.2, 0.3]).as_dict()
    del slow["bots"]["moodbot"]["concurrent"]["20"]
    rows = {r["target"]: r for r in targets(slow)}
    assert not rows["知识问答顺序 p50 ms"]["met"]
    assert not rows["20 并发吞吐比（本助手/moodbot）"]["met"]  # not measured is not met
    assert rows["20 并发吞吐比（问题不重复）"]["value"] == pytest.approx(1.35) and not rows["20 并发吞吐比（问题不重复）"]["met"]
    table = targets_table(targets(slow))
    assert "| 知识问答顺序 p50 ms | 250 | <= 60 | 否 |" in table.splitlines()


def test_report_and_charts_are_written(tmp_path):
    results = _results()
    results["targets"] = targets(results)
    results["bots"]["govbot"]["sequential"]["knowledge"]["extra"]["query_cache"] = {"hits": 0, "misses": 2, "hit_rate": 0.0}
    results["bots"]["govbot"]["concurrent"]["20"]["extra"]["query_cache"] = {"hits": 1, "misses": 3, "hit_rate": 0.25}
    results["bots"]["govbot"]["concurrent_distinct"]["20"]["extra"]["query_cache"] = {"hits": 0, "misses": 60, "hit_rate": 0.0}
    results["settings"] = {"distinct_questions": 6000}
    report = markdown_report(results)
    assert "| 目标 | 实测 | 要求 | 达到 |" in report and "负载" in report
    assert "顺序 · knowledge 0%，混合对话 × 20 25%，混合对话（问题不重复） × 20 0%" in report
    assert "共 6000 个，整个基准中每个只问一次" in report
    for chart in (latency_chart(results, tmp_path / "l.png"), throughput_chart(results, tmp_path / "t.png")):
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 5000


def test_mixed_conversations_use_distinct_pairs_of_real_questions():
    questions = knowledge_questions()
    assert len(questions) >= 40 and len(set(questions)) == len(questions)
    scripts = govbot_scripts(questions)
    assert len(scripts) == len(questions) // 2
    assert all([t.text for t in s][0] == "您好" and s[-1].text == "谢谢" and all(t.measured for t in s) for s in scripts)
    assert len({t.text for s in scripts for t in s[1:3]}) == 2 * len(scripts)


def test_every_kind_is_measured_and_warm_up_never_spends_timed_questions():
    questions = knowledge_questions()
    kinds = message_kinds(questions)
    assert {bot: tuple(k) for bot, k in kinds.items()} == KIND_NAMES
    timed = {s[0].text for s in kinds["govbot"]["knowledge"]}
    warm = {s[0].text for s in warmup_scripts("govbot", "knowledge", kinds["govbot"]["knowledge"], questions)}
    assert len(warm) == WARMUP_QUESTIONS and not warm & timed
    # The repeated kind asks the warm-up questions again: answered with a cached query vector.
    assert {s[0].text for s in kinds["govbot"]["knowledge_repeat"]} == warm
    # The mixed conversation at 1, 20 and 50 senders, and once more at 20 with distinct questions;
    # at 20 each bot is measured in three windows, taking turns.
    assert Options(model=None, out=None).steps() == 4 * 7 + 2 * (1 + 3 + 1 + 3) + 6 * 2 + 1
    assert Options(model=None, out=None, headline_windows=1).steps() == 4 * 7 + 2 * (3 + 1) + 6 * 2 + 1
    assert [Options(model=None, out=None).windows(level) for level in (1, 20, 50)] == [1, 3, 1]


def test_each_window_of_the_distinct_run_asks_its_own_questions():
    from bench.run import window_scripts

    scripts = govbot_scripts([f"问题{i}" for i in range(40)])
    shares = [window_scripts("concurrent_distinct", "govbot", scripts, w, 3) for w in range(3)]
    asked = [t.text for share in shares for s in share for t in s[1:3]]
    assert all(shares) and len(asked) == len(set(asked)) == 40
    moodbot = [["hi", "sad"]]  # one script: every window plays it
    assert all(window_scripts("concurrent_distinct", "moodbot", moodbot, w, 3) == moodbot for w in range(3))
    assert window_scripts("concurrent", "govbot", scripts, 2, 3) == scripts
    assert Options(model=None, out=None, levels=(1, 50)).mixed_levels() == {
        "concurrent": (1, 50), "concurrent_distinct": (50,)}


def test_distinct_questions_come_from_the_knowledge_base_and_are_never_searched_alike():
    """The run with distinct questions keeps the query cache cold: no two texts share a cache key, none
    repeats another text the bench sends, and none is left to the service-item desk (no embedding)."""
    from bot.knowledge.sources import load_service_catalogue
    from bot.knowledge.service_items import ServiceItemDesk
    from bot.text import normalize_query
    from bench.servers import ROOT

    others = bench_texts(knowledge_questions())
    pool = distinct_questions(ROOT / "knowledge", exclude=others)
    assert len(pool) == 6000
    keys = [normalize_query(q).strip() for q in pool]
    assert len(set(keys)) == len(pool)
    assert not set(keys) & {normalize_query(t).strip() for t in others}
    assert pool == distinct_questions(ROOT / "knowledge", exclude=others)  # the same every run
    desk = ServiceItemDesk(load_service_catalogue(ROOT / "knowledge"))
    for question in pool[:600]:  # more than a 20-sender run asks
        query = desk.understand(question)
        assert query.item is None and not query.candidates, question
    # Drawn from all of the knowledge base: FAQ phrasings, the regulation's articles, the other
    # documents' parts and the catalogue's legal bases; the first few hundred span most of the FAQ.
    faq = {q.rstrip("？?。") for q in faq_questions(ROOT / "knowledge")}
    assert sum(any(f in q for f in faq) for q in pool[:300]) >= 60
    assert any("条例第三十三条讲的是什么" in q for q in pool) and any("《楚雄州商务局政务公开工作实施方案》里" in q for q in pool)
    assert any("《中华人民共和国拍卖法》是管什么的" in q for q in pool)
    assert all(any(q.startswith(o) for q in pool[:300]) for o in OPENERS)  # every opener early on
    scripts = govbot_scripts(pool)
    assert len({t.text for s in scripts for t in s[1:3]}) == 2 * len(scripts) == len(pool)


def test_service_item_questions_are_field_questions_the_desk_answers():
    """Each bench question names a catalogue item and asks for a field (so it times the field answer)."""
    from bot.knowledge.sources import load_service_catalogue
    from bot.knowledge.service_items import ServiceItemDesk
    from bench.servers import ROOT

    desk = ServiceItemDesk(load_service_catalogue(ROOT / "knowledge"))
    questions = service_item_questions()
    assert len(questions) >= 30 and len(set(questions)) == len(questions)
    assert "对外贸易经营者备案登记要什么材料" in questions
    for question in questions:
        query = desk.understand(question)
        assert query.item is not None and query.fields and not query.follow_up, question
        answer = desk.answer(query)
        assert answer.text.startswith(f"【{query.item.name}"), question


def test_form_turns_fill_the_disclosure_form_after_an_untimed_opening():
    from bot.casework import request_forms as rf

    scripts = form_scripts()
    assert len(scripts) >= 5
    for script in scripts:
        assert [(t.text, t.expect) for t in script[:2]] == FORM_OPENING
        assert [t.measured for t in script] == [False, False] + [True] * len(FORM_TURNS)
        assert [t.expect for t in script[2:]] == [expect for _, expect in FORM_TURNS]
        name, id_type, id_number, phone, description, form, method, email = (t.text for t in script[2:])
        assert rf.check_name(name).ok and rf.check_id_type(id_type).ok
        assert rf.check_id_number(id_number, rf.check_id_type(id_type).value).ok
        assert rf.check_phone(phone).ok and rf.check_info_description(description).ok
        assert rf.check_delivery_form(form).ok and rf.check_delivery_method(method).value == "电子邮件"
        assert rf.check_email(email, required=True).ok
    assert len({s[2].text for s in scripts}) == len(scripts)


# ---- the load generator, against a REST endpoint on loopback that answers like Rasa's channel


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def rest_server():
    """Answers `[{"text": "<n>:<message>"}]` (n = the turn's index in its conversation); "boom" → HTTP 500;
    "slow" takes 0.2 s."""
    seen: list[tuple[str, str]] = []
    port = _free_port()
    ready = threading.Event()
    loop = asyncio.new_event_loop()

    async def webhook(request):
        body = await request.json()
        seen.append((body["sender"], body["message"]))
        if body["message"] == "boom":
            return web.json_response({"error": "boom"}, status=500)
        await asyncio.sleep(0.2 if body["message"] == "slow" else 0.005)
        turn = sum(1 for s, _ in seen if s == body["sender"]) - 1
        return web.json_response([{"recipient_id": body["sender"], "text": f"{turn}:{body['message']}"}])

    async def serve():
        app = web.Application()
        app.router.add_post(load.REST_PATH, webhook)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        return runner

    runners = []
    thread = threading.Thread(target=lambda: (runners.append(loop.run_until_complete(serve())), loop.run_forever()),
                              daemon=True)
    thread.start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{port}", seen
    asyncio.run_coroutine_threadsafe(runners[0].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_sequential_times_only_measured_turns_each_script_in_a_new_conversation(rest_server):
    url, seen = rest_server
    script = [Turn("open", measured=False, expect=("0:open",)), Turn("name", expect=("1:name",))]
    samples = asyncio.run(load.sequential(url, [script], 3))
    assert len(samples.latencies) == 3 and samples.errors == 0 and samples.turns == 6
    assert [m for _, m in seen] == ["open", "name"] * 3
    senders = [s for s, _ in seen]
    assert senders[0] == senders[1] and len(set(senders)) == 3
    seen.clear()
    three = [Turn("open", measured=False), Turn("a"), Turn("b"), Turn("c")]
    samples = asyncio.run(load.sequential(url, [three], 4))  # n counts timed turns: the 2nd script is cut short
    assert len(samples.latencies) == 4 and [m for _, m in seen] == ["open", "a", "b", "c", "open", "a"]


def test_an_unexpected_reply_or_failed_opening_is_an_error_not_a_sample(rest_server):
    url, seen = rest_server
    wrong = [Turn("hello", expect=("证件类型",))]
    failed_opening = [Turn("boom", measured=False), Turn("never sent")]
    samples = asyncio.run(load.sequential(url, [wrong, failed_opening], 4))
    assert samples.latencies == [] and samples.errors == 4
    assert "never sent" not in [m for _, m in seen]
    assert any("UnexpectedReply" in e for e in samples.error_examples)
    assert any("HTTP 500" in e for e in samples.error_examples)


def test_concurrent_senders_share_one_queue_of_scripts(rest_server):
    url, seen = rest_server
    scripts = [[Turn("open", measured=False), Turn(f"q{i}")] for i in range(1000)]
    samples = asyncio.run(load.concurrent(url, scripts, senders=4, duration=0.6, warmup=0.2))
    assert samples.errors == 0 and samples.latencies
    assert samples.turns >= len(samples.latencies)  # opening turns load the server but are not timed
    asked = [m for _, m in seen if m != "open"]
    assert len(asked) == len(set(asked))  # no two senders asked the same question
    by_sender: dict = {}
    for sender, message in seen:
        by_sender.setdefault(sender, []).append(message)
    assert all(messages[0] == "open" and len(messages) <= 2 for messages in by_sender.values())
    assert json.dumps(samples.latencies)  # plain floats, as results.json stores them


def test_the_window_opens_once_every_sender_is_past_its_untimed_opening(rest_server):
    """Long openings at many senders would otherwise fill the window with untimed turns only."""
    url, seen = rest_server
    slow_opening = [[Turn("slow", measured=False)] * 3 + [Turn("x"), Turn("y"), Turn("z")]]
    samples = asyncio.run(load.concurrent(url, slow_opening, senders=8, duration=0.3, warmup=0.0))
    # The openings take 0.6 s, twice the window: a window opened at the start would time nothing.
    assert samples.errors == 0 and len(samples.latencies) >= 8


def test_distractor_documents_are_valid_marked_synthetic_and_reproducible(tmp_path):
    """The scale check's generator (bench/distractors.py): documents the knowledge base accepts,
    every one marked synthetic, of every kind, the same for the same seed."""
    from bench.distractors import KINDS, SOURCE, SYNTHETIC_PREFIX, generate
    from bot.knowledge.chunking import split_document
    from bot.knowledge.documents import load_documents

    paths = generate(10, tmp_path / "a")
    docs = load_documents(tmp_path / "a")
    assert len(docs) == 10 and {d.id.rsplit("-", 1)[-1] for d in docs} == set(KINDS)
    assert all(d.id.startswith(SYNTHETIC_PREFIX) and d.source == SOURCE and d.issuer and d.date for d in docs)
    assert all(len(split_document(d)) >= 3 for d in docs)
    assert any("| 收到政府信息公开申请（件） |" in d.body for d in docs)  # annual reports carry a table
    again = generate(10, tmp_path / "b")
    assert [p.read_text(encoding="utf-8") for p in paths] == [p.read_text(encoding="utf-8") for p in again]
