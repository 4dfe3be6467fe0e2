"""Top-ups on the in-memory stores: an invoice per top-up, each charge credited once, and
money Telegram took never dropped."""

from __future__ import annotations

import pytest

from bot.domain.errors import TopUpAmountMismatch, TopUpExpired, TopUpNotConfigured, TopUpNotYours
from bot.domain.topups import Checkout, Payment, TopUpState
from bot.wallet.topups import DEFAULT_TTL_S, PAYMENT_FLAGGED, PAYMENT_NOT_CREDITED, TopUps
from tests.fakes.wallet import FakeWallet

ALICE, BOB = 1, 2


@pytest.fixture
async def wallet() -> FakeWallet:
    return await FakeWallet.open()


def paid(topup, charge: str, *, amount: int | None = None, currency: str = "CNY") -> Payment:
    total = topup.amount if amount is None else amount
    return Payment(topup.telegram_id, topup.id, currency, total, charge, f"provider-{charge}")


async def test_an_invoice_is_checked_against_its_top_up_before_money_is_taken(wallet):
    alice = await wallet.person(ALICE)
    topup = await wallet.topups.open(alice, "50")

    ok = await wallet.topups.check_checkout(Checkout(ALICE, topup.id, "CNY", 5_000))
    with pytest.raises(TopUpAmountMismatch):
        await wallet.topups.check_checkout(Checkout(ALICE, topup.id, "CNY", 5_001))
    with pytest.raises(TopUpNotYours):
        await wallet.topups.check_checkout(Checkout(BOB, topup.id, "CNY", 5_000))
    wallet.clock.advance(seconds=DEFAULT_TTL_S)
    with pytest.raises(TopUpExpired):
        await wallet.topups.check_checkout(Checkout(ALICE, topup.id, "CNY", 5_000))

    assert ok == topup and topup.state is TopUpState.OPEN
    assert (await wallet.db.topups.get_topup(topup.id)).state is TopUpState.EXPIRED


async def test_a_charge_is_credited_once_however_often_it_is_delivered(wallet):
    alice = await wallet.person(ALICE)
    topup = await wallet.topups.open(alice, "50")

    first = await wallet.topups.credit(alice, paid(topup, "charge-1"))
    again = await wallet.topups.credit(alice, paid(topup, "charge-1"))

    assert (first.replayed, again.replayed) == (False, True)
    assert again.transfer == first.transfer and first.problem is None
    assert (first.topup.state, first.topup.transfer_id) == (TopUpState.PAID, first.transfer.id)
    assert await wallet.available(alice) == 5_000


async def test_a_payment_that_breaks_its_invoice_is_credited_and_flagged(wallet):
    alice = await wallet.person(ALICE)
    topup = await wallet.topups.open(alice, "50")
    await wallet.topups.credit(alice, paid(topup, "charge-1"))
    late = await wallet.topups.open(alice, "20")
    wallet.clock.advance(seconds=DEFAULT_TTL_S)

    twice = await wallet.topups.credit(alice, paid(topup, "charge-2"))
    expired = await wallet.topups.credit(alice, paid(late, "charge-3"))

    assert (twice.problem, expired.problem) == ("topup_already_paid", "topup_expired")
    assert expired.topup.state is TopUpState.PAID  # an expired invoice paid all the same
    assert await wallet.available(alice) == 5_000 + 5_000 + 2_000
    flagged = await wallet.events(PAYMENT_FLAGGED)
    assert [e.details["problem"] for e in flagged] == ["topup_already_paid", "topup_expired"]
    assert flagged[0].details["telegram_charge_id"] == "charge-2"


async def test_a_payment_in_another_currency_is_not_credited_but_reported(wallet):
    alice = await wallet.person(ALICE)
    topup = await wallet.topups.open(alice, "50")

    credit = await wallet.topups.credit(alice, paid(topup, "usd-1", currency="USD"))

    assert credit.transfer is None and credit.problem == "topup_currency_mismatch"
    assert await wallet.available(alice) == 0
    (reported,) = await wallet.events(PAYMENT_NOT_CREDITED)
    assert reported.details["wallet_currency"] == "CNY"


async def test_top_ups_are_refused_while_payments_are_off(wallet):
    alice = await wallet.person(ALICE)
    off = TopUps(wallet.db.topups, wallet.ledger, enabled=False)

    with pytest.raises(TopUpNotConfigured):
        await off.open(alice, "50")
    with pytest.raises(ValueError):
        await wallet.topups.open_preset(alice, 12_34)


async def test_a_new_invoice_retires_the_persons_expired_ones(wallet):
    alice = await wallet.person(ALICE)
    old = await wallet.topups.open(alice, "50")
    wallet.clock.advance(seconds=DEFAULT_TTL_S)

    new = await wallet.topups.open(alice, "20")
    await wallet.topups.cancel(new)

    assert (await wallet.db.topups.get_topup(old.id)).state is TopUpState.EXPIRED
    assert (await wallet.db.topups.get_topup(new.id)).state is TopUpState.EXPIRED
