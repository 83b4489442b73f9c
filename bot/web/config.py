"""Web server settings from the environment; every value has a default that works with `make run`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp.web import AppKey

from bot.console.config import ConsoleConfig
from bot.settings import AccessSettings, Settings, WebSettings

DEFAULT_HOST = WebSettings.host
DEFAULT_PORT = WebSettings.port
DEFAULT_IDLE_SECONDS = WebSettings.kiosk_idle_seconds
MIN_IDLE_SECONDS = WebSettings.variable("kiosk_idle_seconds").minimum


@dataclass(frozen=True)
class WebConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    # Where browsers reach Rasa's socketio channel (not necessarily where this server does).
    rasa_url: str = "http://127.0.0.1:5005"
    # The portal page as a phone reaches it: the kiosk's 「扫码手机继续」 QR code points here.
    public_url: str = ""
    kiosk_idle_seconds: int = DEFAULT_IDLE_SECONDS
    dist_dir: Path = WebSettings.dist_dir
    knowledge_dir: Path = Settings.knowledge_dir
    # The staff console (/console): its database, the case service it calls, the first admin.
    console: ConsoleConfig = ConsoleConfig()

    @property
    def portal_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}/"

    @classmethod
    def from_env(cls, host: str | None = None, port: int | None = None) -> "WebConfig":
        web = WebSettings.from_env(**({"port": port} if port is not None else {}))
        return cls(
            host=host or web.host,
            port=web.port,
            rasa_url=(web.rasa_url or AccessSettings.read("rasa_url") or cls.rasa_url).rstrip("/"),
            public_url=web.public_url,
            kiosk_idle_seconds=web.kiosk_idle_seconds,
            dist_dir=web.dist_dir.resolve(),
            knowledge_dir=Settings.from_env().knowledge_dir,
            console=ConsoleConfig.from_env(),
        )


# Where the app keeps its WebConfig: request.app[CONFIG_KEY] (app.py sets it, assets.py reads it).
CONFIG_KEY = AppKey("config", WebConfig)
