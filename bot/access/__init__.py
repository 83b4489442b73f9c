"""Who may call what, and how often.

action_auth is the shared secret that lets only the Rasa server call the action server;
conversation_ids signs the conversation ids public clients present (and the kiosk's one-time
hand-over tokens), so nobody can name another person's conversation; rate_limit caps messages
per sender, per client address and per process, so one caller cannot keep the assistant busy
for everyone else.
"""
