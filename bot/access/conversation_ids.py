"""Conversation ids the server issues and signs, and short-lived tokens for a kiosk's QR hand-over.

A conversation id is a bearer credential: whoever names it reads the replies, sees the tracking
numbers and can cancel the application. So public clients never choose one. The server makes a
random id (uuid4, 32 hex digits) and gives the client a signed copy (HMAC-SHA256 via itsdangerous,
with the time it was signed); the client presents the signed copy to continue, and a copy that
was altered, made up, older than GOVBOT_SESSION_MAX_AGE or signed for another channel starts a
new conversation instead. The kiosk hands a conversation to a phone with a hand-over token that
is valid for GOVBOT_HANDOVER_MAX_AGE seconds and only once.

    GOVBOT_SESSION_SECRET (or GOVBOT_SESSION_SECRET_FILE)  the signing key; all Rasa replicas need
        the same one. Unset: a random key for this process (a warning is logged): signed ids then
        end with the process and cannot move between replicas.
    GOVBOT_SESSION_MAX_AGE    seconds a signed id stays valid after it was last issued (default 86400;
                              it is signed afresh on every reconnect)
    GOVBOT_HANDOVER_MAX_AGE   seconds a hand-over token stays valid (default 300)

Single use of hand-over tokens is recorded in the rate limiter's storage (process memory, or Redis
when GOVBOT_RATE_LIMIT_STORAGE points there, so every replica sees it); if that storage cannot be
reached the hand-over is refused. The same storage counts each conversation's hand-overs (its
generation): socket.io ids are signed with the generation they were issued in, so after a hand-over
every earlier copy (the kiosk's, on whichever replica it is connected) no longer continues it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import uuid

from itsdangerous import BadSignature, TimestampSigner

from bot.settings.access import AccessSettings

log = logging.getLogger(__name__)

SECRET_ENV = AccessSettings.variable("session_secret").name
DEFAULT_MAX_AGE = AccessSettings.session_max_age
DEFAULT_HANDOVER_MAX_AGE = AccessSettings.handover_max_age
CONVERSATION_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_TOKEN_CHARS = 256
# One salt per use: a token issued for one channel is worth nothing on another.
SOCKETIO, REST, HANDOVER = "socketio", "rest", "handover"
_USED_PREFIX = "govbot-handover-used"
_GENERATION_PREFIX = "govbot-conversation-generation"


class ConversationIds:
    def __init__(self, secret: str, max_age: int = DEFAULT_MAX_AGE, handover_max_age: int = DEFAULT_HANDOVER_MAX_AGE, used_storage=None) -> None:
        if not secret:
            raise ValueError("signing secret is empty")
        self._signers = {
            purpose: TimestampSigner(secret, salt=f"govbot.conversation.{purpose}", digest_method=hashlib.sha256)
            for purpose in (SOCKETIO, REST, HANDOVER)
        }
        self.max_age = max_age
        self.handover_max_age = handover_max_age
        self._used = used_storage

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex

    def sign(self, purpose: str, conversation_id: str) -> str:
        return self._signers[purpose].sign(conversation_id).decode("ascii")

    def verify(self, purpose: str, token: object) -> str | None:
        """The conversation id inside a valid, unexpired token for `purpose`; None for anything else."""
        value = self._unsign(purpose, token)
        if value is None:
            return None
        conversation_id = value.split(".", 1)[0]
        return conversation_id if CONVERSATION_ID.match(conversation_id) else None

    def _unsign(self, purpose: str, token: object) -> str | None:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
            return None
        max_age = self.handover_max_age if purpose == HANDOVER else self.max_age
        try:
            return self._signers[purpose].unsign(token, max_age=max_age).decode("ascii")
        except (BadSignature, UnicodeDecodeError, ValueError):
            return None

    # -- generations: a hand-over retires every earlier copy of a socket.io id ---------------------

    def sign_generation(self, conversation_id: str, generation: int) -> str:
        """The socket.io copy of `conversation_id`, valid while its generation stays `generation`."""
        return self.sign(SOCKETIO, f"{conversation_id}.{generation}")

    def verify_generation(self, token: object) -> tuple[str, int] | None:
        """(conversation id, generation) of a valid socket.io copy; None for anything else."""
        value = self._unsign(SOCKETIO, token)
        if value is None:
            return None
        conversation_id, _, generation = value.partition(".")
        if not CONVERSATION_ID.match(conversation_id) or not generation.isdigit():
            return None
        return conversation_id, int(generation)

    def generation(self, conversation_id: str) -> int | None:
        """How many times the conversation was handed over (None when the storage cannot be reached)."""
        try:
            return int(self._used_storage().get(f"{_GENERATION_PREFIX}/{conversation_id}") or 0)
        except Exception as exc:
            log.warning("会话接续记录无法读取（%s）", type(exc).__name__)
            return None

    def keep_generation(self, conversation_id: str, generation: int) -> None:
        """Keeps a handed-over conversation's generation as long as its copies can be valid."""
        if generation <= 0:
            return
        try:
            self._used_storage().incr(f"{_GENERATION_PREFIX}/{conversation_id}", self.max_age + 60, elastic_expiry=True, amount=0)
        except Exception as exc:
            log.warning("会话接续记录无法更新（%s）", type(exc).__name__)

    def _advance(self, conversation_id: str) -> int:
        return int(self._used_storage().incr(f"{_GENERATION_PREFIX}/{conversation_id}", self.max_age + 60, elastic_expiry=True))

    def handover_token(self, conversation_id: str) -> str:
        """A token that moves `conversation_id` to another device once, within handover_max_age."""
        return self.sign(HANDOVER, f"{conversation_id}.{secrets.token_hex(4)}")

    def redeem_handover(self, token: object) -> tuple[str, int] | None:
        """(conversation, its new generation) for a valid hand-over token the first time it is
        presented; None otherwise."""
        value = self._unsign(HANDOVER, token)
        conversation_id = value.split(".", 1)[0] if value is not None else None
        if conversation_id is None or not CONVERSATION_ID.match(conversation_id):
            return None
        # Keyed by the signed content (id and nonce), not the token's text: base64 has more than one
        # spelling of the same signature, and a respelled copy must count as used too.
        key = f"{_USED_PREFIX}/{hashlib.sha256(value.encode()).hexdigest()[:32]}"
        try:
            if self._used_storage().incr(key, self.handover_max_age + 60) != 1:
                return None
            return conversation_id, self._advance(conversation_id)
        except Exception as exc:  # storage down: refusing is safe, the person starts afresh
            log.warning("扫码接续令牌无法核销（%s），本次不接续", type(exc).__name__)
            return None

    def _used_storage(self):
        if self._used is None:
            from limits.storage import storage_from_string

            from bot.access.rate_limit import RateLimitConfig

            self._used = storage_from_string(RateLimitConfig.from_env().storage_url)
        return self._used


_shared: ConversationIds | None = None
_lock = threading.Lock()


def shared_ids() -> ConversationIds:
    """The process-wide signer, configured from the environment on first use."""
    global _shared
    with _lock:
        if _shared is None:
            secret = AccessSettings.read("session_secret")
            if not secret:
                log.warning("%s 未设置：会话编号的签名密钥只在本进程内有效（重启后旧会话不能接续，多个副本不能共用）", SECRET_ENV)
                secret = secrets.token_urlsafe(32)
            _shared = ConversationIds(
                secret,
                AccessSettings.read("session_max_age"),
                AccessSettings.read("handover_max_age"),
            )
        return _shared
