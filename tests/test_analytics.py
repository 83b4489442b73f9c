"""`govbot analytics` on a tracker store filled by real conversations through Rasa's REST channel.

The Rasa server here uses a SQLite tracker store (same RedactingTrackerStore, `backend: sql`) in a
temporary directory, so the report reads exactly what Rasa stored.
"""

from __future__ import annotations

import csv
import subprocess
import uuid
import warnings
from datetime import date
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bot.cli import main as govbot
from tests.conftest import ROOT, VENV_BIN, CaseService, Servers, free_port, local_services_env, wait_until

ID_NUMBER = "11010519491231002X"
PHONE, MASKED_PHONE = "13812345678", "138****5678"
EMAIL = "zhangsan@example.com"
ANSWERED = "上海市商务委2020年对政务新媒体提了什么要求"
ANSWERED_DOC = "shanghai-commerce-2020-disclosure-points"
# Two themes the knowledge base cannot answer (housing fund, social insurance), one with a phone in it.
FUND = ["住房公积金怎么提取出来", "公积金贷款最多能贷多少钱", f"我电话{PHONE}，住房公积金提取要多久"]
SOCIAL = ["今年社保缴费基数是多少", "灵活就业人员的社保在哪交，一个月交多少"]


def sender(tag: str) -> str:
    return f"an-{tag}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def sqlite_servers(rasa_model, knowledge_service, tmp_path_factory):
    """Case service, action server and Rasa as `make run` starts them, with a SQLite tracker store."""
    work = tmp_path_factory.mktemp("analytics")
    endpoints = yaml.safe_load((ROOT / "endpoints.yml").read_text(encoding="utf-8"))
    tracker_db = work / "tracker.db"
    endpoints["tracker_store"] = {
        "type": "bot.rasa_plugins.tracker_store.RedactingTrackerStore",
        "backend": "sql",
        "dialect": "sqlite",
        "db": str(tracker_db),
    }
    (work / "endpoints.yml").write_text(yaml.safe_dump(endpoints, allow_unicode=True), encoding="utf-8")
    rasa_port, action_port, case_port = free_port(), free_port(), free_port()
    env = local_services_env(rasa_port, action_port, case_port, work)
    cases = CaseService(case_port, env, work / "case-service.log")
    cases.start()
    actions = subprocess.Popen(
        [str(VENV_BIN / "rasa"), "run", "actions", "--actions", "actions", "--port", str(action_port)],
        cwd=ROOT, env=env, stdout=open(work / "actions.log", "w"), stderr=subprocess.STDOUT,
    )
    rasa = subprocess.Popen(
        [
            str(VENV_BIN / "rasa"), "run", "--model", str(rasa_model), "--endpoints", str(work / "endpoints.yml"),
            "--credentials", "credentials.yml", "--interface", "127.0.0.1", "--port", str(rasa_port),
        ],
        cwd=ROOT, env=env, stdout=open(work / "rasa.log", "w"), stderr=subprocess.STDOUT,
    )
    try:
        wait_until(f"http://127.0.0.1:{action_port}/health", actions, work / "actions.log")
        wait_until(f"http://127.0.0.1:{rasa_port}/", rasa, work / "rasa.log")
        servers = Servers(rasa_port, action_port, cases)
        servers.tracker_db = tracker_db
        yield servers
    finally:
        cases.stop()
        for process in (rasa, actions):
            process.terminate()
        for process in (rasa, actions):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def say(servers, user, message) -> str:
    return "\n".join(servers.texts(user, message))


@pytest.fixture(scope="module")
def conversations(sqlite_servers):
    """A scripted day: answered questions with 👍/👎, unanswered ones, an application, a handoff."""
    s = sqlite_servers
    sent = 0

    def turn(user, message, expect=None):
        nonlocal sent
        reply = say(s, user, message)
        sent += 1
        if expect is not None:
            assert expect in reply, (message, reply)
        return reply

    a = sender("a")
    turn(a, "您好", "您好")
    turn(a, ANSWERED, "来源：")
    turn(a, "/feedback_helpful", "感谢您的反馈")
    b = sender("b")
    turn(b, ANSWERED, "来源：")
    turn(b, "/feedback_unhelpful", "抱歉没能帮到您")
    c = sender("c")
    for question in FUND + SOCIAL:
        # Other agencies' business: referred there, no citation; still listed for staff as not answered here.
        turn(c, question, "的职责")
    d = sender("d")  # a citizen's disclosure application, with an ID number, phone and e-mail typed
    for message in ("我要申请政府信息公开", "公民", "张三", "居民身份证", ID_NUMBER, PHONE,
                    "示例市商务局2020年政务公开工作要点的全文", "电子", "电子邮件", EMAIL):
        turn(d, message)
    turn(d, "/confirm_request", "回执号")
    e = sender("e")
    turn(e, "转人工", "人工服务")
    return {"messages": sent, "senders": 5}


@pytest.fixture(scope="module")
def report(sqlite_servers, conversations, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    today = date.today().isoformat()
    result = CliRunner().invoke(
        govbot,
        ["analytics", "--db-url", f"sqlite:///{sqlite_servers.tracker_db}", "--from", today, "--to", today, "--out", str(out)],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out, result.output


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.e2e
def test_counts_of_the_day(report, conversations):
    out, output = report
    [day] = read_csv(out / "daily.csv")
    assert day["日期"] == date.today().isoformat()
    assert int(day["对话数"]) == conversations["senders"]
    assert int(day["用户消息"]) == conversations["messages"]
    assert int(day["助手消息"]) >= conversations["messages"]
    assert (int(day["有帮助"]), int(day["没帮助"])) == (1, 1)
    assert read_csv(out / "channels.csv") == [
        {"渠道": "REST 接口", "对话数": str(conversations["senders"]), "用户消息": str(conversations["messages"])}
    ]
    assert f"对话 {conversations['senders']} 个，用户消息 {conversations['messages']} 条" in output
    assert "👍 1 / 👎 1" in output


@pytest.mark.e2e
def test_intents_documents_and_handoffs(report):
    out, _ = report
    intents = {row["意图"]: int(row["次数"]) for row in read_csv(out / "intents.csv")}
    assert intents["feedback_helpful"] == 1 and intents["feedback_unhelpful"] == 1
    assert intents["ask_knowledge"] >= 2 + len(FUND) + len(SOCIAL) - 1
    assert intents["apply_disclosure"] == 1 and intents["request_human"] == 1
    documents = {row["文档编号"]: row for row in read_csv(out / "documents.csv")}
    assert int(documents[ANSWERED_DOC]["引用次数"]) == 2
    assert (documents[ANSWERED_DOC]["有帮助"], documents[ANSWERED_DOC]["没帮助"]) == ("1", "1")
    assert "政务公开工作要点" in documents[ANSWERED_DOC]["标题"]
    handoffs = {row["代码"]: int(row["次数"]) for row in read_csv(out / "handoffs.csv")}
    assert handoffs == {"disclosure": 1, "handoff": 1}
    topics = {row["关键词"] for row in read_csv(out / "topics.csv")}
    assert {"公积金", "社保"} & topics


@pytest.mark.e2e
def test_unanswered_questions_grouped_into_themes(report):
    out, _ = report
    unanswered = read_csv(out / "unanswered.csv")
    assert len(unanswered) == len(FUND) + len(SOCIAL)
    assert {row["原因"] for row in unanswered} == {"知识库未找到"}
    assert f"我电话{MASKED_PHONE}，住房公积金提取要多久" in {row["问题"] for row in unanswered}
    themes = read_csv(out / "themes.csv")
    assert sum(int(t["次数"]) for t in themes) == len(FUND) + len(SOCIAL)
    theme_of = {}
    for index, theme in enumerate(themes):
        for example in theme["示例"].split(" | "):
            theme_of[example] = index
    # Questions about the same thing land in the same theme, apart from the other subject.
    assert theme_of["住房公积金怎么提取出来"] == theme_of["公积金贷款最多能贷多少钱"]
    assert theme_of["今年社保缴费基数是多少"] == theme_of["灵活就业人员的社保在哪交，一个月交多少"]
    assert theme_of["住房公积金怎么提取出来"] != theme_of["今年社保缴费基数是多少"]


@pytest.mark.e2e
def test_report_has_charts_and_no_personal_data(report):
    out, _ = report
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "未能回答的问题" in html and "住房公积金" in html and MASKED_PHONE in html
    for name in ("daily", "intents", "feedback", "documents"):
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert f'src="{name}.png"' in html
    everything = "".join(p.read_text(encoding="utf-8-sig") for p in out.iterdir() if p.suffix in (".html", ".csv"))
    for secret in (ID_NUMBER, PHONE, EMAIL, "张三", "an-a-", "an-d-"):
        assert secret not in everything


def test_in_memory_tracker_store_is_refused_in_chinese(tmp_path):
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text("tracker_store:\n  type: bot.rasa_plugins.tracker_store.RedactingTrackerStore\n", encoding="utf-8")
    result = CliRunner().invoke(govbot, ["analytics", "--endpoints", str(endpoints), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "内存存储" in result.output and "--db-url" in result.output
    assert not (tmp_path / "out").exists()


def test_bad_dates_and_missing_database_get_clear_errors(tmp_path):
    result = CliRunner().invoke(govbot, ["analytics", "--from", "2026-13-01", "--db-url", "sqlite:///x.db"])
    assert result.exit_code == 2 and "日期格式应为 YYYY-MM-DD" in result.output
    result = CliRunner().invoke(govbot, ["analytics", "--from", "2026-11-02", "--to", "2026-11-01", "--db-url", "sqlite:///x.db"])
    assert result.exit_code == 1 and "晚于截止日期" in result.output
    result = CliRunner().invoke(govbot, ["analytics", "--db-url", f"sqlite:///{tmp_path / 'none.db'}", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "找不到对话数据库文件" in result.output


def test_days_follow_the_report_time_zone_and_suggestions_are_told_apart():
    """Pure counting on hand-made events: 23:30 UTC is the next day in Beijing; 建议 is not 投诉."""
    from datetime import datetime, timedelta, timezone

    from bot.analytics.metrics import Period, compute

    beijing = timezone(timedelta(hours=8))
    late = datetime(2026, 11, 1, 23, 30, tzinfo=timezone.utc).timestamp()  # 2 Nov 07:30 in Beijing

    def user(ts, text, intent, channel="socketio"):
        return {"event": "user", "timestamp": ts, "sender_id": "x", "text": text, "input_channel": channel,
                "parse_data": {"intent": {"name": intent}}}

    events = [
        user(late, "我有个建议", "file_complaint"),
        {"event": "slot", "timestamp": late + 1, "sender_id": "x", "name": "request_kind", "value": "complaint"},
        {"event": "slot", "timestamp": late + 2, "sender_id": "x", "name": "complaint_type", "value": "suggestion"},
        user(late + 3, "/confirm_request", "confirm_request"),
        {"event": "action", "timestamp": late + 4, "sender_id": "x", "name": "action_submit_request"},
        {"event": "slot", "timestamp": late + 5, "sender_id": "x", "name": "request_kind", "value": None},
        {"event": "slot", "timestamp": late + 5, "sender_id": "x", "name": "last_request_key", "value": "k1"},
    ]
    stats = compute(events, Period(date(2026, 11, 2), date(2026, 11, 2), beijing))
    assert stats.conversations == 1 and stats.user_messages == 2
    assert dict(stats.handoffs) == {"suggestion": 1}
    assert stats.per_channel["socketio"]["conversations"] == 1
    assert compute(events, Period(date(2026, 11, 1), date(2026, 11, 1), beijing)).user_messages == 0


def test_database_url_read_from_endpoints(tmp_path, monkeypatch):
    from bot.analytics.store import url_from_endpoints

    monkeypatch.setenv("GOVBOT_TRACKER_DATABASE_URL", "postgresql://rasa@db.internal:5432/rasa")
    production = tmp_path / "production.yml"
    production.write_text(
        "tracker_store:\n  type: bot.rasa_plugins.tracker_store.RedactingTrackerStore\n  backend: sql\n"
        "  url: ${GOVBOT_TRACKER_DATABASE_URL}\n", encoding="utf-8")
    assert url_from_endpoints(production) == "postgresql://rasa@db.internal:5432/rasa"
    sqlite = tmp_path / "sqlite.yml"
    sqlite.write_text("tracker_store:\n  type: sql\n  dialect: sqlite\n  db: var/tracker.db\n", encoding="utf-8")
    assert url_from_endpoints(sqlite) == "sqlite:///var/tracker.db"
    parts = tmp_path / "parts.yml"
    parts.write_text("tracker_store:\n  type: sql\n  dialect: postgresql\n  url: localhost\n  port: 5432\n"
                     "  db: rasa\n  username: bot\n", encoding="utf-8")
    assert url_from_endpoints(parts) == "postgresql://bot@localhost:5432/rasa"


def missing_glyphs(draw) -> list[str]:
    """matplotlib's warnings about characters its font cannot draw (each would be an empty box)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        draw()
    return [str(w.message) for w in caught if "missing from" in str(w.message)]


def test_charts_are_labelled_in_chinese_with_the_cjk_font_setup_installs(tmp_path):
    """`make test` installs a Chinese font (`make fonts`); the charts find it and draw every character."""
    from collections import Counter

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bot.analytics.metrics import Period, Stats
    from bot.analytics.report import CHART_LABELS, CJK_FONTS, charts, cjk_font

    font = cjk_font()
    assert font in CJK_FONTS, "the charts find no Chinese font: `make fonts` installs fonts-wqy-microhei"
    stats = Stats(period=Period(date(2026, 11, 2), date(2026, 11, 2)))
    stats.per_day = {date(2026, 11, 2): {"conversations": 1, "user_messages": 2, "bot_messages": 2}}
    stats.intents = Counter({"ask_knowledge": 2})
    stats.feedback_per_day = {date(2026, 11, 2): {"helpful": 1}}
    files = {}
    assert missing_glyphs(lambda: files.update(charts(stats, tmp_path))) == []
    assert set(files) >= {"daily", "intents", "feedback"}
    assert all((tmp_path / name).stat().st_size > 1000 for name in files.values())

    # The check above can fail: the same Chinese title in a font without Chinese is reported.
    def without_cjk_font():
        with plt.rc_context({"font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"]}):
            fig, ax = plt.subplots()
            ax.set_title(CHART_LABELS["zh"]["daily"])
            fig.savefig(tmp_path / "boxes.png")
            plt.close(fig)

    assert missing_glyphs(without_cjk_font)


def test_failed_turns_are_counted_apart_from_unanswered_questions(tmp_path):
    """A turn answered with the failed-action apology is an IT matter: its own table, not a knowledge gap."""
    from datetime import datetime, timezone

    from bot.analytics.metrics import Period, compute
    from bot.analytics.report import Names, tables, write_report
    from bot.rasa_plugins.action_failure import FAILED_ACTION_KEY, FAILURE_REPLY

    noon = datetime(2026, 11, 2, 4, 0, tzinfo=timezone.utc).timestamp()
    events = [
        {"event": "user", "timestamp": noon, "sender_id": "y", "text": "政务公开工作要点在哪看", "input_channel": "rest",
         "parse_data": {"intent": {"name": "ask_knowledge"}}},
        {"event": "action", "timestamp": noon + 1, "sender_id": "y", "name": "action_answer_knowledge"},
        {"event": "bot", "timestamp": noon + 1, "sender_id": "y", "text": FAILURE_REPLY,
         "metadata": {FAILED_ACTION_KEY: "action_answer_knowledge"}},
    ]
    stats = compute(events, Period(date(2026, 11, 2), date(2026, 11, 2), timezone.utc))
    assert dict(stats.failures) == {(date(2026, 11, 2), "action_answer_knowledge"): 1}
    assert stats.unanswered == [] and stats.knowledge_questions == 0
    assert tables(stats, [], Names())["failures"] == [
        {"日期": "2026-11-02", "动作": "action_answer_knowledge", "环节": "知识问答", "次数": 1}
    ]
    html = write_report(stats, [], tmp_path).read_text(encoding="utf-8")
    assert "系统故障" in html and "知识问答" in html
    assert read_csv(tmp_path / "failures.csv")[0]["次数"] == "1"
