"""/start, /help and the main menu."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler

from bot.domain.money import format_fen
from bot.handlers import redpacket, request, send
from bot.handlers.context import (
    WalletContext,
    command,
    current_user,
    is_private,
    language_of,
    private_link,
)
from bot.handlers.outbox import reply
from bot.i18n import translate

MENU = "m:"
MENU_BALANCE = "m:balance"
MENU_HELP = "m:help"
MENU_LANGUAGE = "m:lang"


def menu_markup(language: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    translate(language, "menu.balance"), callback_data=MENU_BALANCE
                ),
                InlineKeyboardButton(translate(language, "menu.help"), callback_data=MENU_HELP),
            ],
            [
                InlineKeyboardButton(
                    translate(language, "menu.language"), callback_data=MENU_LANGUAGE
                )
            ],
        ]
    )


def help_text(language: str, update: Update, context: WalletContext) -> str:
    if not is_private(update):
        return translate(language, "help.group", link=private_link(context))
    text = translate(language, "help.private")
    if update.effective_user and update.effective_user.id in context.wallet.settings.admin_ids:
        text += "\n\n" + translate(language, "help.admin")
    return text


async def start(update: Update, context: WalletContext) -> None:
    """Open the user's wallet and show the menu."""
    person = update.effective_user
    before = await context.wallet.users.get(person.id) if person else None
    user = await current_user(update, context)
    language = language_of(update, user)
    if user is None:
        return
    if not is_private(update):
        await reply(update, context, translate(language, "help.group", link=private_link(context)))
        return
    payload = context.args[0] if context.args else ""
    if payload.startswith(send.CONFIRM_LINK) and await send.show_card(
        update, context, payload.removeprefix(send.CONFIRM_LINK)
    ):
        return
    if payload.startswith(send.CONFIRM_LINK) and await redpacket.show_card(
        update, context, payload.removeprefix(send.CONFIRM_LINK)
    ):
        return
    if payload.startswith(redpacket.DETAILS_LINK) and await redpacket.show_details(
        update, context, payload.removeprefix(redpacket.DETAILS_LINK)
    ):
        return
    if payload.startswith(request.PAY_LINK) and await request.show_request(
        update, context, payload.removeprefix(request.PAY_LINK)
    ):
        return
    balance = await context.wallet.ledger.balance(user.account_id)
    lines = []
    if payload:
        lines.append(translate(language, "start.bad_link"))
    greeting = (
        "start.welcome_back" if before is not None and before.private_chat else "start.welcome"
    )
    lines.append(
        translate(language, greeting, name=user.display_name, balance=format_fen(balance.available))
    )
    await update.effective_message.reply_text(
        "\n\n".join(lines), reply_markup=menu_markup(language)
    )


async def help_command(update: Update, context: WalletContext) -> None:
    """List the commands of this kind of chat."""
    user = await current_user(update, context)
    await reply(update, context, help_text(language_of(update, user), update, context))


async def menu_help(update: Update, context: WalletContext) -> None:
    """Show the help from the menu."""
    await update.callback_query.answer()
    user = await current_user(update, context)
    await update.effective_message.reply_text(help_text(language_of(update, user), update, context))


def handlers() -> list:
    return [
        command("start", start),
        command("help", help_command),
        CallbackQueryHandler(menu_help, pattern=f"^{MENU_HELP}$"),
    ]
