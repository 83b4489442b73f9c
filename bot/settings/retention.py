"""Retention settings: how long conversations, drafts and rejected requests keep personal data,
and how long the tracker store rides out a database restart (bot.privacy.retention, bot.rasa_plugins.tracker_store)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.settings.parse import Area, env_var


@dataclass(frozen=True)
class RetentionSettings(Area):
    title = "对话存储与保留期"

    tracker_days: float = env_var(
        "GOVBOT_TRACKER_RETENTION_DAYS", 180.0, "对话在最后一条事件之后保留的天数，0 为永久保留", minimum=0, example="180"
    )
    # 0 (or unset) means the default: the purge must run now and then.
    purge_interval: float = env_var("GOVBOT_TRACKER_PURGE_INTERVAL", 3600.0, "运行中的 Rasa 清理过期对话的最短间隔秒数", minimum=0)
    draft_days: float = env_var(
        "GOVBOT_DRAFT_RETENTION_DAYS", 1.0, "未提交的表单草稿（含证件号、电话、邮箱）在最后一次填写之后保留的天数，0 为不删除", minimum=0, example="1"
    )
    rejected_payload_days: float = env_var(
        "GOVBOT_REJECTED_PAYLOAD_DAYS", 30.0, "被办件系统拒收的请求保留完整内容的天数，之后只留存根，0 为一直保留", minimum=0, example="30"
    )
    tracker_retry_seconds: float = env_var(
        "GOVBOT_TRACKER_RETRY_SECONDS", 10.0, "对话存储数据库短暂不可用时重试的最长秒数（之后 Rasa 会改用空的内存存储）"
    )
