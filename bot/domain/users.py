"""The people the wallet knows: what a chat platform tells of them, and who they are to it."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "Profile",
    "User",
    "normalize_username",
    "resolve_language",
    "set_default_language",
]


LANGUAGES = ("zh", "en")


@dataclass(frozen=True, slots=True)
class Profile:
    """What a chat platform tells about a person each time they appear."""

    telegram_id: int
    username: str | None
    first_name: str
    language_code: str = ""


@dataclass(frozen=True, slots=True)
class User:
    telegram_id: int
    account_id: int
    username: str | None
    first_name: str
    language_code: str
    language: str | None  # chosen with /lang, else None
    private_chat: bool

    @property
    def display_name(self) -> str:
        return self.first_name or (f"@{self.username}" if self.username else str(self.telegram_id))

    @property
    def effective_language(self) -> str:
        return resolve_language(self.language, self.language_code)


DEFAULT_LANGUAGE = "zh"  # the district's language, for people who speak neither
_default_language = DEFAULT_LANGUAGE


def set_default_language(language: str) -> None:
    """The language of people whose Telegram language is neither Chinese nor English
    (``WALLET_DEFAULT_LANGUAGE``); set once by the wiring when the wallet opens."""
    global _default_language
    if language not in LANGUAGES:
        raise ValueError(f"the default language is one of {LANGUAGES}")
    _default_language = language


def resolve_language(
    chosen: str | None, language_code: str | None, default: str | None = None
) -> str:
    """The user's choice, else Chinese for any ``zh*`` Telegram language, English for any
    ``en*``, else ``default`` (the configured default language when not given)."""
    if chosen in LANGUAGES:
        return chosen
    code = (language_code or "").lower()
    if code.startswith("zh"):
        return "zh"
    if code.startswith("en"):
        return "en"
    return default if default in LANGUAGES else _default_language


def normalize_username(text: str) -> str | None:
    """``@Name`` → ``Name``; ``None`` when it cannot be a Telegram username."""
    name = text.strip().removeprefix("@")
    # Telegram's are 5–32; shorter ones exist (auctioned names, test servers)
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{2,31}", name):
        return name
    return None
