"""The 2FA setup QR code holds the secret: it leaves the chat once the first code is
confirmed, or after ``QR_LIFETIME_S``, whichever comes first."""

from __future__ import annotations

from telegram import Message
from telegram.error import TelegramError
from telegram.ext import ContextTypes

__all__ = ["QR_LIFETIME_S", "TWO_FACTOR_ON", "delete_setup_qr", "remember_setup_qr"]

QR_LIFETIME_S = 300.0  # the time to scan it; read when each QR is sent
TWO_FACTOR_ON = "2fa.on"  # the keypad's finished prompt once the first code is confirmed
_SHOWN = "2fa.setup_qr"  # bot_data: telegram id -> (chat id, message id) of the QR shown


def _job_name(telegram_id: int, message_id: int) -> str:
    return f"2fa.qr.{telegram_id}.{message_id}"


async def _delete(context: ContextTypes.DEFAULT_TYPE, chat_id: int, message_id: int) -> None:
    try:
        await context.bot.delete_message(chat_id, message_id)
    except TelegramError:  # already deleted by its owner, or too old to delete
        pass


async def remember_setup_qr(
    context: ContextTypes.DEFAULT_TYPE, telegram_id: int, message: Message
) -> None:
    """Keep ``message`` (the QR just sent) to delete it later; an older QR of the same
    person goes now (its secret was replaced)."""
    shown = context.bot_data.setdefault(_SHOWN, {})
    older = shown.get(telegram_id)
    shown[telegram_id] = (message.chat_id, message.message_id)
    if older is not None:
        await _forget(context, telegram_id, *older)
    context.job_queue.run_once(
        _expire,
        when=QR_LIFETIME_S,
        data=(telegram_id, message.chat_id, message.message_id),
        name=_job_name(telegram_id, message.message_id),
    )


async def delete_setup_qr(context: ContextTypes.DEFAULT_TYPE, telegram_id: int) -> None:
    """Delete the QR shown to ``telegram_id``, if one is still in the chat."""
    shown = context.bot_data.get(_SHOWN, {}).pop(telegram_id, None)
    if shown is not None:
        await _forget(context, telegram_id, *shown)


async def _forget(
    context: ContextTypes.DEFAULT_TYPE, telegram_id: int, chat_id: int, message_id: int
) -> None:
    for job in context.job_queue.get_jobs_by_name(_job_name(telegram_id, message_id)):
        job.schedule_removal()
    await _delete(context, chat_id, message_id)


async def _expire(context: ContextTypes.DEFAULT_TYPE) -> None:
    """The QR's time is up: delete it unless the first code already did."""
    telegram_id, chat_id, message_id = context.job.data
    shown = context.bot_data.get(_SHOWN, {})
    if shown.get(telegram_id) == (chat_id, message_id):
        del shown[telegram_id]
    await _delete(context, chat_id, message_id)
