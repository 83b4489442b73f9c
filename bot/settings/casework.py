"""Casework settings: the case system the assistant files requests with, the drafts and outbox
database, the reference case service, and staffed 转人工 hours (bot.casework.case_client, bot.casework.outbox,
bot.case_service, bot.handoff)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from bot.settings.knowledge import PROJECT_ROOT
from bot.settings.parse import Area, env_var

DEFAULT_CASE_URL = "http://127.0.0.1:8100"


@dataclass(frozen=True)
class CaseworkSettings(Area):
    title = "办件系统、发件箱与人工服务"

    case_url: str = env_var("GOVBOT_CASE_URL", DEFAULT_CASE_URL, "办件系统地址（真实部署指向本机关自己的系统，接口见 docs/case-api.md）")
    # Two roles of the case service: the assistant (no applicant data) and staff (the console).
    bot_token: str = env_var(
        "GOVBOT_CASE_BOT_TOKEN", "", "助手调用办件系统的令牌", secret=True, example="generate-with-python-secrets-token_urlsafe"
    )
    staff_token: str = env_var(
        "GOVBOT_CASE_STAFF_TOKEN", "", "工作人员（控制台）调用办件系统的令牌，与上一个不能相同", secret=True, example="generate-another-one"
    )
    # Empty: sqlite files under var/ (bot.casework.outbox, bot.case_service.config).
    outbox_database_url: str = env_var("GOVBOT_OUTBOX_DATABASE_URL", "", "发件箱与表单草稿库（默认 var/outbox.db），可用 postgresql://…")
    case_database_url: str = env_var("GOVBOT_CASE_DATABASE_URL", "", "参考办件系统的数据库（默认 var/cases.db），可用 postgresql://…")
    promise_working_days: int = env_var("GOVBOT_CASE_PROMISE_DAYS", 15, "参考办件系统对投诉建议承诺的办理期限（工作日）", minimum=1)
    lookup_max_failures: int = env_var("GOVBOT_CASE_LOOKUP_MAX_FAILURES", 5, "进度查询核对失败几次后锁定该受理编号", minimum=1)
    lookup_lock_seconds: int = env_var("GOVBOT_CASE_LOOKUP_LOCK_SECONDS", 3600, "锁定（也是计数窗口）多少秒", minimum=1)
    calendar_path: Optional[Path] = env_var(
        "GOVBOT_CASE_CALENDAR", None, "本机关补充的节假日和调休工作日（YAML：holidays: [...]，workdays: [...]）", kind=Path
    )
    handoff_hours: str = env_var(
        "GOVBOT_HANDOFF_HOURS", "", "人工服务时间：always、none 或如 09:00-12:00,13:30-17:00（工作日）；空则取 knowledge/agency.yml 的 hours"
    )
    canned_replies_path: Path = env_var(
        "GOVBOT_CANNED_REPLIES_PATH", PROJECT_ROOT / "var" / "canned_replies.txt", "控制台「人工服务」页的常用回复（每行一条）"
    )
