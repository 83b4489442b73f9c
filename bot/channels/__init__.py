"""Custom Rasa input channels (registered in credentials.yml by their class path).

- `bot.channels.wechat.WeChatInput` — 微信公众号 (WeChat official account), served at
  /webhooks/wechat/webhook; configured from WECHAT_* environment variables only.
- `bot.channels.rest.RestInput` — Rasa's REST channel with request checks (/webhooks/rest/webhook).

Every public channel passes typed text through `bot.channels.guard.screen` (rate limit, length,
control characters) before Rasa sees it.
"""

import bot.rasa_plugins  # noqa: E402  (Rasa imports the channels before it builds its app)

bot.rasa_plugins.install()
