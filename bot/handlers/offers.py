"""A resident's offers: ``/coupons`` (coupons and vouchers), ``/points`` (balance, tier,
redeem buttons), and the vouchers' expiry sweep.

Each redeem button is a server-side action of the person who asked (``pt:<action
id>``): a tap redeems once, a second tap, a stranger's or an expired one says so.
"""

from __future__ import annotations

import logging
from contextlib import suppress

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler

from bot.domain.errors import WalletError
from bot.domain.promotions import HeldCoupon
from bot.domain.security_errors import ActionError
from bot.handlers.context import (
    ID,
    WALLET_KEY,
    WalletContext,
    button_pattern,
    command,
    current_user,
    error_text,
    language_of,
    private_user,
    refusal_text,
)
from bot.handlers.offers_text import campaign_line, points_text, voucher_line
from bot.handlers.outbox import reply
from bot.i18n import translate, translate_plural

__all__ = ["REDEEM_TAP", "SWEEP_INTERVAL_S", "handlers", "schedule"]

log = logging.getLogger(__name__)

REDEEM = "redeem_points"  # the purpose of a redeem button's action
REDEEM_PREFIX = "pt:"  # pt:<action id>
REDEEM_TAP = button_pattern(REDEEM_PREFIX, ID)
SWEEP_INTERVAL_S = 60


def _unusable(language: str, held: HeldCoupon) -> str:
    """Why a coupon held cannot take anything off now (its campaign's budget is spent, or
    its holder used as many as one person may), as a note after its line; else nothing."""
    if held.campaign.budget_spent:
        note = translate(language, "coupons.budget_spent")
    elif held.used_by_holder >= held.campaign.per_user_limit:
        note = translate(language, "coupons.limit_used")
    else:
        return ""
    return note if note.startswith("（") else " " + note  # no space before a full-width one


async def coupons(update: Update, context: WalletContext) -> None:
    """List the person's coupons (what each does, until when) and vouchers."""
    user, language = await private_user(update, context, "offers.private_only")
    if user is None:
        return
    offers = context.wallet.offers
    held = await offers.coupons(user.telegram_id)
    vouchers = await offers.vouchers(user.telegram_id)
    lines = []
    if held:
        lines.append(translate(language, "coupons.title"))
        lines += ["• " + campaign_line(language, h.campaign) + _unusable(language, h) for h in held]
    else:
        lines.append(translate(language, "coupons.none"))
    if vouchers:
        lines.append("")
        lines.append(translate(language, "coupons.vouchers"))
        lines += ["• " + voucher_line(language, v) for v in vouchers]
    await reply(update, context, "\n".join(lines))


async def points(update: Update, context: WalletContext) -> None:
    """Show the person's points, tier and progress, with a button per coupon on offer
    (only campaigns the person may still redeem: not those of which they already hold
    as many coupons as one person may use)."""
    user, language = await private_user(update, context, "offers.private_only")
    if user is None:
        return
    wallet = context.wallet
    standing = await wallet.offers.points(user.telegram_id)
    offered = await wallet.offers.redeemable(user.telegram_id)
    text = points_text(language, standing)
    rows = []
    if offered:
        text += "\n\n" + translate(language, "points.redeem_title")
        for campaign in offered:
            text += "\n• " + translate_plural(
                language,
                "points.offer",
                campaign.points_cost,
                cost=campaign.points_cost,
                line=campaign_line(language, campaign),
            )
            action = await wallet.actions.create(
                user.telegram_id, REDEEM, {"campaign_id": campaign.id}
            )
            label = translate(
                language, "points.redeem_button", name=campaign.name, cost=campaign.points_cost
            )
            rows.append([InlineKeyboardButton(label, callback_data=f"{REDEEM_PREFIX}{action.id}")])
    markup = InlineKeyboardMarkup(rows) if rows else None
    await reply(update, context, text, reply_markup=markup)


async def redeem_press(update: Update, context: WalletContext) -> None:
    """Redeem points for the coupon a button offers (once per button: the redemption is
    keyed by it). A refusal (too few points yet) leaves the button for a later tap; a
    redemption takes it off the message."""
    query = update.callback_query
    user = await current_user(update, context)
    language = language_of(update, user)
    wallet = context.wallet
    (action_id,) = context.match.groups()
    try:
        action = await wallet.actions.open_for(user.telegram_id, action_id, purpose=REDEEM)
    except WalletError as refused:
        await query.answer(refusal_text(language, refused)[:200], show_alert=True)
        return
    campaign_id = int(action.payload["campaign_id"])
    try:
        await wallet.offers.redeem(f"redeem:{action.id}", user.telegram_id, campaign_id)
        campaign = await wallet.offers.campaign(campaign_id)
    except WalletError as refused:
        await query.answer(error_text(language, refused)[:200], show_alert=True)
        return
    text = translate_plural(
        language,
        "points.redeemed",
        campaign.points_cost,
        cost=campaign.points_cost,
        name=campaign.name,
    )
    try:
        await wallet.actions.finish(action)
    except ActionError:  # a second tap at once (the same redemption, the first says so)
        await query.answer(text[:200])
        return
    await query.answer(text[:200])
    message = query.message
    if isinstance(message, Message) and message.reply_markup is not None:
        data = f"{REDEEM_PREFIX}{action.id}"
        rows = [
            row
            for row in message.reply_markup.inline_keyboard
            if not any(b.callback_data == data for b in row)
        ]
        with suppress(BadRequest):  # edited meanwhile by another tap: its buttons stand
            await query.edit_message_reply_markup(InlineKeyboardMarkup(rows) if rows else None)
    await query.message.reply_text(text)


async def sweep(context: WalletContext) -> None:
    """Give the unspent value of every expired issue of vouchers back to the issuer.

    Safe with several processes by its own SQL (no lease): an issue is expired under
    its row's lock, only while live, so two sweeps at once give its value back once."""
    if WALLET_KEY not in context.application.bot_data:
        return
    for expiry in await context.wallet.offers.expire_due():
        log.info(
            "voucher issue %s expired: %s vouchers, %s fen back to the issuer",
            expiry.issue_id,
            expiry.vouchers,
            expiry.returned_fen,
        )


def schedule(application: Application) -> None:
    """The vouchers' expiry sweep once at start-up, then every minute."""
    jobs = application.job_queue
    if jobs is None:
        raise RuntimeError("vouchers need PTB's job queue: install python-telegram-bot[job-queue]")
    jobs.run_once(sweep, when=0, name="vouchers.sweep.start")
    jobs.run_repeating(
        sweep, interval=SWEEP_INTERVAL_S, first=SWEEP_INTERVAL_S, name="vouchers.sweep"
    )


def handlers() -> list:
    return [
        command("coupons", coupons),
        command("points", points),
        CallbackQueryHandler(redeem_press, pattern=REDEEM_TAP),
    ]
