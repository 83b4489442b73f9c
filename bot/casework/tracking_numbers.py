"""Tracking numbers (回执号): two letters of the kind, then 12 digits, that cannot be guessed.

The letters stay as they were (GK 政府信息公开, TS 投诉, JY 建议, RG 转人工) and so does the length, so
every pattern that finds a number in text still does. The digits used to be the date and a daily
sequence (GK202611230001), so anyone could list the day's numbers. Now they are the date as YYMMDD,
five random digits and a Luhn check digit: GK 261123 48291 9. The check digit catches a mistyped
number before it is looked up (and counted as a failed look-up). Numbers issued before start with
the century, 20, which no new number does before 2100; they are accepted without a check digit.
"""

from __future__ import annotations

import secrets

from bot.casework.request_kinds import PREFIXES, TRACKING_NUMBER as PATTERN

__all__ = ["PATTERN", "PREFIXES", "is_legacy", "luhn_digit", "new_number", "plausible"]
RANDOM_DIGITS = 5


def luhn_digit(digits: str) -> str:
    """The Luhn check digit to append to `digits`."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def new_number(prefix: str, day: str) -> str:
    """A fresh number for `prefix` received on `day` (YYYYMMDD); unique only with the database's check."""
    body = day[2:8] + f"{secrets.randbelow(10 ** RANDOM_DIGITS):0{RANDOM_DIGITS}d}"
    return f"{prefix}{body}{luhn_digit(body)}"


def is_legacy(number: str) -> bool:
    """A sequential number from before (prefix, YYYYMMDD, 4-digit sequence)."""
    return number[2:4] == "20"


def plausible(number: str) -> bool:
    """Whether `number` can be a real tracking number: the format, and the check digit of a new one."""
    if not PATTERN.fullmatch(number):
        return False
    return is_legacy(number) or luhn_digit(number[2:-1]) == number[-1]
