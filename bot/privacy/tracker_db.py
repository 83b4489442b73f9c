"""Where Rasa keeps conversations: the SQL tracker store's database URL, read from an endpoints.yml.

The staff report (bot.analytics) and the retention purge (`govbot tracker purge`) both read the
tracker database outside Rasa, so both need the URL Rasa itself would use. Only the
`tracker_store` section is read, its ${VARS} from the environment as Rasa does, so settings other
sections need at run time do not have to be set; Rasa is not imported (it costs seconds).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import yaml
from sqlalchemy.engine import URL


def sql_url_from_endpoints(path: Path | str) -> Optional[str]:
    """The SQLAlchemy URL of the tracker store, or None when it is not an SQL store.

    Raises ValueError (in Chinese) when the file cannot be read or the section names an unset variable.
    """
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"无法读取 {path}：{exc.strerror or exc}") from exc
    section = (yaml.safe_load(raw) or {}).get("tracker_store") or {}
    config = {}
    for key, value in section.items():
        if isinstance(value, str):
            value = os.path.expandvars(value)
            if "${" in value:
                raise ValueError(f"{path} 的 tracker_store.{key} 引用了未设置的环境变量：{value}")
        config[key] = value
    if str(config.get("type", "")).lower() != "sql" and str(config.get("backend", "")).lower() != "sql":
        return None
    host = str(config.get("url") or "")
    if "://" in host:  # a whole database URL, as endpoints.production.yml gives it
        return host
    dialect = str(config.get("dialect") or "sqlite")
    db = str(config.get("db") or "rasa.db")
    if dialect.startswith("sqlite"):
        return f"sqlite:///{db}"
    port = config.get("port")
    return URL.create(
        dialect,
        username=config.get("username"),
        password=config.get("password"),
        host=host or None,
        port=int(port) if port else None,
        database=db,
        query=config.get("query") or {},
    ).render_as_string(hide_password=False)
