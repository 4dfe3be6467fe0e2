"""Withdrawals on the in-memory stores and a scripted gateway: reserve, pay out, then
post or void, once; what is left open is settled by the recovery sweep."""

from __future__ import annotations

import pytest

from bot.domain.errors import AccountFrozen, InsufficientFunds
from bot.domain.kinds import TransferKind
from bot.domain.risk import HOUR_MS, RiskRules
from bot.domain.security_errors import CardNotBound, VerificationRequired
from bot.domain.withdrawals import WithdrawalState, WithdrawalStatus
from bot.security.cards import luhn_check_digit
from bot.wallet.gateway import NOT_RECEIVED, GatewayTimeout, PayoutResult, PayoutStatus
from bot.wallet.withdrawals import Reported
from tests.fakes.wallet import FakeWallet

ALICE, ADMIN = 1, 9
CARD = "622202020011234567" + luhn_check_digit("622202020011234567")


@pytest.fixture
async def wallet() -> FakeWallet:
    return await FakeWallet.open()


async def customer(wallet: FakeWallet, funds: int = 10_000, **more):
    """Alice, verified, with a bound card and ``funds`` fen."""
    alice = await wallet.person(ALICE, funds=funds, **more)
    await wallet.verify(alice, card=CARD)
    return alice


async def test_an_order_needs_a_verified_wallet_a_card_and_the_money(wallet):
    alice = await wallet.person(ALICE, funds=1_000)

    with pytest.raises(VerificationRequired):
        await wallet.withdrawals.order(alice, "5")
    await wallet.verify(alice)
    with pytest.raises(CardNotBound):
        await wallet.withdrawals.order(alice, "5")
    await wallet.identity.bind_card(ALICE, CARD)
    with pytest.raises(InsufficientFunds):
        await wallet.withdrawals.order(alice, "10.01")
    order = await wallet.withdrawals.order(alice, "10")
    await wallet.ledger.freeze(alice.account_id)
    with pytest.raises(AccountFrozen):
        await wallet.withdrawals.order(alice, "10")

    assert (order.amount, order.card) == (1_000, f"**** {CARD[-4:]}")


async def test_a_paid_withdrawal_leaves_the_wallet_once_per_key(wallet):
    alice = await customer(wallet)
    order = await wallet.withdrawals.order(alice, "60")

    paid = await wallet.withdrawals.settle("confirm", order)
    again = await wallet.withdrawals.settle("confirm", order)

    assert paid.status is WithdrawalStatus.PAID and again.status is WithdrawalStatus.PAID
    assert again.withdrawal.id == paid.withdrawal.id
    assert wallet.gateway.paid == [(paid.withdrawal.request_id, CARD, 6_000, "CNY")]
    assert (await wallet.available(alice), await wallet.reserved(alice)) == (4_000, 0)
    sent, _ = await wallet.db.holds.outgoing_totals(alice.account_id, 0)
    assert sent == 6_000


async def test_a_declined_withdrawal_gives_the_money_back_and_no_longer_counts_as_sent(wallet):
    alice = await customer(wallet)
    wallet.gateway.answer(PayoutStatus.FAILED, "card_declined")
    order = await wallet.withdrawals.order(alice, "60")

    failed = await wallet.withdrawals.settle("confirm", order)

    assert failed.status is WithdrawalStatus.FAILED
    assert (failed.withdrawal.reason, failed.withdrawal.told) == ("card_declined", True)
    assert (await wallet.available(alice), await wallet.reserved(alice)) == (10_000, 0)
    assert await wallet.db.holds.outgoing_totals(alice.account_id, 0) == (0, 0)


async def test_an_unanswered_payout_keeps_the_money_reserved_until_the_sweep_knows(wallet):
    alice = await customer(wallet)
    wallet.gateway.fail_next(GatewayTimeout("slow bank"))  # the bank paid; the answer was lost
    order = await wallet.withdrawals.order(alice, "60")

    unknown = await wallet.withdrawals.settle("confirm", order)
    assert unknown.status is WithdrawalStatus.UNKNOWN
    assert (await wallet.available(alice), await wallet.reserved(alice)) == (4_000, 6_000)
    assert await wallet.withdrawals.recover() == []  # too young for the periodic sweep
    wallet.clock.advance(seconds=60)
    (settled,) = await wallet.withdrawals.recover()
    await wallet.withdrawals.mark_told(settled.id)

    assert settled.state is WithdrawalState.PAID and not settled.told
    assert (await wallet.available(alice), await wallet.reserved(alice)) == (4_000, 0)
    assert await wallet.withdrawals.untold() == []
    assert len(wallet.gateway.paid) == 1


async def test_a_payout_that_never_reached_the_bank_is_closed_and_voided(wallet):
    alice = await customer(wallet)
    wallet.gateway.fail_next(GatewayTimeout("lost"), reached=False)
    order = await wallet.withdrawals.order(alice, "60")

    await wallet.withdrawals.settle("confirm", order)
    (settled,) = await wallet.withdrawals.recover(min_age_s=0)

    assert (settled.state, settled.reason) == (WithdrawalState.FAILED, NOT_RECEIVED)
    assert await wallet.available(alice) == 10_000
    assert wallet.gateway.paid == []


async def test_a_held_withdrawal_is_paid_after_approval_and_refunded_if_the_bank_refuses(wallet):
    wallet.guard.rules = RiskRules(new_account_max_payment_fen=10_00)
    alice = await customer(wallet, age_ms=HOUR_MS)
    order = await wallet.withdrawals.order(alice, "60")

    held = await wallet.withdrawals.settle("confirm", order)
    assert held.status is WithdrawalStatus.HELD and wallet.notified == [held.held]
    assert await wallet.withdrawals.recover(min_age_s=0) == []  # still in review
    await wallet.guard.approve(held.held.id, ADMIN)
    wallet.gateway.answer(PayoutStatus.FAILED, "card_declined")
    (refunded,) = await wallet.withdrawals.recover(min_age_s=0)

    assert (refunded.state, refunded.reason) == (WithdrawalState.FAILED, "card_declined")
    refund = await wallet.ledger.store.get_transfer(refunded.settled_transfer_id)
    assert (refund.kind, refund.amount) == (TransferKind.WITHDRAW_REFUND, 6_000)
    assert (await wallet.available(alice), await wallet.reserved(alice)) == (10_000, 0)


async def test_a_rejected_withdrawal_is_failed_by_the_review_itself(wallet):
    wallet.guard.rules = RiskRules(new_account_max_payment_fen=10_00)
    alice = await customer(wallet, age_ms=HOUR_MS)
    order = await wallet.withdrawals.order(alice, "60")
    held = await wallet.withdrawals.settle("confirm", order)

    await wallet.guard.reject(held.held.id, ADMIN)
    told_by_the_review = await wallet.withdrawals.recover(min_age_s=0)

    withdrawal = await wallet.withdrawals.get(held.withdrawal.id)
    assert told_by_the_review == []
    assert (withdrawal.state, withdrawal.reason, withdrawal.told) == (
        WithdrawalState.FAILED,
        "rejected_in_review",
        True,
    )
    assert await wallet.available(alice) == 10_000 and wallet.gateway.paid == []


async def test_a_withdrawal_above_the_tier_limit_is_blocked_and_moves_nothing(wallet):
    alice = await customer(wallet, funds=60_000_00)
    order = await wallet.withdrawals.order(alice, "50000.01")

    blocked = await wallet.withdrawals.settle("confirm", order)

    assert blocked.status is WithdrawalStatus.BLOCKED and blocked.withdrawal is None
    assert await wallet.available(alice) == 60_000_00 and wallet.gateway.paid == []


async def test_a_reported_result_settles_as_a_status_answer_would_once(wallet):
    alice = await customer(wallet)
    wallet.gateway.answer(PayoutStatus.PENDING)
    order = await wallet.withdrawals.order(alice, "60")
    unknown = (await wallet.withdrawals.settle("confirm", order)).withdrawal
    request_id = unknown.request_id

    pending = PayoutResult(request_id, PayoutStatus.PENDING)
    assert (await wallet.withdrawals.report(pending))[0] is Reported.UNCHANGED
    assert await wallet.withdrawals.report(PayoutResult("wd-other", PayoutStatus.FAILED)) == (
        Reported.UNKNOWN,
        None,
    )
    declined = PayoutResult(request_id, PayoutStatus.FAILED, "card_declined")
    reported, settled = await wallet.withdrawals.report(declined)
    assert reported is Reported.SETTLED
    assert (settled.state, settled.reason, settled.told) == (
        WithdrawalState.FAILED,
        "card_declined",
        False,  # the owner is told after the fact
    )
    assert (await wallet.available(alice), await wallet.reserved(alice)) == (10_000, 0)

    paid = PayoutResult(request_id, PayoutStatus.SUCCEEDED)
    for late in (declined, paid):  # a repeat, or a contradiction: a final state stays
        reported, same = await wallet.withdrawals.report(late)
        assert reported is Reported.UNCHANGED and same.state is WithdrawalState.FAILED
    assert (await wallet.available(alice), await wallet.reserved(alice)) == (10_000, 0)
