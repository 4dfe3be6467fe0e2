"""Read your writes: a read that starts after a write was acknowledged sees that write.

Under load many coroutines read at once. SQLite keeps a connection's snapshot open while
any statement on it is active, so reads that interleave on one shared connection can
keep reading an old snapshot; these tests fire hundreds of write-then-read pairs at once
and require every read to see its own write. PostgreSQL is held to the same (a pool of
connections, each read on whichever is free).
"""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.users import Profile
from bot.wallet.ledger import Ledger
from bot.wallet.users import Users

PAIRS = 500


@pytest.fixture
def store(both_store):
    return both_store


async def test_every_new_member_reads_their_own_fresh_account(store) -> None:
    """The `/start` burst in the core: get, seen (a write), then the balance (a read)."""
    users = Users(store.users, "CNY")
    ledger = Ledger(store.ledger, "CNY")
    await ledger.open_system_accounts()

    async def newcomer(telegram_id: int) -> int:
        assert await users.get(telegram_id) is None
        user = await users.seen(Profile(telegram_id, f"n{telegram_id}", "N"))
        return (await ledger.balance(user.account_id)).available

    balances = await asyncio.gather(*(newcomer(10_000 + i) for i in range(PAIRS)))
    assert balances == [0] * PAIRS


async def test_each_transfer_is_seen_by_the_read_that_follows_it(
    store, ledger: Ledger, external: int
) -> None:
    """500 callers each move money, then read the balance and the transfer back."""
    accounts = [(await ledger.open_user_account(1_000 + i)).id for i in range(PAIRS)]

    async def pay_then_read(i: int) -> tuple[int, int | None]:
        (transfer,) = await ledger.execute(f"ryw-{i}", [_spec(external, accounts[i], 100 + i)])
        balance = await ledger.balance(accounts[i])
        found = await store.ledger.get_transfer(transfer.id)
        return balance.available, found.amount if found else None

    results = await asyncio.gather(*(pay_then_read(i) for i in range(PAIRS)))
    assert results == [(100 + i, 100 + i) for i in range(PAIRS)]


async def test_reads_interleaved_with_long_scans_still_see_new_writes(
    store, ledger: Ledger, external: int
) -> None:
    """A history scan running beside the write-then-read pairs holds no old snapshot."""
    account = (await ledger.open_user_account(1)).id
    for i in range(50):
        await ledger.execute(f"seed-{i}", [_spec(external, account, 1)])
    for i in range(1_200):  # more than two pages of the security log
        await store.security.record_event(1, "test.event", 1, {"n": i})
    stop = asyncio.Event()

    async def scanner() -> None:
        while not stop.is_set():
            await store.ledger.history(account, None, 50)
            seen = [event.id async for event in store.security.events()]
            assert len(seen) >= 1_200 and seen == sorted(set(seen))

    async def write_then_read(i: int) -> bool:
        target = (await ledger.open_user_account(100_000 + i)).id
        await ledger.execute(f"w-{i}", [_spec(external, target, 7)])
        return (await ledger.balance(target)).available == 7

    scanners = [asyncio.create_task(scanner()) for _ in range(8)]
    try:
        seen = await asyncio.gather(*(write_then_read(i) for i in range(PAIRS)))
    finally:
        stop.set()
        await asyncio.gather(*scanners)
    assert all(seen), f"{seen.count(False)} of {PAIRS} reads missed their own write"


def _spec(debit: int, credit: int, amount: int):
    from bot.domain.model import TransferSpec

    return TransferSpec(debit, credit, amount, "topup")
