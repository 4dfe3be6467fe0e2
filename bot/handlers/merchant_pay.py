"""Paying a merchant in chat: the links, the amount asked, the pay card, the receipts.

- ``/start pay_<merchant token>`` (the static code, opened or photographed): the payer is
  asked the amount, then gets the pay card. ``/start pay_<charge token>`` (``/charge``):
  the pay card at once. The card → the risk guard → the PIN keypad (or password-free)
  → ``Merchants.pay`` → the payer's receipt and the merchant's "received" message.
  The card's plan goes with it: if the payment would now take more (a coupon lapsed),
  nothing is paid and a new card shows the new amount to confirm again.
- ``/start pc_<code>`` (a customer's pay code, photographed by a merchant): the merchant
  is asked the amount, then the code is collected as ``/collect`` does; the customer
  confirms on the same card when their password-free limit does not cover it.
  A shop collecting so hears how it ended: paid, refused, cancelled, or (the sweep
  below) the card or its keypad left to expire.
"""

from __future__ import annotations

import secrets
from dataclasses import replace

from telegram import ForceReply, Update
from telegram.ext import Application, MessageHandler, filters

from bot.domain.errors import (
    CouponBudgetExhausted,
    CouponLimitReached,
    CouponUnavailable,
    InsufficientFunds,
    VoucherUnavailable,
    WalletError,
)
from bot.domain.merchant_errors import (
    MerchantFrozen,
    MerchantNotFound,
    PasswordFreeSpentToday,
    PayingYourself,
    PriceChanged,
    ShopFrozen,
)
from bot.domain.merchants import Merchant, PaidVia, PayStatus, check_shown
from bot.domain.money import format_fen, parse_amount
from bot.domain.offers import PaymentPlan
from bot.domain.risk import RiskAction
from bot.domain.users import User
from bot.handlers.cards import CardFlow, card_buttons, press_card
from bot.handlers.context import (
    WALLET_KEY,
    Wallet,
    WalletContext,
    current_user,
    error_text,
    language_of,
    private_link,
)
from bot.handlers.notices import renders
from bot.handlers.outbox import Told, reply, tell
from bot.handlers.pin import set_pin_markup
from bot.handlers.questions import Questions
from bot.handlers.request import review_text
from bot.handlers.risk_text import decision_text
from bot.handlers.soon import soon
from bot.i18n import translate
from bot.security.actions import DEFAULT_TTL_S
from bot.security.pin_entry import CONFIRM
from bot.wallet.merchants import CONFIRMATION, MerchantPaymentOutcome, PayDropped, PayTarget
from bot.wallet.paycodes import LAPSED_GRACE_S, LAPSED_NOTICE

__all__ = [
    "CARD",
    "PAY_LINK",
    "Amounts",
    "announce",
    "collect_and_tell",
    "show_charge",
    "static_link",
]

PAY_LINK = "pay_"  # /start pay_<token>: a merchant's static code or a charge (and requests)
CARD = "mp:"  # mp:<action id>:y|n, the payer's card
PURPOSE = "merchant.pay"  # the card's pending action
CARD_TTL_S = DEFAULT_TTL_S  # how long the card may be confirmed
QUESTION_TTL_S = 300  # how long "how much?" waits for its answer
# Refusals that say the card's plan no longer holds (a coupon or voucher lapsed, found
# before the write or by it): nothing was paid, and the payer gets a new card.
PLAN_LAPSED = (
    PriceChanged,
    CouponUnavailable,
    CouponLimitReached,
    CouponBudgetExhausted,
    VoucherUnavailable,
)


def static_link(context: WalletContext, merchant: Merchant) -> str:
    return private_link(context, f"{PAY_LINK}{merchant.token}")


def plan_lines(language: str, plan: PaymentPlan) -> list[str]:
    """The offers on the card: the coupon, the vouchers, then what the balance pays."""
    if not plan.discount_fen and not plan.vouchers:
        return []
    lines = []
    if plan.discount_fen:
        discount = format_fen(plan.discount_fen)
        lines.append(translate(language, "merchant.plan_coupon", amount=discount))
    if plan.vouchers:
        vouchers = format_fen(plan.voucher_fen)
        lines.append(translate(language, "merchant.plan_vouchers", amount=vouchers))
    lines.append(translate(language, "merchant.plan_own", amount=format_fen(plan.own_fen)))
    return lines


def card_text(language: str, merchant: Merchant, plan: PaymentPlan) -> str:
    lines = [
        translate(language, "merchant.card", amount=format_fen(plan.price_fen), name=merchant.name)
    ]
    return "\n".join(lines + plan_lines(language, plan))


async def card_message(
    context: WalletContext, user: User, language: str, target: PayTarget, *, key: str = ""
) -> dict:
    """The text and buttons of a pay card; just the text of the refusal when it cannot."""
    wallet = context.wallet
    try:
        merchant, plan = await wallet.merchants.quote(user, target)
    except WalletError as refused:
        return {"text": error_text(language, refused)}
    # the payment's key, chosen with the card: its confirmations (password-free or
    # through the keypad) pay once under it
    key = key or f"mpay:{secrets.token_urlsafe(12)}"
    shown = replace(target, shown=plan)  # held to: never charged more than this card
    action = await wallet.actions.create(
        user.telegram_id, PURPOSE, {**shown.to_payload(), "key": key}, ttl_s=CARD_TTL_S
    )
    markup = card_buttons(
        CARD,
        action.id,
        translate(language, "transfer.confirm"),
        translate(language, "transfer.cancel"),
    )
    return {"text": card_text(language, merchant, plan), "reply_markup": markup}


async def new_card(
    context: WalletContext, payer: User, language: str, target: PayTarget, key: str
) -> None:
    """After a plan lapsed (``PLAN_LAPSED``): the same payment's card again, with what it
    costs now."""
    message = await card_message(context, payer, language, replace(target, shown=None), key=key)
    await tell(context.bot, payer.telegram_id, about="a new pay card", **message)


# Links and the amount asked -----------------------------------------------------------


class Amounts:
    """The amount a payer (or a merchant collecting with a pay code) was asked for: the
    static code's link and a photographed pay code ask, the next message answers."""

    def __init__(self) -> None:
        self.questions: Questions[dict] = Questions(QUESTION_TTL_S, topic="merchant_amount")

    async def ask(
        self, update: Update, context: WalletContext, user: User, question: dict, name: str
    ) -> None:
        language = language_of(update, user)
        key = "merchant.ask_collect" if "code" in question else "merchant.ask_amount"
        asked_by = update.effective_message.message_id  # a /start link asks, too
        await self.questions.ask(user.telegram_id, {**question, "asked_by": asked_by})
        await update.effective_message.reply_text(
            translate(language, key, name=name), reply_markup=ForceReply(selective=True)
        )

    async def show_merchant(self, update: Update, context: WalletContext, token: str) -> bool:
        """``/start pay_<token>`` of a merchant's static code: ask how much."""
        merchant = await context.wallet.merchants.by_token(token)
        if merchant is None:
            return False
        user = await current_user(update, context)
        try:  # said now, not after the amount is typed: yours, frozen shop, frozen wallet
            await context.wallet.merchants.check_open(merchant, user)
        except WalletError as refused:
            await reply(update, context, error_text(language_of(update, user), refused))
            return True
        await self.ask(update, context, user, {"merchant_id": merchant.id}, merchant.name)
        return True

    async def show_code(self, update: Update, context: WalletContext, code: str) -> bool:
        """``/start pc_<code>`` (a customer's pay code): a merchant is asked the amount to
        collect (a frozen shop is told so first); anyone else is told it is a code for
        merchants."""
        user = await current_user(update, context)
        language = language_of(update, user)
        merchant = await context.wallet.merchants.store.merchant_by_owner(user.telegram_id)
        if merchant is None:
            await reply(update, context, translate(language, "paycode.for_merchants"))
            return True
        try:
            await context.wallet.merchants.check_shop(merchant)
            await context.wallet.paycodes.check(user.telegram_id, code)  # before "how much?"
        except WalletError as refused:
            await reply(update, context, error_text(language, refused))
            return True
        await self.ask(update, context, user, {"code": code}, merchant.name)
        return True

    async def answer(self, update: Update, context: WalletContext) -> None:
        """Take the amount asked for: the pay card, or the collection."""
        user = await current_user(update, context)
        language = language_of(update, user)
        question = self.questions.open_for(user.telegram_id)
        if question is None:  # expired between the filter and now
            await reply(update, context, translate(language, "merchant.question_expired"))
            return
        text = update.effective_message.text or ""
        try:
            amount = parse_amount(text)
        except WalletError as refused:
            again = translate(language, "merchant.amount_again")
            await reply(update, context, error_text(language, refused) + "\n" + again)
            return
        if "code" in question:
            await self.questions.drop(user.telegram_id)
            await collect_and_tell(update, context, user, language, question["code"], text)
            return
        target = PayTarget(int(question["merchant_id"]), amount)
        try:  # more than the payer has: a smaller amount may still do, so ask again
            await context.wallet.merchants.quote(user, target)
        except InsufficientFunds as short:
            again = translate(language, "merchant.amount_again")
            await reply(update, context, error_text(language, short) + "\n" + again)
            return
        except WalletError:
            pass  # the card says why
        await self.questions.drop(user.telegram_id)
        await update.effective_message.reply_text(
            **await card_message(context, user, language, target)
        )


    def ended_by_a_command(self) -> MessageHandler:
        """For the group after every feature's: a command sent instead of the amount ends
        the question (not the ``/start`` link that asked it)."""

        async def end_question(update: Update, context: WalletContext) -> None:
            question = self.questions.open_for(update.effective_user.id)
            if question and question.get("asked_by") != update.effective_message.message_id:
                await self.questions.drop(update.effective_user.id)

        return MessageHandler(self.asked() & filters.COMMAND, end_question)

    def asked(self) -> filters.BaseFilter:
        return self.questions.asked("asked_for_amount")


async def show_charge(update: Update, context: WalletContext, token: str) -> bool:
    """``/start pay_<token>`` of a one-time charge: the pay card for its amount."""
    charge = await context.wallet.merchants.open_charge(token)
    if charge is None:
        return False
    user = await current_user(update, context)
    language = language_of(update, user)
    target = PayTarget(charge.merchant_id, charge.amount, PaidVia.CHARGE, charge.token)
    await update.effective_message.reply_text(
        **await card_message(context, user, language, target)
    )
    return True


async def collect_and_tell(
    update: Update,
    context: WalletContext,
    user: User,
    language: str,
    code_text: str,
    amount_text: str,
) -> None:
    """Collect ``amount_text`` with a customer's pay code: paid at once when the customer's
    password-free limit covers it, else the customer confirms on a card (PIN keypad)."""
    wallet = context.wallet
    try:
        outcome, key = await wallet.paycodes.collect(user.telegram_id, code_text, amount_text)
    except WalletError as refused:
        usage = translate(language, "paycode.collect_usage")
        await reply(update, context, error_text(language, refused) + "\n" + usage)
        return
    payer = outcome.payer
    payer_language = payer.effective_language
    decision = outcome.decision
    needs_pin = (
        outcome.status is PayStatus.BLOCKED
        and decision is not None
        and decision.action is not RiskAction.BLOCK
        and not decision.needs_pin_setup
    ) or isinstance(outcome.error, PasswordFreeSpentToday)  # used up by payments meanwhile
    if needs_pin:
        target = PayTarget(outcome.merchant.id, outcome.amount, PaidVia.PAY_CODE, key)
        message = await card_message(context, payer, payer_language, target, key=key)
        told = await tell(context.bot, payer.telegram_id, about="a pay code card", **message)
        waiting = "paycode.waiting" if told is Told.SENT else "paycode.unreachable"
        await reply(
            update,
            context,
            translate(
                language, waiting, amount=format_fen(outcome.amount), name=payer.display_name
            ),
        )
        return
    receipt = await announce(context, payer_language, outcome, tell_merchant=False)
    if outcome.status is PayStatus.PAID:
        await tell(context.bot, payer.telegram_id, receipt, about="a pay code payment")
        text = translate(
            language,
            "paycode.collected",
            amount=format_fen(outcome.amount),
            name=payer.display_name,
            id=outcome.payment.id,
        )
    else:
        told = Told.SENT
        if outcome.status is not PayStatus.PAID_BEFORE:  # why, to the customer alone
            tried = translate(
                payer_language,
                "paycode.not_paid",
                name=outcome.merchant.name,
                amount=format_fen(outcome.amount),
            )
            said, options = f"{tried}\n{receipt}", {}
            if decision is not None and decision.needs_pin_setup:  # the way on: a PIN
                said += "\n" + translate(payer_language, "pin_not_set")
                options["reply_markup"] = set_pin_markup(payer_language)
            told = await tell(
                context.bot, payer.telegram_id, said, about="a refused pay code", **options
            )
        text = (
            translate(
                language,
                "paycode.not_collected",
                name=payer.display_name,
                amount=format_fen(outcome.amount),
            )
            + "\n"
            + await _shop_side(context, language, outcome, told)
        )
    await reply(update, context, text)


NOT_PAID = (PayStatus.BLOCKED, PayStatus.NEEDS_REVIEW, PayStatus.REFUSED)
SHOP_REVIEW = "merchant.needs_review"  # a shop is paid at once or not at all, as a request

# Why a collection failed, as the shop may hear it: its own side's reasons in full; of the
# customer's, that the balance was short, else only that they were told why (their
# balance, a frozen wallet or a risk rule are theirs to know, not the shop's).
SHOPS_OWN = (MerchantFrozen, MerchantNotFound, PayingYourself, ShopFrozen)


async def _shop_side(
    context: WalletContext, language: str, outcome: MerchantPaymentOutcome, told: Told
) -> str:
    if outcome.status is PayStatus.PAID_BEFORE:
        return await announce(context, language, outcome, tell_merchant=False)
    if outcome.status is PayStatus.REFUSED and isinstance(outcome.error, SHOPS_OWN):
        return error_text(language, outcome.error)
    if outcome.status is PayStatus.REFUSED and isinstance(outcome.error, InsufficientFunds):
        return translate(language, "paycode.customer_short")
    if told is not Told.SENT:  # blocked the bot, say: the shop cannot send them to look
        return translate(language, "paycode.customer_untold")
    return translate(language, "paycode.customer_told")


# The card -----------------------------------------------------------------------------


async def _review(context: WalletContext, language: str, action) -> tuple:
    wallet = context.wallet
    user = await wallet.users.get(action.telegram_id)
    target = PayTarget.from_payload(action.payload)
    try:
        merchant, plan = await wallet.merchants.quote(user, target)
        check_shown(plan, target.shown)
    except PriceChanged as changed:  # before the PIN is asked for a payment now dearer
        action.payload[_RENEWED] = True  # _abandoned sends a new card, once this one says so
        return None, error_text(language, changed)
    except WalletError as refused:
        return None, error_text(language, refused)
    decision = await wallet.merchants.review(user.telegram_id, merchant, target.amount)
    if decision.needs_pin_setup:
        return decision, ""  # press_card says so, with a button that sets the PIN
    if decision.action is RiskAction.BLOCK:
        return None, decision_text(language, decision, target.amount)
    if decision.action is RiskAction.HOLD:
        return None, review_text(language, decision, target.amount, SHOP_REVIEW)
    return decision, ""


async def _pay_now(context: WalletContext, language: str, action) -> str:
    outcome = await context.wallet.merchants.pay(
        action.payload["key"],
        action.telegram_id,
        PayTarget.from_payload(action.payload),
        authenticated=False,
    )
    if isinstance(outcome.error, PasswordFreeSpentToday):  # used up meanwhile: the card
        raise outcome.error  # asks for the PIN instead (press_card), nothing was paid
    return await announce(context, language, outcome)


async def _abandoned(context: WalletContext, language: str, action, cancelled: bool) -> None:
    """The card was cancelled or refused: a shop collecting by pay code hears so; a card
    whose plan lapsed is followed by a new one (below the old one, which says why)."""
    payer = await context.wallet.users.get(action.telegram_id)
    target = PayTarget.from_payload(action.payload)
    if action.payload.get(_RENEWED):
        await new_card(context, payer, language, target, action.payload["key"])
        return
    await _tell_shop_not_paid(context, payer, target, cancelled=cancelled)


_RENEWED = "renewed"  # set on a card replaced by a new one (its plan lapsed)

FLOW = CardFlow(
    PURPOSE,
    CONFIRMATION,
    "transfer.cancelled",
    _review,
    blocked=lambda language, action, decision: "",  # _review words every refusal itself
    settle_now=_pay_now,
    abandoned=_abandoned,
)


async def dropped_text(context: WalletContext, language: str, dropped: PayDropped) -> str:
    """A pay card's keypad that will not pay (✖, /cancel, the PIN locked): the payer's
    words; a shop collecting by pay code hears that nothing was collected."""
    payer = await context.wallet.users.get(dropped.payer_id)
    await _tell_shop_not_paid(context, payer, dropped.target, cancelled=dropped.refused is None)
    if dropped.refused is None:
        return translate(language, "transfer.cancelled")
    return error_text(language, dropped.refused)


async def _tell_shop_not_paid(
    context: WalletContext,
    payer: User | None,
    target: PayTarget,
    *,
    cancelled: bool = False,
    outcome: MerchantPaymentOutcome | None = None,
) -> None:
    """A collection by pay code the customer did not pay: the shop, told it would hear
    when it is paid, hears that nothing was collected — that the customer cancelled, or
    why as :func:`_shop_side` says it (from the ``outcome``), or else that the customer
    was told why. Other payments have no shop waiting."""
    if target.via is not PaidVia.PAY_CODE or payer is None:
        return
    try:
        merchant = outcome.merchant if outcome else await context.wallet.merchants.get(
            target.merchant_id
        )
    except WalletError:
        return
    owner = await context.wallet.users.get(merchant.owner_id)
    told = owner.effective_language if owner else "en"
    people = {"name": payer.display_name, "amount": format_fen(target.amount)}
    if cancelled:
        text = translate(told, "paycode.declined", **people)
    else:
        reason = (
            await _shop_side(context, told, outcome, Told.SENT)
            if outcome is not None
            else translate(told, "paycode.customer_told")
        )
        text = translate(told, "paycode.not_collected", **people) + "\n" + reason
    await tell(context.bot, merchant.owner_id, text, about="a pay code not paid")


LAPSED_SWEEP_S = 30  # how often expired pay-code confirmations are looked for


@renders(LAPSED_NOTICE)
async def lapsed_notice(wallet: Wallet, language: str, params: dict) -> str:
    """The shop's notice that a customer let the confirmation of a collection expire."""
    payer = await wallet.users.get(params["payer_id"])
    name = payer.display_name if payer is not None else str(params["payer_id"])
    return translate(language, "paycode.lapsed", name=name, amount=format_fen(params["amount"]))


async def sweep_lapsed(context: WalletContext) -> None:
    """Write the shops' notices of collections whose card or keypad expired untouched
    (the notices' sender sends them, once)."""
    if WALLET_KEY not in context.application.bot_data:
        return  # the wallet is not open (yet, or any more)
    purposes = (PURPOSE, CONFIRM + CONFIRMATION)
    await context.wallet.paycodes.tell_lapsed(purposes, grace_s=LAPSED_GRACE_S)


def schedule(application: Application) -> None:
    """Look for lapsed pay-code confirmations at start-up (those that expired while the
    bot was down too), then every ``LAPSED_SWEEP_S``."""
    if application.job_queue is not None:
        application.job_queue.run_repeating(
            sweep_lapsed, interval=LAPSED_SWEEP_S, first=1, name="paycode.lapsed"
        )


async def card_press(update: Update, context: WalletContext) -> None:
    """Confirm or cancel paying a merchant."""
    await press_card(update, context, FLOW)


async def announce(
    context: WalletContext,
    language: str,
    outcome: MerchantPaymentOutcome,
    *,
    tell_merchant: bool = True,
) -> str:
    """Tell the merchant they were paid; the payer's receipt is returned."""
    amount = format_fen(outcome.amount)
    target = outcome.target
    if outcome.status in NOT_PAID and tell_merchant and target is not None:
        lapsed = isinstance(outcome.error, PLAN_LAPSED) and target.shown is not None
        if not lapsed:  # (a lapsed plan's payment goes on, on a new card)
            await _tell_shop_not_paid(context, outcome.payer, target, outcome=outcome)
    if outcome.status is PayStatus.BLOCKED:
        return decision_text(language, outcome.decision, outcome.amount)
    if outcome.status is PayStatus.NEEDS_REVIEW:
        return review_text(language, outcome.decision, outcome.amount, SHOP_REVIEW)
    if outcome.status is PayStatus.REFUSED:
        text = error_text(language, outcome.error)
        if isinstance(outcome.error, PLAN_LAPSED) and target and target.shown:
            await new_card(context, outcome.payer, language, target, outcome.key)
            if not isinstance(outcome.error, PriceChanged):  # (that one says so already)
                text += "\n" + translate(language, "merchant.new_card_follows")
        return text
    merchant, payment = outcome.merchant, outcome.payment
    if outcome.status is PayStatus.PAID_BEFORE:
        return translate(language, "merchant.paid_before", amount=amount, name=merchant.name)
    if tell_merchant:
        told = _tell_merchant(context, outcome)
        await soon(context.application, told, what="telling a shop of a payment")
    paid = {"amount": amount, "name": merchant.name, "id": payment.id}
    lines = [translate(language, "merchant.paid", **paid)]
    if outcome.saving is not None:
        shown, now = (format_fen(fen) for fen in outcome.saving)
        lines.append(translate(language, "merchant.paid_less", shown=shown, now=now))
    lines += plan_lines(language, outcome.plan)
    # the number /history and /dispute know it by: its own money's line, else (vouchers
    # alone) its first voucher's
    legs = payment.payer_legs()
    if legs:
        lines.append(translate(language, "merchant.paid_in_history", id=legs[0][1]))
    return "\n".join(lines)


async def _tell_merchant(context: WalletContext, outcome: MerchantPaymentOutcome) -> None:
    merchant, payment, amount = outcome.merchant, outcome.payment, format_fen(outcome.amount)
    owner = await context.wallet.users.get(merchant.owner_id)
    told = owner.effective_language if owner else "en"
    balance = await context.wallet.ledger.balance(merchant.account_id)
    await tell(
        context.bot,
        merchant.owner_id,
        translate(
            told,
            "merchant.received",
            amount=amount,
            name=outcome.payer.display_name,
            id=payment.id,
            balance=format_fen(balance.available),
        ),
        about="a merchant payment",
    )
