"""Delete messages in which someone typed what looks like a PIN or a bank card number."""

from __future__ import annotations

import re
import unicodedata

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import MessageHandler, filters

from bot.handlers.context import WalletContext, current_user, is_private, language_of
from bot.handlers.outbox import outbox
from bot.i18n import translate
from bot.security.cards import is_luhn_valid

_PIN_LIKE = re.compile(r"\d{6}")
_CARD_LIKE = re.compile(r"(?:\d[ -]?){11,18}\d")


def looks_sensitive(text: str, private: bool) -> str | None:
    """``pin`` or ``card`` when the text holds such a secret, else None."""
    folded = unicodedata.normalize("NFKC", text)
    for match in _CARD_LIKE.finditer(folded):
        if is_luhn_valid(re.sub(r"[ -]", "", match[0])):
            return "card"
    if private and _PIN_LIKE.fullmatch(folded.strip()):
        return "pin"
    return None


async def delete_secret(update: Update, context: WalletContext) -> None:
    """Delete a message that exposes a PIN or card number, and say why."""
    message = update.effective_message
    kind = looks_sensitive(message.text or "", is_private(update))
    if kind is None:
        return
    user = await current_user(update, context)
    try:
        await message.delete()
    except TelegramError:
        pass  # in a group the bot may not be allowed to delete: still warn
    text = translate(language_of(update, user), f"sensitive.{kind}_deleted")
    if is_private(update):
        await context.bot.send_message(message.chat_id, text)
    else:
        outbox(context.application).send_message(context.bot, message.chat_id, text)


class _Sensitive(filters.MessageFilter):
    def filter(self, message) -> bool:
        return (
            bool(message.text)
            and looks_sensitive(message.text, message.chat.type == "private") is not None
        )


def handlers() -> list:
    return [MessageHandler(filters.TEXT & ~filters.COMMAND & _Sensitive(), delete_secret)]
