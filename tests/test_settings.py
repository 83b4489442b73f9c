"""bot.settings: one parser, one declaration per variable, read when asked (issue 19 item 3)."""

from __future__ import annotations

import dataclasses
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import AREAS, Area, IndexSettings, Settings, env_var
from bot.settings.parse import Variable

ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Sample(Area):
    count: int = env_var("GOVBOT_TEST_COUNT", 3, "测试用", minimum=1)
    ratio: float = env_var("GOVBOT_TEST_RATIO", 0.5, "测试用")
    mode: str = env_var("GOVBOT_TEST_MODE", "a", "测试用", choices=("a", "b"))
    flag: bool = env_var("GOVBOT_TEST_FLAG", True, "测试用")
    path: Path | None = env_var("GOVBOT_TEST_PATH", None, "测试用", kind=Path)
    token: str = env_var("GOVBOT_TEST_TOKEN", "", "测试用", secret=True)
    prompt: str = env_var("GOVBOT_TEST_PROMPT", "q: ", "测试用", keep_blanks=True)


def test_defaults_when_unset_or_blank():
    assert Sample.from_env({}) == Sample()
    assert Sample.from_env({"GOVBOT_TEST_COUNT": " ", "GOVBOT_TEST_MODE": ""}) == Sample()


def test_typed_values():
    got = Sample.from_env(
        {"GOVBOT_TEST_COUNT": " 7 ", "GOVBOT_TEST_RATIO": "1.5", "GOVBOT_TEST_MODE": "B", "GOVBOT_TEST_FLAG": "off", "GOVBOT_TEST_PATH": "~/x"}
    )
    assert (got.count, got.ratio, got.mode, got.flag) == (7, 1.5, "b", False)
    assert got.path == Path("~/x").expanduser()
    assert Sample.from_env({"GOVBOT_TEST_FLAG": "yes"}).flag is True


def test_blank_kept_when_asked():
    assert Sample.from_env({"GOVBOT_TEST_PROMPT": ""}).prompt == ""
    assert Sample.from_env({"GOVBOT_TEST_PROMPT": "query: "}).prompt == "query: "


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("GOVBOT_TEST_COUNT", "三", "环境变量 GOVBOT_TEST_COUNT 应为整数，当前为 '三'"),
        ("GOVBOT_TEST_COUNT", "1.5", "GOVBOT_TEST_COUNT 应为整数"),
        ("GOVBOT_TEST_COUNT", "0", "环境变量 GOVBOT_TEST_COUNT 不能小于 1，当前为 '0'"),
        ("GOVBOT_TEST_RATIO", "half", "环境变量 GOVBOT_TEST_RATIO 应为数字"),
        ("GOVBOT_TEST_MODE", "c", "环境变量 GOVBOT_TEST_MODE 应为 a 或 b，当前为 'c'"),
    ],
)
def test_a_bad_value_names_the_variable(name, value, message):
    with pytest.raises(ValueError) as caught:
        Sample.from_env({name: value})
    assert message in str(caught.value)


def test_a_secret_may_come_from_a_file(tmp_path):
    secret = tmp_path / "token"
    secret.write_text("s3cret\n", encoding="utf-8")
    assert Sample.from_env({"GOVBOT_TEST_TOKEN_FILE": str(secret)}).token == "s3cret"
    assert Sample.from_env({"GOVBOT_TEST_TOKEN": "direct", "GOVBOT_TEST_TOKEN_FILE": str(secret)}).token == "direct"
    with pytest.raises(ValueError, match="GOVBOT_TEST_TOKEN_FILE 指向的文件无法读取"):
        Sample.from_env({"GOVBOT_TEST_TOKEN_FILE": str(tmp_path / "missing")})
    (tmp_path / "empty").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="是空的"):
        Sample.from_env({"GOVBOT_TEST_TOKEN_FILE": str(tmp_path / "empty")})


def test_given_values_win_over_the_environment():
    assert Sample.from_env({"GOVBOT_TEST_COUNT": "oops"}, count=9).count == 9


def test_read_at_call_time_not_at_import(monkeypatch):
    monkeypatch.setenv("GOVBOT_ANSWER_THRESHOLD", "0.5")
    assert Settings.from_env().answer_threshold == 0.5
    monkeypatch.setenv("GOVBOT_ANSWER_THRESHOLD", "0.7")
    assert Settings.from_env().answer_threshold == 0.7
    monkeypatch.setenv("GOVBOT_VECTOR_STORE", "Qdrant")
    assert IndexSettings.from_env().vector_store == "qdrant"


def test_a_subprocess_reads_its_own_environment():
    env = {**os.environ, "GOVBOT_QDRANT_CANDIDATES": "0"}
    run = subprocess.run(
        [sys.executable, "-c", "from bot.settings import IndexSettings; IndexSettings.from_env()"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode != 0 and "环境变量 GOVBOT_QDRANT_CANDIDATES 不能小于 1" in run.stderr


def test_every_variable_is_declared_once_with_a_description():
    seen: dict[str, str] = {}
    for area in AREAS:
        assert area.title, area
        for variable in area.variables():
            assert isinstance(variable, Variable)
            assert variable.name not in seen, f"{variable.name} declared in {seen.get(variable.name)} and {area.__name__}"
            assert variable.doc.strip(), variable.name
            seen[variable.name] = area.__name__


def test_the_committed_env_example_is_the_generated_one():
    generated = subprocess.run(
        [sys.executable, "-m", "bot.settings", "--env-example"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    ).stdout
    committed = (ROOT / "deploy" / "govbot.env.example").read_text(encoding="utf-8")
    assert committed == generated, "regenerate: python -m bot.settings --env-example > deploy/govbot.env.example"
    # Every secret a deployment must fill in is there, and only declared variables are set.
    names = re.findall(r"^(\w+)=", committed, re.M)
    declared = {v.name for area in AREAS for v in area.variables()}
    assert set(names) <= declared and len(names) == len(set(names))
    for area in AREAS:
        for variable in area.variables():
            if variable.secret:
                assert variable.name in names, variable.name


def test_every_declared_variable_is_in_the_readme_table_and_secrets_say_file():
    from tests.test_config_reference import reference_rows, reference_table

    table = reference_table()
    [file_row] = [row for row in reference_rows()[2:] if "_FILE" in row.split("|")[1]]
    for area in AREAS:
        for variable in area.variables():
            assert variable.name in table, f"README 全部环境变量 lacks {variable.name}"
            if variable.secret:
                assert f"`{variable.name}`" in file_row, variable.name


def test_no_module_outside_bot_settings_reads_the_projects_variables():
    """One configuration: GOVBOT_*/WECHAT_* values are read through bot.settings only."""
    from tests.test_config_reference import _python_variables

    declared = {v.name for area in AREAS for v in area.variables()}
    outside = {
        name: sorted(p for p in paths if not p.startswith("bot/settings/"))
        for name, paths in _python_variables().items()
        if name.startswith(("GOVBOT_", "WECHAT_")) and name not in declared
    }
    assert not {n: p for n, p in outside.items() if p}, outside
    readers = subprocess.run(
        ["grep", "-rlE", r"os\.environ\.get\(|os\.getenv\(|environ\.get\(\"(GOVBOT|WECHAT)_", "bot", "actions", "--include=*.py"],
        cwd=ROOT, capture_output=True, text=True,
    ).stdout.split()
    assert [r for r in readers if not r.startswith("bot/settings/")] == [], readers
    # Nor do click options (`envvar=` would read a variable past the parser: no _FILE, no checks).
    assert "envvar=" not in (ROOT / "bot" / "cli.py").read_text(encoding="utf-8")


def test_a_service_opens_only_its_own_secret_files(monkeypatch, tmp_path):
    """A container mounts only its own secrets: reading the assistant's case token must not open the
    staff token's file, while the case service, which needs both, names the one it cannot read."""
    from bot.casework.case_client import CaseClient
    from bot.case_service.config import CaseServiceConfig
    from bot.console.config import ConsoleConfig

    (tmp_path / "bot").write_text("bot-token\n", encoding="utf-8")
    monkeypatch.delenv("GOVBOT_CASE_BOT_TOKEN", raising=False)
    monkeypatch.delenv("GOVBOT_CASE_STAFF_TOKEN", raising=False)
    monkeypatch.setenv("GOVBOT_CASE_BOT_TOKEN_FILE", str(tmp_path / "bot"))
    monkeypatch.setenv("GOVBOT_CASE_STAFF_TOKEN_FILE", str(tmp_path / "not-mounted-here"))
    assert CaseClient.from_env().token == "bot-token"
    with pytest.raises(ValueError, match="GOVBOT_CASE_STAFF_TOKEN_FILE 指向的文件无法读取"):
        CaseServiceConfig.from_env()
    with pytest.raises(ValueError, match="GOVBOT_CASE_STAFF_TOKEN_FILE"):
        ConsoleConfig.from_env()


def test_eval_conversations_takes_the_rasa_token_from_the_environment_or_a_file(tmp_path):
    """`govbot eval-conversations` needs no token on its command line (ps shows it to every user)."""
    from click.testing import CliRunner

    from bot.cli import main
    from tests.conftest import free_port

    [conversations] = sorted((ROOT / "tests" / "data" / "blind").glob("conversations_*.yml"))[:1]
    closed = f"http://127.0.0.1:{free_port()}"
    args = ["eval-conversations", str(conversations), "--rasa-url", closed]
    clean = {"GOVBOT_RASA_TOKEN": "", "GOVBOT_RASA_TOKEN_FILE": "", "GOVBOT_REST_TOKEN": "", "GOVBOT_REST_TOKEN_FILE": ""}
    missing = CliRunner().invoke(main, args, env=clean)
    assert missing.exit_code == 1 and "GOVBOT_RASA_TOKEN_FILE" in missing.stderr and "tokens.env" in missing.stderr
    token = tmp_path / "rasa_token"
    token.write_text("from-a-file\n", encoding="utf-8")
    # With the token from the file it goes on to talk to the (absent) assistant.
    tried = CliRunner().invoke(main, args, env={**clean, "GOVBOT_RASA_TOKEN_FILE": str(token)})
    assert tried.exit_code == 1 and f"无法与 {closed} 的助手对话" in tried.stderr, tried.stderr
    on_argv = CliRunner().invoke(main, [*args, "--token", "x"], env=clean)
    assert "ps" in on_argv.stderr


def _shown(default) -> str | None:
    """A declared default as the README's 默认 column writes it (None: described in words there)."""
    if isinstance(default, bool):
        return "1" if default else "0"
    if isinstance(default, (int, float)):
        return f"{default:g}" if isinstance(default, float) else str(default)
    if isinstance(default, Path):
        return str(default.relative_to(ROOT))
    if isinstance(default, str) and default:
        return default.replace(f"{ROOT}/", "")
    return None


def test_the_readme_table_shows_each_declared_default():
    from tests.test_config_reference import reference_table

    table = reference_table()
    for area in AREAS:
        for variable in area.variables():
            shown = _shown(variable.default)
            if shown is not None:
                cell = table[variable.name].split("|")[2]
                assert f"`{shown}" in cell, f"README 全部环境变量: {variable.name} defaults to {shown!r}, the table says {cell.strip()!r}"


def test_wechat_secrets_may_come_from_files(tmp_path):
    """The official account's token and keys, like every secret, can be mounted files (0600)."""
    from bot.channels.wechat import WeChatConfig

    token, secret = tmp_path / "wechat_token", tmp_path / "wechat_secret"
    token.write_text("tok-from-file\n", encoding="utf-8")
    secret.write_text("secret-from-file", encoding="utf-8")
    config = WeChatConfig.from_env({"WECHAT_TOKEN_FILE": str(token), "WECHAT_APP_ID": "wx1", "WECHAT_APP_SECRET_FILE": str(secret)})
    assert (config.token, config.app_secret) == ("tok-from-file", "secret-from-file")
    with pytest.raises(Exception, match="WECHAT_TOKEN_FILE"):
        WeChatConfig.from_env({"WECHAT_TOKEN_FILE": str(tmp_path / "missing")})


def test_govbot_db_reads_its_default_database_through_the_settings(tmp_path):
    """`govbot db upgrade` without options upgrades the databases the environment names (GOVBOT_*_DATABASE_URL)."""
    env = {
        **os.environ,
        "GOVBOT_OUTBOX_DATABASE_URL": f"sqlite:///{tmp_path / 'o.db'}",
        "GOVBOT_CASE_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
        "GOVBOT_CONSOLE_DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}",
    }
    done = subprocess.run([str(Path(sys.executable).parent / "govbot"), "db", "upgrade"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in tmp_path.iterdir()} >= {"o.db", "c.db", "k.db"}
    missing = subprocess.run([str(Path(sys.executable).parent / "govbot"), "db", "backup", "--out", str(tmp_path / "b.dump")],
                             cwd=ROOT, env={k: v for k, v in os.environ.items() if k != "GOVBOT_DATABASE_URL"},
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "GOVBOT_DATABASE_URL" in missing.stderr and "Traceback" not in missing.stderr
