"""The admin console's figures on SQLite (the ``AdminStore`` of ``bot.domain.admin``)."""

from __future__ import annotations

from bot.domain.admin import AdminStore, WalletStats
from bot.domain.model import MAY_GO_NEGATIVE, AccountStatus
from bot.storage.sqlite.port import PortStore, RecordsEvents

__all__ = ["SqliteAdmin"]

# money held for people: every account but those that may go negative (constants)
_MAY_GO_NEGATIVE = ", ".join(f"'{kind}'" for kind in sorted(MAY_GO_NEGATIVE))
_STATS = (
    "SELECT (SELECT count(*) FROM users),"
    " (SELECT count(*) FROM users WHERE private_chat = 1),"
    f" (SELECT count(*) FROM accounts WHERE status = '{AccountStatus.FROZEN}'),"
    " (SELECT count(*) FROM transfers),"
    " (SELECT count(*) FROM transfers WHERE created_at >= :since),"
    " (SELECT coalesce(sum(credits_posted - debits_posted), 0) FROM accounts"
    f"  WHERE kind NOT IN ({_MAY_GO_NEGATIVE})),"
    " (SELECT count(*) FROM transfers AS p WHERE flag = 'pending' AND NOT EXISTS"
    "  (SELECT 1 FROM transfers AS r WHERE r.pending_id = p.id))"
)


class SqliteAdmin(RecordsEvents, PortStore, AdminStore):
    async def stats(self, since_ms: int) -> WalletStats:
        row = await self._fetchone(_STATS, {"since": since_ms})
        return WalletStats(*row)
