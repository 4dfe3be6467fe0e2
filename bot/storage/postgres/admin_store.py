"""The admin console's figures on PostgreSQL (the ``AdminStore`` of ``bot.domain.admin``)."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from bot.domain.admin import AdminStore, WalletStats
from bot.domain.model import MAY_GO_NEGATIVE, AccountStatus
from bot.storage.postgres.events import PgRecordsEvents, append_event
from bot.storage.postgres.ledger_store import change_status

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


async def _change_status_logged(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    actor_id: int,
    account_id: int,
    subject_id: int,
    status: AccountStatus,
    event: str,
) -> bool:
    changed = await change_status(conn, account_id, status)
    if changed:  # the change and its entry in the log are one transaction
        await append_event(conn, clock, actor_id, event, subject_id, {})
    return changed


class PgAdmin(PgRecordsEvents, AdminStore):
    async def stats(self, since_ms: int) -> WalletStats:
        row = await self._fetchrow(_STATS, since_ms)
        return WalletStats(*row)

    async def change_status_logged(
        self, actor_id: int, account_id: int, subject_id: int, status: AccountStatus, event: str
    ) -> bool:
        return await self._write(
            _change_status_logged, self._clock, actor_id, account_id, subject_id, status, event
        )
