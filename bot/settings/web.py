"""Web settings: the web server (portal sample page, kiosk, widget script) and the staff console it
runs, and which sites may call Rasa from a browser (bot.web, bot.console, bot.channels.socketio)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.settings.knowledge import PROJECT_ROOT
from bot.settings.parse import Area, env_var


@dataclass(frozen=True)
class WebSettings(Area):
    title = "网页服务、挂件与工作人员控制台"

    port: int = env_var("GOVBOT_WEB_PORT", 8080, "网页服务（门户示例页、自助终端、挂件脚本）的端口", minimum=1)
    host: str = env_var("GOVBOT_WEB_HOST", "127.0.0.1", "网页服务监听的地址（--host 优先）")
    dist_dir: Path = env_var("GOVBOT_WEB_DIST", PROJECT_ROOT / "web" / "dist", "make web 构建的挂件与自助终端脚本所在目录")
    # Empty: GOVBOT_RASA_URL, else http://127.0.0.1:5005.
    rasa_url: str = env_var(
        "GOVBOT_WEB_RASA_URL", "", "浏览器访问 Rasa 的公开 https 地址（HTTPS 代理后的 5005 端口，写入页面的 data-server）", example="https://govbot.example.gov.cn"
    )
    public_url: str = env_var(
        "GOVBOT_WEB_PUBLIC_URL", "", "嵌有挂件的门户页面地址，自助终端的二维码指向它", example="https://www.example.gov.cn/"
    )
    kiosk_idle_seconds: int = env_var("GOVBOT_KIOSK_IDLE_SECONDS", 120, "自助终端无人操作多少秒后清除对话", minimum=5)
    # Parsed by bot.channels.socketio.allowed_origins (`*` refused); empty: http://127.0.0.1:8080.
    origins: str = env_var(
        "GOVBOT_WEB_ORIGINS", "", "可以嵌入挂件、从浏览器调用 Rasa 的网站（逗号分隔的 https 地址，不接受 *）", example="https://www.example.gov.cn"
    )
    console_database_url: str = env_var(
        "GOVBOT_CONSOLE_DATABASE_URL", f"sqlite:///{PROJECT_ROOT / 'var' / 'console.db'}", "工作人员控制台的账号、登录会话和操作记录"
    )
    console_admin_password: str = env_var(
        "GOVBOT_CONSOLE_ADMIN_PASSWORD",
        "",
        "控制台数据库为空时创建的管理员 admin 的密码，首次登录后请修改；空则随机生成并显示一次",
        secret=True,
        example="and-a-long-one-for-the-console-admin",
    )
    tracker_database_url: str = env_var(
        "GOVBOT_TRACKER_DATABASE_URL", "", "对话存储数据库（SQL 存储）；设置后控制台直接从这里读对话，否则经 Rasa 读取"
    )
