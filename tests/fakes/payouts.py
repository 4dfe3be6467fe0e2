"""The admin payout queue in memory (the ``PayoutQueueStore`` of ``bot.domain.payouts``),
kept as ``payouts_store`` keeps it: a request id queued once (a repeat answers with the
first), an unknown id closed when asked about, a decision taken once with the admin's
security event, each payout joined with the withdrawal whose request it is."""

from __future__ import annotations

from dataclasses import replace

from bot.domain.errors import PayoutAlreadyDecided, PayoutNotFound
from bot.domain.payouts import PayoutQueueStore, PayoutState, QueuedPayout
from tests.fakes.port import MemoryPort
from tests.fakes.state import MemoryState, record_event

__all__ = ["MemoryPayouts"]


class MemoryPayouts(MemoryPort, PayoutQueueStore):
    def __init__(self, state: MemoryState) -> None:
        super().__init__(state)
        self._rows: dict[int, QueuedPayout] = {}  # id -> the row, without the join
        self._ids: dict[str, int] = {}  # request id -> payout id

    def _joined(self, row: QueuedPayout | None) -> QueuedPayout | None:
        if row is None:
            return None
        for withdrawal in self._state.withdrawals.values():
            if withdrawal.request_id == row.request_id:
                return replace(row, withdrawal_id=withdrawal.id, telegram_id=withdrawal.telegram_id)
        return row

    def _insert(self, request_id: str, last4: str, amount: int, currency: str, state):
        if request_id not in self._ids:
            payout_id = len(self._rows) + 1
            now = self._state.clock()
            self._rows[payout_id] = QueuedPayout(
                payout_id, request_id, last4, amount, currency, state, "", now, None, None
            )
            self._ids[request_id] = payout_id
        return self._joined(self._rows[self._ids[request_id]])

    async def enqueue(
        self, request_id: str, card_last4: str, amount: int, currency: str
    ) -> QueuedPayout:
        return await self._state.write(
            self._insert, request_id, card_last4, amount, currency, PayoutState.QUEUED
        )

    async def close_unknown(self, request_id: str) -> QueuedPayout:
        return await self._state.write(self._insert, request_id, "", 0, "", PayoutState.CLOSED)

    def _decide(self, payout_id, paid, admin_id, note, event) -> QueuedPayout:
        row = self._joined(self._rows.get(payout_id))
        if row is None:
            raise PayoutNotFound(payout_id=payout_id)
        if row.state is not PayoutState.QUEUED:
            raise PayoutAlreadyDecided(
                payout_id=payout_id, state=row.state.value, admin=row.decided_by
            )
        state = PayoutState.PAID if paid else PayoutState.REJECTED
        decided = replace(
            row, state=state, note=note, decided_by=admin_id, decided_at=self._state.clock()
        )
        details = {
            "payout_id": decided.id,
            "request_id": decided.request_id,
            "withdrawal_id": decided.withdrawal_id,
            "amount": decided.amount,
            "currency": decided.currency,
            "card_last4": decided.card_last4,
            "reference" if paid else "reason": note,
        }
        record_event(self._state, admin_id, event, decided.telegram_id, details)
        self._rows[payout_id] = replace(decided, withdrawal_id=None, telegram_id=None)
        return decided

    async def decide(
        self, payout_id: int, paid: bool, admin_id: int, note: str, event: str
    ) -> QueuedPayout:
        return await self._state.write(self._decide, payout_id, paid, admin_id, note, event)

    async def get_payout(self, payout_id: int) -> QueuedPayout | None:
        self._state.check_open()
        return self._joined(self._rows.get(payout_id))

    async def find_payout(self, request_id: str) -> QueuedPayout | None:
        self._state.check_open()
        payout_id = self._ids.get(request_id)
        return self._joined(self._rows.get(payout_id)) if payout_id else None

    async def queued(self, limit: int) -> list[QueuedPayout]:
        self._state.check_open()
        waiting = [r for r in self._rows.values() if r.state is PayoutState.QUEUED]
        return [self._joined(row) for row in sorted(waiting, key=lambda r: r.id)[:limit]]
