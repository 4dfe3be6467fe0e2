"""The admin console's figures on PostgreSQL (the ``AdminStore`` of ``bot.domain.admin``)."""

from __future__ import annotations

from bot.domain.admin import AdminStore, WalletStats
from bot.domain.model import MAY_GO_NEGATIVE, AccountStatus
from bot.storage.postgres.events import PgRecordsEvents

__all__ = ["PgAdmin"]

# money held for people: every account but those that may go negative (constants)
_MAY_GO_NEGATIVE = ", ".join(f"'{kind}'" for kind in sorted(MAY_GO_NEGATIVE))
_STATS = (
    "SELECT (SELECT count(*) FROM users),"
    " (SELECT count(*) FROM users WHERE private_chat),"
    f" (SELECT count(*) FROM accounts WHERE status = '{AccountStatus.FROZEN}'),"
    " (SELECT count(*) FROM transfers),"
    " (SELECT count(*) FROM transfers WHERE created_at >= $1),"
    " (SELECT coalesce(sum(credits_posted - debits_posted), 0)::bigint FROM accounts"
    f"  WHERE kind NOT IN ({_MAY_GO_NEGATIVE})),"
    " (SELECT count(*) FROM transfers AS p WHERE flag = 'pending' AND NOT EXISTS"
    "  (SELECT 1 FROM transfers AS r WHERE r.pending_id = p.id))"
)


class PgAdmin(PgRecordsEvents, AdminStore):
    async def stats(self, since_ms: int) -> WalletStats:
        row = await self._fetchrow(_STATS, since_ms)
        return WalletStats(*row)
