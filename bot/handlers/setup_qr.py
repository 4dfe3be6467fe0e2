"""The 2FA setup QR code holds the secret: it leaves the chat once the first code is
confirmed, or after ``QR_LIFETIME_S``, whichever comes first (a restart in between
changes neither: see ``bot.handlers.deletions``)."""

from __future__ import annotations

from telegram import Message
from telegram.ext import Application, ContextTypes

from bot.domain.followups import PendingDeletion
from bot.handlers import deletions

__all__ = [
    "QR_LIFETIME_S",
    "TWO_FACTOR_ON",
    "delete_setup_qr",
    "remember_setup_qr",
    "schedule",
]

QR_LIFETIME_S = 300.0  # the time to scan it; read when each QR is sent
TWO_FACTOR_ON = "2fa.on"  # the keypad's finished prompt once the first code is confirmed
PURPOSE = "2fa_qr"
_SHOWN = "2fa.setup_qr"  # bot_data: telegram id -> (chat id, message id) of the QR shown


async def remember_setup_qr(
    context: ContextTypes.DEFAULT_TYPE, telegram_id: int, message: Message
) -> None:
    """Keep ``message`` (the QR just sent) to delete it later; an older QR of the same
    person goes now (its secret was replaced)."""
    shown = context.bot_data.setdefault(_SHOWN, {})
    older = shown.get(telegram_id)
    shown[telegram_id] = (message.chat_id, message.message_id)
    if older is not None:
        await deletions.delete_now(context.application, *older)
    await deletions.delete_later(
        context.application,
        message.chat_id,
        message.message_id,
        QR_LIFETIME_S,
        PURPOSE,
        owner_id=telegram_id,
    )


async def delete_setup_qr(context: ContextTypes.DEFAULT_TYPE, telegram_id: int) -> None:
    """Delete the QR shown to ``telegram_id``, if one is still in the chat."""
    shown = context.bot_data.get(_SHOWN, {}).pop(telegram_id, None)
    if shown is not None:
        await deletions.delete_now(context.application, *shown)


async def _taken_back(application: Application, due: PendingDeletion) -> None:
    """After a restart: the first code confirmed still deletes the QR at once."""
    if due.owner_id is not None:
        application.bot_data.setdefault(_SHOWN, {})[due.owner_id] = (due.chat_id, due.message_id)


def schedule(application: Application) -> None:
    deletions.on_restore(application, PURPOSE, _taken_back)
