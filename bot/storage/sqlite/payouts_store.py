"""The admin payout queue on SQLite (the ``PayoutQueueStore`` of ``bot.domain.payouts``).

Each write is one operation of the group-commit writer. Queueing and closing insert a
row unless the request id has one (``ON CONFLICT DO NOTHING``) and answer with the
stored row, so a repeat changes nothing. A decision is a conditional ``UPDATE … WHERE
state = 'queued'`` and the admin's event in the security log, in one transaction: of
two decisions at once one changes the row, the other finds it decided and is refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from bot.domain.errors import PayoutAlreadyDecided, PayoutNotFound
from bot.domain.payouts import PayoutQueueStore, PayoutState, QueuedPayout
from bot.storage.sqlite.ledger_ops import LedgerOps
from bot.storage.sqlite.port import PortStore
from bot.storage.sqlite.security_ops import SecurityOps

__all__ = ["SqlitePayouts"]

# the queue's columns, and those of the withdrawal whose request it is (if any)
_COLUMNS = (
    "p.id, p.request_id, p.card_last4, p.amount, p.currency, p.state, p.note, p.created_at,"
    " p.decided_by, p.decided_at, w.id, w.telegram_id"
)
_FROM = "payout_queue AS p LEFT JOIN withdrawals AS w ON w.request_id = p.request_id"


def _row_to_payout(row: Sequence) -> QueuedPayout:
    return QueuedPayout(*row[:5], PayoutState(row[5]), *row[6:])


def _get(conn: sqlite3.Connection, where: str, value: object) -> QueuedPayout | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM {_FROM} WHERE {where} = ?", (value,)).fetchone()
    return _row_to_payout(row) if row else None


def _insert(conn: sqlite3.Connection, ledger: LedgerOps, request_id: str, *values) -> QueuedPayout:
    conn.execute(
        "INSERT INTO payout_queue (request_id, card_last4, amount, currency, state, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING",
        (request_id, *values, ledger.clock()),
    )
    return _get(conn, "p.request_id", request_id)


def _enqueue(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    request_id: str,
    card_last4: str,
    amount: int,
    currency: str,
) -> QueuedPayout:
    return _insert(conn, ledger, request_id, card_last4, amount, currency, "queued")


def _close_unknown(conn: sqlite3.Connection, ledger: LedgerOps, request_id: str) -> QueuedPayout:
    return _insert(conn, ledger, request_id, "", 0, "", "closed")


def _decide(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    security: SecurityOps,
    payout_id: int,
    paid: bool,
    admin_id: int,
    note: str,
    event: str,
) -> QueuedPayout:
    state = PayoutState.PAID if paid else PayoutState.REJECTED
    changed = conn.execute(
        "UPDATE payout_queue SET state = ?, note = ?, decided_by = ?, decided_at = ?"
        " WHERE id = ? AND state = 'queued'",
        (state.value, note, admin_id, ledger.clock(), payout_id),
    )
    payout = _get(conn, "p.id", payout_id)
    if payout is None:
        raise PayoutNotFound(payout_id=payout_id)
    if changed.rowcount != 1:
        raise PayoutAlreadyDecided(
            payout_id=payout_id, state=payout.state.value, admin=payout.decided_by
        )
    details = {
        "payout_id": payout.id,
        "request_id": payout.request_id,
        "withdrawal_id": payout.withdrawal_id,
        "amount": payout.amount,
        "currency": payout.currency,
        "card_last4": payout.card_last4,
        "reference" if paid else "reason": note,
    }
    security.record_event(conn, admin_id, event, payout.telegram_id, details)
    return payout


class SqlitePayouts(PortStore, PayoutQueueStore):
    async def enqueue(
        self, request_id: str, card_last4: str, amount: int, currency: str
    ) -> QueuedPayout:
        return await self._writer.run(
            _enqueue, self._ledger, request_id, card_last4, amount, currency
        )

    async def close_unknown(self, request_id: str) -> QueuedPayout:
        return await self._writer.run(_close_unknown, self._ledger, request_id)

    async def decide(
        self, payout_id: int, paid: bool, admin_id: int, note: str, event: str
    ) -> QueuedPayout:
        return await self._writer.run(
            _decide, self._ledger, self._security, payout_id, paid, admin_id, note, event
        )

    async def get_payout(self, payout_id: int) -> QueuedPayout | None:
        row = await self._fetchone(f"SELECT {_COLUMNS} FROM {_FROM} WHERE p.id = ?", (payout_id,))
        return _row_to_payout(row) if row else None

    async def find_payout(self, request_id: str) -> QueuedPayout | None:
        row = await self._fetchone(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE p.request_id = ?", (request_id,)
        )
        return _row_to_payout(row) if row else None

    async def queued(self, limit: int) -> list[QueuedPayout]:
        rows = await self._fetchall(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE p.state = 'queued' ORDER BY p.id LIMIT ?",
            (limit,),
        )
        return [_row_to_payout(row) for row in rows]
