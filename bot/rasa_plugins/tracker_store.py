"""A Rasa tracker store that never persists full ID numbers or phone numbers.

People applying for government information type their ID number (身份证号) and phone number into
the chat. Those go to the case system only; Rasa's tracker store would otherwise keep them in the
text and parse data of the person's own messages and in slots. `RedactingTrackerStore` wraps
Rasa's in-memory store (default) or its SQL store and, on every save, passes every string in every
event through `bot.privacy.validation.redact` before anything is stored or streamed to an event broker.

While a form asks for an identifier (`requested_slot` is id_number, phone, email or credit_code),
the person's message of that turn, and those slots whenever they are set, are masked as an
identifier answer (`bot.privacy.validation.redact_identifier_answer`): a passport number or a number in
a format no pattern knows is masked too.

Fail closed: nesting deeper than MAX_DEPTH levels inside an event is replaced by a placeholder,
an event that cannot be masked for any other reason keeps only its type and names, and if even
that fails the turn's new events are dropped. Rasa's FailSafeTrackerStore falls back to an
in-memory store when a save raises; whatever reaches it, or the database, is masked first.

Redaction happens on save, and Rasa saves a conversation once at the end of each turn, so the
actions of that turn (the action server included) still see the raw message. The saved tracker
object itself is redacted in place, so the tracker Rasa holds after a save is exactly what the
store returns on the next message (slots then hold the masked forms, e.g. 1101**********002X).
Only the events added since the tracker was retrieved (or last saved) are redacted: everything
this store hands out was redacted when it was saved, and re-checking the whole conversation on
every save cost ~18 ms a turn at 10 turns and ~80 ms at 100 (bench, busy 2-core machine).

endpoints.yml (Rasa passes `url` as `host` and every other key except `type` as a keyword):

    tracker_store:
      type: bot.rasa_plugins.tracker_store.RedactingTrackerStore

    tracker_store:
      type: bot.rasa_plugins.tracker_store.RedactingTrackerStore
      backend: sql
      dialect: postgresql
      url: ${TRACKER_DB_HOST}
      port: 5432
      db: rasa
      username: ${TRACKER_DB_USER}
      password: ${TRACKER_DB_PASSWORD}
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Dict, FrozenSet, Iterable, Optional, Text, TypeVar

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import InMemoryTrackerStore, SQLTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    AllSlotsReset,
    Event,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

try:
    from bot.privacy.private_files import private_sqlite_file
    from bot.privacy.retention import PeriodicPurge
    from bot.settings.retention import RetentionSettings
    from bot.privacy.validation import redact, redact_identifier_answer
except ImportError as error:  # pragma: no cover - depends on the deployment
    # Rasa answers an ImportError from a custom tracker store with a warning and a plain,
    # unredacted InMemoryTrackerStore; refusing to start is the only safe answer.
    raise RuntimeError(
        f"bot.rasa_plugins.tracker_store needs bot.privacy.validation, bot.privacy.retention and bot.privacy.private_files: {error}"
    ) from error

# Rasa loads this module in every profile: the Rasa-process patches are applied from here
# (bot.rasa_plugins.install).
import bot.rasa_plugins  # noqa: E402

bot.rasa_plugins.install()

_T = TypeVar("_T")
# Errors of a database that is (re)starting or dropped the connection; not errors of the SQL itself.
try:
    from sqlalchemy.exc import DisconnectionError, OperationalError

    _TRANSIENT_ERRORS: tuple = (OperationalError, DisconnectionError)
except ImportError:  # pragma: no cover - SQLAlchemy comes with Rasa
    _TRANSIENT_ERRORS = ()


def _retry_seconds() -> float:
    variable = RetentionSettings.variable("tracker_retry_seconds")
    try:
        return max(0.0, variable.read())
    except ValueError:  # read while a request waits: the default, not an error
        return variable.default


__all__ = [
    "RedactingTrackerStore",
    "redact_event",
    "redact_event_dict",
    "redact_tracker",
    "unredacted_start",
    "IDENTIFIER_SLOTS",
    "MAX_DEPTH",
]

logger = logging.getLogger(__name__)

# String values Rasa uses as identifiers, wherever they occur: never redacted.
_IDENTIFIERS: FrozenSet[str] = frozenset(
    {
        "event",
        "timestamp",
        "message_id",
        "model_id",
        "assistant_id",
        "utter_action",
        "intent_response_key",
        "template_name",
    }
)
# Top-level fields of an event dict that name things: event type, slot/action/loop name, policy,
# a reminder's intent and date. Free text (`text`, `action_text`, `value`, `data`, `metadata`,
# `parse_data`, `entities`, ...) is redacted.
_EVENT_FIELDS: FrozenSet[str] = _IDENTIFIERS | {"name", "policy", "intent", "input_channel", "date_time"}
# Inside parse data: intent names, and entity type names, extractors, roles and groups.
_NESTED_FIELDS: Dict[str, FrozenSet[str]] = {
    "intent": _IDENTIFIERS | {"name"},
    "intent_ranking": _IDENTIFIERS | {"name"},
    "entities": _IDENTIFIERS | {"entity", "extractor", "role", "group"},
}
_BACKENDS = ("memory", "sql")
_BACKEND_ALIASES = {"memory": "memory", "in_memory": "memory", "inmemory": "memory", "sql": "sql"}


# Slots the forms ask identifiers for (bot.casework.request_forms): their values, and the person's message of
# a turn in which one of them is asked, are masked as identifier answers.
IDENTIFIER_SLOTS: FrozenSet[str] = frozenset({"id_number", "phone", "email", "credit_code"})
REQUESTED_SLOT = "requested_slot"
# Deepest nesting of dicts and lists kept inside an event (Rasa's own events need 5); deeper content
# (e.g. a client's `metadata`) is replaced, so masking never recurses without bound.
MAX_DEPTH = 16
TOO_DEEP = "[已删除：嵌套过深]"
UNMASKABLE = "[已删除：无法遮盖]"

Mask = Callable[[str], str]


def _redact_value(value: Any, kept: FrozenSet[str], mask: Mask = redact, depth: int = 0) -> Any:
    """Every string in `value` masked (dict keys too), except values of the dict keys in `kept`;
    containers nested deeper than MAX_DEPTH replaced by a placeholder."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, (dict, list, tuple)) and depth >= MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, dict):
        return {
            (mask(key) if isinstance(key, str) else key): item
            if key in kept and isinstance(item, str)
            else _redact_value(item, _NESTED_FIELDS.get(key, _IDENTIFIERS), mask, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_redact_value(item, kept, mask, depth + 1) for item in value]
    return value


# Slots holding the bot's own hex identifiers (bot.casework.request_forms, actions/requests.py), never
# anything a person typed. A run of digits in them can look like a phone or ID number, and a masked
# identifier no longer matches its request: e.g. 「确认提交」 then never finds the summary it showed.
OPAQUE_ID_SLOTS: FrozenSet[str] = frozenset({"request_instance", "request_summary_digest", "last_request_key"})


def redact_event_dict(data: Dict[Text, Any], answer: bool = False) -> Dict[Text, Any]:
    """A copy of a serialised event with every personal identifier in its strings masked; with
    `answer` (a message typed while a form asks for an identifier), masked as an identifier answer."""
    if data.get("event") == "slot" and data.get("name") in OPAQUE_ID_SLOTS:
        return dict(data)
    if data.get("event") == "slot" and data.get("name") in IDENTIFIER_SLOTS:
        answer = True
    return _redact_value(data, _EVENT_FIELDS, redact_identifier_answer if answer else redact)


def _scrubbed_event(event: Event) -> Optional[Event]:
    """What is kept of an event that could not be masked: its type, time and names, no free text
    (a user message keeps its intent); None when not even that can be rebuilt."""
    try:
        data = event.as_dict()
        kept: Dict[Text, Any] = {
            key: value
            for key, value in data.items()
            if key in _EVENT_FIELDS and (value is None or isinstance(value, (str, int, float, bool)))
        }
        if "text" in data:
            kept["text"] = UNMASKABLE
        if data.get("event") == "user":
            intent = (data.get("parse_data") or {}).get("intent") or {}
            name = intent.get("name") if isinstance(intent, dict) else None
            if isinstance(name, str):
                kept["parse_data"] = {"intent": {"name": name, "confidence": intent.get("confidence")}}
        if data.get("event") == "slot":
            kept["value"] = None
        return Event.from_parameters(kept)
    except Exception as error:  # noqa: BLE001 - the event is dropped instead
        logger.error("Dropped an event that could not be masked (%s).", type(error).__name__)
        return None


def redact_event(event: Event, answer: bool = False) -> Optional[Event]:
    """The event itself when it holds nothing to mask, otherwise a redacted copy of it; never the
    raw event when masking fails (then `_scrubbed_event`, possibly None: drop it)."""
    try:
        data = event.as_dict()
        redacted = redact_event_dict(data, answer)
        if redacted == data:
            return event
        return Event.from_parameters(redacted)
    except Exception as error:  # noqa: BLE001 - fail closed, whatever went wrong
        logger.error("Could not mask a '%s' event (%s); storing it without its content.", event.type_name, type(error).__name__)
        return _scrubbed_event(event)


def _requested_slot_before(events: list, start: int) -> Optional[Any]:
    """The value of `requested_slot` just before event `start`."""
    for event in reversed(events[:start]):
        if isinstance(event, SlotSet) and event.key == REQUESTED_SLOT:
            return event.value
        if isinstance(event, (Restarted, AllSlotsReset, SessionStarted)):
            return None
    return None


def redact_tracker(tracker: DialogueStateTracker, start: int = 0) -> bool:
    """Redacts the tracker's events from index `start` on, in place, and replays the tracker if
    anything changed; says whether it did. A message typed while a form asks for an identifier is
    masked as an identifier answer."""
    events = list(tracker.events)
    fresh = events[start:]
    requested = _requested_slot_before(events, start)
    redacted: list = []
    for event in fresh:
        if isinstance(event, SlotSet) and event.key == REQUESTED_SLOT:
            requested = event.value
        elif isinstance(event, (Restarted, AllSlotsReset, SessionStarted)):
            requested = None
        answer = isinstance(event, UserUttered) and requested in IDENTIFIER_SLOTS
        redacted.append(redact_event(event, answer))
    if len(redacted) == len(fresh) and all(new is old for new, old in zip(redacted, fresh)):
        return False
    tracker.events.clear()
    tracker.events.extend(events[:start] + [event for event in redacted if event is not None])
    tracker._reset()  # what `recreate_from_dialogue` does: state is recomputed from the events
    tracker.replay_events()
    return True


def _drop_new_events(tracker: DialogueStateTracker, start: int) -> None:
    """Last resort when masking a turn failed: the tracker keeps only what was stored before."""
    kept = list(tracker.events)[:start]
    tracker.events.clear()
    tracker.events.extend(kept)
    try:
        tracker._reset()
        tracker.replay_events()
    except Exception:  # noqa: BLE001 - an empty conversation rather than an unmasked one
        tracker.events.clear()
        tracker._reset()


# Set on every tracker this store returns or saves: its last event, all up to which are redacted.
_CLEAN_TAIL = "_govbot_redacted_tail"


def _mark_redacted(tracker: Optional[DialogueStateTracker]) -> Optional[DialogueStateTracker]:
    if tracker is not None:
        setattr(tracker, _CLEAN_TAIL, tracker.events[-1] if tracker.events else None)
    return tracker


def unredacted_start(tracker: DialogueStateTracker) -> int:
    """Index of the first event that may hold raw text: the first one after the marked tail
    (Rasa only appends events); 0 for a tracker this store never saw, or whose tail is gone
    (e.g. dropped by `max_event_history`)."""
    tail = getattr(tracker, _CLEAN_TAIL, None)
    if tail is None:
        return 0
    events = tracker.events
    for index in range(len(events) - 1, -1, -1):
        if events[index] is tail:
            return index + 1
    return 0


def _private_sqlite_tracker_file(host: Optional[Text], kwargs: Dict[Text, Any]) -> None:
    """Creates the SQLite file SQLTrackerStore is about to open readable by its owner only."""
    if host and "://" in host:
        from sqlalchemy.engine import make_url

        url = make_url(host)
        if url.get_backend_name() == "sqlite":
            private_sqlite_file(url.database)
    elif str(kwargs.get("dialect") or "sqlite").startswith("sqlite"):
        private_sqlite_file(kwargs.get("db") or "rasa.db")


class RedactingTrackerStore(TrackerStore):
    """Wraps Rasa's InMemoryTrackerStore (default) or SQLTrackerStore and redacts on save.

    Created by Rasa from endpoints.yml as
    `RedactingTrackerStore(host=url, domain=..., event_broker=..., **other_keys)`.

    Args:
        domain: The domain (Rasa sets the real one later through the `domain` property).
        event_broker: Passed to the wrapped store, which streams the redacted events.
        host: endpoints.yml `url`; the database host for `backend: sql`.
        backend: `memory` (default) or `sql`.
        tracker_store: An already built store to wrap instead (for use from Python).
        kwargs: For `backend: sql`, SQLTrackerStore's keywords: dialect, port, db, username,
            password, login_db, query.
    """

    def __init__(
        self,
        domain: Optional[Domain] = None,
        event_broker: Optional[EventBroker] = None,
        host: Optional[Text] = None,
        backend: Text = "memory",
        tracker_store: Optional[TrackerStore] = None,
        **kwargs: Any,
    ) -> None:
        if tracker_store is None:
            tracker_store = self._create_backend(backend, domain, event_broker, host, kwargs)
        elif kwargs or host:
            raise ValueError("Pass either `tracker_store` or the settings of a backend, not both.")
        if isinstance(tracker_store, RedactingTrackerStore):
            tracker_store = tracker_store.inner
        self._inner = tracker_store
        super().__init__(tracker_store.domain, tracker_store.event_broker)
        # Conversations idle longer than GOVBOT_TRACKER_RETENTION_DAYS are deleted (bot/privacy/retention.py).
        self._retention = PeriodicPurge(self._inner)

    @staticmethod
    def _create_backend(
        backend: Text,
        domain: Optional[Domain],
        event_broker: Optional[EventBroker],
        host: Optional[Text],
        kwargs: Dict[Text, Any],
    ) -> TrackerStore:
        name = _BACKEND_ALIASES.get(str(backend or "memory").strip().lower())
        if name is None:
            raise ValueError(
                f"RedactingTrackerStore: unknown backend '{backend}', use one of {', '.join(_BACKENDS)}."
            )
        try:
            if name == "memory":
                if kwargs or host:
                    raise ValueError(
                        "RedactingTrackerStore: the in-memory backend takes no settings, got "
                        f"{sorted([*kwargs, *(['url'] if host else [])])}; did you mean `backend: sql`?"
                    )
                return InMemoryTrackerStore(domain or Domain.empty(), event_broker)
            _private_sqlite_tracker_file(host, kwargs)
            return SQLTrackerStore(domain=domain, host=host, event_broker=event_broker, **kwargs)
        except (ImportError, AttributeError) as error:
            # Rasa would swallow these and silently use an unredacted InMemoryTrackerStore.
            raise RuntimeError(f"RedactingTrackerStore: cannot create the {name} backend: {error}") from error

    @property
    def inner(self) -> TrackerStore:
        """The wrapped Rasa tracker store (it only ever receives redacted trackers)."""
        return self._inner

    @property
    def domain(self) -> Domain:
        return self._inner.domain

    @domain.setter
    def domain(self, domain: Optional[Domain]) -> None:
        self._inner.domain = domain or Domain.empty()

    @property
    def max_event_history(self) -> Optional[int]:
        return self._inner.max_event_history

    @max_event_history.setter
    def max_event_history(self, value: Optional[int]) -> None:
        self._inner.max_event_history = value

    async def _patiently(self, operation: Callable[[], Awaitable[_T]]) -> _T:
        """Retries a database operation through a short outage before giving up.

        Rasa wraps every tracker store in a fail-safe that, on any error, answers from an empty
        in-memory tracker: a half-filled form would silently start over. A PostgreSQL restart or a
        dropped pooled connection lasts about a second, so transient database errors are retried
        for up to GOVBOT_TRACKER_RETRY_SECONDS (default 10, below the production lock lifetime).
        """
        deadline = time.monotonic() + _retry_seconds()
        delay = 0.1
        while True:
            try:
                return await operation()
            except _TRANSIENT_ERRORS as error:
                if time.monotonic() + delay > deadline:
                    raise
                logger.warning("tracker store database unavailable (%s); retrying in %.1f s", type(error).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Redacts the tracker's new events in place, then saves it (and streams its new events).

        Masking failures never leave raw events in the tracker: Rasa's FailSafeTrackerStore keeps
        the very tracker passed here when the save raises."""
        start = unredacted_start(tracker)
        try:
            if redact_tracker(tracker, start):
                logger.debug("Masked personal identifiers in a tracker.")
        except Exception as error:  # noqa: BLE001 - fail closed
            logger.error("Could not mask a turn (%s); its events are not stored.", type(error).__name__)
            _drop_new_events(tracker, start)
        await self._patiently(lambda: self._inner.save(tracker))
        _mark_redacted(tracker)
        self._retention.maybe_start()

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        """The stored tracker; every event in it was redacted when it was saved."""
        return _mark_redacted(await self._patiently(lambda: self._inner.retrieve(sender_id)))

    async def retrieve_full_tracker(self, conversation_id: Text) -> Optional[DialogueStateTracker]:
        return _mark_redacted(await self._patiently(lambda: self._inner.retrieve_full_tracker(conversation_id)))

    async def keys(self) -> Iterable[Text]:
        return await self._inner.keys()

    async def exists(self, conversation_id: Text) -> bool:
        return await self._inner.exists(conversation_id)
