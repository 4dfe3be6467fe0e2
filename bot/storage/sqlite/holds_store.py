"""The payment guard's storage on SQLite: the payer's records and recent payments, and the
review queue of held payments (the ``GuardStore`` of ``bot.domain.holds``; the SQL is
in ``guard_queries``, the writes in ``hold_ops``)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.holds import GuardStore, Held, PasswordFreePayment, PayerRecord
from bot.domain.model import Transfer, TransferSpec
from bot.domain.risk import RecentGrab, RecentPayment
from bot.storage.sqlite import guard_queries as q
from bot.storage.sqlite import hold_ops
from bot.storage.sqlite.port import PortStore, RecordsEvents

__all__ = ["SqliteHolds"]


class SqliteHolds(RecordsEvents, PortStore, GuardStore):
    # What the risk rules read ------------------------------------------------------------

    async def payer_record(self, telegram_id: int) -> PayerRecord | None:
        row = await self._fetchone(q.PAYER, (telegram_id,))
        return q.row_to_payer(row) if row else None

    async def outgoing_totals(self, account_id: int, since_ms: int) -> tuple[int, int]:
        row = await self._fetchone(q.OUTGOING_TOTALS, {"account": account_id, "since": since_ms})
        return row[0], row[1]

    async def recent_outgoing(self, account_id: int, since_ms: int) -> list[RecentPayment]:
        rows = await self._fetchall(q.RECENT_OUTGOING, {"account": account_id, "since": since_ms})
        return [RecentPayment(*row) for row in rows]

    async def recent_grabs(self, account_id: int, since_ms: int) -> list[RecentGrab]:
        rows = await self._fetchall(q.RECENT_GRABS, {"account": account_id, "since": since_ms})
        return [q.row_to_grab(row) for row in rows]

    async def mark_password_free(self, key: str, telegram_id: int) -> None:
        await self._writer.run(hold_ops.mark_password_free, self._clock, key, telegram_id)

    async def transfer_password_free(
        self, key: str, specs: Sequence[TransferSpec], payment: PasswordFreePayment
    ) -> tuple[Transfer, ...]:
        # one by one, not with the ledger's fast path: the check reads what came before
        return await self._writer.run(
            hold_ops.transfer_password_free, self._ledger, key, tuple(specs), payment
        )

    # Held payments -----------------------------------------------------------------------

    async def open_hold(
        self, key: str, spec: TransferSpec, reasons: Sequence[str], event: str
    ) -> Held:
        return await self._writer.run(
            hold_ops.open_hold, self._ledger, self._security, key, spec, tuple(reasons), event
        )

    async def decide_hold(self, held_id: int, approve: bool, admin_id: int, event: str) -> Held:
        return await self._writer.run(
            hold_ops.decide_hold, self._ledger, self._security, held_id, approve, admin_id, event
        )

    async def get_hold(self, held_id: int) -> Held | None:
        row = await self._fetchone(
            f"SELECT {q.HELD_COLUMNS} FROM {q.HELD_FROM} WHERE h.id = ?", (held_id,)
        )
        return q.row_to_held(row) if row else None

    async def open_holds(self, limit: int) -> list[Held]:
        rows = await self._fetchall(
            f"SELECT {q.HELD_COLUMNS} FROM {q.HELD_FROM} WHERE h.state = 'open'"
            " ORDER BY h.id LIMIT ?",
            (limit,),
        )
        return [q.row_to_held(row) for row in rows]
