"""Access settings: the shared secrets between the services and the lifetimes of signed
conversation ids (bot.ops.rasa_cli, bot.access.action_auth, bot.access.conversation_ids, bot.channels.rest).

Every secret here may also come from the file named by <NAME>_FILE (a mounted Secret, a 0600
file) and never from a command line, where `ps` shows it to every local user.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.settings.parse import Area, env_var


@dataclass(frozen=True)
class AccessSettings(Area):
    title = "服务之间的令牌与会话签名（也可用 变量名_FILE 指向权限 0600 的文件）"

    rasa_url: str = env_var("GOVBOT_RASA_URL", "", "Rasa 的地址：办件系统在转人工结束后恢复对话，控制台读取统计用的对话")
    rasa_token: str = env_var(
        "GOVBOT_RASA_TOKEN", "", "Rasa HTTP API 令牌（办件系统恢复对话、工作人员控制台读取对话用）；不出现在命令行上", secret=True, example="and-another-one"
    )
    action_token: str = env_var(
        "GOVBOT_ACTION_TOKEN", "", "Rasa 调用动作服务的共享密钥；动作服务没有它不启动", secret=True, example="one-more-for-rasa-to-call-the-action-servers"
    )
    session_secret: str = env_var(
        "GOVBOT_SESSION_SECRET", "", "会话编号和扫码接续码的签名密钥；多个 Rasa 副本须相同", secret=True, example="and-one-to-sign-conversation-ids"
    )
    session_max_age: int = env_var("GOVBOT_SESSION_MAX_AGE", 86400, "签名的会话编号的有效秒数", minimum=60)
    handover_max_age: int = env_var("GOVBOT_HANDOVER_MAX_AGE", 300, "扫码接续码的有效秒数", minimum=10)
    rest_token: str = env_var(
        "GOVBOT_REST_TOKEN", "", "本机关自己的服务器调用 REST 的令牌（sender 按原样使用、不按地址限流）；空则 REST 只有公众模式", secret=True, example=""
    )
