"""The payment guard on the in-memory stores: the facts it reads from the ledger, and
its review queue."""

from __future__ import annotations

import logging

import pytest

from bot.domain.errors import IdempotencyConflict, InsufficientFunds, UserNotFound
from bot.domain.holds import DAY_MS, day_start_ms
from bot.domain.kinds import TransferKind
from bot.domain.model import SystemAccount
from bot.domain.risk import (
    AppliedLimits,
    RecentGrab,
    RecentPayment,
    RiskAction,
    RiskDecision,
    RiskReason,
)
from bot.domain.security_errors import HeldPaymentNotFound
from tests.fakes.wallet import FakeWallet

ALICE, BOB, ADMIN = 1, 2, 9
LIMITS = AppliedLimits(0, 500_00, 2_000_00, 2_000_00, 0, 0, 2_000_00)
HOLD = RiskDecision(
    RiskAction.HOLD, (RiskReason.VELOCITY_PAYMENTS,), RiskAction.STEP_UP_PIN, LIMITS
)


@pytest.fixture
async def wallet() -> FakeWallet:
    return await FakeWallet.open()


async def test_what_was_sent_today_starts_over_at_midnight_in_beijing(wallet):
    alice = await wallet.person(ALICE, funds=10_000)
    bob = await wallet.person(BOB)
    midnight = day_start_ms(wallet.clock(), wallet.guard.day_offset_ms) + DAY_MS
    wallet.clock.now_ms = midnight - 1
    await wallet.ledger.transfer("late", alice.account_id, bob.account_id, 300, "transfer")
    wallet.clock.now_ms = midnight
    await wallet.ledger.transfer("early", alice.account_id, bob.account_id, 200, "tip")

    facts = await wallet.guard.facts(ALICE, 100, TransferKind.TRANSFER, BOB)

    assert facts.sent_today_fen == 200
    assert [p[1:] for p in facts.recent_payments] == [(300, BOB), (200, BOB)]
    opened_at = (await wallet.ledger.account(alice.account_id)).created_at
    assert facts.account_age_ms == midnight - opened_at
    assert (facts.tier, facts.has_pin, facts.has_2fa) == (0, True, False)


async def test_a_released_reservation_is_not_sent_and_a_posted_one_counts_once(wallet):
    alice = await wallet.person(ALICE, funds=10_000)
    external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
    voided = await wallet.ledger.reserve("w1", alice.account_id, external, 1_000, "withdraw")
    await wallet.ledger.void("v1", voided.id)
    posted = await wallet.ledger.reserve("w2", alice.account_id, external, 2_000, "withdraw")
    await wallet.ledger.post("p2", posted.id)
    await wallet.ledger.reserve("w3", alice.account_id, external, 4_000, "withdraw")
    await wallet.ledger.transfer("in", external, alice.account_id, 5, "topup")  # not sent

    facts = await wallet.guard.facts(ALICE, 1, TransferKind.WITHDRAW)

    assert facts.sent_today_fen == 6_000
    assert facts.recent_payments == (
        RecentPayment(wallet.clock(), 2_000, None),
        RecentPayment(wallet.clock(), 4_000, None),
    )


async def test_a_grab_reads_only_the_recent_grabs_and_their_chats(wallet):
    alice = await wallet.person(ALICE)
    escrow = await wallet.ledger.system_account_id(SystemAccount.ESCROW_REDPACKETS)
    for n, ref in enumerate(("chat:-100", "chat:-200", "somewhere")):
        await wallet.ledger.transfer(
            f"g{n}", escrow, alice.account_id, 1, "redpacket_grab", ref=ref
        )
    wallet.clock.advance(seconds=1)

    facts = await wallet.guard.facts(ALICE, 1, TransferKind.RED_PACKET_GRAB)
    wallet.clock.advance(ms=wallet.guard.rules.grab_burst_window_ms)
    later = await wallet.guard.facts(ALICE, 1, TransferKind.RED_PACKET_GRAB)

    at = wallet.clock() - wallet.guard.rules.grab_burst_window_ms - 1_000
    assert facts.recent_grabs == (RecentGrab(at, -100), RecentGrab(at, -200), RecentGrab(at, 0))
    assert facts.sent_today_fen == 0 and facts.recent_payments == ()
    assert later.recent_grabs == ()


async def test_a_payer_the_wallet_does_not_know_is_refused(wallet):
    with pytest.raises(UserNotFound):
        await wallet.guard.assess(404, 100, TransferKind.TRANSFER)


async def test_a_hold_reserves_the_money_and_tells_the_admins_once_committed(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB)

    held = await wallet.guard.hold(
        "h", alice.account_id, bob.account_id, 600, TransferKind.TRANSFER, HOLD, memo="m"
    )
    with pytest.raises(InsufficientFunds):  # what is held is not there to hold again
        await wallet.guard.hold(
            "h2", alice.account_id, bob.account_id, 600, TransferKind.TRANSFER, HOLD
        )

    assert (held.payer_telegram_id, held.recipient_telegram_id, held.amount) == (ALICE, BOB, 600)
    assert await wallet.guard.get_hold(held.id) == held
    assert await wallet.guard.open_holds() == [held]
    assert wallet.notified == [held]
    assert (await wallet.available(alice), await wallet.reserved(alice)) == (400, 600)
    (opened,) = await wallet.events("hold.opened")
    assert opened.details["held_id"] == held.id and opened.details["amount"] == 600


async def test_a_hold_stands_when_telling_the_admins_fails(wallet, caplog):
    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB)

    async def broken(held) -> None:
        raise RuntimeError("chat is down")

    wallet.guard.notify_admins = broken
    with caplog.at_level(logging.ERROR):
        held = await wallet.guard.hold(
            "h", alice.account_id, bob.account_id, 600, TransferKind.TRANSFER, HOLD
        )

    assert await wallet.guard.open_holds() == [held]
    assert "telling the admins" in caplog.text


async def test_only_held_outgoing_payments_can_be_held(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB)
    allow = RiskDecision(RiskAction.ALLOW, (), RiskAction.ALLOW, LIMITS)

    with pytest.raises(ValueError):
        await wallet.guard.hold("a", alice.account_id, bob.account_id, 1, "transfer", allow)
    with pytest.raises(ValueError):
        await wallet.guard.hold("b", alice.account_id, bob.account_id, 1, "topup", HOLD)
    await wallet.ledger.reserve("c", alice.account_id, bob.account_id, 1, "transfer")
    with pytest.raises(IdempotencyConflict):  # the key reserved money, but not as a hold
        await wallet.guard.hold("c", alice.account_id, bob.account_id, 1, "transfer", HOLD)
    with pytest.raises(HeldPaymentNotFound):
        await wallet.guard.approve(404, ADMIN)

    assert await wallet.guard.open_holds() == []
    assert await wallet.reserved(alice) == 1
