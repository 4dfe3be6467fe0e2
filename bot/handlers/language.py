"""/lang zh|en and the menu's language button."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler

from bot.domain.money import format_fen
from bot.handlers.context import WalletContext, command, current_user, language_of
from bot.handlers.outbox import reply
from bot.handlers.start import MENU_LANGUAGE, menu_for
from bot.i18n import translate

_NAMES = {
    "zh": "zh",
    "cn": "zh",
    "zh-cn": "zh",
    "zh_cn": "zh",
    "中文": "zh",
    "chinese": "zh",
    "en": "en",
    "english": "en",
    "英文": "en",
    "英语": "en",
}


async def lang(update: Update, context: WalletContext) -> None:
    """Switch the user's language: /lang zh or /lang en."""
    user = await current_user(update, context)
    if user is None:
        return
    choice = _NAMES.get(context.args[0].lower()) if len(context.args) == 1 else None
    if choice is None:
        await reply(update, context, translate(language_of(update, user), "lang.usage"))
        return
    await context.wallet.users.set_language(user.telegram_id, choice)
    await reply(update, context, translate(choice, "lang.set"))


async def menu_language(update: Update, context: WalletContext) -> None:
    """Set the language the menu's button offers (a button of an older menu without
    one: the other language than the current)."""
    query = update.callback_query
    user = await current_user(update, context)
    if user is None:
        await query.answer()
        return
    choice = query.data.removeprefix(MENU_LANGUAGE).removeprefix(":")
    if choice not in ("en", "zh"):
        choice = "en" if language_of(update, user) == "zh" else "zh"
    await context.wallet.users.set_language(user.telegram_id, choice)
    await query.answer(translate(choice, "lang.set"))
    # the whole menu changes language, its text with its buttons: the plain menu stays
    # plain; the welcome above it (the /start menu) stays a greeting with the balance
    text = translate(choice, "guided.menu")
    shown = query.message.text if query.message else None
    if shown and shown not in (translate(known, "guided.menu") for known in ("en", "zh")):
        balance = await context.wallet.ledger.balance(user.account_id)
        text = translate(
            choice,
            "start.welcome_back",
            name=user.display_name,
            balance=format_fen(balance.available),
        )
    await query.edit_message_text(
        text, reply_markup=await menu_for(context, choice, user.telegram_id)
    )


def handlers() -> list:
    return [
        command("lang", lang),
        CallbackQueryHandler(menu_language, pattern=f"^{MENU_LANGUAGE}(:(en|zh))?$"),
    ]
