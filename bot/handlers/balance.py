"""/balance and the menu's balance button."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler

from bot.domain.model import Balance
from bot.domain.money import format_fen
from bot.handlers.context import WalletContext, command, current_user, language_of, private_user
from bot.handlers.offers_text import vouchers_total_line
from bot.handlers.start import MENU_BALANCE
from bot.i18n import translate


def balance_text(language: str, balance: Balance, vouchers_fen: int = 0) -> str:
    """Available money on the first line, then what is reserved, then the vouchers (not
    in the wallet's balance: they pay eligible merchants only)."""
    lines = [translate(language, "balance.available", amount=format_fen(balance.available))]
    if balance.reserved:
        lines.append(translate(language, "balance.reserved", amount=format_fen(balance.reserved)))
    if vouchers_fen:
        lines.append(vouchers_total_line(language, vouchers_fen))
    return "\n".join(lines)


async def _vouchers(context: WalletContext, telegram_id: int) -> int:
    offers = context.wallet.offers
    return await offers.voucher_total(telegram_id) if offers is not None else 0


async def balance(update: Update, context: WalletContext) -> None:
    """Show the user's balance (in private chat only)."""
    user, language = await private_user(update, context, "balance.private_only")
    if user is None:
        return
    result = await context.wallet.ledger.balance(user.account_id)
    vouchers = await _vouchers(context, user.telegram_id)
    await update.effective_message.reply_text(balance_text(language, result, vouchers))


async def menu_balance(update: Update, context: WalletContext) -> None:
    """Show the balance from the menu button."""
    query = update.callback_query
    user = await current_user(update, context)
    language = language_of(update, user)
    result = await context.wallet.ledger.balance(user.account_id)
    text = balance_text(language, result, await _vouchers(context, user.telegram_id))
    await query.answer(text.splitlines()[0])
    await query.message.reply_text(text)


def handlers() -> list:
    return [
        command("balance", balance),
        CallbackQueryHandler(menu_balance, pattern=f"^{MENU_BALANCE}$"),
    ]
