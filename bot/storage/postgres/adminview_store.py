"""What an admin reads of one wallet and of the last days, on PostgreSQL (the
``AdminViewStore`` of ``bot.domain.adminview``)."""

from __future__ import annotations

from bot.domain.adminview import AdminViewStore
from bot.domain.model import TransferFlag
from bot.storage.postgres.events import PgRecordsEvents
from bot.storage.postgres.ledger_store import is_bigint

__all__ = ["PgAdminView"]

_HOLDS = (
    "SELECT count(*) FILTER (WHERE created_at >= $2),"
    " count(*) FILTER (WHERE state = 'open')"
    " FROM held_payments WHERE payer_account_id = $1"
)
_PIN_LOCKOUTS = (
    "SELECT count(*) FROM security_events"
    " WHERE event = 'pin.locked' AND subject_id = $1 AND at >= $2"
)
_PIN_LOCKED_UNTIL = "SELECT pin_locked_until FROM credentials WHERE telegram_id = $1"
# support tickets (migration 0015), where this database keeps them
_KEEPS_TICKETS = "SELECT to_regclass('support_tickets') IS NOT NULL"
_OPEN_TICKETS = "SELECT count(*) FROM support_tickets WHERE telegram_id = $1 AND state = 'open'"
# money moved: posted transfers, and reservations when they are posted (not when made)
_MOVED = f"('{TransferFlag.POSTED}', '{TransferFlag.POST_PENDING}')"
_VOLUME = (
    "SELECT (created_at + $3) / $2 AS day, kind, sum(amount)::bigint FROM transfers"
    f" WHERE created_at >= $1 AND flag IN {_MOVED}"
    " GROUP BY day, kind ORDER BY day, kind"
)
_NEW_USERS = (
    "SELECT (created_at + $3) / $2 AS day, count(*) FROM users"
    " WHERE created_at >= $1 GROUP BY day ORDER BY day"
)


class PgAdminView(PgRecordsEvents, AdminViewStore):
    async def holds_of(self, account_id: int, since_ms: int) -> tuple[int, int]:
        row = await self._fetchrow(_HOLDS, account_id, since_ms)
        return int(row[0] or 0), int(row[1] or 0)

    async def pin_lockouts(self, telegram_id: int, since_ms: int) -> int:
        if not is_bigint(telegram_id):
            return 0
        row = await self._fetchrow(_PIN_LOCKOUTS, telegram_id, since_ms)
        return int(row[0])

    async def pin_locked_until(self, telegram_id: int) -> int:
        if not is_bigint(telegram_id):
            return 0
        row = await self._fetchrow(_PIN_LOCKED_UNTIL, telegram_id)
        return int(row[0]) if row else 0

    async def open_tickets(self, telegram_id: int) -> int | None:
        if not (await self._fetchrow(_KEEPS_TICKETS))[0]:
            return None
        if not is_bigint(telegram_id):
            return 0
        row = await self._fetchrow(_OPEN_TICKETS, telegram_id)
        return int(row[0])

    async def daily_activity(
        self, since_ms: int, day_ms: int, offset_ms: int
    ) -> tuple[list[tuple[int, str, int]], list[tuple[int, int]]]:
        volume = await self._fetch(_VOLUME, since_ms, day_ms, offset_ms)
        users = await self._fetch(_NEW_USERS, since_ms, day_ms, offset_ms)
        return (
            [(int(day), str(kind), int(fen)) for day, kind, fen in volume],
            [(int(day), int(count)) for day, count in users],
        )
