"""Analytics for disclosure-office staff: what people asked, what went unanswered, 👍/👎, handoffs.

Read-only over Rasa's SQL tracker store (the events table); nothing personal leaves it unmasked.
"""

from bot.analytics.metrics import Period, compute
from bot.analytics.store import TrackerStoreError, load_events

__all__ = ["Period", "TrackerStoreError", "compute", "load_events"]
