"""The ledger service on the in-memory store: money moves once, a refusal moves nothing."""

from __future__ import annotations

import pytest

from bot.domain.errors import (
    AccountFrozen,
    AccountNotFound,
    AccountsMustBeDifferent,
    IdempotencyConflict,
    InsufficientFunds,
    PendingTransferAlreadyResolved,
    PendingTransferExpired,
)
from bot.domain.model import AccountKind, SystemAccount, TransferFlag, TransferSpec
from bot.wallet.audit import audit_ledger
from bot.wallet.ledger import Ledger
from tests.fakes import MemoryDatabase


@pytest.fixture
def db() -> MemoryDatabase:
    return MemoryDatabase()


@pytest.fixture
async def ledger(db) -> Ledger:
    ledger = Ledger(db.ledger, "CNY")
    await ledger.open_system_accounts()
    return ledger


@pytest.fixture
async def alice(ledger) -> int:
    """A user account holding 1,000 fen."""
    account = await ledger.open_user_account(1)
    external = await ledger.system_account_id(SystemAccount.EXTERNAL)
    await ledger.transfer("top-up", external, account.id, 1_000, "topup")
    return account.id


@pytest.fixture
async def bob(ledger) -> int:
    return (await ledger.open_user_account(2)).id


async def available(ledger: Ledger, *account_ids: int) -> list[int]:
    return [(await ledger.balance(a)).available for a in account_ids]


async def journal_length(db: MemoryDatabase) -> int:
    async with db.snapshot() as snapshot:
        return sum([1 async for _ in snapshot.transfers()])


async def test_system_accounts_are_opened_once_and_remembered(ledger, db):
    again = await ledger.open_system_accounts()

    for name in SystemAccount:
        assert again[name].id == await ledger.system_account_id(name)
        assert again[name].kind is AccountKind.SYSTEM
    assert len(db.state.accounts) == len(SystemAccount)


async def test_a_transfer_moves_money_and_is_in_both_histories(ledger, alice, bob):
    transfer = await ledger.transfer("pay", alice, bob, 250, "transfer", memo="tea")

    assert await available(ledger, alice, bob) == [750, 250]
    alice_page = await ledger.history(alice)
    bob_page = await ledger.history(bob)
    assert [(e.transfer, e.amount) for e in bob_page.entries] == [(transfer, 250)]
    assert [e.amount for e in alice_page.entries] == [-250, 1_000]
    assert alice_page.entries[0].counterparty_account_id == bob


async def test_more_than_the_balance_is_refused_and_moves_nothing(ledger, db, alice, bob):
    before = await journal_length(db)

    with pytest.raises(InsufficientFunds) as refused:
        await ledger.transfer("too-much", alice, bob, 1_001, "transfer")

    assert refused.value.params == {"account_id": alice, "available": 1_000, "amount": 1_001}
    assert await available(ledger, alice, bob) == [1_000, 0]
    assert await journal_length(db) == before


async def test_a_frozen_account_keeps_receiving_but_cannot_send(ledger, alice, bob):
    await ledger.freeze(alice)

    with pytest.raises(AccountFrozen):
        await ledger.transfer("out", alice, bob, 1, "transfer")
    with pytest.raises(AccountFrozen):
        await ledger.check_can_send(alice, 1)
    external = await ledger.system_account_id(SystemAccount.EXTERNAL)
    await ledger.transfer("in", external, alice, 5, "topup")
    await ledger.unfreeze(alice)
    await ledger.transfer("out", alice, bob, 1, "transfer")

    assert await available(ledger, alice, bob) == [1_004, 1]


async def test_an_unknown_account_is_not_found(ledger, alice):
    with pytest.raises(AccountNotFound):
        await ledger.transfer("to-nobody", alice, 999, 1, "transfer")
    with pytest.raises(AccountNotFound):
        await ledger.balance(999)
    with pytest.raises(AccountNotFound):
        await ledger.freeze(999)

    assert await available(ledger, alice) == [1_000]


async def test_a_request_the_rules_refuse_is_refused_before_any_account_is_read(ledger, db, alice):
    before = await journal_length(db)

    with pytest.raises(AccountsMustBeDifferent):
        await ledger.transfer("self", alice, alice, 1, "transfer")
    # the request's own faults are named, not the unknown account 999
    with pytest.raises(ValueError, match="'#' is reserved"):
        await ledger.transfer("a#1", alice, 999, 1, "transfer")
    with pytest.raises(TypeError):
        await ledger.transfer("float", alice, 999, 1.5, "transfer")
    with pytest.raises(ValueError, match="amount_must_be_positive"):
        await ledger.transfer("zero", alice, 999, 0, "transfer")

    assert await journal_length(db) == before
    assert await available(ledger, alice) == [1_000]


async def test_an_operation_moves_all_of_its_transfers_or_none(ledger, alice, bob):
    carol = (await ledger.open_user_account(3)).id
    specs = [
        TransferSpec(alice, bob, 600, "split"),
        TransferSpec(bob, carol, 600, "split"),  # spends what the first brought
        TransferSpec(alice, carol, 401, "split"),  # one fen too many
    ]

    with pytest.raises(InsufficientFunds):
        await ledger.execute("split", specs)
    done = await ledger.execute("split-2", specs[:2])

    assert [t.key for t in done] == ["split-2", "split-2#1"]
    assert await available(ledger, alice, bob, carol) == [400, 0, 600]


async def test_a_replayed_key_returns_the_first_transfer_and_moves_nothing_more(ledger, alice, bob):
    first = await ledger.transfer("once", alice, bob, 300, "transfer")
    await ledger.freeze(alice)  # the replay is answered even though it would be refused now

    again = await ledger.transfer("once", alice, bob, 300, "transfer")

    assert again == first
    assert await available(ledger, alice, bob) == [700, 300]
    with pytest.raises(IdempotencyConflict):
        await ledger.transfer("once", alice, bob, 301, "transfer")


async def test_a_reservation_holds_money_until_posted_or_voided_once(ledger, alice, bob):
    held = await ledger.reserve("hold", alice, bob, 400, "withdraw")
    assert (await ledger.balance(alice)).reserved == 400
    assert await available(ledger, alice, bob) == [600, 0]

    posted = await ledger.post("post", held.id)
    with pytest.raises(PendingTransferAlreadyResolved):
        await ledger.void("void", held.id)
    second = await ledger.reserve("hold-2", alice, bob, 100, "withdraw")
    await ledger.void("void-2", second.id)

    assert posted.flag is TransferFlag.POST_PENDING and posted.pending_id == held.id
    assert await available(ledger, alice, bob) == [600, 400]
    assert (await ledger.balance(alice)).reserved == 0


async def test_a_reservation_expires_after_its_timeout_and_only_then(ledger, db, alice, bob):
    held = await ledger.reserve("hold", alice, bob, 400, "withdraw", timeout_s=60)

    db.clock.advance(seconds=59)
    assert await ledger.expire_due() == []
    db.clock.advance(seconds=1)
    with pytest.raises(PendingTransferExpired):  # too late to post
        await ledger.post("late", held.id)
    (expired,) = await ledger.expire_due()
    again = await ledger.expire_due()

    assert (expired.flag, expired.pending_id) == (TransferFlag.EXPIRE_PENDING, held.id)
    assert again == []
    assert await available(ledger, alice, bob) == [1_000, 0]
    with pytest.raises(PendingTransferAlreadyResolved):
        await ledger.post("later", held.id)


async def test_history_pages_back_without_gaps_or_repeats(ledger, alice, bob):
    for n in range(7):
        await ledger.transfer(f"pay-{n}", alice, bob, n + 1, "transfer")

    seen, cursor = [], None
    while True:
        page = await ledger.history(bob, cursor, limit=3)
        seen += [e.amount for e in page.entries]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert seen == [7, 6, 5, 4, 3, 2, 1]


async def test_the_audit_finds_the_books_in_order_after_every_kind_of_move(ledger, db, alice, bob):
    await ledger.transfer("pay", alice, bob, 100, "transfer")
    held = await ledger.reserve("hold", alice, bob, 50, "withdraw")
    await ledger.post("post", held.id)
    await ledger.reserve("open", alice, bob, 25, "withdraw")

    async with db.snapshot() as snapshot:
        report = await audit_ledger(snapshot)

    assert report.ok, report.problems
    assert (report.transfers, report.open_pending) == (5, 1)
    assert report.total_user_money == 1_000
