"""Totals never overflow into floating point, whichever way a transfer reaches the store,
on SQLite and on PostgreSQL."""

import pytest

from bot.domain.errors import StorageError
from bot.domain.model import MAX_TRANSFER_AMOUNT, SystemAccount, TransferSpec
from bot.storage import is_postgres_url, open_store, open_store_snapshot
from bot.wallet.audit import audit_ledger
from bot.wallet.ledger import Ledger


async def test_the_ledger_refuses_amounts_above_its_maximum(database_url):
    async with await open_store(database_url) as store:
        ledger = Ledger(store.ledger, "CNY")
        external = await ledger.system_account_id(SystemAccount.EXTERNAL)
        alice = await ledger.open_user_account(1)
        with pytest.raises(ValueError, match="at most"):
            await ledger.transfer("big", external, alice.id, MAX_TRANSFER_AMOUNT + 1, "topup")
        done = await ledger.transfer("max", external, alice.id, MAX_TRANSFER_AMOUNT, "topup")
        assert done.amount == MAX_TRANSFER_AMOUNT


async def _overflow_a_balance(database_url: str, store, account_id: int) -> None:
    """Add 2**63 - 1 to a balance twice in one transaction, straight in SQL."""
    if is_postgres_url(database_url):
        import asyncpg

        add = "UPDATE accounts SET credits_posted = credits_posted + $1 WHERE id = $2"
        with pytest.raises(asyncpg.NumericValueOutOfRangeError, match="bigint out of range"):
            async with store.pool.acquire() as conn, conn.transaction():
                await conn.execute(add, 2**63 - 1, account_id)
                await conn.execute(add, 2**63 - 1, account_id)
        return
    add = "UPDATE accounts SET credits_posted = credits_posted + ? WHERE id = ?"
    with pytest.raises(StorageError, match="CHECK constraint failed"):
        await store.writer.run(
            lambda conn: conn.execute(add, (2**63 - 1, account_id)).execute(
                add, (2**63 - 1, account_id)
            )
        )


async def test_a_total_past_64_bits_fails_the_operation_and_moves_nothing(database_url):
    async with await open_store(database_url) as store:
        ledger = Ledger(store.ledger, "CNY")
        external = await ledger.system_account_id(SystemAccount.EXTERNAL)
        alice = await ledger.open_user_account(1)
        # straight to the store, past the service's guard, as a buggy caller could: the
        # store keeps the ledger's rules itself, so no amount that could add up past 64
        # bits is ever written
        with pytest.raises(StorageError, match="moves at most"):
            await store.ledger.create_transfers(
                "a", [TransferSpec(external, alice.id, 2**62, "topup")]
            )
        account = await ledger.account(alice.id)
        assert account.credits_posted == 0
        # and the database's own rules stand behind it: a balance past 64 bits fails
        await _overflow_a_balance(database_url, store, alice.id)
        assert (await ledger.account(alice.id)).credits_posted == 0
    async with open_store_snapshot(database_url) as snapshot:
        report = await audit_ledger(snapshot)
    assert report.ok, report.problems
    assert report.transfers == 0
