"""The one error handler: log it, tell the user without details, tell the admins."""

from __future__ import annotations

import html
import logging

from telegram import Update
from telegram.error import TelegramError

from bot.domain.errors import StorageError, WalletError
from bot.handlers.context import WalletContext, error_text, language_of
from bot.handlers.outbox import reply, tell
from bot.i18n import translate

log = logging.getLogger(__name__)


async def on_error(update: object, context: WalletContext) -> None:
    """Log the exception; answer the user in their language; notify the admins."""
    error = context.error
    log.error("error while handling an update", exc_info=error)
    if not isinstance(update, Update):
        return
    user = None
    if update.effective_user is not None:
        try:
            user = await context.wallet.users.get(update.effective_user.id)
        except Exception:  # the database may be what failed
            log.warning("could not look up the user's language", exc_info=True)
    language = language_of(update, user)
    text = (
        error_text(language, error)
        if isinstance(error, WalletError)
        else translate(language, "internal_error")
    )
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(text[:200], show_alert=True)
        elif update.effective_message is not None:
            await reply(update, context, text)
    except TelegramError:
        log.warning("could not tell the user about the error", exc_info=True)
    if isinstance(error, WalletError) and not isinstance(error, StorageError):
        return  # an expected refusal, not an incident
    report = translate("en", "admin.error_report", error=html.escape(f"{type(error).__name__}"))
    for admin in context.wallet.settings.admin_ids:
        await tell(context.bot, admin, report, about="an error")
