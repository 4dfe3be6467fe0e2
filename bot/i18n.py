"""Messages in Chinese (zh-CN) and English, from gettext catalogs.

Each language is a folder of catalogs (``bot/locales/en/*.po``, ``bot/locales/zh_CN/*.po``),
one per feature, merged when loaded; a key defined twice is an error. The msgid of
every message is a stable key (``balance.available``, or an error code such
as ``amount_too_many_decimals``); each catalog gives the text, with ``{name}``
placeholders filled by :func:`translate`. Amounts are formatted as ``¥12.34`` in every
language before they reach a message.

A message that counts something is a plural entry (``msgid_plural`` with ``msgstr[0]``,
``msgstr[1]``…): its forms are chosen by the count with the catalog's plural rule (the
``Plural-Forms`` header, else the locale's), so English says "1 share" and "2 shares" while
Chinese has one form. :func:`translate_plural` takes the count, and :func:`translate` takes it
from a ``count`` parameter.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from gettext import c2py
from importlib import resources
from io import StringIO
from string import Formatter

from babel.messages.pofile import read_po

__all__ = [
    "LANGUAGES",
    "catalog",
    "placeholders",
    "plural_form",
    "translate",
    "translate_or",
    "translate_plural",
]

LANGUAGES = {"zh": "zh_CN", "en": "en"}
_FALLBACK = "en"
_MSGID = re.compile(r'^msgid "(.+)"$', re.MULTILINE)


Message = str | tuple[str, ...]  # a text, or the forms of a plural entry


@cache
def _load(language: str) -> tuple[dict[str, Message], Callable[[int], int]]:
    locale = LANGUAGES[language]
    folder = resources.files("bot.locales").joinpath(locale)
    messages: dict[str, Message] = {}
    rule = "0"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".po"):
            continue
        text = entry.read_text(encoding="utf-8")
        keys = _MSGID.findall(text)  # read_po keeps one of a key written twice in a file
        if len(keys) != len(set(keys)):
            twice = sorted({key for key in keys if keys.count(key) > 1})
            raise ValueError(f"messages {twice} are defined twice in {locale}/{entry.name}")
        po = read_po(StringIO(text), locale=locale)
        rule = po.plural_expr
        for message in po:
            if not message.id or not message.string:
                continue
            key = message.id[0] if message.pluralizable else message.id
            if key in messages:
                raise ValueError(f"message {key!r} is defined twice in {locale}")
            if message.pluralizable:
                forms = tuple(message.string)
                if len(forms) != po.num_plurals or not all(forms):
                    raise ValueError(f"message {key!r} needs {po.num_plurals} forms in {locale}")
                messages[key] = forms
            else:
                messages[key] = message.string
    return messages, c2py(rule)


def catalog(language: str) -> dict[str, Message]:
    """The messages of one language, keyed by msgid; a plural entry is the tuple of its forms."""
    return _load(language)[0]


def plural_form(language: str, count: int) -> int:
    """Which form of a plural entry ``language`` uses for ``count``."""
    return _load(language)[1](abs(count))


def placeholders(message: Message) -> set[str]:
    """The ``{name}`` placeholders of a message (of all the forms of a plural entry)."""
    texts = (message,) if isinstance(message, str) else message
    return {name for text in texts for _, name, _, _ in Formatter().parse(text) if name}


def _lookup(language: str, key: str) -> tuple[str, Message]:
    language = language if language in LANGUAGES else _FALLBACK
    message = catalog(language).get(key)
    if message is None:
        language, message = _FALLBACK, catalog(_FALLBACK).get(key)
    if message is None:
        raise KeyError(f"no message {key!r} in the catalogs")
    return language, message


def translate(language: str, key: str, **params: object) -> str:
    """The message ``key`` in ``language`` (English if missing), with ``params`` filled in.

    A plural entry takes its form from the ``count`` parameter (see :func:`translate_plural`
    for one that counts something else)."""
    text = _lookup(language, key)[1]
    if isinstance(text, tuple):
        count = params.get("count")
        if not isinstance(count, int):
            raise TypeError(f"message {key!r} is plural: give its count")
        return translate_plural(language, key, count, **params)
    return text.format(**params) if params else text


def translate_plural(language: str, key: str, count: int, /, **params: object) -> str:
    """The plural message ``key`` in the form ``language`` uses for ``count``, filled with
    ``params`` (``count`` among them unless given otherwise)."""
    language, message = _lookup(language, key)
    if isinstance(message, str):
        raise TypeError(f"message {key!r} is not plural")
    params.setdefault("count", count)
    return message[plural_form(language, count)].format(**params)


def translate_or(language: str, key: str, default: str, **params: object) -> str:
    """:func:`translate`, or ``default`` when no catalog has ``key`` (a code from the
    database or a log that may have no words yet)."""
    try:
        return translate(language, key, **params)
    except KeyError:
        return default
