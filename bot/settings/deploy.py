"""Deployment settings, mostly read by docker compose and `make run` (scripts/run.sh): declared here
so deploy/govbot.env.example and the README come from one list. Python reads the database that
`govbot db` backs up by default and the action server's listen address."""

from __future__ import annotations

from dataclasses import dataclass

from bot.settings.parse import Area, env_var


@dataclass(frozen=True)
class DeploySettings(Area):
    title = "镜像与数据库（docker compose 读取；镜像为 deploy/Dockerfile 构建时的仓库路径和版本标签）"

    image: str = env_var("GOVBOT_IMAGE", "govbot", "要运行的镜像（仓库路径）", example="govbot")
    version: str = env_var("GOVBOT_VERSION", "0.1.0", "镜像的版本标签", example="0.1.0")
    postgres_password: str = env_var("POSTGRES_PASSWORD", "", "compose 中 PostgreSQL 的密码", example="change-me")
    database_url: str = env_var(
        "GOVBOT_DATABASE_URL",
        "",
        "对话存储、发件箱、办件系统和控制台未单独设置时共用的数据库；govbot db backup/restore 的默认数据库",
        example="postgresql://govbot:change-me@postgres:5432/govbot",
    )
    # Sanic's own variable, which the action server's --host defaults to.
    action_host: str = env_var("SANIC_HOST", "127.0.0.1", "动作服务监听的地址（run.sh 为 127.0.0.1，容器中为 0.0.0.0）")
