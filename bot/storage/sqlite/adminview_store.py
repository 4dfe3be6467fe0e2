"""What an admin reads of one wallet and of the last days, on SQLite (the
``AdminViewStore`` of ``bot.domain.adminview``)."""

from __future__ import annotations

from bot.domain.adminview import AdminViewStore
from bot.domain.model import TransferFlag
from bot.storage.sqlite.port import PortStore, RecordsEvents

__all__ = ["SqliteAdminView"]

_HOLDS = (
    "SELECT count(*) FILTER (WHERE created_at >= :since),"
    " count(*) FILTER (WHERE state = 'open')"
    " FROM held_payments WHERE payer_account_id = :account"
)
_PIN_LOCKOUTS = (
    "SELECT count(*) FROM security_events"
    " WHERE event = 'pin.locked' AND subject_id = :user AND at >= :since"
)
_PIN_LOCKED_UNTIL = "SELECT pin_locked_until FROM credentials WHERE telegram_id = ?"
# support tickets (migration 0015), where this database keeps them
_KEEPS_TICKETS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'support_tickets'"
_OPEN_TICKETS = "SELECT count(*) FROM support_tickets WHERE telegram_id = ? AND state = 'open'"
# money moved: posted transfers, and reservations when they are posted (not when made)
_MOVED = f"('{TransferFlag.POSTED}', '{TransferFlag.POST_PENDING}')"
_VOLUME = (
    "SELECT (created_at + :offset) / :day AS day, kind, sum(amount) FROM transfers"
    f" WHERE created_at >= :since AND flag IN {_MOVED}"
    " GROUP BY day, kind ORDER BY day, kind"
)
_NEW_USERS = (
    "SELECT (created_at + :offset) / :day AS day, count(*) FROM users"
    " WHERE created_at >= :since GROUP BY day ORDER BY day"
)


class SqliteAdminView(RecordsEvents, PortStore, AdminViewStore):
    async def holds_of(self, account_id: int, since_ms: int) -> tuple[int, int]:
        row = await self._fetchone(_HOLDS, {"account": account_id, "since": since_ms})
        return int(row[0] or 0), int(row[1] or 0)

    async def pin_lockouts(self, telegram_id: int, since_ms: int) -> int:
        row = await self._fetchone(_PIN_LOCKOUTS, {"user": telegram_id, "since": since_ms})
        return int(row[0])

    async def pin_locked_until(self, telegram_id: int) -> int:
        row = await self._fetchone(_PIN_LOCKED_UNTIL, (telegram_id,))
        return int(row[0]) if row else 0

    async def open_tickets(self, telegram_id: int) -> int | None:
        if await self._fetchone(_KEEPS_TICKETS, ()) is None:
            return None
        row = await self._fetchone(_OPEN_TICKETS, (telegram_id,))
        return int(row[0])

    async def daily_activity(
        self, since_ms: int, day_ms: int, offset_ms: int
    ) -> tuple[list[tuple[int, str, int]], list[tuple[int, int]]]:
        params = {"since": since_ms, "day": day_ms, "offset": offset_ms}
        volume = await self._fetchall(_VOLUME, params)
        users = await self._fetchall(_NEW_USERS, params)
        return (
            [(int(day), str(kind), int(fen)) for day, kind, fen in volume],
            [(int(day), int(count)) for day, count in users],
        )
