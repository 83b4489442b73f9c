"""Log-file settings of every service (bot.ops.log_files; README 生产部署 → 日志)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.settings.parse import Area, env_var


@dataclass(frozen=True)
class LogSettings(Area):
    title = "日志文件"

    directory: str = env_var("GOVBOT_LOG_DIR", "", "设置后各服务另把日志写入此目录下的 <服务>-<端口>.log；空则只输出到终端")
    rotate: str = env_var("GOVBOT_LOG_ROTATE", "daily", "daily：每天换新文件；size：达到 GOVBOT_LOG_MAX_BYTES 换新文件", choices=("daily", "size"))
    backups: int = env_var("GOVBOT_LOG_BACKUPS", 14, "保留的旧日志文件数", minimum=1)
    max_bytes: int = env_var("GOVBOT_LOG_MAX_BYTES", 10 * 1024 * 1024, "size 轮转时每个文件的上限（字节）", minimum=1024)
    format: str = env_var("GOVBOT_LOG_FORMAT", "text", "json：日志文件每行一个 JSON 对象", choices=("text", "json"))
