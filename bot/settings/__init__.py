"""All configuration: one typed settings module per area, read through one parser (bot.settings.parse).

Each area is a small frozen dataclass whose fields name their environment variable, default and
Chinese description once; `Area.from_env()` reads them when called (never at import), so tests and
subprocesses can set variables per process. `python -m bot.settings --env-example` writes
deploy/govbot.env.example from the same declarations (tests/test_settings.py compares).
"""

from __future__ import annotations

from bot.settings.access import AccessSettings
from bot.settings.casework import CaseworkSettings
from bot.settings.deploy import DeploySettings
from bot.settings.knowledge import DEFAULT_MODEL, PROJECT_ROOT, IndexSettings, Settings
from bot.settings.limits import LimitSettings
from bot.settings.logs import LogSettings
from bot.settings.parse import Area, Variable, env_secret, env_var
from bot.settings.retention import RetentionSettings
from bot.settings.web import WebSettings
from bot.settings.wechat import WeChatSettings

__all__ = [
    "AREAS",
    "AccessSettings",
    "Area",
    "CaseworkSettings",
    "DEFAULT_MODEL",
    "DeploySettings",
    "IndexSettings",
    "LimitSettings",
    "LogSettings",
    "PROJECT_ROOT",
    "RetentionSettings",
    "Settings",
    "Variable",
    "WeChatSettings",
    "WebSettings",
    "env_example",
    "env_secret",
    "env_var",
]

# The areas in the order deploy/govbot.env.example lists them.
AREAS: list[type[Area]] = [
    DeploySettings,
    CaseworkSettings,
    AccessSettings,
    WebSettings,
    WeChatSettings,
    Settings,
    IndexSettings,
    LimitSettings,
    RetentionSettings,
    LogSettings,
]

ENV_EXAMPLE_HEADER = """\
# 由 `python -m bot.settings --env-example > deploy/govbot.env.example` 从 bot/settings/ 的声明生成，请勿手改
# （tests/test_settings.py 核对）。全部变量见 README「全部环境变量」。
# 复制为 deploy/govbot.env（不提交），填写后 chmod 600；docker compose 读取它。
# 令牌和密钥用 python -c 'import secrets; print(secrets.token_urlsafe(32))' 生成，只放在这个文件
# （或 变量名_FILE 指向的文件）里，不要写在命令行上（ps 可见）。
"""


def env_example() -> str:
    """The text of deploy/govbot.env.example: each area's variables that a deployment fills in."""
    parts = [ENV_EXAMPLE_HEADER]
    for area in AREAS:
        listed = [v for v in area.variables() if v.example is not None]
        if not listed:
            continue
        parts.append(f"\n# ── {area.title}\n")
        for variable in listed:
            parts.append(f"# {variable.doc}\n{variable.name}={variable.example}\n")
    return "".join(parts)
