"""Payment requests and split bills on the in-memory stores: paid once, or not at all."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.errors import (
    InsufficientFunds,
    PaymentRequestAlreadyPaid,
    PaymentRequestCancelled,
    PaymentRequestExpired,
    PaymentRequestForSomeoneElse,
    PaymentRequestIsYours,
    PaymentRequestNotFound,
    PaymentRequestNotYours,
    SplitDuplicateName,
    SplitNamesYou,
    SplitUnknownNames,
)
from bot.domain.requests import PaymentStatus, RequestState
from bot.domain.risk import HOUR_MS, RiskRules
from bot.wallet.requests import DEFAULT_TTL_S
from tests.fakes.wallet import FakeWallet

ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4


@pytest.fixture
async def wallet() -> FakeWallet:
    return await FakeWallet.open()


async def test_a_request_is_paid_once_by_whoever_opens_it_first(wallet):
    alice = await wallet.person(ALICE)
    bob = await wallet.person(BOB, funds=1_000)
    await wallet.person(CAROL, funds=1_000)
    request = await wallet.requests.create(alice, "3.5", "lunch")

    _, order = await wallet.requests.quote(request.token, bob)
    paid = await wallet.requests.settle(request.token, BOB, authenticated=True)
    again = await wallet.requests.settle(request.token, BOB, authenticated=True)
    late = await wallet.requests.settle(request.token, CAROL, authenticated=True)

    assert (order.amount, order.memo, order.recipient_id) == (350, "lunch", ALICE)
    assert paid.status is PaymentStatus.PAID and paid.transfer.amount == 350
    assert (paid.request.state, paid.request.paid_by) == (RequestState.PAID, BOB)
    assert again.status is PaymentStatus.PAID_BEFORE
    assert late.status is PaymentStatus.REFUSED
    assert isinstance(late.error, PaymentRequestAlreadyPaid)
    assert [await wallet.available(p) for p in (alice, bob)] == [350, 650]


async def test_a_requester_cannot_pay_their_own_request_and_a_short_payer_is_refused(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB, funds=100)
    request = await wallet.requests.create(alice, "2")

    with pytest.raises(PaymentRequestIsYours):
        await wallet.requests.quote(request.token, alice)
    with pytest.raises(InsufficientFunds):
        await wallet.requests.quote(request.token, bob)
    short = await wallet.requests.settle(request.token, BOB, authenticated=True)
    with pytest.raises(PaymentRequestNotFound):
        await wallet.requests.get("not-a-token")

    assert short.status is PaymentStatus.REFUSED and isinstance(short.error, InsufficientFunds)
    assert (await wallet.requests.get(request.token)).state is RequestState.OPEN
    assert [await wallet.available(p) for p in (alice, bob)] == [1_000, 100]


async def test_without_the_pin_or_when_the_guard_would_hold_it_nothing_is_paid(wallet):
    wallet.guard.rules = RiskRules(new_account_max_payment_fen=1_00)
    alice = await wallet.person(ALICE)
    await wallet.person(BOB, funds=1_000)
    await wallet.person(CAROL, funds=1_000, age_ms=HOUR_MS)
    request = await wallet.requests.create(alice, "2")

    unconfirmed = await wallet.requests.settle(request.token, BOB, authenticated=False)
    review = await wallet.requests.settle(request.token, CAROL, authenticated=True)

    assert unconfirmed.status is PaymentStatus.BLOCKED
    assert review.status is PaymentStatus.NEEDS_REVIEW
    assert await wallet.guard.open_holds() == []  # a request is paid at once or not at all
    assert (await wallet.requests.get(request.token)).state is RequestState.OPEN
    assert await wallet.available(alice) == 0


async def test_only_the_requester_cancels_and_a_cancelled_request_cannot_be_paid(wallet):
    alice = await wallet.person(ALICE)
    await wallet.person(BOB, funds=1_000)
    request = await wallet.requests.create(alice, "2")

    with pytest.raises(PaymentRequestNotYours):
        await wallet.requests.cancel(request.token, BOB)
    cancelled = await wallet.requests.cancel(request.token, ALICE)
    with pytest.raises(PaymentRequestCancelled):
        await wallet.requests.cancel(request.token, ALICE)
    refused = await wallet.requests.settle(request.token, BOB, authenticated=True)

    assert cancelled.state is RequestState.CANCELLED
    assert isinstance(refused.error, PaymentRequestCancelled)
    assert await wallet.available(alice) == 0


async def test_a_request_can_be_paid_until_it_expires(wallet):
    alice = await wallet.person(ALICE)
    await wallet.person(BOB, funds=1_000)
    request = await wallet.requests.create(alice, "2")

    wallet.clock.advance(seconds=DEFAULT_TTL_S)
    late = await wallet.requests.settle(request.token, BOB, authenticated=True)
    with pytest.raises(PaymentRequestExpired) as cancelling:
        await wallet.requests.cancel(request.token, ALICE)

    assert late.status is PaymentStatus.REFUSED and isinstance(late.error, PaymentRequestExpired)
    assert cancelling.value.params["expired_at"] == request.expires_at
    assert await wallet.available(alice) == 0


async def test_a_split_bill_asks_each_person_for_their_share_once_all_are_known(wallet):
    alice = await wallet.person(ALICE)
    await wallet.person(BOB, username="bob_k")
    await wallet.person(CAROL, username="carol_k")
    await wallet.person(DAVE, username="dave_k")

    with pytest.raises(SplitUnknownNames) as unknown:  # refused whole: nobody is asked
        await wallet.requests.split(alice, "100", ["@bob_k", "@carol_k", "@stranger"], "dinner")
    assert unknown.value.params == {"names": "@stranger"}
    with pytest.raises(SplitDuplicateName):
        await wallet.requests.split(alice, "100", ["@bob_k", str(BOB)])
    with pytest.raises(SplitNamesYou):
        await wallet.requests.split(alice, "100", ["@user1"])
    bill = await wallet.requests.split(alice, "100", ["@bob_k", "@carol_k", "@dave_k"], "dinner")

    assert (bill.own_share, [s.amount for s in bill.shares]) == (2_500, [2_500, 2_500, 2_500])
    assert [s.user.telegram_id for s in bill.shares] == [BOB, CAROL, DAVE]
    for share in bill.shares:
        stored = await wallet.requests.get(share.request.token)
        assert (stored.amount, stored.memo, stored.requester_id) == (2_500, "dinner", ALICE)
        assert stored.payer_for == share.user.telegram_id


async def test_a_split_share_is_paid_by_its_person_only(wallet):
    alice = await wallet.person(ALICE)
    bob = await wallet.person(BOB, username="bob_k", funds=5_000)
    carol = await wallet.person(CAROL, username="carol_k", funds=5_000)
    bill = await wallet.requests.split(alice, "100", ["@bob_k"])
    token = bill.shares[0].request.token

    with pytest.raises(PaymentRequestForSomeoneElse):
        await wallet.requests.quote(token, carol)
    refused = await wallet.requests.settle(token, CAROL, authenticated=True)
    assert refused.status is PaymentStatus.REFUSED
    assert isinstance(refused.error, PaymentRequestForSomeoneElse)
    paid = await wallet.requests.settle(token, BOB, authenticated=True)
    assert paid.status is PaymentStatus.PAID
    assert (await wallet.available(bob), await wallet.available(carol)) == (0, 5_000)
    plain = await wallet.requests.create(alice, "1")  # a plain request: anyone may pay
    assert (await wallet.requests.quote(plain.token, carol))[0].payer_for is None


async def test_of_two_payers_at_once_one_pays_and_the_other_is_told_it_is_paid(wallet):
    alice = await wallet.person(ALICE)
    bob = await wallet.person(BOB, funds=1_000)
    carol = await wallet.person(CAROL, funds=1_000)
    request = await wallet.requests.create(alice, "2")

    answers = await asyncio.gather(
        wallet.requests.settle(request.token, BOB, authenticated=True),
        wallet.requests.settle(request.token, CAROL, authenticated=True),
    )

    assert sorted(a.status for a in answers) == [PaymentStatus.PAID, PaymentStatus.REFUSED]
    (refused,) = [a for a in answers if a.status is PaymentStatus.REFUSED]
    assert isinstance(refused.error, PaymentRequestAlreadyPaid)
    assert await wallet.available(alice) == 200
    assert sorted([await wallet.available(bob), await wallet.available(carol)]) == [800, 1_000]
