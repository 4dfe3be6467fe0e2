"""Payment requests on a real ledger: paid once, whoever races for them, or cancelled."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.errors import (
    PaymentRequestAlreadyPaid,
    PaymentRequestCancelled,
    PaymentRequestIsYours,
    PaymentRequestNotFound,
    PaymentRequestNotYours,
    SplitDuplicateName,
    SplitNamesYou,
    SplitUnknownNames,
    StorageError,
)
from bot.domain.model import TransferSpec
from bot.domain.requests import RequestState
from bot.domain.risk import RiskRules
from bot.domain.users import Profile
from bot.security.cipher import Keyring
from bot.security.guard import PaymentGuard
from bot.security.identity import Identity
from bot.wallet.requests import Requests
from bot.wallet.transfers import Transfers
from bot.wallet.users import Users
from tests.integration.raw import fetch, refused

ALICE, BOB, CAROL = 101, 202, 303
MONTH_MS = 30 * 24 * 3600 * 1000


class World:
    def __init__(self, store, ledger, clock, external, database_url) -> None:
        self.store, self.ledger, self.clock, self.external = store, ledger, clock, external
        self.database_url = database_url
        self.users = Users(store.users, "CNY")
        identity = Identity(store.identity, Keyring(bytes(range(32))))
        guard = PaymentGuard(store.holds, identity, rules=RiskRules())
        self.requests = Requests(store.requests, self.users, Transfers(ledger, self.users, guard))
        self.people = {}

    async def person(self, telegram_id: int, funds: int = 0):
        now = self.clock.now_ms
        self.clock.now_ms = now - MONTH_MS  # an old wallet: no new-account rule
        user = await self.users.seen(Profile(telegram_id, f"user{telegram_id}", "U"))
        self.clock.now_ms = now
        await self.store.security.set_pin(telegram_id, "scrypt-hash", "key")
        if funds:
            await self.ledger.transfer(
                f"fund-{telegram_id}", self.external, user.account_id, funds, "topup"
            )
        self.people[telegram_id] = user
        return user

    async def available(self, telegram_id: int) -> int:
        user = self.people[telegram_id]
        return (await self.ledger.balance(user.account_id)).available

    async def transfers_keyed(self, key: str) -> int:
        assert key.isascii() and "'" not in key
        rows = await fetch(self.database_url, f"SELECT count(*) FROM transfers WHERE key = '{key}'")
        return rows[0][0]


@pytest.fixture
def store(both_store):
    return both_store


@pytest.fixture
def audit(both_audit):
    return both_audit


@pytest.fixture
async def world(store, ledger, clock, external, database_url) -> World:
    world = World(store, ledger, clock, external, database_url)
    await world.person(ALICE)
    await world.person(BOB, funds=100_00)
    await world.person(CAROL, funds=100_00)
    return world


async def test_two_payers_at_once_pay_a_request_once(world, audit):
    request = await world.requests.create(world.people[ALICE], "12.50", "lunch")
    results = await asyncio.gather(
        *(
            world.requests.settle(request.token, payer, authenticated=True)
            for payer in (BOB, CAROL, BOB, CAROL)
        )
    )
    statuses = sorted(r.status for r in results)
    assert statuses.count("paid") == 1
    winner = next(r for r in results if r.status == "paid").payer.telegram_id
    loser = CAROL if winner == BOB else BOB
    assert all(
        isinstance(r.error, PaymentRequestAlreadyPaid)
        for r in results
        if r.payer.telegram_id == loser
    )
    assert await world.available(ALICE) == 12_50
    assert await world.available(winner) == 87_50
    assert await world.available(loser) == 100_00
    assert await world.transfers_keyed(request.key) == 1
    paid = await world.requests.get(request.token)
    assert (paid.state, paid.paid_by, paid.transfer_key) == (
        RequestState.PAID,
        winner,
        request.key,
    )
    assert (await audit()).ok


async def test_the_payer_paying_again_is_told_so_and_nothing_more_moves(world):
    request = await world.requests.create(world.people[ALICE], "5")
    first = await world.requests.settle(request.token, BOB, authenticated=True)
    again = await world.requests.settle(request.token, BOB, authenticated=True)
    assert (first.status, again.status) == ("paid", "paid_before")
    assert await world.available(BOB) == 95_00
    assert await world.available(ALICE) == 5_00


async def test_a_replayed_payment_returns_the_first_transfer(world, store):
    request = await world.requests.create(world.people[ALICE], "5")
    first = await world.requests.settle(request.token, BOB, authenticated=True)
    spec = TransferSpec(
        world.people[BOB].account_id, world.people[ALICE].account_id, 5_00, "transfer"
    )
    paid, transfer, replayed = await store.requests.pay_request(
        request.token, BOB, spec, password_free=None
    )
    assert replayed and transfer == first.transfer and paid.state is RequestState.PAID
    with pytest.raises(PaymentRequestAlreadyPaid):
        await store.requests.pay_request(request.token, CAROL, spec, password_free=None)


async def test_cancel_and_pay_at_once_end_in_one_of_them_only(world):
    for _ in range(5):
        request = await world.requests.create(world.people[ALICE], "1")
        payment, cancelled = await asyncio.gather(
            world.requests.settle(request.token, BOB, authenticated=True),
            world.requests.cancel(request.token, ALICE),
            return_exceptions=True,
        )
        final = await world.requests.get(request.token)
        if final.state is RequestState.PAID:
            assert payment.status == "paid"
            assert isinstance(cancelled, PaymentRequestAlreadyPaid)
            assert await world.transfers_keyed(request.key) == 1
        else:
            assert final.state is RequestState.CANCELLED
            assert isinstance(payment.error, PaymentRequestCancelled)
            assert await world.transfers_keyed(request.key) == 0
    total_paid = 100_00 - await world.available(BOB)
    assert total_paid == await world.available(ALICE)


async def test_a_cancelled_request_cannot_be_paid_or_cancelled_again(world):
    request = await world.requests.create(world.people[ALICE], "3")
    with pytest.raises(PaymentRequestNotYours):
        await world.requests.cancel(request.token, BOB)
    await world.requests.cancel(request.token, ALICE)
    payment = await world.requests.settle(request.token, BOB, authenticated=True)
    assert isinstance(payment.error, PaymentRequestCancelled)
    with pytest.raises(PaymentRequestCancelled):
        await world.requests.cancel(request.token, ALICE)
    with pytest.raises(PaymentRequestCancelled):
        await world.requests.quote(request.token, world.people[BOB])
    assert await world.available(BOB) == 100_00


async def test_the_requester_cannot_pay_their_own_request(world, store):
    request = await world.requests.create(world.people[BOB], "3")
    with pytest.raises(PaymentRequestIsYours):
        await world.requests.quote(request.token, world.people[BOB])
    payment = await world.requests.settle(request.token, BOB, authenticated=True)
    assert isinstance(payment.error, PaymentRequestIsYours)
    assert await world.available(BOB) == 100_00


async def test_not_enough_money_leaves_the_request_open(world):
    request = await world.requests.create(world.people[ALICE], "100.01")
    payment = await world.requests.settle(request.token, BOB, authenticated=True)
    assert payment.status == "refused" and payment.error.code == "exceeds_balance"
    assert (await world.requests.get(request.token)).state is RequestState.OPEN
    assert (await world.requests.settle(request.token, CAROL, authenticated=True)).status == (
        "refused"
    )


async def test_a_spec_that_does_not_match_the_request_moves_nothing(world, store):
    request = await world.requests.create(world.people[ALICE], "3")
    bob, alice = world.people[BOB].account_id, world.people[ALICE].account_id
    for spec in (
        TransferSpec(bob, alice, 2_00, "transfer"),  # less than asked
        TransferSpec(bob, world.external, 3_00, "transfer"),  # to someone else
        TransferSpec(world.people[CAROL].account_id, alice, 3_00, "transfer"),  # not Bob's
    ):
        with pytest.raises(StorageError):
            await store.requests.pay_request(request.token, BOB, spec, password_free=None)
    assert (await world.requests.get(request.token)).state is RequestState.OPEN
    assert await world.available(BOB) == 100_00


async def test_unknown_and_malformed_tokens_find_nothing(world):
    for token in ("AAAAAAAAAAAAAAAA", "short", "../../etc/passwd", "x" * 200):
        with pytest.raises(PaymentRequestNotFound):
            await world.requests.get(token)
        with pytest.raises(PaymentRequestNotFound):
            await world.requests.cancel(token, ALICE)


async def test_a_settled_request_cannot_be_changed_in_the_database(world, database_url):
    request = await world.requests.create(world.people[ALICE], "3")
    await world.requests.settle(request.token, BOB, authenticated=True)
    for sql in (
        "UPDATE payment_requests SET state = 'open', paid_by = NULL, transfer_key = NULL,"
        " settled_at = NULL",
        "UPDATE payment_requests SET amount = 1",
        "DELETE FROM payment_requests",
    ):
        await refused(database_url, sql)
    (settled,) = await fetch(database_url, "SELECT state, amount FROM payment_requests")
    assert settled == ("paid", 3_00)


async def test_a_split_saves_requests_only_after_every_check_and_every_name_is_known(
    world, database_url
):
    alice = world.people[ALICE]

    async def saved() -> int:
        return (await fetch(database_url, "SELECT count(*) FROM payment_requests"))[0][0]

    with pytest.raises(SplitDuplicateName):
        await world.requests.split(alice, "10", ["@user202", str(BOB)])
    with pytest.raises(SplitNamesYou):
        await world.requests.split(alice, "10", ["@user202", "@USER101"])
    with pytest.raises(SplitUnknownNames) as unknown:
        await world.requests.split(alice, "10.03", ["@user202", "@nobody_here", "@ghost"])
    assert unknown.value.params == {"names": "@nobody_here, @ghost"}
    assert await saved() == 0

    bill = await world.requests.split(alice, "10.03", ["@user202", "@user303"])
    assert (bill.total, bill.own_share, bill.people) == (10_03, 3_35, 3)
    assert [(s.name, s.amount, s.user is not None) for s in bill.shares] == [
        ("@user202", 3_34, True),
        ("@user303", 3_34, True),
    ]
    assert await saved() == 2
    for share in bill.shares:
        stored = await world.requests.get(share.request.token)
        assert (stored.requester_id, stored.amount) == (ALICE, share.amount)
