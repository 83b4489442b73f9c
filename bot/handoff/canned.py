"""Canned replies the inbox offers: a short list staff edit on the inbox page (one reply a line).

Kept in a text file (GOVBOT_CANNED_REPLIES_PATH, default var/canned_replies.txt) so every web server
process reads the same list; until someone saves one, DEFAULT_REPLIES apply.
"""

from __future__ import annotations

from pathlib import Path

from bot.settings.casework import CaseworkSettings

FILE_ENV = CaseworkSettings.variable("canned_replies_path").name
MAX_REPLIES = 30
MAX_CHARS = 500
DEFAULT_REPLIES = (
    "您好，我是本机关政府信息公开工作人员，请问有什么可以帮您？",
    "请稍等，我帮您查一下。",
    "请留下您的联系电话，我们核实后尽快与您联系。",
    "您可以通过「我要申请政府信息公开」在线提交申请，我们将在20个工作日内答复。",
    "感谢您的咨询，如没有其他问题，本次人工服务就到这里。",
)


def replies_path() -> Path:
    return CaseworkSettings.read("canned_replies_path")


def load_replies(path: Path | None = None) -> list[str]:
    path = path or replies_path()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return list(DEFAULT_REPLIES)
    return [line.strip() for line in lines if line.strip()][:MAX_REPLIES]


def parse_replies(text: str) -> list[str]:
    """One reply a line; blank lines dropped; ValueError (Chinese) when too many or too long."""
    replies = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if len(replies) > MAX_REPLIES:
        raise ValueError(f"常用回复最多 {MAX_REPLIES} 条，现有 {len(replies)} 条。")
    for number, reply in enumerate(replies, 1):
        if len(reply) > MAX_CHARS:
            raise ValueError(f"第 {number} 条常用回复超过 {MAX_CHARS} 字。")
    return replies


def save_replies(replies: list[str], path: Path | None = None) -> None:
    path = path or replies_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text("\n".join(replies) + "\n", encoding="utf-8")
    temporary.replace(path)
