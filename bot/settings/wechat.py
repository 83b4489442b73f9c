"""WeChat settings: the official account's server configuration and where the channel keeps its
replay, de-duplication and numbered-choice state (bot.channels.wechat; README 微信公众号接入).
The token and keys are secrets: like every secret they may come from the file NAME_FILE names."""

from __future__ import annotations

from dataclasses import dataclass

from bot.settings.parse import Area, env_var


@dataclass(frozen=True)
class WeChatSettings(Area):
    title = "微信公众号（README「微信公众号接入」；WECHAT_TOKEN 为空时微信回调返回 503）"

    token: str = env_var("WECHAT_TOKEN", "", "与公众号后台「服务器配置 → 令牌(Token)」相同；空则微信回调返回 503", secret=True, example="")
    app_id: str = env_var("WECHAT_APP_ID", "", "开发者ID（AppID）：安全模式与客服消息接口需要", example="")
    app_secret: str = env_var("WECHAT_APP_SECRET", "", "开发者密码（AppSecret）", secret=True, example="")
    aes_key: str = env_var("WECHAT_AES_KEY", "", "消息加解密密钥（43 位，设置后只接收加密消息）", secret=True, example="")
    aes_key_previous: str = env_var("WECHAT_AES_KEY_PREVIOUS", "", "更换密钥期间保留的上一个密钥", secret=True, example="")
    api_base: str = env_var("WECHAT_API_BASE", "https://api.weixin.qq.com", "微信接口地址")
    reply_deadline: float = env_var("WECHAT_REPLY_DEADLINE", 4.0, "被动回复时限（秒，须小于 5；0 表示都以客服消息发送）", example="4")
    timestamp_tolerance: float = env_var("WECHAT_TIMESTAMP_TOLERANCE", 300.0, "允许的请求时间偏差（秒）", example="300")
    state_storage: str = env_var("GOVBOT_WECHAT_STATE_STORAGE", "memory://", "防重放、去重与编号选项的存放处；多副本时 redis://…")
    redis_key_prefix: str = env_var("GOVBOT_REDIS_KEY_PREFIX", "govbot", "锁存储和微信渠道状态的 Redis 键前缀")
    redis_password: str = env_var(
        "GOVBOT_REDIS_PASSWORD", "", "Redis 密码；微信渠道状态的 redis:// 地址不带密码时也用它", keep_blanks=True, example="change-me-too"
    )
