"""The admin console's figures on SQLite (the ``AdminStore`` of ``bot.domain.admin``)."""

from __future__ import annotations

import sqlite3

from bot.domain.admin import AdminStore, WalletStats
from bot.domain.errors import AccountNotFound
from bot.domain.model import MAY_GO_NEGATIVE, AccountStatus
from bot.storage.sqlite.ledger_ops import LedgerOps
from bot.storage.sqlite.port import PortStore, RecordsEvents
from bot.storage.sqlite.security_ops import SecurityOps

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


def _change_status_logged(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    security: SecurityOps,
    actor_id: int,
    account_id: int,
    subject_id: int,
    status: AccountStatus,
    event: str,
) -> bool:
    changed = ledger.change_status(conn, account_id, status)
    if changed:  # the change and its entry in the log are one write
        security.record_event(conn, actor_id, event, subject_id, {})
    return changed


class SqliteAdmin(RecordsEvents, PortStore, AdminStore):
    async def stats(self, since_ms: int) -> WalletStats:
        row = await self._fetchone(_STATS, {"since": since_ms})
        return WalletStats(*row)

    async def change_status_logged(
        self, actor_id: int, account_id: int, subject_id: int, status: AccountStatus, event: str
    ) -> bool:
        if not -(2**63) <= account_id < 2**63:
            raise AccountNotFound(account_id=account_id)
        return await self._writer.run(
            _change_status_logged,
            self._ledger,
            self._security,
            actor_id,
            account_id,
            subject_id,
            status,
            event,
        )
