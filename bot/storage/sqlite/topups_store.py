"""Top-ups on SQLite (the ``TopUpStore`` of ``bot.domain.topups``; the writes are in
``topup_ops``)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.model import TransferSpec
from bot.domain.topups import Credit, Payment, TopUp, TopUpStore
from bot.storage.sqlite import topup_ops
from bot.storage.sqlite.port import PortStore, RecordsEvents

__all__ = ["SqliteTopUps"]


class SqliteTopUps(RecordsEvents, PortStore, TopUpStore):
    async def create_topup(self, topup: TopUp) -> None:
        await self._writer.run(topup_ops.create_topup, topup)

    async def get_topup(self, topup_id: str) -> TopUp | None:
        row = await self._fetchone(
            f"SELECT {topup_ops.TOPUP_COLUMNS} FROM topups WHERE id = ?", (topup_id,)
        )
        return topup_ops.row_to_topup(row) if row else None

    async def expire_topup(self, topup_id: str) -> TopUp | None:
        return await self._writer.run(topup_ops.expire_topup, topup_id)

    async def record_topup_payment(
        self, key: str, spec: TransferSpec, payment: Payment, event: str
    ) -> Credit:
        return await self._writer.run(
            topup_ops.record_payment, self._ledger, self._security, key, spec, payment, event
        )

    async def keep_payments(self, updates: Sequence[tuple[int, str]]) -> None:
        await self._writer.run(topup_ops.keep_payments, list(updates), self._clock())

    async def payment_handled(self, update_id: int) -> None:
        await self._writer.run(topup_ops.payment_handled, update_id)

    async def kept_payments(self) -> list[tuple[int, str]]:
        rows = await self._fetchall(
            "SELECT update_id, body FROM payment_inbox ORDER BY update_id", ()
        )
        return [(update_id, body) for update_id, body in rows]
