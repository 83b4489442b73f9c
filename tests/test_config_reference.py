"""The README's configuration reference (「配置」 → 「全部环境变量」) lists every environment variable the
code reads, and nothing else (issue 20 item 7).

Found in the code: Python under bot/ and actions/ (AST: os.environ / os.getenv / environ[...] / the
env_var declarations and env_secret of bot.settings, click's envvar=, and module constants such as
TOKEN_ENV = "GOVBOT_…" that those readers are given), the shell scripts under scripts/ (${VAR:-…} and
the other default forms, and variables used without being assigned in the script), and the ${VAR}
placeholders Rasa substitutes in endpoints*.yml and credentials.yml. deploy/govbot.env.example may only
set documented variables (or the compose file's own placeholders, such as the image tag).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
PREFIXES = ("GOVBOT_", "WECHAT_")  # the project's own: every whole-string constant so named is a variable
READER_FUNCTIONS = {"getenv", "get", "pop", "setdefault", "env_var", "env_secret"}
# Keys of a WSGI/ASGI request's environ (socket.io's), not of the process environment.
REQUEST_ENVIRON_KEYS = re.compile(r"^(HTTP_\w+|REMOTE_ADDR)$")
SHELL_BUILTINS = {"SECONDS", "PWD", "HOME", "PATH", "IFS", "RANDOM", "BASH_SOURCE", "UID", "EUID", "PPID", "LINENO"}
HEADING = "### 全部环境变量"


def _python_variables() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for base in ("bot", "actions"):
        for path in sorted((ROOT / base).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            constants = {
                target.id: node.value.value
                for node in tree.body
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                for target in node.targets
                if isinstance(target, ast.Name)
            }
            names: set[str] = set()

            def value(node: ast.AST) -> str | None:
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    return node.value
                if isinstance(node, ast.Name):
                    return constants.get(node.id)
                return None

            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(PREFIXES):
                    names.add(node.value)
                elif isinstance(node, ast.Call):
                    func = node.func
                    func_name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                    if func_name in READER_FUNCTIONS or func_name.startswith("env_"):
                        names.update(v for v in map(value, node.args[:2]) if v)
                    names.update(v for k in node.keywords if k.arg == "envvar" and (v := value(k.value)))
                elif isinstance(node, ast.Subscript):
                    target = node.value
                    if (isinstance(target, ast.Attribute) and target.attr == "environ") or (
                        isinstance(target, ast.Name) and target.id in {"environ", "env"}
                    ):
                        names.update(v for v in [value(node.slice)] if v)
            for name in names:
                if ENV_NAME.match(name) and not REQUEST_ENVIRON_KEYS.match(name):
                    found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def _shell_variables() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "scripts").glob("*.sh")):
        text = "\n".join(line for line in path.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#"))
        defaulted = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)(?::?[-=?+])", text))
        referenced = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", text))
        assigned = set(re.findall(r"(?:^|[\s;(])(?:export\s+|local\s+)?([A-Z][A-Z0-9_]*)=", text, re.M))
        assigned |= set(re.findall(r"\bread\s+(?:-\w+\s+)*([A-Z][A-Z0-9_]*)", text))
        assigned |= set(re.findall(r"\bfor\s+([A-Z][A-Z0-9_]*)\s+in\b", text))
        for name in defaulted | (referenced - assigned - SHELL_BUILTINS):
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def _rasa_config_variables() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in [*sorted(ROOT.glob("endpoints*.yml")), ROOT / "credentials.yml"]:
        for name in re.findall(r"\$\{(\w+)\}", path.read_text(encoding="utf-8")):
            found.setdefault(name, set()).add(path.name)
    return found


def code_variables() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for part in (_python_variables(), _shell_variables(), _rasa_config_variables()):
        for name, paths in part.items():
            found.setdefault(name, set()).update(paths)
    return found


def _secret_variables() -> set[str]:
    """Variables that also take <NAME>_FILE: the secrets declared in bot.settings and any read through env_secret."""
    from bot.settings import AREAS

    names = {v.name for area in AREAS for v in area.variables() if v.secret}
    for path in sorted((ROOT / "bot").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "env_secret(" not in text:
            continue
        tree = ast.parse(text)
        constants = {
            t.id: n.value.value
            for n in tree.body
            if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "env_secret":
                arg = node.args[0]
                name = arg.value if isinstance(arg, ast.Constant) else constants.get(getattr(arg, "id", ""))
                if name:
                    names.add(name)
    return names


def reference_rows() -> list[str]:
    """The table rows (header and separator included) under the reference heading."""
    text = README.read_text(encoding="utf-8")
    assert HEADING in text, f"README has no section {HEADING}"
    section = text.split(HEADING, 1)[1]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("|"):
            rows.append(line)
        elif rows or line.startswith("#"):
            break  # the first table under the heading, and only that one
    return rows


def reference_table() -> dict[str, str]:
    """Variable -> its whole row."""
    rows = reference_rows()
    assert rows[0].replace(" ", "") == "|变量|默认|作用|读取者|", rows[0]
    table: dict[str, str] = {}
    for row in rows[2:]:
        first = row.split("|")[1]
        for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", first):
            assert name not in table, f"{name} is listed twice"
            table[name] = row
    return table


def test_the_scan_finds_what_we_know_is_read():
    found = code_variables()
    known = {
        "GOVBOT_ACTION_TOKEN",  # through a TOKEN_ENV constant (bot.access.action_auth)
        "GOVBOT_REST_TOKEN",  # click envvar= and a constant
        "WECHAT_REPLY_DEADLINE",  # env_var(NAME, …) in bot/settings/wechat.py
        "GOVBOT_WEB_HOST",  # env_var declaration
        "GOVBOT_START_TIMEOUT",  # scripts/run.sh ${…:-900}
        "GOVBOT_TRACKER_DATABASE_URL",  # endpoints.production.yml
        "HF_HUB_OFFLINE",
    }
    assert known <= set(found), known - set(found)
    assert not {"REMOTE_ADDR", "HTTP_X_FORWARDED_FOR", "RUN_DIR", "PROFILE"} & set(found)
    assert {"GOVBOT_RASA_TOKEN", "GOVBOT_SESSION_SECRET"} <= _secret_variables()


def test_every_variable_the_code_reads_is_in_the_readme_reference():
    found = code_variables()
    table = reference_table()
    missing = {name: sorted(paths) for name, paths in found.items() if name not in table}
    assert not missing, f"add to README {HEADING}: {missing}"


def test_the_readme_reference_lists_nothing_the_code_does_not_read():
    found = code_variables()
    stale = sorted(set(reference_table()) - set(found))
    assert not stale, f"README {HEADING} lists variables no code reads: {stale}"


def test_every_row_says_its_default_meaning_and_reader():
    for row in reference_rows()[2:]:
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert len(cells) == 4 and all(cells), row


def test_secret_variables_say_they_can_come_from_a_file():
    [file_row] = [row for row in reference_rows()[2:] if "_FILE" in row.split("|")[1]]
    for name in _secret_variables():
        assert f"`{name}`" in file_row, name


def test_the_compose_env_example_sets_only_documented_variables():
    example = ROOT / "deploy" / "govbot.env.example"
    names = set(re.findall(r"^(\w+)=", example.read_text(encoding="utf-8"), re.M))
    compose = (ROOT / "deploy" / "docker-compose.production.yml").read_text(encoding="utf-8")
    compose_only = set(re.findall(r"\$\{(\w+)(?::?[-?][^}]*)?\}", compose))
    table = reference_table()
    undocumented = sorted(n for n in names if n not in table and n not in compose_only)
    assert not undocumented, f"deploy/govbot.env.example sets variables nothing reads: {undocumented}"
    # The secrets the services need are all there to fill in.
    assert {"GOVBOT_RASA_TOKEN", "GOVBOT_ACTION_TOKEN", "GOVBOT_SESSION_SECRET", "GOVBOT_CASE_BOT_TOKEN"} <= names
