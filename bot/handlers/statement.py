"""/statement [YYYY-MM]: the month's statement as a CSV file and a chart (this month by default)."""

from __future__ import annotations

import asyncio

from telegram import InputFile, Update

from bot.handlers.context import (
    WalletContext,
    command,
    current_user,
    error_text,
    is_private,
    language_of,
    private_link,
)
from bot.i18n import translate
from bot.render.statement_chart import statement_chart
from bot.render.statement_csv import statement_csv
from bot.wallet.errors import WalletError
from bot.wallet.money import format_fen


async def statement(update: Update, context: WalletContext) -> None:
    """Send the statement of a month: /statement 2026-01."""
    user = await current_user(update, context)
    if user is None:
        return
    language = language_of(update, user)
    message = update.effective_message
    if not is_private(update):
        link = private_link(context)
        await message.reply_text(translate(language, "statement.private_only", link=link))
        return
    try:
        result = await context.wallet.statements.statement(user.account_id, " ".join(context.args))
    except WalletError as refused:
        await message.reply_text(
            error_text(language, refused) + "\n" + translate(language, "statement.usage")
        )
        return
    month = result.month.label
    if not result.rows:
        text = translate(
            language, "statement.empty", month=month, balance=format_fen(result.closing_balance)
        )
        await message.reply_text(text)
        return
    caption = translate(
        language,
        "statement.csv_caption",
        month=month,
        count=len(result.rows),
        money_in=format_fen(result.money_in),
        money_out=format_fen(result.money_out),
        opening=format_fen(result.opening_balance),
        closing=format_fen(result.closing_balance),
    )
    document = InputFile(statement_csv(result, language), filename=f"statement-{month}.csv")
    await message.reply_document(document, caption=caption)
    picture = await asyncio.to_thread(statement_chart, result, language)
    await message.reply_photo(
        picture, caption=translate(language, "statement.chart_caption", month=month)
    )


def handlers() -> list:
    return [command("statement", statement)]
