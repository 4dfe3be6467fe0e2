"""Held payments: admins are told at once, with buttons to approve or reject; /review."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler

from bot.domain.errors import WalletError
from bot.domain.holds import Held
from bot.domain.money import format_fen
from bot.handlers.context import (
    WALLET_KEY,
    WalletContext,
    command,
    current_user,
    language_of,
    refusal_text,
)
from bot.handlers.outbox import reply
from bot.i18n import translate

log = logging.getLogger(__name__)

HOLD = "h:"


def _who(users: dict, telegram_id: int | None, language: str, kind: str) -> str:
    if telegram_id is None:  # a withdrawal's gateway, a shop, an escrow: not a person
        try:
            return translate(language, f"hold.to_{kind}")
        except KeyError:
            return translate(language, "hold.to_outside")
    user = users.get(telegram_id)
    return user.display_name if user else str(telegram_id)


async def hold_text(application: Application, language: str, held: Held) -> str:
    wallet = application.bot_data[WALLET_KEY]
    people = {
        tid: await wallet.users.get(tid)
        for tid in (held.payer_telegram_id, held.recipient_telegram_id)
        if tid is not None
    }
    return translate(
        language,
        "hold.review",
        id=held.id,
        payer=_who(people, held.payer_telegram_id, language, held.kind),
        recipient=_who(people, held.recipient_telegram_id, language, held.kind),
        amount=format_fen(held.amount),
        kind=held.kind,
        reasons=", ".join(held.reasons),
    )


def hold_markup(language: str, held: Held) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    translate(language, "hold.approve"), callback_data=f"{HOLD}{held.id}:a"
                ),
                InlineKeyboardButton(
                    translate(language, "hold.reject"), callback_data=f"{HOLD}{held.id}:r"
                ),
            ]
        ]
    )


def notifier(application: Application):
    """The guard's hook: send every admin the held payment with approve/reject buttons."""

    async def notify(held: Held) -> None:
        wallet = application.bot_data[WALLET_KEY]
        for admin_id in sorted(wallet.settings.admin_ids):
            admin = await wallet.users.get(admin_id)
            language = admin.effective_language if admin else "en"
            try:
                await application.bot.send_message(
                    admin_id,
                    await hold_text(application, language, held),
                    reply_markup=hold_markup(language, held),
                )
            except TelegramError:
                log.warning("could not tell admin %s about hold %s", admin_id, held.id)

    return notify


async def decide(update: Update, context: WalletContext) -> None:
    """Approve or reject a held payment (admins only), once."""
    query = update.callback_query
    user = await current_user(update, context)
    language = language_of(update, user)
    wallet = context.wallet
    if user is None or user.telegram_id not in wallet.settings.admin_ids:
        await query.answer(translate(language, "admin.refused"), show_alert=True)
        return
    _, held_id, choice = [*query.data.split(":"), "", ""][:3]
    try:
        if not held_id.isdigit():
            raise ValueError(held_id)
        if choice == "a":
            held = await wallet.guard.approve(int(held_id), user.telegram_id)
        else:
            held = await wallet.guard.reject(int(held_id), user.telegram_id)
    except (WalletError, ValueError) as refused:
        await query.answer(refusal_text(language, refused)[:200], show_alert=True)
        return
    outcome = "hold.approved" if choice == "a" else "hold.rejected"
    await query.answer()
    await query.edit_message_text(
        await hold_text(context.application, language, held)
        + "\n"
        + translate(language, outcome, admin=user.display_name)
    )
    if held.payer_telegram_id is not None:
        payer = await wallet.users.get(held.payer_telegram_id)
        try:
            await context.bot.send_message(
                held.payer_telegram_id,
                translate(
                    payer.effective_language,
                    f"{outcome}_payer",
                    amount=format_fen(held.amount),
                ),
            )
        except TelegramError:
            pass


async def review(update: Update, context: WalletContext) -> None:
    """List the open holds with their buttons (admins only)."""
    user = await current_user(update, context)
    language = language_of(update, user)
    wallet = context.wallet
    if user is None or user.telegram_id not in wallet.settings.admin_ids:
        await reply(update, context, translate(language, "admin.refused"))
        return
    held = await wallet.guard.open_holds()
    if not held:
        await reply(update, context, translate(language, "hold.none"))
        return
    for item in held[:20]:
        await reply(
            update,
            context,
            await hold_text(context.application, language, item),
            reply_markup=hold_markup(language, item),
        )


def handlers() -> list:
    return [command("review", review), CallbackQueryHandler(decide, pattern=f"^{HOLD}")]
