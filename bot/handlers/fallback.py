"""Answers for what no other handler took: unknown commands, stray text, stale buttons."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, MessageHandler, filters

from bot.handlers.context import WalletContext, current_user, is_private, language_of
from bot.handlers.outbox import reply
from bot.i18n import translate


def _addressed_to_me(update: Update, context: WalletContext) -> bool:
    """In groups, only commands written /cmd@this_bot are certainly meant for this bot."""
    command = (update.effective_message.text or "").split()[0]
    return is_private(update) or command.lower().endswith(f"@{context.bot.username}".lower())


async def unknown_command(update: Update, context: WalletContext) -> None:
    """Say the command is unknown and point to /help."""
    if not _addressed_to_me(update, context):
        return
    user = await current_user(update, context)
    command = (update.effective_message.text or "").split()[0].split("@")[0]
    await reply(
        update, context, translate(language_of(update, user), "unknown_command", command=command)
    )


async def unknown_text(update: Update, context: WalletContext) -> None:
    """Point a private-chat message that is not a command to /help; a person with a
    support ticket open, to replying to it (a message that replies to nothing is never
    taken into a ticket)."""
    user = await current_user(update, context)
    language = language_of(update, user)
    text = translate(language, "unknown_text")
    if user is not None and await context.wallet.support.has_open(user.telegram_id):
        text = translate(language, "support.reply_to_add") + "\n" + text
    await update.effective_message.reply_text(text)


async def unknown_callback(update: Update, context: WalletContext) -> None:
    """Tell the user a button is no longer valid."""
    user = await current_user(update, context)
    await update.callback_query.answer(
        translate(language_of(update, user), "callback.unknown"), show_alert=True
    )


def handlers() -> list:
    return [
        MessageHandler(filters.COMMAND, unknown_command),
        MessageHandler(
            filters.ChatType.PRIVATE & ~filters.COMMAND & filters.UpdateType.MESSAGE, unknown_text
        ),
        CallbackQueryHandler(unknown_callback),
    ]
