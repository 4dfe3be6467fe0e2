"""The admin console's figures on SQLite (the ``AdminStore`` of ``bot.domain.admin``)."""

from __future__ import annotations

from bot.domain.admin import AdminStore, WalletStats
from bot.storage.sqlite.port import PortStore, RecordsEvents

__all__ = ["SqliteAdmin"]

_STATS = (
    "SELECT (SELECT count(*) FROM users),"
    " (SELECT count(*) FROM users WHERE private_chat = 1),"
    " (SELECT count(*) FROM accounts WHERE status = 'frozen'),"
    " (SELECT count(*) FROM transfers),"
    " (SELECT count(*) FROM transfers WHERE created_at >= :since),"
    " (SELECT coalesce(sum(credits_posted - debits_posted), 0) FROM accounts"
    "  WHERE kind <> 'system'),"
    " (SELECT count(*) FROM transfers AS p WHERE flag = 'pending' AND NOT EXISTS"
    "  (SELECT 1 FROM transfers AS r WHERE r.pending_id = p.id))"
)


class SqliteAdmin(RecordsEvents, PortStore, AdminStore):
    async def stats(self, since_ms: int) -> WalletStats:
        row = await self._fetchone(_STATS, {"since": since_ms})
        return WalletStats(*row)
