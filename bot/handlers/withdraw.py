"""/withdraw <amount>: money from the wallet to the bound bank card, through the gateway.

Parse → a withdrawal order (verified, a bound card, the amount, the balance) → a card
showing the masked bank card (Confirm / Cancel) → the PIN keypad, always (a withdrawal is
never password-free) → the use case reserves, pays out and settles, and the keypad
message shows the outcome. What the gateway did not answer at once is settled by the
recovery sweep (at start-up and every ``SWEEP_INTERVAL_S``), which tells the owner by a
notice (``bot.handlers.notices``: written once, sent once, also with several processes).

With the sandbox gateway every one of these messages says plainly that no real money is
paid; with the manual gateway a withdrawal waits for an admin (``/payouts``), and its
owner is told the admin's bank reference or reason.
"""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler

from bot.domain.errors import AmountError, WalletError
from bot.domain.money import format_fen
from bot.domain.payouts import PayoutState
from bot.domain.risk import RiskAction, RiskDecision
from bot.domain.withdrawals import (
    Withdrawal,
    WithdrawalOrder,
    WithdrawalOutcome,
    WithdrawalState,
    WithdrawalStatus,
)
from bot.handlers.cards import CardFlow, card_buttons, card_pattern, press_card
from bot.handlers.context import (
    WALLET_KEY,
    Wallet,
    WalletContext,
    command,
    error_text,
    private_user,
)
from bot.handlers.leases import lease
from bot.handlers.notices import renders, send_one
from bot.handlers.outbox import Told
from bot.handlers.risk_text import join_reasons, reason_text
from bot.i18n import translate
from bot.wallet.gateway import PayoutMode
from bot.wallet.withdrawals import CONFIRMATION, WITHDRAWAL_NOTICE

CARD = "wd:"
PURPOSE = "withdraw.card"
SWEEP_INTERVAL_S = 15
SWEEP_LEASE_S = 120  # longer than a sweep; a process that dies frees it then


def pretend_note(wallet: Wallet, language: str) -> str:
    """The line that says no real money is paid, when the gateway pays nothing; else ""."""
    if wallet.withdrawals.mode is PayoutMode.PRETEND:
        return "\n" + translate(language, "withdraw.sandbox_note")
    return ""


def card_text(language: str, order: WithdrawalOrder) -> str:
    return translate(language, "withdraw.card", amount=format_fen(order.amount), card=order.card)


def card_markup(language: str, action_id: str) -> InlineKeyboardMarkup:
    return card_buttons(
        CARD,
        action_id,
        translate(language, "withdraw.confirm"),
        translate(language, "withdraw.cancel"),
    )


def _reasons(language: str, decision: RiskDecision) -> str:
    serious = [
        r for r in decision.reasons if r.action in (RiskAction.HOLD, RiskAction.BLOCK)
    ] or list(decision.reasons)
    return join_reasons(language, (reason_text(language, r.value, decision) for r in serious))


async def withdraw(update: Update, context: WalletContext) -> None:
    """Start a withdrawal to the bound bank card: /withdraw 100."""
    user, language = await private_user(update, context, "withdraw.private_only")
    if user is None:
        return
    message = update.effective_message
    if len(context.args) != 1:
        await message.reply_text(translate(language, "withdraw.usage"))
        return
    try:
        order = await context.wallet.withdrawals.order(user, context.args[0])
    except AmountError as bad:
        await message.reply_text(
            error_text(language, bad) + "\n" + translate(language, "withdraw.usage")
        )
        return
    except WalletError as refused:
        await message.reply_text(error_text(language, refused))
        return
    action = await context.wallet.actions.create(user.telegram_id, PURPOSE, order.to_payload())
    await message.reply_text(
        card_text(language, order) + pretend_note(context.wallet, language),
        reply_markup=card_markup(language, action.id),
    )


async def _review(context: WalletContext, language: str, action) -> tuple:
    order = WithdrawalOrder.from_payload(action.payload)
    return await context.wallet.withdrawals.review(order), ""


FLOW = CardFlow(
    PURPOSE,
    CONFIRMATION,
    "withdraw.cancelled",
    _review,
    lambda language, action, decision: _blocked(
        language, WithdrawalOrder.from_payload(action.payload), decision
    ),
    settle_now=None,  # a withdrawal always asks for the PIN
)


async def card_press(update: Update, context: WalletContext) -> None:
    """Confirm or cancel a withdrawal card; confirming asks for the PIN."""
    await press_card(update, context, FLOW)


def _blocked(language: str, order: WithdrawalOrder, decision: RiskDecision) -> str:
    return translate(
        language,
        "withdraw.blocked",
        amount=format_fen(order.amount),
        reasons=_reasons(language, decision),
    )


async def outcome_text(context: WalletContext, language: str, outcome: WithdrawalOutcome) -> str:
    """The keypad message once the PIN was right: what became of the withdrawal."""
    order = outcome.order
    amount, card = format_fen(order.amount), order.card
    if outcome.status is WithdrawalStatus.REFUSED:
        return error_text(language, outcome.error)
    if outcome.status is WithdrawalStatus.BLOCKED:
        return _blocked(language, order, outcome.decision)
    if outcome.status is WithdrawalStatus.HELD:
        return translate(
            language, "withdraw.held", amount=amount, reasons=_reasons(language, outcome.decision)
        )
    wallet = context.wallet
    status = outcome.status.value
    if outcome.status is WithdrawalStatus.UNKNOWN and wallet.withdrawals.mode is PayoutMode.MANUAL:
        status = "queued"  # waits in the admin payout queue
    text = translate(language, f"withdraw.{status}", amount=amount, card=card)
    return text + pretend_note(wallet, language)


async def settled_text(wallet: Wallet, language: str, withdrawal: Withdrawal) -> str:
    """What the owner of a withdrawal settled after the fact is told: with the admin's
    bank reference or reason when an admin decided its payout."""
    amount, card = format_fen(withdrawal.amount), withdrawal.card
    paid = withdrawal.state is WithdrawalState.PAID
    decided = await wallet.payouts.decision_for(withdrawal.request_id)
    if decided is not None and decided.state is PayoutState.PAID and paid:
        text = translate(
            language, "withdraw.paid_by_admin", amount=amount, card=card, reference=decided.note
        )
    elif decided is not None and decided.state is PayoutState.REJECTED and not paid:
        text = translate(
            language, "withdraw.rejected_by_admin", amount=amount, card=card, reason=decided.note
        )
    else:
        key = "withdraw.paid_later" if paid else "withdraw.failed_later"
        text = translate(language, key, amount=amount, card=card)
    return text + pretend_note(wallet, language)


@renders(WITHDRAWAL_NOTICE)
async def withdrawal_notice(wallet: Wallet, language: str, params: dict) -> str:
    """The owner's notice of an outcome settled after the fact (``announce`` wrote it)."""
    withdrawal = await wallet.withdrawals.get(params["withdrawal_id"])
    return await settled_text(wallet, language, withdrawal)


async def tell_owner(application: Application, withdrawal_id: int) -> Told | None:
    """Tell the owner of a settled withdrawal what became of it, now: its notice is
    written once and sent once, whichever path or process asks (the sweep, an admin's
    decision, the bank's callback). None when there was nothing to tell, or another
    sender has it."""
    wallet = application.bot_data[WALLET_KEY]
    key = await wallet.withdrawals.announce(withdrawal_id, wake=False)
    return None if key is None else await send_one(application, key)


async def tell_owners(application: Application) -> None:
    """Write the notices of withdrawals settled after the fact (the sender sends them)."""
    wallet = application.bot_data[WALLET_KEY]
    for withdrawal in await wallet.withdrawals.untold():
        await wallet.withdrawals.announce(withdrawal.id)


async def sweep(context: WalletContext) -> None:
    """Settle open withdrawals by the gateway's answers, then tell their owners (in one
    process at a time: the sweep's lease, ``leases.py``)."""
    if WALLET_KEY not in context.application.bot_data:
        return  # the wallet is not open (yet, or any more)
    async with lease(context.wallet, "withdrawals.sweep", SWEEP_LEASE_S) as held:
        if not held:
            return  # another process is sweeping
        await context.wallet.withdrawals.recover(min_age_s=context.job.data)
        await tell_owners(context.application)


def schedule(application: Application) -> None:
    """The recovery sweep once at start-up (every open request), then periodically."""
    jobs = application.job_queue
    if jobs is None:
        raise RuntimeError(
            "withdrawals need PTB's job queue: install python-telegram-bot[job-queue]"
        )
    jobs.run_once(sweep, when=0, data=0, name="withdrawals.recover")
    jobs.run_repeating(
        sweep,
        interval=SWEEP_INTERVAL_S,
        first=SWEEP_INTERVAL_S,
        data=None,
        name="withdrawals.sweep",
    )


def handlers() -> list:
    return [
        command("withdraw", withdraw),
        CallbackQueryHandler(card_press, pattern=card_pattern(CARD)),
    ]
