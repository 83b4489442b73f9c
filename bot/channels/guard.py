"""What a public channel checks in a typed message before Rasa sees it.

Each public channel (REST, 微信公众号, socket.io) makes one call, `await screen(channel, sender,
text)`, on its incoming-message path and sends `reply` instead of running the bot when there is one.

Anyone can type anything into a public channel. Rasa stores every message in the tracker and runs
it through NLU, so text is cleaned here first: control and invisible format characters (which can
hide or reorder text, e.g. U+202E) and lone surrogates (which break UTF-8 encoding downstream) are
removed, and over-long messages are refused with a reply instead of being stored. Empty messages
get a prompt instead of a turn. The channel sends the returned reply; the bot never runs for it.

    GOVBOT_MAX_MESSAGE_CHARS   longest accepted message in characters (default 2000)
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from bot.access import rate_limit
from bot.settings.limits import LimitSettings

DEFAULT_MAX_MESSAGE_CHARS = LimitSettings.max_message_chars

EMPTY_TEXT = "您好，请输入您要咨询的问题，例如「怎么申请政府信息公开」。"
TOO_LONG_TEXT = (
    "抱歉，您的消息太长了（{length} 字），请精简到 {limit} 字以内再发送。"
    "如需提交详细材料，可以说「我要申请政府信息公开」或「转人工」。"
)

_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x85]")
_BLANK_LINES = re.compile(r"\n{3,}")
# Control (Cc), format (Cf) and surrogate (Cs) code points live in the BMP and planes 1 and 14.
_PLANES = ((0, 0x20000), (0xE0000, 0xE1000))
# Kept although they are "format" characters: the zero-width joiner holds emoji sequences together.
_KEPT = {"\n", "\t", "\u200d"}


@functools.lru_cache(maxsize=1)
def _removals() -> dict[int, str | None]:
    """A str.translate table: removed code points map to None, a tab to a space."""
    table: dict[int, str | None] = {}
    for start, end in _PLANES:
        for code in range(start, end):
            char = chr(code)
            if char not in _KEPT and unicodedata.category(char) in ("Cc", "Cf", "Cs"):
                table[code] = None
    table[ord("\t")] = " "
    return table


def max_message_chars(environ: dict | None = None) -> int:
    return LimitSettings.from_env(environ).max_message_chars


def clean_message(text: str) -> str:
    """`text` in NFC without control, format (except ZWJ) and surrogate code points; newlines kept.

    Private-use and (to this Python) unassigned code points stay: rare characters in names may be
    encoded there by older input methods or newer Unicode versions.
    """
    text = _LINE_BREAKS.sub("\n", text).translate(_removals())
    text = unicodedata.normalize("NFC", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


@dataclass(frozen=True)
class Checked:
    """A message after the checks: `text` goes to Rasa unless there is a `reply` to send instead."""

    text: str
    reply: str | None = None
    rate_limited: bool = False
    address_limited: bool = False  # the client address, not the sender, is over its limit

    @property
    def accepted(self) -> bool:
        return self.reply is None


def check_message(text: str, limit: int | None = None) -> Checked:
    """The cleaned message, or the polite reply that answers it without running the bot."""
    limit = limit or max_message_chars()
    if len(text) > 4 * limit:  # far too long whatever cleaning removes: not worth cleaning
        return Checked("", TOO_LONG_TEXT.format(length=len(text), limit=limit))
    cleaned = clean_message(text)
    if not cleaned:
        return Checked("", EMPTY_TEXT)
    if len(cleaned) > limit:
        return Checked("", TOO_LONG_TEXT.format(length=len(cleaned), limit=limit))
    return Checked(cleaned)


async def screen(channel: str, sender: str, text: str, limit: int | None = None, address: str | None = None) -> Checked:
    """The per-address (when `address` is given) and per-sender rate limits (every attempt counts),
    then `check_message`."""
    if address is not None and not await rate_limit.allow_address(address):
        return Checked("", rate_limit.RATE_LIMITED_TEXT, rate_limited=True, address_limited=True)
    if not await rate_limit.allow(channel, sender):
        return Checked("", rate_limit.RATE_LIMITED_TEXT, rate_limited=True)
    return check_message(text, limit)


# Deepest nesting of dicts and lists a client may send as message metadata (the widget sends 1–2).
MAX_METADATA_DEPTH = 8


def nested_deeper_than(value: object, limit: int) -> bool:
    """Whether `value` has dicts or lists nested more than `limit` levels deep (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class BodyTooLarge(Exception):
    """The request body is over the channel's byte limit."""


async def read_limited_body(request, limit: int) -> bytes:
    """The request body, refused as soon as it exceeds `limit` bytes (streamed, never buffered whole)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise BodyTooLarge()
    chunks, size = [], 0
    while True:
        chunk = await request.stream.read()
        if chunk is None:
            break
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)
