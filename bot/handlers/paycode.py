"""Customer pay codes in chat: ``/paycode`` shows one, a merchant ``/collect``s it.

``/paycode`` (private chat) → a QR code of ``t.me/<bot>?start=pc_<code>`` with the
18-digit code in the caption, valid a minute, and a Refresh button (a new code in a new
message; the old caption says it was replaced). The merchant types
``/collect <code> <amount>``, or photographs the QR (``bot.handlers.scan``) and is asked
the amount; see :func:`bot.handlers.merchant_pay.collect_and_tell` for what follows.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import CallbackQueryHandler

from bot.domain.errors import WalletError
from bot.handlers.context import (
    WalletContext,
    command,
    current_user,
    error_text,
    language_of,
    private_link,
    private_user,
)
from bot.handlers.merchant_pay import collect_and_tell
from bot.handlers.outbox import reply
from bot.i18n import translate
from bot.render.labels import deadline_time
from bot.render.qr import qr_png
from bot.wallet.paycodes import PayCode, looks_like_code

__all__ = ["CODE_LINK", "handlers"]

CODE_LINK = "pc_"  # /start pc_<code>: a customer's pay code, for a merchant to collect
REFRESH = "pcr:new"  # the Refresh button: a new code for whoever taps it (their own chat)


def _markup(language: str) -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(translate(language, "paycode.refresh"), callback_data=REFRESH)
    return InlineKeyboardMarkup([[button]])


async def _send_code(update: Update, context: WalletContext, language: str, made: PayCode):
    caption = translate(
        language,
        "paycode.shown",
        code=made.spaced,
        deadline=deadline_time(made.expires_at),
        seconds=context.wallet.paycodes.ttl_s,
    )
    await context.bot.send_photo(
        update.effective_chat.id,
        qr_png(private_link(context, f"{CODE_LINK}{made.code}")),
        caption=caption,
        reply_markup=_markup(language),
    )


async def paycode(update: Update, context: WalletContext) -> None:
    """Show a one-time pay code for a merchant to collect."""
    user, language = await private_user(update, context, "paycode.private_only")
    if user is None:
        return
    try:
        made = await context.wallet.paycodes.issue(user.telegram_id)
    except WalletError as refused:  # a frozen wallet
        await reply(update, context, error_text(language, refused))
        return
    await _send_code(update, context, language, made)


async def refresh(update: Update, context: WalletContext) -> None:
    """Replace the pay code with a new one."""
    query = update.callback_query
    await query.answer()
    user = await current_user(update, context)
    language = language_of(update, user)
    if update.effective_chat is None or update.effective_chat.id != user.telegram_id:
        return  # a pay code is shown in its owner's private chat only
    try:
        made = await context.wallet.paycodes.issue(user.telegram_id)
    except WalletError as refused:  # frozen since the code was shown
        await update.effective_chat.send_message(error_text(language, refused))
        return
    try:
        await query.edit_message_caption(translate(language, "paycode.replaced"))
    except BadRequest:  # gone or already replaced: the new code is what matters
        pass
    await _send_code(update, context, language, made)


async def collect(update: Update, context: WalletContext) -> None:
    """Collect an amount with a customer's pay code (merchants)."""
    user, language = await private_user(update, context, "paycode.collect_private_only")
    if user is None:
        return
    args = list(context.args or [])
    usage = translate(language, "paycode.collect_usage")
    if args and looks_like_code(" ".join(args)):  # the code alone, maybe in groups
        await reply(update, context, translate(language, "paycode.amount_missing") + "\n" + usage)
        return
    if len(args) < 2:
        await reply(update, context, usage)
        return
    # the code may be typed in groups of digits: the last word is the amount
    await collect_and_tell(update, context, user, language, "".join(args[:-1]), args[-1])


def handlers() -> list:
    return [
        command("paycode", paycode),
        command("collect", collect),
        CallbackQueryHandler(refresh, pattern=f"^{REFRESH}$"),
    ]
