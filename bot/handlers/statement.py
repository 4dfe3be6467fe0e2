"""/statement [YYYY-MM]: the month's statement as a CSV file and a chart (this month by default)."""

from __future__ import annotations

import asyncio

from telegram import InputFile, Update

from bot.domain.errors import WalletError
from bot.domain.money import format_fen
from bot.handlers.context import WalletContext, command, error_text, private_user
from bot.i18n import translate
from bot.render.statement_chart import statement_chart
from bot.render.statement_csv import statement_csv


async def statement(update: Update, context: WalletContext) -> None:
    """Send the statement of a month: /statement 2026-01."""
    user, language = await private_user(update, context, "statement.private_only")
    if user is None:
        return
    message = update.effective_message
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
