"""Unpaid top-up invoices and payment requests expire, say when, and move nothing late.

Money Telegram already took for an expired invoice is credited all the same.
"""

from __future__ import annotations

import sqlite3

import pytest

from bot.app import open_wallet
from bot.config import Settings
from bot.domain.errors import PaymentRequestExpired, TopUpExpired
from bot.domain.model import TransferSpec
from bot.domain.requests import RequestState
from bot.domain.topups import Checkout, Payment, TopUpState
from bot.domain.users import Profile
from bot.storage.sqlite.schema import apply_migrations, migrations
from bot.wallet.requests import DEFAULT_TTL_S, Requests
from bot.wallet.topups import TopUps
from bot.wallet.users import Users
from tests.integration.raw import refused
from tests.integration.test_payment_requests import ALICE, BOB, CAROL, World

WEEK_MS = DEFAULT_TTL_S * 1000


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


def spec_of(world: World, payer: int, requester: int, amount: int) -> TransferSpec:
    return TransferSpec(
        world.people[payer].account_id, world.people[requester].account_id, amount, "transfer"
    )


# Payment requests ---------------------------------------------------------------------


async def test_a_request_can_be_paid_until_its_deadline_and_is_refused_from_then_on(
    world, clock, audit
):
    request = await world.requests.create(world.people[ALICE], "12.50", "lunch")
    assert request.expires_at == clock.now_ms + WEEK_MS  # 7 days by default
    early = await world.requests.create(world.people[ALICE], "1")

    clock.advance(ms=WEEK_MS - 1)
    assert (await world.requests.settle(early.token, CAROL, authenticated=True)).status == "paid"

    clock.advance(ms=1)
    with pytest.raises(PaymentRequestExpired) as refused:
        await world.requests.quote(request.token, world.people[BOB])
    assert refused.value.params == {
        "token": request.token,
        "expired_at": request.expires_at,
        "amount": 12_50,
    }
    late = await world.requests.settle(request.token, BOB, authenticated=True)
    assert late.status == "refused" and isinstance(late.error, PaymentRequestExpired)
    assert await world.available(BOB) == 100_00
    assert await world.available(ALICE) == 1_00  # only the early one
    assert await world.transfers_keyed(request.key) == 0
    assert (await world.requests.get(request.token)).state is RequestState.OPEN
    assert (await audit()).ok


async def test_a_payment_reaching_the_store_after_the_deadline_moves_nothing(world, store, clock):
    request = await world.requests.create(world.people[ALICE], "3")
    await world.requests.quote(request.token, world.people[BOB])  # the card was shown in time
    clock.advance(ms=WEEK_MS)  # ... and the PIN came in too late
    with pytest.raises(PaymentRequestExpired):
        await store.requests.pay_request(
            request.token, BOB, spec_of(world, BOB, ALICE, 3_00), password_free=None
        )
    assert await world.transfers_keyed(request.key) == 0
    assert await world.available(BOB) == 100_00


async def test_a_paid_request_stays_paid_for_its_payer_after_the_deadline(world, clock):
    request = await world.requests.create(world.people[ALICE], "3")
    await world.requests.settle(request.token, BOB, authenticated=True)
    clock.advance(ms=WEEK_MS)
    again = await world.requests.settle(request.token, BOB, authenticated=True)
    assert again.status == "paid_before"  # paid in time: not "expired"
    assert await world.available(BOB) == 97_00


async def test_an_expired_request_cannot_be_cancelled_and_says_when_it_expired(world, clock):
    request = await world.requests.create(world.people[ALICE], "3")
    clock.advance(ms=WEEK_MS + 5)
    with pytest.raises(PaymentRequestExpired) as refused:
        await world.requests.cancel(request.token, ALICE)
    assert refused.value.params["expired_at"] == request.expires_at
    assert refused.value.params["amount"] == 3_00
    assert (await world.requests.get(request.token)).state is RequestState.OPEN


async def test_the_validity_is_the_services_and_split_shares_expire_too(world, store, clock):
    requests = Requests(store.requests, world.users, world.requests.transfers, ttl_s=60)
    bill = await requests.split(world.people[ALICE], "10", ["@user202", "@user303"])
    for share in bill.shares:
        assert share.request.expires_at == clock.now_ms + 60_000
        assert (await requests.get(share.request.token)).expires_at == clock.now_ms + 60_000
    clock.advance(seconds=60)
    paid = await requests.settle(bill.shares[0].request.token, BOB, authenticated=True)
    assert isinstance(paid.error, PaymentRequestExpired)
    with pytest.raises(ValueError):
        Requests(store.requests, world.users, world.requests.transfers, ttl_s=0)


async def test_the_deadline_of_a_request_cannot_be_changed_in_the_database(
    world, database_url
):
    request = await world.requests.create(world.people[ALICE], "3")
    assert "'" not in request.token
    await refused(
        database_url,
        f"UPDATE payment_requests SET expires_at = expires_at + 1 WHERE token = '{request.token}'",
    )
    assert (await world.requests.get(request.token)).expires_at == request.expires_at


def test_requests_made_before_expiry_existed_get_seven_days(tmp_path):
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.execute(
        "CREATE TABLE schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    )
    for version, name, sql in migrations():
        if version > 10:
            break
        conn.executescript(sql)
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?, 0)", (version, name))
    conn.execute(
        "INSERT INTO users (telegram_id, account_id, created_at, updated_at) VALUES (7, 1, 0, 0)"
    )
    conn.execute(
        "INSERT INTO payment_requests (token, requester_id, amount, created_at)"
        " VALUES ('open-one', 7, 100, 1000)"
    )
    conn.execute(
        "INSERT INTO payment_requests (token, requester_id, amount, created_at, state,"
        " settled_at) VALUES ('cancelled-one', 7, 100, 2000, 'cancelled', 3000)"
    )
    assert apply_migrations(conn)[0] == "0011_payment_request_expiry.sql"  # and any later
    rows = conn.execute("SELECT token, expires_at FROM payment_requests ORDER BY token").fetchall()
    assert rows == [("cancelled-one", 2000 + WEEK_MS), ("open-one", 1000 + WEEK_MS)]
    for sql in (
        "UPDATE payment_requests SET state = 'open', settled_at = NULL"
        " WHERE token = 'cancelled-one'",
        "UPDATE payment_requests SET expires_at = 0 WHERE token = 'open-one'",
    ):
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(sql)
    conn.close()


# Top-ups --------------------------------------------------------------------------------


async def test_a_late_checkout_is_refused_saying_when_the_invoice_expired(store, ledger, clock):
    alice = await Users(store.users, "CNY").seen(Profile(ALICE, "alice", "Alice"))
    topups = TopUps(store.topups, ledger, enabled=True, ttl_s=3600)
    topup = await topups.open(alice, "50")
    checkout = Checkout(ALICE, topup.id, "CNY", 50_00)
    clock.advance(seconds=3599)
    assert await topups.check_checkout(checkout) == topup
    clock.advance(seconds=1)
    with pytest.raises(TopUpExpired) as refused:
        await topups.check_checkout(checkout)
    assert refused.value.params == {"topup_id": topup.id, "expired_at": topup.expires_at}
    assert (await store.topups.get_topup(topup.id)).state is TopUpState.EXPIRED

    # Telegram took the money all the same (a checkout answered in time, paid late): credited
    credit = await topups.credit(alice, Payment(ALICE, topup.id, "CNY", 50_00, "charge-1"))
    assert credit.problem == "topup_expired" and credit.transfer.amount == 50_00
    assert credit.topup.state is TopUpState.PAID
    assert (await ledger.balance(alice.account_id)).available == 50_00
    replay = await topups.credit(alice, Payment(ALICE, topup.id, "CNY", 50_00, "charge-1"))
    assert replay.replayed and (await ledger.balance(alice.account_id)).available == 50_00


async def test_a_withdrawn_invoice_says_it_ended_no_later_than_now(store, ledger, clock):
    alice = await Users(store.users, "CNY").seen(Profile(ALICE, "alice", "Alice"))
    topups = TopUps(store.topups, ledger, enabled=True, ttl_s=3600)
    topup = await topups.open(alice, "50")
    await topups.cancel(topup)  # the invoice could not be sent
    clock.advance(seconds=10)
    with pytest.raises(TopUpExpired) as refused:
        await topups.check_checkout(Checkout(ALICE, topup.id, "CNY", 50_00))
    assert refused.value.params["expired_at"] == clock.now_ms


async def test_the_wallet_takes_both_validities_from_the_settings(tmp_path):
    wallet = await open_wallet(
        Settings(
            database_url=f"sqlite:///{tmp_path / 'wallet.db'}",
            data_dir=tmp_path,
            topup_expiry_s=120,
            request_expiry_s=3600,
        )
    )
    try:
        assert (wallet.topups.ttl_s, wallet.requests.ttl_s) == (120, 3600)
    finally:
        await wallet.close()
