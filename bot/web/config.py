"""Web server settings from the environment; every value has a default that works with `make run`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bot.console.config import ConsoleConfig
from bot.envvars import env_number
from bot.settings import PROJECT_ROOT, Settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_IDLE_SECONDS = 120
MIN_IDLE_SECONDS = 5


@dataclass(frozen=True)
class WebConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    # Where browsers reach Rasa's socketio channel (not necessarily where this server does).
    rasa_url: str = "http://127.0.0.1:5005"
    # The portal page as a phone reaches it: the kiosk's 「扫码手机继续」 QR code points here.
    public_url: str = ""
    kiosk_idle_seconds: int = DEFAULT_IDLE_SECONDS
    dist_dir: Path = PROJECT_ROOT / "web" / "dist"
    knowledge_dir: Path = PROJECT_ROOT / "knowledge"
    # The staff console (/console): its database, the case service it calls, the first admin.
    console: ConsoleConfig = ConsoleConfig()

    @property
    def portal_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}/"

    @classmethod
    def from_env(cls, host: str | None = None, port: int | None = None) -> "WebConfig":
        env = os.environ.get
        port = port if port is not None else env_number("GOVBOT_WEB_PORT", DEFAULT_PORT, minimum=1, integer=True)
        host = host or env("GOVBOT_WEB_HOST", "").strip() or DEFAULT_HOST
        dist = env("GOVBOT_WEB_DIST", "").strip()
        return cls(
            host=host,
            port=port,
            rasa_url=(env("GOVBOT_WEB_RASA_URL", "").strip() or env("GOVBOT_RASA_URL", "").strip() or cls.rasa_url).rstrip("/"),
            public_url=env("GOVBOT_WEB_PUBLIC_URL", "").strip(),
            kiosk_idle_seconds=env_number("GOVBOT_KIOSK_IDLE_SECONDS", DEFAULT_IDLE_SECONDS, minimum=MIN_IDLE_SECONDS, integer=True),
            dist_dir=Path(dist).resolve() if dist else cls.dist_dir,
            knowledge_dir=Settings.from_env().knowledge_dir,
            console=ConsoleConfig.from_env(),
        )
