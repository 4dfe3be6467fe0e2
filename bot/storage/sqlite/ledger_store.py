"""The ledger on SQLite: accounts and transfers (the ``LedgerStore`` of ``bot.domain.ports``).

Writes are the operations of ``ledger_ops`` on the database's writer; transfers from
many callers may be taken together in one pass (``create_transfers_together``). Reads
run on the reader pool, one whole statement a call.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.errors import AccountNotFound
from bot.domain.model import Account, AccountKind, AccountStatus, Transfer, TransferSpec
from bot.domain.ports import LedgerStore
from bot.storage.sqlite.ledger_ops import (
    ACCOUNT_COLUMNS,
    TRANSFER_COLUMNS,
    row_to_account,
    row_to_transfer,
)
from bot.storage.sqlite.port import PortStore

__all__ = ["SELECT_TRANSFER", "SqliteLedger"]

SELECT_TRANSFER = f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ?"


class SqliteLedger(PortStore, LedgerStore):
    async def open_account(self, name: str, kind: AccountKind, currency: str) -> Account:
        return await self._writer.run(self._ledger.open_account, name, kind, currency)

    async def set_account_status(self, account_id: int, status: AccountStatus) -> Account:
        return await self._writer.run(self._ledger.set_status, account_id, status)

    async def change_account_status(self, account_id: int, status: AccountStatus) -> bool:
        if not -(2**63) <= account_id < 2**63:
            raise AccountNotFound(account_id=account_id)
        return await self._writer.run(self._ledger.change_status, account_id, status)

    async def create_transfers(
        self, key: str, specs: Sequence[TransferSpec]
    ) -> tuple[Transfer, ...]:
        ledger = self._ledger
        return await self._writer.run_together(
            ledger.create_transfers_together, ledger.create_transfers, key, specs
        )

    async def get_account(self, account_id: int) -> Account:
        row = await self._fetchone(
            f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?", (account_id,)
        )
        if row is None:
            raise AccountNotFound(account_id=account_id)
        return row_to_account(row)

    async def find_account(self, name: str, currency: str) -> Account | None:
        row = await self._fetchone(
            f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = ? AND currency = ?",
            (name, currency),
        )
        return row_to_account(row) if row else None

    async def get_transfer(self, transfer_id: int) -> Transfer | None:
        row = await self._fetchone(SELECT_TRANSFER, (transfer_id,))
        return row_to_transfer(row) if row else None

    async def history(self, account_id: int, before_id: int | None, limit: int) -> list[Transfer]:
        before = before_id if before_id is not None else 2**63 - 1
        rows = await self._fetchall(
            f"SELECT {TRANSFER_COLUMNS} FROM ("
            f" SELECT * FROM (SELECT {TRANSFER_COLUMNS} FROM transfers"
            "  WHERE debit_account_id = :a AND id < :b ORDER BY id DESC LIMIT :n)"
            " UNION ALL"
            f" SELECT * FROM (SELECT {TRANSFER_COLUMNS} FROM transfers"
            "  WHERE credit_account_id = :a AND id < :b ORDER BY id DESC LIMIT :n)"
            ") ORDER BY id DESC LIMIT :n",
            {"a": account_id, "b": before, "n": limit},
        )
        return [row_to_transfer(r) for r in rows]

    async def due_pending(self, now_ms: int, limit: int) -> list[Transfer]:
        rows = await self._fetchall(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers AS p"
            " WHERE flag = 'pending' AND timeout_ms > 0 AND created_at + timeout_ms <= ?"
            " AND NOT EXISTS (SELECT 1 FROM transfers AS r WHERE r.pending_id = p.id)"
            " ORDER BY created_at + timeout_ms LIMIT ?",
            (now_ms, limit),
        )
        return [row_to_transfer(r) for r in rows]
