"""What an admin reads of one wallet and of the last days, in memory (the
``AdminViewStore`` of ``bot.domain.adminview``), read from the same tables as
``adminview_store`` reads them; ``support`` is the tickets' store of the same database."""

from __future__ import annotations

from collections import Counter

from bot.domain.adminview import AdminViewStore
from bot.domain.holds import HoldState
from bot.domain.model import TransferFlag
from bot.domain.support import TicketState
from tests.fakes.port import MemoryPort, RecordsEvents
from tests.fakes.state import MemoryState

__all__ = ["MemoryAdminView"]

_MOVED = (TransferFlag.POSTED, TransferFlag.POST_PENDING)


class MemoryAdminView(RecordsEvents, MemoryPort, AdminViewStore):
    def __init__(self, state: MemoryState, support) -> None:
        super().__init__(state)
        self._support = support

    async def holds_of(self, account_id: int, since_ms: int) -> tuple[int, int]:
        holds = [h for h in self._db.holds.values() if h.payer_account_id == account_id]
        return (
            sum(1 for h in holds if h.created_at >= since_ms),
            sum(1 for h in holds if h.state is HoldState.OPEN),
        )

    async def pin_lockouts(self, telegram_id: int, since_ms: int) -> int:
        return sum(
            1
            for e in self._db.events
            if e.event == "pin.locked" and e.subject_id == telegram_id and e.at >= since_ms
        )

    async def pin_locked_until(self, telegram_id: int) -> int:
        credentials = self._db.credentials.get(telegram_id)
        return credentials.pin_locked_until if credentials is not None else 0

    async def open_tickets(self, telegram_id: int) -> int | None:
        self._state.check_open()
        return sum(
            1
            for t in self._support._tickets.values()
            if t.telegram_id == telegram_id and t.state is TicketState.OPEN
        )

    async def daily_activity(
        self, since_ms: int, day_ms: int, offset_ms: int
    ) -> tuple[list[tuple[int, str, int]], list[tuple[int, int]]]:
        state = self._db
        volume: Counter = Counter()
        for t in state.transfers:
            if t.created_at >= since_ms and t.flag in _MOVED:
                volume[(t.created_at + offset_ms) // day_ms, str(t.kind)] += t.amount
        users: Counter = Counter()
        for user in state.users.values():
            registered = state.accounts[user.account_id].created_at  # opened with the user
            if registered >= since_ms:
                users[(registered + offset_ms) // day_ms] += 1
        return sorted((d, k, fen) for (d, k), fen in volume.items()), sorted(users.items())
