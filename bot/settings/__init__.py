"""All configuration, one typed settings module per area, read through one parser (bot.settings.parse).

Each area is a small frozen dataclass whose fields name their environment variable, default and
Chinese description once; `Area.from_env()` reads them when called (never at import), so tests and
subprocesses can set variables per process. `python -m bot.settings --env-example` writes
deploy/govbot.env.example from the same declarations.
"""

from bot.settings.limits import LimitSettings
from bot.settings.knowledge import DEFAULT_MODEL, PROJECT_ROOT, IndexSettings, Settings
from bot.settings.parse import Area, Variable, env_number, env_secret, env_var
from bot.settings.retention import RetentionSettings
from bot.settings.wechat import WeChatSettings

__all__ = ["AREAS", "Area", "DEFAULT_MODEL", "IndexSettings", "LimitSettings", "PROJECT_ROOT", "RetentionSettings", "Settings", "Variable", "env_number", "env_secret", "env_var", "WeChatSettings"]

# The areas in the order deploy/govbot.env.example lists them.
AREAS: list[type[Area]] = [Settings, IndexSettings, RetentionSettings, LimitSettings, WeChatSettings]
