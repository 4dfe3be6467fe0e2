"""Transfers between people on the in-memory stores: the order's checks, the guard's
decision, and money that moves once (or waits for an admin, or does not move)."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.errors import (
    AccountFrozen,
    AccountsMustBeDifferent,
    InsufficientFunds,
    MemoTooLong,
    UserNotFound,
)
from bot.domain.holds import HOLD_OPENED, HoldState
from bot.domain.kinds import TransferKind
from bot.domain.risk import HOUR_MS, RiskReason, RiskRules
from bot.domain.security_errors import HeldPaymentAlreadyDecided
from bot.domain.security_ports import Action
from bot.wallet.transfers import SettlementStatus, TransferOrder
from tests.fakes.wallet import FakeWallet

YUAN = 100
ALICE, BOB, ADMIN = 1, 2, 9


@pytest.fixture
async def wallet() -> FakeWallet:
    return await FakeWallet.open()


async def test_an_order_refuses_what_the_payer_got_wrong_before_anything_moves(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB)

    with pytest.raises(UserNotFound):
        await wallet.transfers.order(alice, None, "1")
    with pytest.raises(AccountsMustBeDifferent):
        await wallet.transfers.order(alice, alice, "1")
    with pytest.raises(MemoTooLong):
        await wallet.transfers.order(alice, bob, "1", "x" * 101)
    with pytest.raises(InsufficientFunds) as short:
        await wallet.transfers.order(alice, bob, "10.01")
    await wallet.ledger.freeze(alice.account_id)
    with pytest.raises(AccountFrozen):
        await wallet.transfers.order(alice, bob, "1")

    assert short.value.params == {
        "account_id": alice.account_id,
        "available": 1_000,
        "amount": 1_001,
    }
    assert [await wallet.available(p) for p in (alice, bob)] == [1_000, 0]


async def test_an_order_keeps_the_memo_tidy_and_the_amount_in_fen(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB)

    order = await wallet.transfers.order(alice, bob, "¥2.50", "  milk \n tea ")

    assert order == TransferOrder(ALICE, BOB, 250, "milk tea", TransferKind.TRANSFER)


async def test_a_confirmed_transfer_moves_the_money_once_per_key(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB)
    order = await wallet.transfers.order(alice, bob, "3", "lunch")

    first = await wallet.transfers.settle("confirm-1", order, authenticated=True)
    again = await wallet.transfers.settle("confirm-1", order, authenticated=True)

    assert first.status is again.status is SettlementStatus.SENT
    assert again.transfer == first.transfer
    assert (first.transfer.amount, first.transfer.memo) == (300, "lunch")
    assert [await wallet.available(p) for p in (alice, bob)] == [700, 300]


async def test_without_the_pin_only_a_password_free_payment_goes_ahead(wallet):
    alice = await wallet.person(ALICE, funds=100 * YUAN)
    bob = await wallet.person(BOB)
    order = await wallet.transfers.order(alice, bob, "20")

    blocked = await wallet.transfers.settle("no-pin", order, authenticated=False)
    await wallet.password_free.apply(
        Action("a", ALICE, "nopin", {"per_payment": 30 * YUAN, "daily": 50 * YUAN}, "open", 0, 0)
    )
    sent = await wallet.transfers.settle("free-1", order, authenticated=False)
    sent_again = await wallet.transfers.settle("free-2", order, authenticated=False)
    over_the_day = await wallet.transfers.settle("free-3", order, authenticated=False)

    assert blocked.status is SettlementStatus.BLOCKED and blocked.transfer is None
    assert (sent.status, sent_again.status) == (SettlementStatus.SENT, SettlementStatus.SENT)
    assert over_the_day.status is SettlementStatus.BLOCKED
    assert RiskReason.EXCEEDS_PASSWORD_FREE_DAILY_LIMIT in over_the_day.decision.reasons
    assert await wallet.available(bob) == 40 * YUAN
    assert await wallet.db.holds.outgoing_totals(alice.account_id, 0) == (40 * YUAN, 40 * YUAN)


async def test_a_payment_above_the_limit_of_the_payers_tier_is_blocked_even_with_the_pin(wallet):
    alice = await wallet.person(ALICE, funds=10_000 * YUAN)
    bob = await wallet.person(BOB)
    order = await wallet.transfers.order(alice, bob, "500.01")

    blocked = await wallet.transfers.settle("big", order, authenticated=True)
    await wallet.verify(alice)  # real-name verified: a higher limit
    sent = await wallet.transfers.settle("big-2", order, authenticated=True)

    assert blocked.status is SettlementStatus.BLOCKED
    assert blocked.decision.reasons[0] is RiskReason.EXCEEDS_PAYMENT_LIMIT
    assert sent.status is SettlementStatus.SENT
    assert await wallet.available(bob) == 50_001
    (logged,) = await wallet.events("risk.block")
    assert logged.details["reasons"][0] == "exceeds_payment_limit"


async def test_the_daily_limit_counts_what_was_sent_today(wallet):
    alice = await wallet.person(ALICE, funds=10_000 * YUAN)
    bob = await wallet.person(BOB)
    order = await wallet.transfers.order(alice, bob, "500")

    for n in range(4):  # ¥2,000: the daily limit of an unverified wallet
        sent = await wallet.transfers.settle(f"day-{n}", order, authenticated=True)
        assert sent.status is SettlementStatus.SENT
    fifth = await wallet.transfers.settle("day-4", order, authenticated=True)

    assert fifth.status is SettlementStatus.BLOCKED
    assert RiskReason.EXCEEDS_DAILY_LIMIT in fifth.decision.reasons
    assert await wallet.available(bob) == 2_000 * YUAN


async def test_a_large_payment_from_a_new_wallet_waits_for_an_admin(wallet):
    wallet.guard.rules = RiskRules(new_account_max_payment_fen=10 * YUAN)
    alice = await wallet.person(ALICE, funds=100 * YUAN, age_ms=HOUR_MS)
    bob = await wallet.person(BOB)
    order = await wallet.transfers.order(alice, bob, "30", "rent")

    held = await wallet.transfers.settle("rent", order, authenticated=True)
    replayed = await wallet.transfers.settle("rent", order, authenticated=True)

    assert held.status is SettlementStatus.HELD and held.transfer is None
    assert replayed.held == held.held  # the same review item, nothing reserved twice
    assert (await wallet.available(alice), await wallet.reserved(alice)) == (70 * YUAN, 30 * YUAN)
    assert await wallet.available(bob) == 0
    assert wallet.notified == [held.held, held.held]  # told at least once, per attempt
    assert held.held.memo == "rent" and held.held.reasons[0] == "new_account_large_amount"
    assert [e.event for e in await wallet.events("hold")] == [HOLD_OPENED]

    approved = await wallet.guard.approve(held.held.id, ADMIN)
    with pytest.raises(HeldPaymentAlreadyDecided):
        await wallet.guard.reject(held.held.id, ADMIN)

    assert (approved.state, approved.decided_by) == (HoldState.APPROVED, ADMIN)
    assert [await wallet.available(p) for p in (alice, bob)] == [70 * YUAN, 30 * YUAN]
    assert await wallet.reserved(alice) == 0
    assert await wallet.guard.open_holds() == []


async def test_a_rejected_hold_gives_the_payer_their_money_back(wallet):
    wallet.guard.rules = RiskRules(new_account_max_payment_fen=10 * YUAN)
    alice = await wallet.person(ALICE, funds=100 * YUAN, age_ms=HOUR_MS)
    bob = await wallet.person(BOB)
    order = await wallet.transfers.order(alice, bob, "30")
    held = await wallet.transfers.settle("rent", order, authenticated=True)

    rejected = await wallet.guard.reject(held.held.id, ADMIN)

    assert rejected.state is HoldState.REJECTED
    assert [await wallet.available(p) for p in (alice, bob)] == [100 * YUAN, 0]
    (decision,) = await wallet.events("admin.hold_rejected")
    assert (decision.actor_id, decision.subject_id) == (ADMIN, ALICE)


async def test_the_eleventh_payment_in_ten_minutes_is_held(wallet):
    alice = await wallet.person(ALICE, funds=100 * YUAN)
    bob = await wallet.person(BOB)
    order = await wallet.transfers.order(alice, bob, "1")

    statuses = []
    for n in range(11):
        wallet.clock.advance(seconds=30)
        statuses.append((await wallet.transfers.settle(f"v{n}", order, authenticated=True)).status)

    assert statuses == [SettlementStatus.SENT] * 10 + [SettlementStatus.HELD]
    assert await wallet.reserved(alice) == 1 * YUAN


async def test_a_large_payment_needs_the_second_factor_once_it_is_on(wallet):
    alice = await wallet.person(ALICE, funds=3_000 * YUAN)
    bob = await wallet.person(BOB)
    await wallet.verify(alice)
    await wallet.db.identity.set_totp(ALICE, "secret", True)
    order = await wallet.transfers.order(alice, bob, "2000")

    pin_only = await wallet.transfers.settle("big", order, authenticated=True)
    with_code = await wallet.transfers.settle(
        "big-2", order, authenticated=True, second_factor=True
    )

    assert pin_only.status is SettlementStatus.BLOCKED
    assert with_code.status is SettlementStatus.SENT
    assert await wallet.available(bob) == 2_000 * YUAN


async def test_settling_for_someone_the_wallet_does_not_know_is_refused(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    order = TransferOrder(ALICE, 404, 100)

    with pytest.raises(UserNotFound):
        await wallet.transfers.settle("k", order, authenticated=True)

    assert await wallet.available(alice) == 1_000


async def test_a_confirmation_tapped_twice_at_once_pays_once(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB)
    order = await wallet.transfers.order(alice, bob, "3")

    first, second = await asyncio.gather(
        wallet.transfers.settle("tap", order, authenticated=True),
        wallet.transfers.settle("tap", order, authenticated=True),
    )

    assert first.transfer == second.transfer
    assert [await wallet.available(p) for p in (alice, bob)] == [700, 300]
