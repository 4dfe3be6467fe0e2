"""/balance and the menu's balance button."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler

from bot.domain.model import Balance
from bot.domain.money import format_fen
from bot.handlers.context import WalletContext, command, current_user, language_of, private_user
from bot.handlers.start import MENU_BALANCE
from bot.i18n import translate


def balance_text(language: str, balance: Balance) -> str:
    """Available money on the first line, then what is reserved."""
    lines = [translate(language, "balance.available", amount=format_fen(balance.available))]
    if balance.reserved:
        lines.append(translate(language, "balance.reserved", amount=format_fen(balance.reserved)))
    return "\n".join(lines)


async def balance(update: Update, context: WalletContext) -> None:
    """Show the user's balance (in private chat only)."""
    user, language = await private_user(update, context, "balance.private_only")
    if user is None:
        return
    result = await context.wallet.ledger.balance(user.account_id)
    await update.effective_message.reply_text(balance_text(language, result))


async def menu_balance(update: Update, context: WalletContext) -> None:
    """Show the balance from the menu button."""
    query = update.callback_query
    user = await current_user(update, context)
    language = language_of(update, user)
    result = await context.wallet.ledger.balance(user.account_id)
    await query.answer(balance_text(language, result).splitlines()[0])
    await query.message.reply_text(balance_text(language, result))


def handlers() -> list:
    return [
        command("balance", balance),
        CallbackQueryHandler(menu_balance, pattern=f"^{MENU_BALANCE}$"),
    ]
