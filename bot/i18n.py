"""Messages in Chinese (zh-CN) and English, from gettext catalogs.

Each language is a folder of catalogs (``bot/locales/en/*.po``, ``bot/locales/zh_CN/*.po``),
one per feature, merged when loaded; a key defined twice is an error. The msgid of
every message is a stable key (``balance.available``, or an error code such
as ``amount_too_many_decimals``); each catalog gives the text, with ``{name}``
placeholders filled by :func:`translate`. Amounts are formatted as ``¥12.34`` in every
language before they reach a message.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from io import StringIO
from string import Formatter

from babel.messages.pofile import read_po

__all__ = ["LANGUAGES", "catalog", "placeholders", "translate", "translate_or"]

LANGUAGES = {"zh": "zh_CN", "en": "en"}
_FALLBACK = "en"


@cache
def catalog(language: str) -> dict[str, str]:
    """The messages of one language, keyed by msgid."""
    locale = LANGUAGES[language]
    folder = resources.files("bot.locales").joinpath(locale)
    messages: dict[str, str] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".po"):
            continue
        for message in read_po(StringIO(entry.read_text(encoding="utf-8")), locale=locale):
            if message.id and message.string:
                if message.id in messages:
                    raise ValueError(f"message {message.id!r} is defined twice in {locale}")
                messages[message.id] = message.string
    return messages


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name}


def translate(language: str, key: str, **params: object) -> str:
    """The message ``key`` in ``language`` (English if missing), with ``params`` filled in."""
    messages = catalog(language if language in LANGUAGES else _FALLBACK)
    text = messages.get(key) or catalog(_FALLBACK).get(key)
    if text is None:
        raise KeyError(f"no message {key!r} in the catalogs")
    return text.format(**params) if params else text


def translate_or(language: str, key: str, default: str, **params: object) -> str:
    """:func:`translate`, or ``default`` when no catalog has ``key`` (a code from the
    database or a log that may have no words yet)."""
    try:
        return translate(language, key, **params)
    except KeyError:
        return default
