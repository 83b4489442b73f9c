"""Turning the bot's messages into WeChat text: numbered options, byte limits, safe XML text.

WeChat shows plain text only. Buttons become numbered lines (「回复 1：申请政府信息公开」) and the
channel remembers them, so a reply of just 「1」 sends that button's payload. Text messages have
a size limit in UTF-8 bytes (a passive reply: 2048 bytes), so long answers are split on line and
sentence boundaries into several messages.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

# WeChat's documented limit for a text reply is 2048 bytes; keep some room for the part label.
TEXT_LIMIT_BYTES = 2000
PART_LABEL_BYTES = 24
# At most this many numbered options are offered in one reply.
MAX_OPTIONS = 9

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SENTENCE = re.compile(r"[^。！？；!?;]*[。！？；!?;]+|[^。！？；!?;]+")
_OPTION_NUMBER = re.compile(r"^(?:回复)?\s*(\d{1,2})\s*[.。、]?$")


@dataclass(frozen=True)
class Option:
    title: str
    payload: str


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def clean_text(text: str) -> str:
    """Text safe inside an XML CDATA section: no control characters, no 「]]>」."""
    return _XML_INVALID.sub("", text).replace("]]>", "]] >")


def mask_openid(openid: str | None) -> str:
    """An OpenID as it may appear in logs: a short stable hash, never the ID itself."""
    if not openid:
        return "-"
    return "u:" + hashlib.sha256(openid.encode("utf-8")).hexdigest()[:12]


def option_number(text: str) -> int | None:
    """1 for 「1」, 「１」, 「1.」 or 「回复1」; None for anything else."""
    normalised = unicodedata.normalize("NFKC", text or "").strip()
    match = _OPTION_NUMBER.match(normalised)
    return int(match.group(1)) if match else None


def _button_option(button: dict[str, Any]) -> Option | None:
    title = str(button.get("title") or "").strip()
    payload = str(button.get("payload") or "").strip() or title
    if not title and not payload:
        return None
    return Option(title or payload, payload)


def render_messages(messages: Iterable[dict[str, Any]]) -> tuple[str, list[Option]]:
    """The bot's messages (CollectingOutputChannel) as one text, and the options it offers."""
    blocks: list[str] = []
    options: list[Option] = []
    for message in messages:
        lines: list[str] = []
        text = str(message.get("text") or "").strip()
        if text:
            lines.append(text)
        if message.get("image"):
            lines.append(f"图片：{message['image']}")
        if message.get("attachment"):
            lines.append(f"附件：{message['attachment']}")
        custom = message.get("custom")
        if isinstance(custom, dict) and isinstance(custom.get("text"), str) and custom["text"].strip():
            lines.append(custom["text"].strip())
        for button in message.get("buttons") or []:
            option = _button_option(button) if isinstance(button, dict) else None
            if option is None or len(options) >= MAX_OPTIONS:
                continue
            options.append(option)
            lines.append(f"回复 {len(options)}：{option.title}")
        if lines:
            blocks.append("\n".join(lines))
    return clean_text("\n\n".join(blocks)).strip(), options


def _atoms(text: str, limit: int) -> Iterator[str]:
    """Pieces of text no longer than limit bytes: lines, else sentences, else characters."""
    for line in text.splitlines(keepends=True):
        if utf8_len(line) <= limit:
            yield line
            continue
        for sentence in _SENTENCE.findall(line):
            if utf8_len(sentence) <= limit:
                yield sentence
                continue
            chunk = ""
            for char in sentence:
                if utf8_len(chunk + char) > limit:
                    yield chunk
                    chunk = ""
                chunk += char
            if chunk:
                yield chunk


def split_text(text: str, limit: int = TEXT_LIMIT_BYTES) -> list[str]:
    """Split text into parts of at most `limit` UTF-8 bytes (each labelled 「（1/3）」 when split)."""
    text = text.strip()
    if utf8_len(text) <= limit:
        return [text] if text else []
    budget = limit - PART_LABEL_BYTES
    parts: list[str] = []
    current = ""
    for atom in _atoms(text, budget):
        if current and utf8_len(current + atom) > budget:
            parts.append(current.strip())
            current = ""
        current += atom
    if current.strip():
        parts.append(current.strip())
    parts = [p for p in parts if p]
    total = len(parts)
    return [f"{part}\n（{i}/{total}）" for i, part in enumerate(parts, 1)]


def truncate_text(text: str, limit: int = TEXT_LIMIT_BYTES) -> str:
    """The first part of a long text with a note, for when only one message can be sent."""
    if utf8_len(text) <= limit:
        return text
    note = "\n……（内容较长，请换个更具体的问法）"
    kept = ""
    for char in text:
        if utf8_len(kept + char) + utf8_len(note) > limit:
            break
        kept += char
    return kept.rstrip() + note
