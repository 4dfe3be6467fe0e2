"""Admin commands: /admin, /stats, /audit, /freeze, /unfreeze (2FA first when enabled)."""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler

from bot.domain.errors import WalletError
from bot.domain.money import format_fen
from bot.handlers import holds, merchant, payouts, support
from bot.handlers.adminview import send_activity_chart
from bot.handlers.cards import second_factor
from bot.handlers.context import (
    WalletContext,
    admin_in_private,
    admin_only,
    command,
    error_text,
)
from bot.handlers.outbox import Told, reply, tell
from bot.handlers.pin import keypad_markup, keypad_text
from bot.i18n import translate, translate_plural
from bot.wallet.admin import FREEZE, FreezeOutcome

SHOWN_PROBLEMS = 10  # an audit's problems listed in the chat; the count says how many


@admin_only
async def admin_menu(update: Update, context: WalletContext, user, language) -> None:
    """List the admin commands, with a button for each of the daily ones (in the private
    chat only)."""
    if not await admin_in_private(update, context, language):
        return
    await reply(
        update, context, translate(language, "help.admin"), reply_markup=console_markup(language)
    )


# The console's buttons: each answers as its command with no arguments (the same function)
CONSOLE_ROWS = (
    (("stats", "admin.button_stats"), ("review", "admin.button_review")),
    (("payouts", "admin.button_payouts"), ("tickets", "admin.button_tickets")),
    (("merchants", "admin.button_merchants"), ("audit", "admin.button_audit")),
)
# the console's buttons, and the main menu's that opens the console (an admin's menu)
CONSOLE_TAP = re.compile(r"^adm:(stats|review|payouts|tickets|merchants|audit|console)\Z")


def console_markup(language: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(translate(language, key), callback_data=f"adm:{name}")
                for name, key in row
            ]
            for row in CONSOLE_ROWS
        ]
    )


@admin_only
async def console_press(update: Update, context: WalletContext, user, language) -> None:
    """A console button: its command's answer, below the console (which stays)."""
    opens = {
        "stats": stats,
        "review": holds.review,
        "payouts": payouts.list_payouts,
        "tickets": support.list_tickets,
        "merchants": merchant.merchants,
        "audit": audit,
        "console": admin_menu,
    }
    await update.callback_query.answer()
    context.args = []
    await opens[context.match.group(1)](update, context)


@admin_only
async def stats(update: Update, context: WalletContext, user, language) -> None:
    """Show the wallet's numbers (in the private chat only)."""
    if not await admin_in_private(update, context, language):
        return
    numbers = await context.wallet.admin.stats()
    await reply(
        update,
        context,
        translate(
            language,
            "admin.stats",
            users=numbers.users,
            private=numbers.users_in_private_chat,
            frozen=numbers.frozen_accounts,
            transfers=numbers.transfers,
            today=numbers.transfers_today,
            held=format_fen(numbers.money_held),
            pending=numbers.open_reservations,
        ),
    )
    await send_activity_chart(update, context, language)


@admin_only
async def audit(update: Update, context: WalletContext, user, language) -> None:
    """Verify the ledger and the security log now (read-only; in the private chat only)."""
    if not await admin_in_private(update, context, language):
        return
    result = await context.wallet.admin.audit()
    counts = {
        "transfers": result.transfers,
        "events": result.events,
        "problems": result.problem_count,
    }
    if result.ok:
        text = translate(language, "admin.audit_ok", **counts)
    else:
        text = translate_plural(language, "admin.audit_failed", result.problem_count, **counts)
    if not result.ok:
        text += "\n" + "\n".join(f"• {p}" for p in result.problems[:SHOWN_PROBLEMS])
    await reply(update, context, text)


async def _set_frozen(update: Update, context: WalletContext, user, language, frozen: bool):
    wallet = context.wallet
    command = "/freeze" if frozen else "/unfreeze"
    if len(context.args) != 1:
        await reply(update, context, translate(language, "admin.target_usage", command=command))
        return
    try:
        target = await wallet.admin.freeze_target(user.telegram_id, context.args[0])
        payload = {"target": target.telegram_id, "frozen": frozen}
        view = await second_factor(context, user.telegram_id, FREEZE, payload)
        if view is not None:
            await reply(
                update, context, keypad_text(language, view), reply_markup=keypad_markup(view)
            )
            return
        done = await wallet.admin.set_frozen(user.telegram_id, target, frozen)
    except WalletError as refused:
        await reply(update, context, error_text(language, refused))
        return
    await reply(update, context, await frozen_text(context, language, done))


async def frozen_text(context: WalletContext, language: str, done: FreezeOutcome) -> str:
    """The admin's answer to a freeze or an unfreeze (also the keypad's outcome after a 2FA
    code): whose wallet, and whether it was so already; its owner is told of a change."""
    name = done.target.display_name
    if not done.changed:
        key = "admin.already_frozen" if done.frozen else "admin.not_frozen"
        return translate(language, key, name=name)
    text = translate(language, "admin.frozen" if done.frozen else "admin.unfrozen", name=name)
    told = done.target.effective_language
    notice = translate(told, "admin.frozen_notice" if done.frozen else "admin.unfrozen_notice")
    try:  # a shop goes with its owner's wallet: it cannot collect while that is frozen
        shop = await context.wallet.merchants.mine(done.target.telegram_id)
    except WalletError:
        shop = None
    if shop is not None:
        key = "admin.frozen_shop" if done.frozen else "admin.unfrozen_shop"
        text += "\n" + translate(language, key, shop=shop.name)
        notice += "\n" + translate(told, key, shop=shop.name)
    if await tell(context.bot, done.target.telegram_id, notice, about="a freeze") is not Told.SENT:
        text += "\n" + translate(language, "admin.not_told", name=name)
    return text


@admin_only
async def freeze(update: Update, context: WalletContext, user, language) -> None:
    """Freeze a wallet: it may receive money but not send any (in the private chat only:
    whose wallet an admin froze is not the group's business)."""
    if not await admin_in_private(update, context, language):
        return
    await _set_frozen(update, context, user, language, True)


@admin_only
async def unfreeze(update: Update, context: WalletContext, user, language) -> None:
    """Unfreeze a wallet (in the private chat only)."""
    if not await admin_in_private(update, context, language):
        return
    await _set_frozen(update, context, user, language, False)


def handlers() -> list:
    return [
        command("admin", admin_menu),
        CallbackQueryHandler(console_press, pattern=CONSOLE_TAP),
        command("stats", stats),
        command("audit", audit),
        command("freeze", freeze),
        command("unfreeze", unfreeze),
    ]
