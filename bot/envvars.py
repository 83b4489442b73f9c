"""Kept for the readers not yet moved to an area of bot.settings: the same parser (bot.settings.parse)."""

from bot.settings.parse import env_number, env_secret

__all__ = ["env_number", "env_secret"]
