"""Withdrawals on SQLite (the ``WithdrawalStore`` of ``bot.domain.withdrawals``; the
writes are the operations of ``withdrawal_ops``)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.holds import Held
from bot.domain.model import TransferSpec
from bot.domain.withdrawals import Withdrawal, WithdrawalStore
from bot.storage.sqlite import withdrawal_ops as ops
from bot.storage.sqlite.port import PortStore

__all__ = ["SqliteWithdrawals"]


class SqliteWithdrawals(PortStore, WithdrawalStore):
    async def open_withdrawal(
        self, key: str, spec: TransferSpec, telegram_id: int, card_last4: str, request_id: str
    ) -> Withdrawal:
        return await self._writer.run(
            ops.open_withdrawal, self._ledger, key, spec, telegram_id, card_last4, request_id
        )

    async def open_held_withdrawal(
        self,
        key: str,
        spec: TransferSpec,
        reasons: Sequence[str],
        event: str,
        telegram_id: int,
        card_last4: str,
        request_id: str,
    ) -> tuple[Held, Withdrawal]:
        return await self._writer.run(
            ops.open_held_withdrawal,
            self._ledger,
            self._security,
            key,
            spec,
            tuple(reasons),
            event,
            telegram_id,
            card_last4,
            request_id,
        )

    async def advance_held(self, withdrawal_id: int) -> tuple[Withdrawal, bool]:
        return await self._writer.run(ops.advance_held, self._ledger, withdrawal_id)

    async def mark_unknown(self, withdrawal_id: int) -> Withdrawal:
        return await self._writer.run(ops.mark_unknown, self._ledger, withdrawal_id)

    async def settle(
        self, withdrawal_id: int, paid: bool, reason: str, told: bool, refund_kind: str
    ) -> tuple[Withdrawal, bool]:
        return await self._writer.run(
            ops.settle, self._ledger, withdrawal_id, paid, reason, told, refund_kind
        )

    async def mark_checked(self, withdrawal_id: int) -> None:
        await self._writer.run(ops.mark_checked, self._ledger, withdrawal_id)

    async def mark_told(self, withdrawal_id: int) -> None:
        await self._writer.run(ops.mark_told, withdrawal_id)

    async def open_withdrawals(self, updated_before_ms: int, limit: int) -> list[Withdrawal]:
        rows = await self._fetchall(
            f"SELECT {ops.WITHDRAWAL_COLUMNS} FROM withdrawals AS w"
            f" WHERE (w.{ops.OPEN_STATE} AND w.updated_at <= :before)"
            " OR (w.state = 'held' AND EXISTS (SELECT 1 FROM held_payments AS h"
            "  WHERE h.pending_transfer_id = w.pending_transfer_id AND h.state <> 'open'))"
            " ORDER BY w.updated_at, w.id LIMIT :limit",  # the least recently checked first
            {"before": updated_before_ms, "limit": limit},
        )
        return [ops.row_to_withdrawal(r) for r in rows]

    async def untold(self, limit: int) -> list[Withdrawal]:
        rows = await self._fetchall(
            f"SELECT {ops.WITHDRAWAL_COLUMNS} FROM withdrawals"
            " WHERE told = 0 AND state IN ('paid', 'failed') ORDER BY id LIMIT ?",
            (limit,),
        )
        return [ops.row_to_withdrawal(r) for r in rows]

    async def get_withdrawal(self, withdrawal_id: int) -> Withdrawal | None:
        rows = await self._fetchall(
            f"SELECT {ops.WITHDRAWAL_COLUMNS} FROM withdrawals WHERE id = ?", (withdrawal_id,)
        )
        return ops.row_to_withdrawal(rows[0]) if rows else None

    async def find_withdrawal(self, request_id: str) -> Withdrawal | None:
        rows = await self._fetchall(
            f"SELECT {ops.WITHDRAWAL_COLUMNS} FROM withdrawals WHERE request_id = ?",
            (request_id,),
        )
        return ops.row_to_withdrawal(rows[0]) if rows else None
