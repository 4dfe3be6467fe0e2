"""Many callers at once: group commit must never let one caller's money leak into another's."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

import pytest

from bot.domain.errors import (
    AccountFrozen,
    AccountNotFound,
    IdempotencyConflict,
    InsufficientFunds,
    PendingTransferAlreadyResolved,
    PendingTransferExpired,
)
from bot.domain.model import SystemAccount, Transfer, TransferFlag, TransferSpec
from bot.storage.sqlite import SqliteDatabase, open_snapshot
from bot.wallet.audit import audit_ledger
from bot.wallet.ledger import Ledger

_keys = itertools.count()


def key(prefix: str = "k") -> str:
    return f"{prefix}-{next(_keys)}"


async def available(ledger: Ledger, account_id: int) -> int:
    return (await ledger.balance(account_id)).available


async def journal(store) -> list[Transfer]:
    async with store.snapshot() as snapshot:
        return [t async for t in snapshot.transfers()]


# Every test here but the last holds on SQLite and on PostgreSQL (tests/integration/
# conftest.py); the group commit's own counts are SQLite's alone.
@pytest.fixture
def store(both_store):
    return both_store


@pytest.fixture
def audit(both_audit):
    return both_audit


def commits(store) -> tuple[int, int]:
    """(groups, operations) the SQLite writer committed so far; (0, 0) elsewhere."""
    writer = getattr(store, "writer", None)
    return (writer.batches, writer.operations) if writer else (0, 0)


async def test_concurrent_transfers_from_one_account_never_overdraw_it(
    ledger, store, external, audit
):
    payer = (await ledger.open_user_account(1)).id
    payee = (await ledger.open_user_account(2)).id
    amount, covered = 7, 83
    await ledger.transfer(key(), external, payer, amount * covered + 5, "top_up")
    batches, _ = commits(store)

    results = await asyncio.gather(
        *(ledger.transfer(f"pay-{i}", payer, payee, amount, "p2p") for i in range(200)),
        return_exceptions=True,
    )

    done = [r for r in results if isinstance(r, Transfer)]
    refused = [r for r in results if not isinstance(r, Transfer)]
    assert len(done) == covered
    assert all(isinstance(r, InsufficientFunds) for r in refused), set(map(type, refused))
    assert len({t.id for t in done}) == covered
    assert await available(ledger, payer) == 5
    assert await available(ledger, payee) == amount * covered
    if isinstance(store, SqliteDatabase):
        assert commits(store)[0] - batches < 200  # callers shared transactions
    report = await audit()
    assert report.ok, report.problems
    assert report.total_user_money == amount * covered + 5


async def test_concurrent_reservations_and_transfers_share_one_balance(ledger, external, audit):
    payer = (await ledger.open_user_account(1)).id
    payee = (await ledger.open_user_account(2)).id
    await ledger.transfer(key(), external, payer, 1_000, "top_up")

    calls = []
    for i in range(200):
        if i % 2:
            calls.append(ledger.reserve(key(), payer, external, 10, "withdrawal", timeout_s=60))
        else:
            calls.append(ledger.transfer(key(), payer, payee, 10, "p2p"))
    results = await asyncio.gather(*calls, return_exceptions=True)

    done = [r for r in results if isinstance(r, Transfer)]
    assert len(done) == 100
    assert all(isinstance(r, InsufficientFunds) for r in results if r not in done)
    held = sum(10 for t in done if t.flag is TransferFlag.PENDING)
    moved = sum(10 for t in done if t.flag is TransferFlag.POSTED)
    balance = await ledger.balance(payer)
    assert (balance.available, balance.reserved) == (0, held)
    assert await available(ledger, payee) == moved
    assert (await audit()).ok


async def test_refused_operations_do_not_fail_their_neighbours_in_the_same_commit(
    ledger, store, external, audit
):
    """Successes and refusals alternate in the writer's queue, which it commits in
    contiguous groups: fewer groups than operations means some group held both."""
    rich = (await ledger.open_user_account(1)).id
    broke = (await ledger.open_user_account(2)).id
    frozen = (await ledger.open_user_account(3)).id
    payee = (await ledger.open_user_account(4)).id
    await ledger.transfer(key(), external, rich, 100_000, "top_up")
    await ledger.transfer(key(), external, frozen, 100_000, "top_up")
    await ledger.freeze(frozen)
    refusals = [
        lambda: ledger.transfer(key(), broke, payee, 1, "p2p"),
        lambda: ledger.transfer(key(), frozen, payee, 1, "p2p"),
        lambda: ledger.transfer(key(), rich, 999_999, 1, "p2p"),
        lambda: ledger.execute(  # its first transfer would pass; its second cannot
            key(),
            [TransferSpec(rich, broke, 5, "p2p"), TransferSpec(broke, payee, 6, "p2p")],
        ),
    ]
    successes = [
        lambda: ledger.transfer(key(), rich, payee, 3, "p2p"),
        lambda: ledger.execute(
            key(),
            [TransferSpec(rich, broke, 2, "p2p"), TransferSpec(broke, payee, 2, "p2p")],
        ),
    ]
    calls = []
    for i in range(100):
        calls.append(successes[i % 2]())
        calls.append(refusals[i % 4]())
    batches, operations = commits(store)

    results = await asyncio.gather(*calls, return_exceptions=True)

    ok, refused = results[0::2], results[1::2]
    assert not [r for r in ok if isinstance(r, BaseException)]
    kinds = Counter(type(r) for r in refused)
    assert kinds == {
        InsufficientFunds: 50,
        AccountFrozen: 25,
        AccountNotFound: 25,
    }
    if isinstance(store, SqliteDatabase):
        assert commits(store)[1] - operations == 200
        assert commits(store)[0] - batches < 200
    assert await available(ledger, rich) == 100_000 - 50 * 3 - 50 * 2
    assert await available(ledger, broke) == 0
    assert await available(ledger, frozen) == 100_000
    assert await available(ledger, payee) == 50 * 3 + 50 * 2
    transfers = await journal(store)
    assert len(transfers) == 2 + 50 + 50 * 2
    report = await audit()
    assert report.ok, report.problems


async def test_concurrent_replays_of_one_key_move_money_once(ledger, store, external, audit):
    payer = (await ledger.open_user_account(1)).id
    payee = (await ledger.open_user_account(2)).id
    await ledger.transfer(key(), external, payer, 1_000, "top_up")

    results = await asyncio.gather(
        *(ledger.transfer("tap-1", payer, payee, 300, "p2p") for _ in range(200)),
        return_exceptions=True,
    )

    assert all(isinstance(r, Transfer) for r in results)
    assert len(set(results)) == 1
    assert await available(ledger, payer) == 700
    assert await available(ledger, payee) == 300
    assert [t.key for t in await journal(store)].count("tap-1") == 1
    assert (await audit()).ok


async def test_concurrent_replays_of_an_operation_apply_it_once(ledger, store, external, audit):
    payer = (await ledger.open_user_account(1)).id
    payee = (await ledger.open_user_account(2)).id
    fees = await ledger.system_account_id(SystemAccount.FEES)
    await ledger.transfer(key(), external, payer, 1_000, "top_up")
    specs = [TransferSpec(payer, payee, 500, "purchase"), TransferSpec(payee, fees, 5, "fee")]

    results = await asyncio.gather(*(ledger.execute("buy-1", specs) for _ in range(200)))

    assert len(set(results)) == 1 and len(results[0]) == 2
    assert [await available(ledger, a) for a in (payer, payee, fees)] == [500, 495, 5]
    assert len(await journal(store)) == 1 + 2
    assert (await audit()).ok


async def test_concurrent_requests_racing_for_one_key_agree_on_the_winner(
    ledger, store, external, audit
):
    payer = (await ledger.open_user_account(1)).id
    payee = (await ledger.open_user_account(2)).id
    await ledger.transfer(key(), external, payer, 1_000, "top_up")
    amounts = [100 + i % 2 for i in range(200)]  # two different requests, one key

    results = await asyncio.gather(
        *(ledger.transfer("race-1", payer, payee, a, "p2p") for a in amounts),
        return_exceptions=True,
    )

    winners = {r for r in results if isinstance(r, Transfer)}
    assert len(winners) == 1
    (winner,) = winners
    for amount, result in zip(amounts, results, strict=True):
        if amount == winner.amount:
            assert result == winner
        else:
            assert isinstance(result, IdempotencyConflict)
    assert await available(ledger, payee) == winner.amount
    assert (await audit()).ok


async def test_concurrent_resolutions_of_a_reservation_let_exactly_one_win(ledger, external, audit):
    payer = (await ledger.open_user_account(1)).id
    payee = (await ledger.open_user_account(2)).id
    await ledger.transfer(key(), external, payer, 2_000, "top_up")
    pendings = await asyncio.gather(
        *(ledger.reserve(key(), payer, payee, 100, "escrow") for _ in range(20))
    )
    assert (await ledger.balance(payer)).reserved == 2_000

    calls, owners = [], []
    for pending in pendings:
        for i in range(10):
            resolve = ledger.post if i % 2 else ledger.void
            calls.append(resolve(key(), pending.id))
            owners.append(pending.id)
    results = await asyncio.gather(*calls, return_exceptions=True)

    wins = Counter(o for o, r in zip(owners, results, strict=True) if isinstance(r, Transfer))
    assert wins == dict.fromkeys((p.id for p in pendings), 1)
    losers = [r for r in results if not isinstance(r, Transfer)]
    assert all(isinstance(r, PendingTransferAlreadyResolved) for r in losers)
    assert len(losers) == 20 * 9
    posted = sum(
        1 for r in results if isinstance(r, Transfer) and r.flag is TransferFlag.POST_PENDING
    )
    balance = await ledger.balance(payer)
    assert (balance.available, balance.reserved) == (2_000 - 100 * posted, 0)
    assert await available(ledger, payee) == 100 * posted
    report = await audit()
    assert report.ok, report.problems
    assert report.open_pending == 0


async def test_expiry_sweeps_racing_with_voids_and_late_posts_resolve_each_hold_once(
    ledger, store, external, clock, audit
):
    payer = (await ledger.open_user_account(1)).id
    await ledger.transfer(key(), external, payer, 3_000, "top_up")
    pendings = await asyncio.gather(
        *(
            ledger.reserve(key(), payer, external, 100, "withdrawal", timeout_s=30)
            for _ in range(30)
        )
    )
    clock.advance(seconds=30)

    calls = [ledger.expire_due() for _ in range(5)]
    for i, pending in enumerate(pendings):
        calls.append(ledger.post(key(), pending.id))  # too late: always refused
        if i % 2:
            calls.append(ledger.void(key(), pending.id))
    results = await asyncio.gather(*calls, return_exceptions=True)

    sweeps, resolutions = results[:5], results[5:]
    voided = [r for r in resolutions if isinstance(r, Transfer)]
    assert {r.flag for r in voided} <= {TransferFlag.VOID_PENDING}
    refused = Counter(type(r) for r in resolutions if not isinstance(r, Transfer))
    assert set(refused) <= {PendingTransferExpired, PendingTransferAlreadyResolved}
    assert refused[PendingTransferExpired] + refused[PendingTransferAlreadyResolved] >= 30
    expired_ids = {t.pending_id for sweep in sweeps for t in sweep}
    assert expired_ids.isdisjoint(t.pending_id for t in voided)
    assert expired_ids | {t.pending_id for t in voided} == {p.id for p in pendings}
    resolved = [t for t in await journal(store) if t.flag.resolves_pending]
    assert len(resolved) == 30
    assert (await ledger.balance(payer)).available == 3_000
    report = await audit()
    assert report.ok, report.problems
    assert report.open_pending == 0


async def test_two_stores_writing_one_file_keep_the_ledger_whole(db_path, clock):
    """Two bot processes on one database: SQLite takes turns, the journal stays one chain."""
    first = await SqliteDatabase.open(db_path, clock=clock)
    second = await SqliteDatabase.open(db_path, clock=clock)
    try:
        ledgers = [Ledger(first.ledger, "CNY"), Ledger(second.ledger, "CNY")]
        external = await ledgers[0].system_account_id(SystemAccount.EXTERNAL)
        assert await ledgers[1].system_account_id(SystemAccount.EXTERNAL) == external
        payer = (await ledgers[0].open_user_account(1)).id
        payees = [(await ledgers[i].open_user_account(10 + i)).id for i in (0, 1)]
        await ledgers[1].transfer(key(), external, payer, 1_500, "top_up")

        results = []
        for round_ in range(10):  # each store writes after the other has appended rows
            calls = [
                ledgers[n].transfer(f"s{n}-{round_}-{i}", payer, payees[n], 10, "p2p")
                for i in range(10)
                for n in (0, 1)
            ]
            results += await asyncio.gather(*calls, return_exceptions=True)
    finally:
        await first.close()
        await second.close()

    done = [r for r in results if isinstance(r, Transfer)]
    assert all(isinstance(r, InsufficientFunds) for r in results if r not in done), {
        type(r) for r in results if r not in done
    }
    assert len(done) == 150
    assert {t.key[:2] for t in done} == {"s0", "s1"}  # both wrote
    async with open_snapshot(db_path) as snapshot:
        report = await audit_ledger(snapshot)
        chain = [t async for t in snapshot.transfers()]
    assert report.ok, report.problems
    assert report.total_user_money == 1_500
    assert [t.id for t in chain] == list(range(1, len(chain) + 1))
