"""Live 转人工 (handoff): the person talks with staff in their own conversation.

- relay.py     (Rasa process) while a conversation is paused for staff, what the person types goes
               to its handoff case instead of the bot; staff replies queued for REST callers are
               handed out with their next message;
- rasa_push.py (case service) a staff reply, or the end of the handoff, is written into the
               conversation through Rasa's HTTP API and sent on the channel it came from;
- hours.py     the agency's service hours and working days: outside them the bot says so at once;
- canned.py    the canned replies the inbox offers.

Markers the widget and kiosk read: a bot message's custom payload {"govbot_handoff": "active"}
while a person handles the conversation, {"govbot_handoff": "ended"} when the bot is back.
"""

# The custom payload (Rasa's socketio channel emits `custom["data"]` as the bot_uttered body).
MARKER = "govbot_handoff"
ACTIVE, ENDED = "active", "ended"
# Metadata of a staff reply in the tracker; `queued` ones wait for the person's next REST message.
STAFF_KEY = "govbot_staff_reply"
QUEUED_KEY = "govbot_queued"
# Channels a reply can be pushed to at once (socket.io: widget and kiosk; WeChat: customer-service API).
PUSH_CHANNELS = ("socketio", "wechat")


def marker(state: str) -> dict:
    """The `custom` part of a bot message that tells widget and kiosk the handoff state."""
    return {"data": {MARKER: state}}
