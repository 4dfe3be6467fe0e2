"""The ledger service on a real SQLite file: every refusal moves nothing."""

from __future__ import annotations

import contextlib
import itertools

import pytest

from bot.domain.errors import (
    AccountFrozen,
    AccountNotFound,
    AccountsMustBeDifferent,
    CurrencyMismatch,
    IdempotencyConflict,
    InsufficientFunds,
    LedgerError,
    PendingTransferAlreadyResolved,
    PendingTransferExpired,
    PendingTransferNotExpired,
    PendingTransferNotFound,
    StorageError,
    WalletError,
)
from bot.domain.model import AccountKind, SystemAccount, TransferFlag, TransferSpec
from bot.storage import is_postgres_url, open_store_snapshot, sqlite_path
from bot.storage.postgres import PgDatabase
from bot.storage.sqlite import SqliteDatabase, open_snapshot
from bot.wallet.audit import audit_ledger
from bot.wallet.ledger import Ledger

_keys = itertools.count()


def key(prefix: str = "k") -> str:
    return f"{prefix}-{next(_keys)}"


async def top_up(ledger: Ledger, external: int, account_id: int, amount: int) -> None:
    await ledger.transfer(key("top-up"), external, account_id, amount, "top_up")


async def balances(ledger: Ledger, *account_ids: int) -> list[tuple[int, int]]:
    """(available, reserved) of each account."""
    result = []
    for account_id in account_ids:
        balance = await ledger.balance(account_id)
        result.append((balance.available, balance.reserved))
    return result


async def transfer_count(store: SqliteDatabase) -> int:
    async with store.snapshot() as snapshot:
        return sum([1 async for _ in snapshot.transfers()])


# Every test here holds on SQLite and on PostgreSQL (tests/integration/conftest.py).
@pytest.fixture
def store(both_store):
    return both_store


@pytest.fixture
def audit(both_audit):
    return both_audit


# Accounts ---------------------------------------------------------------------------


async def test_opening_an_account_twice_returns_the_same_account(ledger):
    first = await ledger.open_user_account(42)
    again = await ledger.open_user_account(42)
    merchant = await ledger.open_merchant_account(42)

    assert again == first
    assert first.kind is AccountKind.USER and first.name == "user:42"
    assert merchant.id != first.id and merchant.kind is AccountKind.MERCHANT


async def test_an_existing_name_cannot_be_opened_as_another_kind(store, ledger):
    user = await ledger.open_user_account(7)

    with pytest.raises(LedgerError) as refused:
        await store.ledger.open_account("user:7", AccountKind.SYSTEM, "CNY")

    assert refused.value.code == "ledger_error"
    assert (await ledger.account(user.id)).kind is AccountKind.USER


async def test_system_accounts_are_opened_once_per_currency(store, ledger):
    again = await ledger.open_system_accounts()
    usd = await Ledger(store.ledger, "USD").open_system_accounts()

    for name in SystemAccount:
        assert again[name].id == await ledger.system_account_id(name)
        assert usd[name].id != again[name].id
        assert usd[name].currency == "USD"


async def test_unknown_account_is_not_found(ledger):
    for read in (ledger.account, ledger.balance, ledger.freeze, ledger.unfreeze):
        with pytest.raises(AccountNotFound) as refused:
            await read(999_999)
        assert refused.value.code == "account_not_found"


# Plain transfers ----------------------------------------------------------------------


async def test_transfer_moves_money_and_returns_the_stored_transfer(ledger, external, clock):
    alice = await ledger.open_user_account(1)
    bob = await ledger.open_user_account(2)
    await top_up(ledger, external, alice.id, 1_000)

    transfer = await ledger.transfer("pay-1", alice.id, bob.id, 250, "p2p", ref="r", memo="tea")

    assert (transfer.key, transfer.amount, transfer.kind) == ("pay-1", 250, "p2p")
    assert (transfer.ref, transfer.memo, transfer.currency) == ("r", "tea", "CNY")
    assert transfer.flag is TransferFlag.POSTED and transfer.created_at == clock.now_ms
    assert await ledger.store.get_transfer(transfer.id) == transfer
    assert await balances(ledger, alice.id, bob.id) == [(750, 0), (250, 0)]
    assert (await ledger.balance(external)).available == -1_000


async def test_transfer_above_the_balance_is_refused_and_moves_nothing(ledger, external, audit):
    alice = await ledger.open_user_account(1)
    bob = await ledger.open_user_account(2)
    await top_up(ledger, external, alice.id, 100)

    with pytest.raises(InsufficientFunds) as refused:
        await ledger.transfer(key(), alice.id, bob.id, 101, "p2p")

    assert refused.value.code == "exceeds_balance"
    assert refused.value.params == {"account_id": alice.id, "available": 100, "amount": 101}
    assert await balances(ledger, alice.id, bob.id) == [(100, 0), (0, 0)]
    await ledger.transfer(key(), alice.id, bob.id, 100, "p2p")  # exactly all of it is fine
    assert await balances(ledger, alice.id, bob.id) == [(0, 0), (100, 0)]
    assert (await audit()).ok


async def test_merchant_accounts_cannot_go_negative_but_system_accounts_can(ledger, external):
    shop = await ledger.open_merchant_account(5)
    user = await ledger.open_user_account(5)
    promotions = await ledger.system_account_id(SystemAccount.PROMOTIONS)

    with pytest.raises(InsufficientFunds):
        await ledger.transfer(key(), shop.id, user.id, 1, "refund")
    await ledger.transfer(key(), promotions, user.id, 30, "bonus")

    assert (await ledger.balance(promotions)).available == -30
    assert (await ledger.balance(user.id)).available == 30


async def test_transfer_to_unknown_account_moves_nothing(ledger, store, external, audit):
    alice = await ledger.open_user_account(1)
    await top_up(ledger, external, alice.id, 500)
    before = await transfer_count(store)

    with pytest.raises(AccountNotFound) as refused:
        await ledger.transfer(key(), alice.id, 999_999, 200, "p2p")

    assert refused.value.params == {"account_id": 999_999}
    assert await balances(ledger, alice.id) == [(500, 0)]
    assert await transfer_count(store) == before
    assert (await audit()).ok


async def test_transfer_from_unknown_account_is_not_found(ledger):
    bob = await ledger.open_user_account(2)

    with pytest.raises(AccountNotFound):
        await ledger.transfer(key(), 999_999, bob.id, 1, "p2p")

    assert await balances(ledger, bob.id) == [(0, 0)]


async def test_transfer_to_the_same_account_is_refused(ledger, external):
    alice = await ledger.open_user_account(1)
    await top_up(ledger, external, alice.id, 50)

    with pytest.raises(AccountsMustBeDifferent) as refused:
        await ledger.transfer(key(), alice.id, alice.id, 10, "p2p")

    assert refused.value.code == "accounts_must_be_different"
    assert await balances(ledger, alice.id) == [(50, 0)]


async def test_accounts_of_different_currencies_cannot_trade(store, ledger, external, audit):
    usd = Ledger(store.ledger, "USD")
    await usd.open_system_accounts()
    yuan = await ledger.open_user_account(1)
    dollars = await usd.open_user_account(1)
    await top_up(ledger, external, yuan.id, 800)

    with pytest.raises(CurrencyMismatch) as refused:
        await ledger.transfer(key(), yuan.id, dollars.id, 100, "p2p")
    with pytest.raises(CurrencyMismatch):
        await ledger.reserve(key(), yuan.id, dollars.id, 100, "withdrawal")

    assert refused.value.code == "accounts_must_have_the_same_currency"
    assert refused.value.params == {"account_id": dollars.id, "expected": "CNY", "actual": "USD"}
    assert await balances(ledger, yuan.id, dollars.id) == [(800, 0), (0, 0)]
    assert (await audit()).ok


@pytest.mark.parametrize(
    ("amount", "error"),
    [(0, ValueError), (-5, ValueError), (1.5, TypeError), (True, TypeError), ("10", TypeError)],
)
async def test_amounts_that_are_not_positive_integers_are_refused(ledger, external, amount, error):
    alice = await ledger.open_user_account(1)

    with pytest.raises(error):
        await ledger.transfer(key(), external, alice.id, amount, "top_up")

    assert await balances(ledger, alice.id) == [(0, 0)]


@pytest.mark.parametrize("bad_key", ["", "a#1", "x" * 129])
async def test_keys_that_are_empty_too_long_or_hold_a_hash_sign_are_refused(
    ledger, external, bad_key
):
    alice = await ledger.open_user_account(1)

    with pytest.raises(ValueError):
        await ledger.transfer(bad_key, external, alice.id, 10, "top_up")

    assert await balances(ledger, alice.id) == [(0, 0)]


# Frozen accounts ------------------------------------------------------------------------


async def test_frozen_account_can_receive_but_not_send(ledger, external, audit):
    alice = await ledger.open_user_account(1)
    bob = await ledger.open_user_account(2)
    await top_up(ledger, external, alice.id, 300)
    await top_up(ledger, external, bob.id, 50)

    frozen = await ledger.freeze(alice.id)
    await top_up(ledger, external, alice.id, 150)
    await ledger.transfer(key(), bob.id, alice.id, 50, "p2p")
    with pytest.raises(AccountFrozen) as refused:
        await ledger.transfer(key(), alice.id, bob.id, 100, "p2p")
    with pytest.raises(AccountFrozen):
        await ledger.reserve(key(), alice.id, bob.id, 100, "withdrawal")

    assert frozen.status == "frozen"
    assert refused.value.code == "account_frozen"
    assert refused.value.params == {"account_id": alice.id}
    assert await balances(ledger, alice.id, bob.id) == [(500, 0), (0, 0)]

    await ledger.unfreeze(alice.id)
    await ledger.transfer(key(), alice.id, bob.id, 100, "p2p")
    assert await balances(ledger, alice.id, bob.id) == [(400, 0), (100, 0)]
    assert (await audit()).ok


async def test_frozen_account_is_refused_even_for_more_than_it_holds(ledger, external):
    alice = await ledger.open_user_account(1)
    bob = await ledger.open_user_account(2)
    await ledger.freeze(alice.id)

    with pytest.raises(AccountFrozen):
        await ledger.transfer(key(), alice.id, bob.id, 10_000, "p2p")


# Operations of several transfers --------------------------------------------------------


async def test_operation_applies_all_its_transfers_under_derived_keys(ledger, external):
    alice = await ledger.open_user_account(1)
    bob = await ledger.open_user_account(2)
    fees = await ledger.system_account_id(SystemAccount.FEES)
    await top_up(ledger, external, alice.id, 1_000)

    transfers = await ledger.execute(
        "buy-1",
        [
            TransferSpec(alice.id, bob.id, 600, "purchase"),
            TransferSpec(bob.id, fees, 6, "fee"),
        ],
    )

    assert [t.key for t in transfers] == ["buy-1", "buy-1#1"]
    assert transfers[1].id == transfers[0].id + 1
    assert await balances(ledger, alice.id, bob.id, fees) == [(400, 0), (594, 0), (6, 0)]


async def test_operation_whose_last_transfer_fails_moves_nothing(ledger, store, external, audit):
    alice = await ledger.open_user_account(1)
    bob = await ledger.open_user_account(2)
    carol = await ledger.open_user_account(3)
    await top_up(ledger, external, alice.id, 100)
    before = await transfer_count(store)

    with pytest.raises(InsufficientFunds):
        await ledger.execute(
            "split-1",
            [
                TransferSpec(alice.id, bob.id, 60, "p2p"),
                TransferSpec(bob.id, carol.id, 10, "p2p"),
                TransferSpec(alice.id, carol.id, 60, "p2p"),  # only 40 left by now
            ],
        )

    assert await balances(ledger, alice.id, bob.id, carol.id) == [(100, 0), (0, 0), (0, 0)]
    assert await transfer_count(store) == before
    # the key was not used up by the refused operation
    await ledger.execute("split-1", [TransferSpec(alice.id, bob.id, 60, "p2p")])
    assert await balances(ledger, alice.id, bob.id) == [(40, 0), (60, 0)]
    assert (await audit()).ok


async def test_operation_with_a_bad_transfer_anywhere_is_refused_before_anything_runs(
    ledger, external
):
    alice = await ledger.open_user_account(1)
    bob = await ledger.open_user_account(2)
    await top_up(ledger, external, alice.id, 100)

    with pytest.raises(AccountsMustBeDifferent):
        await ledger.execute(
            key(),
            [TransferSpec(alice.id, bob.id, 10, "p2p"), TransferSpec(bob.id, bob.id, 5, "p2p")],
        )
    with pytest.raises(ValueError):
        await ledger.execute(key(), [])

    assert await balances(ledger, alice.id, bob.id) == [(100, 0), (0, 0)]


# Idempotency ------------------------------------------------------------------------------


async def test_same_key_and_request_returns_the_first_result_and_moves_nothing(
    ledger, store, external, clock
):
    alice = await ledger.open_user_account(1)
    bob = await ledger.open_user_account(2)
    await top_up(ledger, external, alice.id, 500)
    first = await ledger.transfer("cb-1", alice.id, bob.id, 200, "p2p", memo="lunch")
    count = await transfer_count(store)

    clock.advance(seconds=60)
    again = await ledger.transfer("cb-1", alice.id, bob.id, 200, "p2p", memo="lunch")

    assert again == first
    assert await transfer_count(store) == count
    assert await balances(ledger, alice.id, bob.id) == [(300, 0), (200, 0)]


async def test_replay_is_answered_even_when_the_request_would_now_be_refused(ledger, external):
    alice = await ledger.open_user_account(1)
    bob = await ledger.open_user_account(2)
    await top_up(ledger, external, alice.id, 100)
    first = await ledger.transfer("cb-2", alice.id, bob.id, 100, "p2p")
    await ledger.freeze(alice.id)

    assert await ledger.transfer("cb-2", alice.id, bob.id, 100, "p2p") == first
    assert await balances(ledger, alice.id, bob.id) == [(0, 0), (100, 0)]


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 201},
        {"credit": "carol"},
        {"kind": "gift"},
        {"memo": "dinner"},
        {"ref": "other"},
    ],
)
async def test_same_key_with_a_different_request_is_a_conflict(ledger, external, change):
    alice = await ledger.open_user_account(1)
    bob = await ledger.open_user_account(2)
    carol = await ledger.open_user_account(3)
    await top_up(ledger, external, alice.id, 1_000)
    await ledger.transfer("cb-3", alice.id, bob.id, 200, "p2p", memo="lunch")
    credit = carol.id if change.get("credit") else bob.id

    with pytest.raises(IdempotencyConflict) as refused:
        await ledger.transfer(
            "cb-3",
            alice.id,
            credit,
            change.get("amount", 200),
            change.get("kind", "p2p"),
            memo=change.get("memo", "lunch"),
            ref=change.get("ref", ""),
        )

    assert refused.value.code == "idempotency_key_reused_with_different_request"
    assert refused.value.params == {"key": "cb-3"}
    assert await balances(ledger, alice.id, bob.id, carol.id) == [(800, 0), (200, 0), (0, 0)]


async def test_same_key_with_more_transfers_is_a_conflict(ledger, store, external):
    alice = await ledger.open_user_account(1)
    bob = await ledger.open_user_account(2)
    await top_up(ledger, external, alice.id, 1_000)
    one = TransferSpec(alice.id, bob.id, 100, "p2p")
    two = TransferSpec(bob.id, alice.id, 10, "p2p")
    await ledger.execute("op-1", [one])
    count = await transfer_count(store)

    with pytest.raises(IdempotencyConflict):
        await ledger.execute("op-1", [one, two])

    assert await transfer_count(store) == count
    assert await balances(ledger, alice.id, bob.id) == [(900, 0), (100, 0)]


async def test_same_key_with_fewer_transfers_is_a_conflict(ledger, external):
    alice = await ledger.open_user_account(1)
    bob = await ledger.open_user_account(2)
    await top_up(ledger, external, alice.id, 1_000)
    one = TransferSpec(alice.id, bob.id, 100, "p2p")
    two = TransferSpec(bob.id, alice.id, 10, "p2p")
    first = await ledger.execute("op-2", [one, two])

    with pytest.raises(IdempotencyConflict):
        await ledger.execute("op-2", [one])
    with pytest.raises(IdempotencyConflict):
        await ledger.execute("op-2", [two, one])

    assert await ledger.execute("op-2", [one, two]) == first
    assert await balances(ledger, alice.id, bob.id) == [(910, 0), (90, 0)]


async def test_refused_request_leaves_its_key_free_for_a_retry(ledger, external):
    alice = await ledger.open_user_account(1)
    bob = await ledger.open_user_account(2)

    with pytest.raises(InsufficientFunds):
        await ledger.transfer("cb-4", alice.id, bob.id, 100, "p2p")
    await top_up(ledger, external, alice.id, 100)
    done = await ledger.transfer("cb-4", alice.id, bob.id, 100, "p2p")

    assert done.key == "cb-4"
    assert await balances(ledger, alice.id, bob.id) == [(0, 0), (100, 0)]


# Two-phase transfers ----------------------------------------------------------------------


async def test_reserve_holds_money_and_post_moves_it(ledger, external, audit):
    alice = await ledger.open_user_account(1)
    await top_up(ledger, external, alice.id, 1_000)

    pending = await ledger.reserve("wd-1", alice.id, external, 400, "withdrawal", timeout_s=60)
    held = await balances(ledger, alice.id)
    with pytest.raises(InsufficientFunds):
        await ledger.transfer(key(), alice.id, external, 601, "withdrawal")
    posted = await ledger.post("wd-1-post", pending.id)

    assert held == [(600, 400)]
    assert pending.flag is TransferFlag.PENDING and pending.timeout_ms == 60_000
    assert posted.flag is TransferFlag.POST_PENDING and posted.pending_id == pending.id
    assert (posted.amount, posted.debit_account_id) == (400, alice.id)
    assert await balances(ledger, alice.id) == [(600, 0)]
    assert (await ledger.balance(external)).available == -600
    assert (await audit()).ok


async def test_void_releases_the_reservation(ledger, external, audit):
    alice = await ledger.open_user_account(1)
    bob = await ledger.open_user_account(2)
    await top_up(ledger, external, alice.id, 500)
    pending = await ledger.reserve(key(), alice.id, bob.id, 500, "escrow")

    voided = await ledger.void(key(), pending.id, memo="gateway said no")

    assert voided.flag is TransferFlag.VOID_PENDING and voided.memo == "gateway said no"
    assert await balances(ledger, alice.id, bob.id) == [(500, 0), (0, 0)]
    assert (await audit()).ok


async def test_reservation_cannot_exceed_the_available_money(ledger, external):
    alice = await ledger.open_user_account(1)
    await top_up(ledger, external, alice.id, 500)
    await ledger.reserve(key(), alice.id, external, 300, "withdrawal")

    with pytest.raises(InsufficientFunds) as refused:
        await ledger.reserve(key(), alice.id, external, 201, "withdrawal")

    assert refused.value.params["available"] == 200
    assert await balances(ledger, alice.id) == [(200, 300)]


async def test_reservation_resolved_once_refuses_a_second_resolution(ledger, external, audit):
    alice = await ledger.open_user_account(1)
    await top_up(ledger, external, alice.id, 500)
    pending = await ledger.reserve(key(), alice.id, external, 200, "withdrawal")
    await ledger.post(key(), pending.id)

    for resolve in (ledger.post, ledger.void):
        with pytest.raises(PendingTransferAlreadyResolved) as refused:
            await resolve(key(), pending.id)
        assert refused.value.code == "pending_transfer_already_resolved"
        assert refused.value.params == {"pending_id": pending.id}

    assert await balances(ledger, alice.id) == [(300, 0)]
    assert (await audit()).ok


async def test_resolving_something_that_is_not_a_reservation_is_not_found(ledger, external):
    alice = await ledger.open_user_account(1)
    plain = await ledger.transfer(key(), external, alice.id, 100, "top_up")

    for pending_id in (plain.id, 999_999):
        with pytest.raises(PendingTransferNotFound) as refused:
            await ledger.post(key(), pending_id)
        assert refused.value.code == "pending_transfer_not_found"
        with pytest.raises(PendingTransferNotFound):
            await ledger.void(key(), pending_id)

    assert await balances(ledger, alice.id) == [(100, 0)]


async def test_post_after_timeout_is_refused_and_expiry_returns_the_money(
    ledger, external, clock, audit
):
    alice = await ledger.open_user_account(1)
    await top_up(ledger, external, alice.id, 1_000)
    pending = await ledger.reserve(key(), alice.id, external, 700, "withdrawal", timeout_s=30)

    clock.advance(seconds=29, ms=999)
    assert await ledger.expire_due() == []
    clock.advance(ms=1)
    with pytest.raises(PendingTransferExpired) as refused:
        await ledger.post(key(), pending.id)
    assert refused.value.code == "pending_transfer_expired"
    assert await balances(ledger, alice.id) == [(300, 700)]

    expired = await ledger.expire_due()

    assert [(t.flag, t.pending_id, t.amount) for t in expired] == [
        (TransferFlag.EXPIRE_PENDING, pending.id, 700)
    ]
    assert await balances(ledger, alice.id) == [(1_000, 0)]
    assert await ledger.expire_due() == []
    with pytest.raises(PendingTransferAlreadyResolved):
        await ledger.void(key(), pending.id)
    assert (await audit()).ok


async def test_void_is_still_allowed_after_the_timeout(ledger, external, clock):
    alice = await ledger.open_user_account(1)
    await top_up(ledger, external, alice.id, 100)
    pending = await ledger.reserve(key(), alice.id, external, 100, "withdrawal", timeout_s=1)
    clock.advance(seconds=5)

    await ledger.void(key(), pending.id)

    assert await balances(ledger, alice.id) == [(100, 0)]
    assert await ledger.expire_due() == []


async def test_reservation_without_timeout_never_expires(ledger, external, clock):
    alice = await ledger.open_user_account(1)
    await top_up(ledger, external, alice.id, 100)
    pending = await ledger.reserve(key(), alice.id, external, 100, "withdrawal")
    clock.advance(seconds=10 * 365 * 86_400)

    assert await ledger.expire_due() == []
    await ledger.post(key(), pending.id)
    assert await balances(ledger, alice.id) == [(0, 0)]


async def test_expiring_a_reservation_before_its_timeout_is_refused(ledger, external, clock):
    alice = await ledger.open_user_account(1)
    await top_up(ledger, external, alice.id, 100)
    pending = await ledger.reserve(key(), alice.id, external, 100, "withdrawal", timeout_s=10)
    early = TransferSpec.resolving(pending.id, TransferFlag.EXPIRE_PENDING)
    clock.advance(seconds=9)

    with pytest.raises(PendingTransferNotExpired) as refused:
        await ledger.execute(key(), [early])

    assert refused.value.code == "pending_transfer_not_expired"
    assert await balances(ledger, alice.id) == [(0, 100)]


async def test_expire_due_releases_only_what_is_due_oldest_first(ledger, external, clock):
    alice = await ledger.open_user_account(1)
    await top_up(ledger, external, alice.id, 1_000)
    late = await ledger.reserve(key(), alice.id, external, 100, "withdrawal", timeout_s=50)
    soon = await ledger.reserve(key(), alice.id, external, 200, "withdrawal", timeout_s=10)
    never = await ledger.reserve(key(), alice.id, external, 300, "withdrawal")
    later = await ledger.reserve(key(), alice.id, external, 50, "withdrawal", timeout_s=90)
    clock.advance(seconds=60)

    expired = await ledger.expire_due()

    assert [t.pending_id for t in expired] == [soon.id, late.id]
    assert await balances(ledger, alice.id) == [(650, 350)]
    await ledger.post(key(), never.id)  # the holds that were not due stay open
    await ledger.void(key(), later.id)
    assert await balances(ledger, alice.id) == [(700, 0)]


async def test_replayed_post_returns_the_first_result_after_the_reservation_closed(
    ledger, external
):
    alice = await ledger.open_user_account(1)
    await top_up(ledger, external, alice.id, 100)
    pending = await ledger.reserve("wd-2", alice.id, external, 100, "withdrawal")
    posted = await ledger.post("wd-2-done", pending.id, ref="gw-77")

    assert await ledger.post("wd-2-done", pending.id, ref="gw-77") == posted
    with pytest.raises(IdempotencyConflict):
        await ledger.void("wd-2-done", pending.id, ref="gw-77")
    with pytest.raises(IdempotencyConflict):
        await ledger.post("wd-2-done", pending.id, ref="gw-78")
    assert await balances(ledger, alice.id) == [(0, 0)]


async def test_post_is_allowed_after_the_debit_account_was_frozen(ledger, external):
    alice = await ledger.open_user_account(1)
    await top_up(ledger, external, alice.id, 100)
    pending = await ledger.reserve(key(), alice.id, external, 100, "withdrawal")
    await ledger.freeze(alice.id)

    await ledger.post(key(), pending.id)  # the money was set aside while the account was open

    assert await balances(ledger, alice.id) == [(0, 0)]


# History ------------------------------------------------------------------------------------


async def test_history_pages_newest_first_without_gaps_or_repeats(ledger, store, external):
    alice = await ledger.open_user_account(1)
    bob = await ledger.open_user_account(2)
    carol = await ledger.open_user_account(3)
    await top_up(ledger, external, alice.id, 10_000)
    await top_up(ledger, external, bob.id, 10_000)
    for i in range(1, 25):
        await ledger.transfer(key(), alice.id, bob.id, i, "p2p")
        await ledger.transfer(key(), bob.id, carol.id, i, "p2p")  # not alice's
        if i % 3 == 0:
            await ledger.transfer(key(), bob.id, alice.id, 2 * i, "p2p")
    async with store.snapshot() as snapshot:
        expected = [
            t.id
            async for t in snapshot.transfers()
            if alice.id in (t.debit_account_id, t.credit_account_id)
        ][::-1]
    assert len(expected) == 1 + 24 + 8  # one page size divides it exactly: 33 = 3 × 11

    pages, cursor = [], None
    while True:
        page = await ledger.history(alice.id, cursor, limit=11)
        pages.append(page)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    entries = [e for page in pages for e in page.entries]

    assert [len(page.entries) for page in pages] == [11, 11, 11]
    assert [e.transfer.id for e in entries] == expected
    for e in entries:
        t = e.transfer
        if t.credit_account_id == alice.id:
            assert (e.amount, e.counterparty_account_id) == (t.amount, t.debit_account_id)
        else:
            assert (e.amount, e.counterparty_account_id) == (-t.amount, t.credit_account_id)
    assert sum(e.amount for e in entries) == (await ledger.balance(alice.id)).available


async def test_history_of_an_account_without_transfers_is_one_empty_page(ledger):
    alice = await ledger.open_user_account(1)

    page = await ledger.history(alice.id)

    assert page.entries == () and page.next_cursor is None
    with pytest.raises(ValueError):
        await ledger.history(alice.id, limit=0)
    with pytest.raises(ValueError):
        await ledger.history(alice.id, limit=101)


# The store ------------------------------------------------------------------------------------


async def open_database(database_url: str, clock):
    """The test's database, opened afresh (a second "process" on the same data)."""
    if is_postgres_url(database_url):
        return await PgDatabase.open(database_url, clock=clock)
    return await SqliteDatabase.open(sqlite_path(database_url), clock=clock)


async def test_store_reopens_and_continues_the_hash_chain(database_url, clock):
    async with await open_database(database_url, clock) as store:
        ledger = Ledger(store.ledger, "CNY")
        external = await ledger.system_account_id(SystemAccount.EXTERNAL)
        alice = await ledger.open_user_account(1)
        await ledger.transfer("before-1", external, alice.id, 500, "top_up")
        last = await ledger.transfer("before-2", external, alice.id, 250, "top_up")

    async with await open_database(database_url, clock) as store:
        ledger = Ledger(store.ledger, "CNY")
        assert await ledger.system_account_id(SystemAccount.EXTERNAL) == external
        assert await ledger.transfer("before-2", external, alice.id, 250, "top_up") == last
        after = await ledger.transfer("after-1", alice.id, external, 100, "withdrawal")
        async with open_store_snapshot(database_url) as snapshot:
            report = await audit_ledger(snapshot)

    assert (after.id, after.prev_hash) == (last.id + 1, last.hash)
    assert report.ok, report.problems
    assert (report.transfers, report.total_user_money) == (3, 650)


async def test_closed_store_refuses_writes(database_url, clock):
    store = await open_database(database_url, clock)
    ledger = Ledger(store.ledger, "CNY")
    external = await ledger.system_account_id(SystemAccount.EXTERNAL)
    alice = await ledger.open_user_account(1)
    await store.close()
    await store.close()  # closing twice is harmless

    with pytest.raises(StorageError) as refused:
        await ledger.transfer(key(), external, alice.id, 100, "top_up")
    with pytest.raises(StorageError):
        await ledger.open_user_account(2)
    with pytest.raises(StorageError):
        await ledger.freeze(alice.id)

    assert refused.value.code == "storage_failed"
    async with open_store_snapshot(database_url) as snapshot:
        assert [a.name for a in await snapshot.accounts()][-1] == "user:1"
        assert [t async for t in snapshot.transfers()] == []


async def test_snapshot_of_a_missing_file_is_a_storage_error(tmp_path):
    with pytest.raises(StorageError):
        async with open_snapshot(tmp_path / "nothing-here.db"):
            pass


async def test_closed_store_refuses_reads_with_a_storage_error(database_url, clock):
    store = await open_database(database_url, clock)
    ledger = Ledger(store.ledger, "CNY")
    alice = await ledger.open_user_account(1)
    await store.close()

    with pytest.raises(StorageError):
        await ledger.balance(alice.id)


async def test_totals_beyond_64_bits_are_refused_and_never_lose_money(ledger, external, audit):
    alice = await ledger.open_user_account(1)

    for amount in (2**62, 2**62, 1):
        with contextlib.suppress(WalletError, ValueError):
            await ledger.transfer(key(), external, alice.id, amount, "top_up")

    account = await ledger.account(alice.id)
    assert type(account.credits_posted) is int
    report = await audit()
    assert report.ok, report.problems
