"""The top-up service over a real store (SQLite, PostgreSQL): checkout checks and
once-only credits."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.errors import (
    AmountError,
    TopUpAlreadyPaid,
    TopUpAmountMismatch,
    TopUpCurrencyMismatch,
    TopUpExpired,
    TopUpNotConfigured,
    TopUpNotFound,
    TopUpNotYours,
)
from bot.domain.topups import Checkout, Payment, TopUpState
from bot.domain.users import Profile
from bot.wallet.ledger import Ledger
from bot.wallet.topups import PAYMENT_FLAGGED, PAYMENT_NOT_CREDITED, TopUps
from bot.wallet.users import Users
from tests.integration.raw import fetch, refused

ALICE, BOB = 1001, 1002


@pytest.fixture
def store(both_store):
    return both_store


@pytest.fixture
def audit(both_audit):
    return both_audit


@pytest.fixture
async def people(store):
    users = Users(store.users, "CNY")
    return (
        await users.seen(Profile(ALICE, "alice", "Alice")),
        await users.seen(Profile(BOB, "bob", "Bob")),
    )


@pytest.fixture
def topups(store, ledger) -> TopUps:
    return TopUps(store.topups, ledger, enabled=True, ttl_s=600)


def checkout(topup, payer_id=None, **changes) -> Checkout:
    fields = {
        "payer_id": topup.telegram_id if payer_id is None else payer_id,
        "payload": topup.id,
        "currency": topup.currency,
        "total_amount": topup.amount,
    }
    return Checkout(**{**fields, **changes})


def payment(topup, charge: str, **changes) -> Payment:
    fields = {
        "payer_id": topup.telegram_id,
        "payload": topup.id,
        "currency": topup.currency,
        "total_amount": topup.amount,
        "telegram_charge_id": charge,
        "provider_charge_id": f"provider-{charge}",
    }
    return Payment(**{**fields, **changes})


async def available(ledger, user) -> int:
    return (await ledger.balance(user.account_id)).available


async def test_a_top_up_is_opened_with_an_expiry_and_within_the_maximum(store, clock, people):
    alice, _ = people
    topups = TopUps(
        store.topups, Ledger(store.ledger, "CNY"), enabled=True, maximum=100_00, ttl_s=60
    )
    topup = await topups.open(alice, "¥99.99")
    assert (topup.amount, topup.currency, topup.state) == (99_99, "CNY", TopUpState.OPEN)
    assert topup.expires_at == clock.now_ms + 60_000
    assert await store.topups.get_topup(topup.id) == topup
    with pytest.raises(AmountError) as refused:
        await topups.open(alice, "100.01")
    assert refused.value.code == "amount_too_large" and refused.value.params["maximum"] == 100_00
    assert topups.presets == (10_00, 50_00, 100_00)  # the ¥200 preset is above this maximum
    with pytest.raises(ValueError):
        await topups.open_preset(alice, 200_00)


async def test_top_ups_are_refused_when_no_provider_is_configured(store, ledger, people):
    topups = TopUps(store.topups, ledger, enabled=False)
    with pytest.raises(TopUpNotConfigured):
        await topups.open(people[0], "10")
    with pytest.raises(TopUpNotConfigured):
        await topups.open_preset(people[0], 10_00)


async def test_checkout_passes_only_for_the_payer_amount_and_currency_of_an_open_top_up(
    topups, people
):
    alice, bob = people
    topup = await topups.open(alice, "50")
    assert await topups.check_checkout(checkout(topup)) == topup
    refusals = [
        (checkout(topup, payload="nope"), TopUpNotFound),
        (checkout(topup, payload=""), TopUpNotFound),
        (checkout(topup, payer_id=bob.telegram_id), TopUpNotYours),
        (checkout(topup, total_amount=49_99), TopUpAmountMismatch),
        (checkout(topup, currency="USD"), TopUpCurrencyMismatch),
    ]
    for query, error in refusals:
        with pytest.raises(error):
            await topups.check_checkout(query)


async def test_an_expired_top_up_is_refused_and_marked_expired(topups, clock, people):
    topup = await topups.open(people[0], "50")
    clock.advance(seconds=600)
    with pytest.raises(TopUpExpired):
        await topups.check_checkout(checkout(topup))
    assert (await topups.store.get_topup(topup.id)).state is TopUpState.EXPIRED
    with pytest.raises(TopUpExpired):  # and stays so
        await topups.check_checkout(checkout(topup))


async def test_opening_a_new_top_up_expires_the_persons_stale_ones(topups, clock, people):
    stale = await topups.open(people[0], "10")
    fresh = await topups.open(people[0], "20")
    clock.advance(seconds=600)
    await topups.open(people[0], "30")
    assert (await topups.store.get_topup(stale.id)).state is TopUpState.EXPIRED
    assert (await topups.store.get_topup(fresh.id)).state is TopUpState.EXPIRED


async def test_a_payment_credits_once_and_marks_the_top_up_paid(topups, ledger, people, audit):
    alice, _ = people
    topup = await topups.open(alice, "50")
    credit = await topups.credit(alice, payment(topup, "charge-1"))
    assert not credit.replayed and credit.problem is None
    assert credit.transfer.key == "topup:charge-1" and credit.transfer.kind == "topup"
    assert credit.topup.state is TopUpState.PAID
    assert credit.topup.transfer_id == credit.transfer.id
    assert credit.topup.telegram_charge_id == "charge-1"
    assert credit.topup.provider_charge_id == "provider-charge-1"
    with pytest.raises(TopUpAlreadyPaid):
        await topups.check_checkout(checkout(topup))

    again = await topups.credit(alice, payment(topup, "charge-1"))
    assert again.replayed and again.transfer == credit.transfer
    assert await available(ledger, alice) == 50_00
    assert (await audit()).ok


async def test_a_burst_of_the_same_payment_credits_it_once(topups, ledger, people, audit):
    alice, _ = people
    topup = await topups.open(alice, "20")
    credits = await asyncio.gather(
        *(topups.credit(alice, payment(topup, "burst")) for _ in range(50))
    )
    assert sum(not c.replayed for c in credits) == 1
    assert len({c.transfer.id for c in credits}) == 1
    assert await available(ledger, alice) == 20_00
    assert (await audit()).ok


async def test_money_taken_is_credited_even_when_the_invoice_no_longer_matches(
    topups, ledger, store, clock, people, audit
):
    alice, _ = people
    topup = await topups.open(alice, "30")
    first = await topups.credit(alice, payment(topup, "one"))
    second = await topups.credit(alice, payment(topup, "two"))  # charged twice by Telegram
    assert second.problem == "topup_already_paid" and second.transfer.amount == 30_00
    assert second.topup.telegram_charge_id == "one" == first.topup.telegram_charge_id

    late = await topups.open(alice, "5")
    clock.advance(seconds=601)
    expired = await topups.credit(alice, payment(late, "three"))
    assert expired.problem == "topup_expired" and expired.topup.state is TopUpState.PAID

    unknown = await topups.credit(alice, payment(late, "four", payload="who-knows", total_amount=7))
    assert unknown.problem == "topup_not_found" and unknown.topup is None
    assert unknown.transfer.amount == 7

    assert await available(ledger, alice) == 30_00 + 30_00 + 5_00 + 7
    flagged = [e async for e in store.security.events() if e.event == PAYMENT_FLAGGED]
    assert [e.details["problem"] for e in flagged] == [
        "topup_already_paid",
        "topup_expired",
        "topup_not_found",
    ]
    assert flagged[-1].details["telegram_charge_id"] == "four"
    assert (await audit()).ok


async def test_a_payment_in_another_currency_is_not_credited_but_recorded(
    topups, ledger, store, people, audit
):
    alice, _ = people
    topup = await topups.open(alice, "10")
    credit = await topups.credit(alice, payment(topup, "usd", currency="USD"))
    assert credit.transfer is None and credit.problem == "topup_currency_mismatch"
    assert await available(ledger, alice) == 0
    (event,) = [e async for e in store.security.events() if e.event == PAYMENT_NOT_CREDITED]
    assert event.details["telegram_charge_id"] == "usd" and event.details["currency"] == "USD"
    assert (await audit()).ok


async def test_a_paid_top_up_cannot_be_changed_or_removed(topups, store, people, database_url):
    topup = await topups.open(people[0], "10")
    await topups.credit(people[0], payment(topup, "final"))
    for sql in ("UPDATE topups SET state = 'open'", "DELETE FROM topups"):
        await refused(database_url, sql)
    assert await fetch(database_url, "SELECT state FROM topups") == [("paid",)]
