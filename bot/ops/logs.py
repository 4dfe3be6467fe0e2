"""The bot's logs: text or JSON lines, one line per update, and no secrets in them.

``configure_logging`` sets the root logger once at start-up (``WALLET_LOG_FORMAT``,
``WALLET_LOG_LEVEL``, ``WALLET_LOG_FILE``). Whatever the level:

- every line passes :class:`Redactor`, which masks the configured secrets (bot token,
  provider token, payout and webhook secrets, master key) and anything shaped like a
  bot token, a bank card number (Luhn-valid), a Chinese ID number or a TOTP secret;
- python-telegram-bot and aiosqlite log at INFO at most (their DEBUG lines hold whole
  updates, with what people typed, and every statement's parameters); httpx and httpcore
  at WARNING (their lines hold URLs, and URLs the token); APScheduler at WARNING (it logs
  every run of every job at INFO).

One line per update (logger ``bot.updates``, see ``bot.ops.operations``) names its type,
the chat type, a keyed hash of the user id, the command if it was one (never its
arguments), the time it took and whether it failed; never what was typed or tapped.
"""

from __future__ import annotations

import base64
import json
import logging
import logging.handlers
import os
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from bot.config import Settings

__all__ = [
    "JsonFormatter",
    "PrivateFileHandler",
    "QuietFailedStart",
    "Redactor",
    "TextFormatter",
    "configure_logging",
]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIETED = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "apscheduler": logging.WARNING,
    "aiohttp.access": logging.WARNING,
}
# never below this level, whatever WALLET_LOG_LEVEL says: at DEBUG python-telegram-bot logs
# whole updates (what people typed) and aiosqlite every statement with its parameters
CAPPED = {"telegram": logging.INFO, "aiosqlite": logging.INFO}

_BOT_TOKEN = re.compile(r"\b\d{5,20}:[A-Za-z0-9_-]{30,}")
_DIGIT_RUN = re.compile(r"(?<![\d.])\d(?:[ -]?\d){12,18}(?![\d.])")
_ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?![\dA-Za-z])")
_BASE32 = re.compile(r"(?<![A-Z2-7])[A-Z2-7]{16,}(?![A-Z2-7])")


def _luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


class Redactor:
    """Masks secrets in a formatted line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    @classmethod
    def for_settings(cls, settings: Settings) -> Redactor:
        secrets: list[str] = [
            settings.telegram_bot_token or "",
            settings.payment_provider_token or "",
            settings.webhook_secret or "",
        ]
        if settings.payout_secret:
            secrets.append(settings.payout_secret.decode("utf-8", "replace"))
        if settings.master_key:
            secrets.append(base64.b64encode(settings.master_key).decode())
        return cls(secrets)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<secret>")
        text = _BOT_TOKEN.sub("<token>", text)
        text = _ID_NUMBER.sub("<id-number>", text)
        text = _DIGIT_RUN.sub(
            lambda m: "<card>" if _luhn(re.sub(r"\D", "", m.group())) else m.group(), text
        )
        return _BASE32.sub("<secret>", text)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message k=v …``, masked."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__(TEXT_FORMAT)
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        return self.redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the record's ``fields``."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return self.redact(json.dumps(entry, ensure_ascii=False, default=str))


class QuietFailedStart(logging.Filter):
    """Drops python-telegram-bot's report of a start that failed (getMe refused or out of
    reach: an error with a traceback): the command line says it in one sentence."""

    PREFIX = "Network Retry Loop (Bootstrap Initialize Application)"

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR or not record.getMessage().startswith(self.PREFIX)


class PrivateFileHandler(logging.handlers.WatchedFileHandler):
    """A log file made with mode 0600, also when it is made again after logrotate moved
    it: its lines name people's hashed ids and what they did."""

    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)


def configure_logging(
    settings: Settings, *, level: str | None = None, stream: TextIO | None = None
) -> list[logging.Handler]:
    """Set up the root logger for ``settings``; return the handlers it was given."""
    redact = Redactor.for_settings(settings)
    formatter = (JsonFormatter if settings.log_format == "json" else TextFormatter)(redact)
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stderr)]
    if settings.log_file is not None:
        path = Path(settings.log_file)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handlers.append(PrivateFileHandler(path, encoding="utf-8"))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_wallet_bot", False):
            root.removeHandler(old)
            old.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        handler._wallet_bot = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    numeric = logging.getLevelName(level or settings.log_level)
    root.setLevel(numeric)
    for name, floor in QUIETED.items():
        logging.getLogger(name).setLevel(floor)
    for name, floor in CAPPED.items():
        logging.getLogger(name).setLevel(max(floor, numeric))
    ptb = logging.getLogger("telegram.ext")
    if not any(isinstance(f, QuietFailedStart) for f in ptb.filters):
        ptb.addFilter(QuietFailedStart())
    return handlers
