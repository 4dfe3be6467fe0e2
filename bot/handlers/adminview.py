"""/user <id|@username>: one wallet as an admin sees it (private chat; 2FA first when
the admin enabled it), and the chart of the last days that follows /stats' figures."""

from __future__ import annotations

import asyncio

from telegram import Update

from bot.domain.adminview import RECENT_DAYS, VIEW_USER, WalletView
from bot.domain.errors import UserNotFound, WalletError
from bot.domain.money import format_fen
from bot.handlers.cards import second_factor
from bot.handlers.context import (
    WalletContext,
    admin_only,
    command,
    error_text,
    is_private,
    private_link,
)
from bot.handlers.offers_text import category_label
from bot.handlers.outbox import reply
from bot.handlers.pin import keypad_markup, keypad_text
from bot.i18n import translate
from bot.render.activity_chart import activity_chart
from bot.render.labels import line_text

__all__ = ["handlers", "send_activity_chart", "view_text"]

SHOWN_NAME = 64  # of a name that names nobody, the characters quoted back


def _yes_no(language: str, flag: bool) -> str:
    return translate(language, "adminview.yes" if flag else "adminview.no")


def view_text(language: str, view: WalletView) -> str:
    """The wallet in a message: figures first, then the risk flags, then the transfers."""
    user, risk = view.user, view.risk
    lines = [
        translate(
            language,
            "adminview.header",
            name=user.display_name,
            username=f"@{user.username}" if user.username else "—",
            id=user.telegram_id,
        ),
        translate(
            language,
            "adminview.money",
            available=format_fen(view.balance.available),
            reserved=format_fen(view.balance.reserved),
        ),
        translate(language, "adminview.frozen" if view.frozen else "adminview.active"),
        translate(
            language, "adminview.tier", tier=translate(language, f"adminview.tier.{view.tier}")
        ),
    ]
    if view.real_name is not None:
        lines.append(
            translate(language, "adminview.identity", name=view.real_name, number=view.id_number)
        )
    if view.card is not None:
        lines.append(translate(language, "adminview.card", card=view.card))
    password_free = (
        translate(
            language,
            "adminview.password_free_on",
            per_payment=format_fen(risk.password_free_per_payment),
            daily=format_fen(risk.password_free_daily),
        )
        if risk.password_free_per_payment
        else translate(language, "adminview.no")
    )
    lines.append(
        translate(
            language,
            "adminview.risk",
            days=RECENT_DAYS,
            holds=risk.holds_recent,
            open_holds=risk.holds_open,
            lockouts=risk.pin_lockouts_recent,
            locked=_yes_no(language, risk.pin_locked_now),
            two_factor=_yes_no(language, risk.two_factor),
            password_free=password_free,
        )
    )
    if view.shop is not None:
        lines.append(
            translate(
                language,
                "adminview.shop",
                id=view.shop.id,
                name=view.shop.name,
                category=category_label(language, view.shop.category),
                balance=format_fen(view.shop_balance),
            )
        )
    if view.open_tickets is not None:
        lines.append(translate(language, "adminview.tickets", count=view.open_tickets))
    if not view.transfers:
        lines.append(translate(language, "adminview.no_transfers"))
    else:
        lines.append(translate(language, "adminview.transfers"))
        lines.extend(line_text(language, line) for line in view.transfers)
    return "\n".join(lines)


async def shown_text(context: WalletContext, language: str, view: WalletView) -> str:
    """The keypad's message once an admin with 2FA entered the code: the wallet."""
    return view_text(language, view)


@admin_only
async def user_view(update: Update, context: WalletContext, user, language) -> None:
    """Show one wallet to an admin: /user <id|@username>."""
    if not is_private(update):
        await reply(
            update,
            context,
            translate(language, "adminview.private_only", link=private_link(context)),
        )
        return
    if len(context.args) != 1:
        await reply(update, context, translate(language, "adminview.usage"))
        return
    wallet = context.wallet
    try:
        target = await wallet.adminview.find(context.args[0])
        keypad = await second_factor(
            context, user.telegram_id, VIEW_USER, {"target": target.telegram_id}
        )
        if keypad is not None:
            await reply(
                update, context, keypad_text(language, keypad), reply_markup=keypad_markup(keypad)
            )
            return
        view = await wallet.adminview.view(user.telegram_id, target)
    except UserNotFound:
        who = context.args[0][:SHOWN_NAME]
        await reply(update, context, translate(language, "adminview.unknown", who=who))
        return
    except WalletError as refused:
        await reply(update, context, error_text(language, refused))
        return
    await reply(update, context, view_text(language, view))


async def send_activity_chart(update: Update, context: WalletContext, language: str) -> None:
    """The last days drawn as a picture, after /stats' figures (private chat only)."""
    activity = await context.wallet.adminview.activity()
    picture = await asyncio.to_thread(activity_chart, activity, language)
    caption = translate(language, "adminview.chart_caption", days=len(activity.days))
    await update.effective_message.reply_photo(picture, caption=caption)


def handlers() -> list:
    return [command("user", user_view)]
