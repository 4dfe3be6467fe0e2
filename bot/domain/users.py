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
    # the wallet's WALLET_DEFAULT_LANGUAGE, for a Telegram language neither zh nor en;
    # given by the ``Users`` service of the wallet the user was read through
    default_language: str = "zh"

    @property
    def display_name(self) -> str:
        return self.first_name or (f"@{self.username}" if self.username else str(self.telegram_id))

    @property
    def effective_language(self) -> str:
        return resolve_language(self.language, self.language_code, self.default_language)


DEFAULT_LANGUAGE = "zh"  # the district's language, for people who speak neither


def resolve_language(
    chosen: str | None, language_code: str | None, default: str = DEFAULT_LANGUAGE
) -> str:
    """The user's choice, else Chinese for any ``zh*`` Telegram language, English for any
    ``en*``, else ``default`` (the wallet's ``WALLET_DEFAULT_LANGUAGE``)."""
    if chosen in LANGUAGES:
        return chosen
    code = (language_code or "").lower()
    if code.startswith("zh"):
        return "zh"
    if code.startswith("en"):
        return "en"
    return default if default in LANGUAGES else DEFAULT_LANGUAGE


# the full-width forms of ASCII a Chinese keyboard types (＠, ０-９, Ａ-Ｚ, ＿ …), and its space
_FULL_WIDTH = {0xFF01 + i: 0x21 + i for i in range(0x5E)} | {0x3000: 0x20}


def person_ref(text: str) -> str:
    """A name or id as typed, in the ASCII form a Chinese keyboard's full-width one stands
    for (``＠ｂｏｂ`` → ``@bob``, ``１２３`` → ``123``), without the spaces around it. Only
    those: a look-alike such as ``²`` stays what it is, no name or id."""
    return text.translate(_FULL_WIDTH).strip()


def normalize_username(text: str) -> str | None:
    """``@Name`` → ``Name`` (full-width ``＠Ｎａｍｅ`` too); ``None`` when it cannot be
    a Telegram username."""
    name = person_ref(text).removeprefix("@")
    # Telegram's are 5–32; shorter ones exist (auctioned names, test servers)
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{2,31}", name):
        return name
    return None
