"""The admins' offers: ``/voucher_issue``, ``/campaign_add`` and ``/coupon_grant``.

Each command shows a card saying what would happen (how many vouchers or coupons, to
how many people, the total) with Confirm / Cancel; nothing is written before Confirm.
An admin with 2FA then enters a code on the keypad. The key of each write comes from
the command's message, so the same message delivered twice, or its card confirmed
twice, issues once. Every write is in the security log (``bot.wallet.offers``). Each
holder is told what they got by a notice (``bot.handlers.notices``): sent once, in their
language, also when the bot restarts half way; one who never opened the bot finds it on
/coupons all the same.
"""

from __future__ import annotations

import unicodedata

from telegram import Update
from telegram.ext import CallbackQueryHandler

from bot.domain.errors import OfferArgumentsInvalid, WalletError
from bot.domain.money import format_fen
from bot.domain.offer_store import VoucherIssue
from bot.domain.promotions import Campaign, parse_campaign
from bot.domain.vouchers import parse_voucher_issue
from bot.handlers.cards import AdminCard, card_buttons, card_pattern, press_admin_card
from bot.handlers.context import (
    WalletContext,
    admin_only,
    command,
    error_text,
    is_private,
    private_link,
)
from bot.handlers.notices import renders
from bot.handlers.offers_text import campaign_line, categories_text
from bot.handlers.outbox import reply
from bot.i18n import translate, translate_plural
from bot.render.labels import deadline_time
from bot.wallet.offers import (
    CAMPAIGN,
    COUPON_NOTICE,
    GRANT,
    ISSUE,
    VOUCHER_NOTICE,
    CouponGrant,
    campaign_payload,
)

__all__ = ["OFFER_TAP", "campaign_text", "grant_text", "handlers", "issued_text"]

CARD = "offer_card"  # the purpose of a card's action (offer_card:issue|campaign|grant)
OFFER = "of:"  # of:<action id>:y|n
OFFER_TAP = card_pattern(OFFER)
_USAGE = {
    "voucher_issue": "voucher.usage",
    "campaign_add": "campaign.usage",
    "coupon_grant": "coupon.grant_usage",
}
_CONFIRMATIONS = {f"{CARD}:issue": ISSUE, f"{CARD}:campaign": CAMPAIGN, f"{CARD}:grant": GRANT}


def _refused(language: str, name: str, refused: WalletError) -> str:
    text = error_text(language, refused)
    if isinstance(refused, OfferArgumentsInvalid) or refused.code.startswith("amount_"):
        text += "\n" + translate(language, _USAGE[name])
    return text


async def _card(context: WalletContext, user, kind: str, payload: dict) -> str:
    action = await context.wallet.actions.create(user.telegram_id, f"{CARD}:{kind}", payload)
    return action.id


async def _show(update, context, language: str, text: str, action_id: str) -> None:
    markup = card_buttons(
        OFFER,
        action_id,
        translate(language, "offers.confirm_button"),
        translate(language, "offers.cancel_button"),
    )
    await reply(update, context, text, reply_markup=markup)


def _key(kind: str, user, update: Update) -> str:
    return f"{kind}:{user.telegram_id}:{update.effective_message.message_id}"


async def _private(update: Update, context: WalletContext, language: str) -> bool:
    if is_private(update):
        return True
    link = private_link(context)
    await reply(update, context, translate(language, "offers.admin_private_only", link=link))
    return False


@admin_only
async def voucher_issue(update: Update, context: WalletContext, user, language) -> None:
    """Show an issue of vouchers' card: how many, to whom, the total."""
    if not await _private(update, context, language):
        return
    offers = context.wallet.offers
    try:
        order = parse_voucher_issue(context.args or [])
        preview = await offers.preview_issue(order)
        payload = {
            "amount": order.amount_fen,
            "days": order.days,
            "categories": sorted(order.categories),
            "holders": list(preview.holder_ids),
            "key": _key("vouchers", user, update),
        }
        action_id = await _card(context, user, "issue", payload)
    except WalletError as refused:
        await reply(update, context, _refused(language, "voucher_issue", refused))
        return
    text = translate(
        language,
        "voucher.card",
        count=preview.count,
        amount=format_fen(order.amount_fen),
        total=format_fen(preview.total_fen),
        categories=categories_text(language, order.categories),
        until=deadline_time(order.expires_at(offers.store.now_ms())),
    )
    shops = await context.wallet.merchants.categories()
    idle = sorted(order.categories - shops.keys())
    if idle:  # a typo, or a category still to come: said before the vouchers are issued
        known = ", ".join(shops) or translate(language, "voucher.no_shops_yet")
        text += "\n" + translate(
            language, "voucher.no_shop", names=", ".join(idle), categories=known
        )
    await _show(update, context, language, text, action_id)


@admin_only
async def campaign_add(update: Update, context: WalletContext, user, language) -> None:
    """Show a new campaign's card: its rule, limits, budget and how long it runs."""
    if not await _private(update, context, language):
        return
    try:
        order = await context.wallet.offers.check_campaign(parse_campaign(context.args or []))
        payload = campaign_payload(order) | {"key": _key("campaign", user, update)}
        action_id = await _card(context, user, "campaign", payload)
    except WalletError as refused:
        await reply(update, context, _refused(language, "campaign_add", refused))
        return
    preview = await context.wallet.offers.preview_campaign(order)
    text = translate(
        language,
        "campaign.card",
        line=campaign_line(language, preview),
        budget=format_fen(order.budget_fen),
        limit=order.per_user_limit,
        points=order.points_cost,
    )
    if order.category is not None and preview.merchant_id is None:
        shops = await context.wallet.merchants.categories()
        if order.category not in shops:  # a typo, or a category still to come
            known = ", ".join(shops) or translate(language, "voucher.no_shops_yet")
            text += "\n" + translate(
                language, "campaign.no_shop", name=order.category, categories=known
            )
    await _show(update, context, language, text, action_id)


def _grant_args(args: list[str]) -> tuple[int, list[str] | None]:
    if not args:
        raise OfferArgumentsInvalid("coupon_grant_usage")
    number = unicodedata.normalize("NFKC", args[0]).strip().removeprefix("#")  # "#3", as shown
    if not (number.isascii() and number.isdigit()) or not 0 < int(number) < 2**62:
        raise OfferArgumentsInvalid("campaign_number_invalid", text=args[0][:32])
    args = [number, *args[1:]]
    names = [n.strip() for word in args[1:] for n in word.replace("，", ",").split(",")]
    names = [n for n in names if n]
    return int(args[0]), (None if not names or names == ["all"] else names)


@admin_only
async def coupon_grant(update: Update, context: WalletContext, user, language) -> None:
    """Show a grant of coupons' card: the campaign and how many people get one."""
    if not await _private(update, context, language):
        return
    offers = context.wallet.offers
    try:
        campaign_id, names = _grant_args(list(context.args or []))
        campaign = await offers.campaign(campaign_id)
        holders = await offers.recipients(names)
        payload = {
            "campaign_id": campaign_id,
            "holders": list(holders),
            "key": _key("coupons", user, update),
        }
        action_id = await _card(context, user, "grant", payload)
    except WalletError as refused:
        await reply(update, context, _refused(language, "coupon_grant", refused))
        return
    text = translate(
        language,
        "coupon.grant_card",
        count=len(holders),
        line=campaign_line(language, campaign),
    )
    await _show(update, context, language, text, action_id)


async def _run(context: WalletContext, user, action) -> object:
    offers, payload = context.wallet.offers, action.payload
    if action.purpose == f"{CARD}:issue":
        return (await offers.confirm_issue(action)).outcome
    if action.purpose == f"{CARD}:campaign":
        return (await offers.confirm_campaign(action)).outcome
    return await offers.grant(
        user.telegram_id,
        str(payload["key"]),
        int(payload["campaign_id"]),
        [int(h) for h in payload["holders"]],
    )


async def _act(context: WalletContext, language: str, user, action) -> str:
    outcome = await _run(context, user, action)
    render = {VoucherIssue: issued_text, Campaign: campaign_text, CouponGrant: grant_text}
    return await render[type(outcome)](context, language, outcome)


_CARD = AdminCard(
    CARD, "offers.cancelled", lambda action: _CONFIRMATIONS[action.purpose], _act, error_text
)


@admin_only
async def offer_press(update: Update, context: WalletContext, user, language) -> None:
    """Confirm (once) or cancel an offers card; an admin with 2FA enters a code first."""
    await press_admin_card(update, context, user, language, _CARD)


@renders(VOUCHER_NOTICE)
async def voucher_notice(wallet, language: str, params: dict) -> str:
    """What a holder of an issue is told (``Offers.issue`` wrote it, one per holder)."""
    return translate(
        language,
        "voucher.received",
        amount=format_fen(params["amount"]),
        categories=categories_text(language, frozenset(params["categories"])),
        until=deadline_time(params["expires_at"]),
    )


@renders(COUPON_NOTICE)
async def coupon_notice(wallet, language: str, params: dict) -> str:
    """What a holder of a grant is told, with the campaign as it stands when it is sent."""
    campaign = await wallet.offers.campaign(params["campaign_id"])
    return translate(language, "coupon.received", line=campaign_line(language, campaign))


async def issued_text(context: WalletContext, language: str, issue: VoucherIssue) -> str:
    """What the admin reads once vouchers are issued (also after the 2FA keypad); each
    holder's notice was written with the issue (:func:`voucher_notice`), sent once."""
    return translate(
        language,
        "voucher.issued",
        id=issue.id,
        count=issue.count,
        amount=format_fen(issue.amount_fen),
        total=format_fen(issue.total_fen),
        categories=categories_text(language, issue.categories),
        until=deadline_time(issue.expires_at),
    )


async def campaign_text(context: WalletContext, language: str, campaign: Campaign) -> str:
    return translate(
        language, "campaign.created", id=campaign.id, line=campaign_line(language, campaign)
    )


async def grant_text(context: WalletContext, language: str, grant: CouponGrant) -> str:
    """The admin's answer; each holder's notice was written with the grant
    (:func:`coupon_notice`), sent once."""
    text = translate_plural(
        language,
        "coupon.granted",
        grant.granted,
        granted=grant.granted,
        asked=grant.asked,
        name=grant.campaign.name,
    )
    if grant.at_limit:
        text += "\n" + translate(
            language,
            "coupon.granted_at_limit",
            count=grant.at_limit,
            limit=grant.campaign.per_user_limit,
        )
    return text


def handlers() -> list:
    return [
        command("voucher_issue", voucher_issue),
        command("campaign_add", campaign_add),
        command("coupon_grant", coupon_grant),
        CallbackQueryHandler(offer_press, pattern=OFFER_TAP),
    ]
