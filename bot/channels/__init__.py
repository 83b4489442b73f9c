"""Custom Rasa input channels (registered in credentials.yml by their class path).

- `bot.channels.wechat.WeChatInput` — 微信公众号 (WeChat official account), served at
  /webhooks/wechat/webhook; configured from WECHAT_* environment variables only.
"""
