"""Totals never overflow into floating point, whichever way a transfer reaches the store."""

import pytest

from bot.domain.errors import StorageError
from bot.domain.model import MAX_TRANSFER_AMOUNT, SystemAccount, TransferSpec
from bot.storage.sqlite import SqliteDatabase, open_snapshot
from bot.wallet.audit import audit_ledger
from bot.wallet.ledger import Ledger


async def test_the_ledger_refuses_amounts_above_its_maximum(tmp_path):
    async with await SqliteDatabase.open(tmp_path / "w.db") as store:
        ledger = Ledger(store.ledger, "CNY")
        external = await ledger.system_account_id(SystemAccount.EXTERNAL)
        alice = await ledger.open_user_account(1)
        with pytest.raises(ValueError, match="at most"):
            await ledger.transfer("big", external, alice.id, MAX_TRANSFER_AMOUNT + 1, "topup")
        done = await ledger.transfer("max", external, alice.id, MAX_TRANSFER_AMOUNT, "topup")
        assert done.amount == MAX_TRANSFER_AMOUNT


async def test_a_total_past_64_bits_fails_the_operation_and_moves_nothing(tmp_path):
    path = tmp_path / "w.db"
    async with await SqliteDatabase.open(path) as store:
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
        # and the database's own CHECK stands behind it: a balance past 64 bits fails
        with pytest.raises(StorageError, match="CHECK constraint failed"):
            await store.writer.run(
                lambda conn: conn.execute(
                    "UPDATE accounts SET credits_posted = credits_posted + ? WHERE id = ?",
                    (2**63 - 1, alice.id),
                ).execute(
                    "UPDATE accounts SET credits_posted = credits_posted + ? WHERE id = ?",
                    (2**63 - 1, alice.id),
                )
            )
        assert (await ledger.account(alice.id)).credits_posted == 0
    async with open_snapshot(path) as snapshot:
        report = await audit_ledger(snapshot)
    assert report.ok, report.problems
    assert report.transfers == 0
