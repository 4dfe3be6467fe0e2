"""/refund <transfer_id> [amount] [reason]: an admin gives back (part of) a payment.

The command shows a card (the amount, who paid whom, the reason, what is left) with
Confirm / Cancel; nothing moves before Confirm. An admin with 2FA then enters a code.
The refund's key comes from the command's message (``bot.wallet.refunds.command_key``):
the same message delivered twice, or its card confirmed twice, refunds once. Once the
money is back, the payer and the payee are told, each in their language.
"""

from __future__ import annotations

import re

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import CallbackQueryHandler

from bot.domain.errors import RefundVoucherLeg, TransferNotRefundable, WalletError
from bot.domain.kinds import TransferKind
from bot.domain.model import Transfer
from bot.domain.money import format_fen
from bot.domain.refunds import Refund, RefundCommand, RefundPreview, parse_refund
from bot.domain.users import LANGUAGES, resolve_language
from bot.handlers.cards import AdminCard, card_buttons, card_pattern, press_admin_card
from bot.handlers.context import (
    WalletContext,
    admin_only,
    command,
    error_text,
    is_private,
    private_link,
)
from bot.handlers.outbox import Told, reply, tell
from bot.i18n import translate
from bot.render.labels import kind_label
from bot.wallet.refunds import CONFIRMATION, command_key

__all__ = ["REFUND_TAP", "done_text", "handlers", "refused_text"]

CARD = "refund_card"  # the purpose of a card's action
REFUND = "rf:"  # rf:<action id>:y|n
REFUND_TAP = card_pattern(REFUND)


async def _name(context: WalletContext, telegram_id: int | None) -> str:
    if telegram_id is None:
        return "—"
    person = await context.wallet.users.get(telegram_id)
    return person.display_name if person is not None else str(telegram_id)


def _to_a_shop(original: Transfer) -> bool:
    """The payment was to a shop: its money comes back out of the shop's account."""
    return original.kind == TransferKind.MERCHANT_PAYMENT


async def _payee_name(context: WalletContext, original: Transfer, telegram_id: int | None) -> str:
    """Who was paid: the shop's name for a payment to a shop (王芳面馆, not 王芳)."""
    if telegram_id is not None and _to_a_shop(original):
        try:
            return (await context.wallet.merchants.mine(telegram_id)).name
        except WalletError:  # no longer a merchant: their own name
            pass
    return await _name(context, telegram_id)


def _reason(language: str, reason: str) -> str:
    """The reason as ``language`` reads it: the one a dispute's Refund button gives
    (written in the admin's language) in the reader's; any other as the admin wrote it."""
    if not reason:
        return translate(language, "refund.no_reason")
    for written in LANGUAGES:
        pattern = re.escape(translate(written, DISPUTE_REASON, id="0")).replace("0", r"(\d+)")
        found = re.fullmatch(pattern, reason)
        if found:
            return translate(language, DISPUTE_REASON, id=found.group(1))
    return reason


DISPUTE_REASON = "support.refund_reason"  # a dispute's refund: "Dispute 🎫 #<ticket>"


def refused_text(language: str, refused: WalletError) -> str:
    """A refusal for the admin; a transfer that is not a payment names its kind, and a
    shop payment's voucher part its payment and balance part."""
    if isinstance(refused, RefundVoucherLeg):
        params = refused.params
        text = translate(
            language,
            refused.code,
            transfer_id=params["transfer_id"],
            payment_id=params["payment_id"],
        )
        if params["own_id"]:
            text += " " + translate(language, "refund.voucher_leg_own", own_id=params["own_id"])
        return text
    if isinstance(refused, TransferNotRefundable):
        return translate(
            language,
            refused.code,
            **{**refused.params, "kind": kind_label(language, refused.params["kind"])},
        )
    text = error_text(language, refused)
    if refused.code.startswith("amount_") or refused.code in ("refund_usage", "refund_id_invalid"):
        text += "\n" + translate(language, "refund.usage")
    return text


async def _card_text(context: WalletContext, language: str, preview: RefundPreview, reason: str):
    return translate(
        language,
        "refund.card",
        id=preview.original.id,
        amount=format_fen(preview.amount),
        original=format_fen(preview.original.amount),
        left=format_fen(preview.left),
        payer=await _name(context, preview.payer_id),
        payee=await _payee_name(context, preview.original, preview.payee_id),
        reason=_reason(language, reason),
    )


def _card_markup(language: str, action_id: str) -> InlineKeyboardMarkup:
    return card_buttons(
        REFUND,
        action_id,
        translate(language, "refund.confirm_button"),
        translate(language, "refund.cancel_button"),
    )


@admin_only
async def refund_command(update: Update, context: WalletContext, user, language) -> None:
    """Show a refund's confirmation card; nothing moves before Confirm."""
    if not is_private(update):
        link = private_link(context)
        await reply(update, context, translate(language, "refund.private_only", link=link))
        return
    try:
        asked = parse_refund(context.args or [])
    except WalletError as refused:
        await reply(update, context, refused_text(language, refused))
        return
    await show_card(update, context, user, language, asked)


async def show_card(
    update: Update, context: WalletContext, user, language: str, asked: RefundCommand
) -> None:
    """The refund's confirmation card for ``asked`` (a command's, or a dispute's, which
    names the dispute as the reason), or why there is none."""
    wallet, message = context.wallet, update.effective_message
    if wallet.refunds is None:  # a wallet assembled without refunds
        await reply(update, context, translate(language, "refund_error"))
        return
    try:
        preview = await wallet.refunds.preview(asked.transfer_id, asked.amount)
        payload = {
            "transfer_id": asked.transfer_id,
            "amount": preview.amount,
            "reason": asked.reason,
            "key": command_key(asked.transfer_id, user.telegram_id, message.message_id),
        }
        action = await wallet.actions.create(user.telegram_id, CARD, payload)
    except WalletError as refused:
        await reply(update, context, refused_text(language, refused))
        return
    await reply(
        update,
        context,
        await _card_text(context, language, preview, asked.reason),
        reply_markup=_card_markup(language, action.id),
    )


async def _refund(context: WalletContext, language: str, user, action) -> str:
    payload = action.payload
    refund = await context.wallet.refunds.refund(
        user.telegram_id,
        int(payload["transfer_id"]),
        int(payload["amount"]),
        str(payload["reason"]),
        str(payload["key"]),
    )
    return await done_text(context, language, refund)


_CARD = AdminCard(CARD, "refund.cancelled", lambda action: CONFIRMATION, _refund, refused_text)


@admin_only
async def refund_press(update: Update, context: WalletContext, user, language) -> None:
    """Confirm (once) or cancel a refund's card; an admin with 2FA enters a code first."""
    await press_admin_card(update, context, user, language, _CARD)


async def _tell(
    context: WalletContext, telegram_id: int | None, key: str, also: str | None = None, **params
) -> Told:
    if telegram_id is None:
        return Told.FAILED
    person = await context.wallet.users.get(telegram_id)
    if person is not None:
        language = person.effective_language
    else:
        language = resolve_language(None, None, context.wallet.users.default_language)
    params["reason"] = _reason(language, params["reason"])
    text = translate(language, key, **params)
    if also is not None:
        text += "\n" + translate(language, also)
    return await tell(context.bot, telegram_id, text, about="a refund")


async def done_text(context: WalletContext, language: str, refund: Refund) -> str:
    """The admin's answer once a refund is made (also the keypad's outcome after a 2FA
    code); the payer and the payee are told now, unless this replays an earlier refund
    (they were told then)."""
    original = refund.original
    payer = await _name(context, refund.payer_id)
    payee = await _payee_name(context, original, refund.payee_id)
    shop = _to_a_shop(original)
    params = {
        "id": original.id,
        "refund_id": refund.transfer.id,
        "amount": format_fen(refund.transfer.amount),
        "left": format_fen(refund.left),
        "payer": payer,
        "payee": payee,
    }
    if refund.replayed:
        return translate(language, "refund.replayed", **params)
    lines = [translate(language, "refund.done", **params)]
    reason = refund.transfer.memo
    sides = (
        (refund.payer_id, "refund.told_payer", payer),
        (refund.payee_id, "refund.told_shop" if shop else "refund.told_payee", payee),
    )
    coupon_back = False
    if shop:  # the shop knows the payment by its own number (/sales, /merchant_refund)
        merchants = context.wallet.merchants
        paid = await merchants.payment_of_leg(original.id)
        params["shop_payment"] = paid.id if paid is not None else original.id
        coupon_back = paid is not None and await merchants.coupon_given_back(paid)
    for telegram_id, key, name in sides:
        also = "merchant.refund_coupon_back" if coupon_back and key == "refund.told_payer" else None
        told = await _tell(context, telegram_id, key, also, reason=reason, **params)
        if told is not Told.SENT:
            lines.append(translate(language, "refund.unreachable", name=name))
    return "\n".join(lines)


def handlers() -> list:
    return [
        command("refund", refund_command),
        CallbackQueryHandler(refund_press, pattern=REFUND_TAP),
    ]
