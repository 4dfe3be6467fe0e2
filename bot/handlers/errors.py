"""The one error handler: log it, tell the user without details, tell the admins.

Admins hear of each kind of error once per ``REPORT_EVERY_S`` (and of how many there
were meanwhile): a database that refuses every write (a full disk) fails every update,
and a report per update would bury them.
"""

from __future__ import annotations

import html
import logging
import time

from telegram import Update
from telegram.error import BadRequest, NetworkError, TelegramError

from bot.domain.errors import StorageError, WalletError
from bot.handlers.context import WalletContext, error_text, language_of
from bot.handlers.outbox import reply, tell
from bot.i18n import translate

log = logging.getLogger(__name__)

REPORT_EVERY_S = 300.0
_REPORTED = "errors.reported"  # bot_data: error name -> (monotonic time of the report, since)


async def on_error(update: object, context: WalletContext) -> None:
    """Log the exception; answer the user in their language; notify the admins."""
    error = context.error
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(error, NetworkError) and not isinstance(error, BadRequest):
        # Telegram slow or out of reach (each call was tried again where that is safe): a
        # call that timed out may have gone through, and an apology would say otherwise.
        log.warning("the Bot API failed while handling update %s: %s", update_id, error)
        return
    if isinstance(error, StorageError):  # one line an operator can act on, not a traceback
        log.error("the database refused update %s: %s", update_id, error)
    else:
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
    name = type(error).__name__
    reported = context.application.bot_data.setdefault(_REPORTED, {})
    last, since = reported.get(name, (None, 0))
    now = time.monotonic()
    if last is not None and now - last < REPORT_EVERY_S:
        reported[name] = (last, since + 1)  # told lately: counted for the next report
        return
    reported[name] = (now, 0)
    report = translate("en", "admin.error_report", error=html.escape(name))
    if since:
        report += "\n" + translate("en", "admin.error_report_more", count=since)
    for admin in context.wallet.settings.admin_ids:
        await tell(context.bot, admin, report, about="an error", keep=False)
