"""Limits settings: message size, request size, per-sender and per-address rates, concurrency, and
which reverse proxies may name the client (bot.access.rate_limit, bot.channels.guard, bot.channels.rest)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.settings.parse import Area, env_var


@dataclass(frozen=True)
class LimitSettings(Area):
    title = "限流与大小上限"

    # 0 means no limit for the three counts.
    per_minute: int = env_var("GOVBOT_RATE_LIMIT_PER_MINUTE", 30, "同一发送者每分钟最多几条消息，0 为不限", minimum=0)
    per_address: int = env_var("GOVBOT_RATE_LIMIT_PER_ADDRESS", 120, "同一客户端地址每分钟最多几条消息（REST 与 socket.io 合计），0 为不限", minimum=0)
    max_concurrent: int = env_var("GOVBOT_MAX_CONCURRENT_MESSAGES", 64, "每个 Rasa 进程同时处理的消息上限，超出即答「系统繁忙」，0 为不限", minimum=0)
    # Checked by bot.access.rate_limit (memory://, redis://, rediss://, redis+unix://).
    storage_url: str = env_var("GOVBOT_RATE_LIMIT_STORAGE", "memory://", "限流计数的存放处，多副本时如 redis://127.0.0.1:6379/2")
    # Parsed by bot.access.rate_limit.trusted_proxies (addresses or networks, comma-separated).
    trusted_proxies: str = env_var("GOVBOT_TRUSTED_PROXIES", "", "可信反向代理（逗号分隔的地址或网段），只有来自它们的 X-Forwarded-For 才用于按地址限流")
    max_message_chars: int = env_var("GOVBOT_MAX_MESSAGE_CHARS", 2000, "各渠道接受的最长消息（字符）", minimum=1)
    # A 2,000-character message is ~12 KB even with \\u escapes.
    rest_max_body_bytes: int = env_var("GOVBOT_REST_MAX_BODY_BYTES", 256 * 1024, "REST 请求体上限（字节），超出返回 413", minimum=1)
