"""bot.settings: one parser, one declaration per variable, read when asked (issue 19 item 3)."""

from __future__ import annotations

import dataclasses
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
