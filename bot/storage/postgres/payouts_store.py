"""The admin payout queue on PostgreSQL (the ``PayoutQueueStore`` of ``bot.domain.payouts``).

Queueing and closing insert a row unless the request id has one (``ON CONFLICT DO
NOTHING`` on its unique index; a second process inserting the same id at once waits for
the first and then does nothing) and answer with the stored row, so a repeat changes
nothing. A decision is a conditional ``UPDATE … WHERE state = 'queued'`` and the admin's
event in the security log, in one transaction: of two admins deciding at once, in two
processes, one changes the row and the other finds it decided and is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import asyncpg

from bot.domain.errors import PayoutAlreadyDecided, PayoutNotFound
from bot.domain.payouts import PayoutQueueStore, PayoutState, QueuedPayout
from bot.storage.postgres.events import append_event
from bot.storage.postgres.ledger_store import is_bigint
from bot.storage.postgres.port import PgPortStore

__all__ = ["PgPayouts"]

# the queue's columns, and those of the withdrawal whose request it is (if any)
_COLUMNS = (
    "p.id, p.request_id, p.card_last4, p.amount, p.currency, p.state, p.note, p.created_at,"
    " p.decided_by, p.decided_at, w.id, w.telegram_id"
)
_FROM = "payout_queue AS p LEFT JOIN withdrawals AS w ON w.request_id = p.request_id"


def _row_to_payout(row: Sequence) -> QueuedPayout:
    return QueuedPayout(*row[:5], PayoutState(row[5]), *row[6:])


async def _get(conn: asyncpg.Connection, where: str, value: object) -> QueuedPayout | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM {_FROM} WHERE {where} = $1", value)
    return _row_to_payout(row) if row else None


async def _insert(
    conn: asyncpg.Connection, clock: Callable[[], int], request_id: str, *values: object
) -> QueuedPayout:
    # NOT EXISTS first: a repeat takes no number from the id sequence
    await conn.execute(
        "INSERT INTO payout_queue (request_id, card_last4, amount, currency, state, created_at)"
        " SELECT $1::text, $2::text, $3::bigint, $4::text, $5::text, $6::bigint"
        " WHERE NOT EXISTS (SELECT 1 FROM payout_queue WHERE request_id = $1)"
        " ON CONFLICT (request_id) DO NOTHING",
        request_id,
        *values,
        clock(),
    )
    return await _get(conn, "p.request_id", request_id)


async def _enqueue(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    request_id: str,
    card_last4: str,
    amount: int,
    currency: str,
) -> QueuedPayout:
    return await _insert(conn, clock, request_id, card_last4, amount, currency, "queued")


async def _close_unknown(
    conn: asyncpg.Connection, clock: Callable[[], int], request_id: str
) -> QueuedPayout:
    return await _insert(conn, clock, request_id, "", 0, "", "closed")


async def _decide(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    payout_id: int,
    paid: bool,
    admin_id: int,
    note: str,
    event: str,
) -> QueuedPayout:
    if not is_bigint(payout_id):
        raise PayoutNotFound(payout_id=payout_id)
    state = PayoutState.PAID if paid else PayoutState.REJECTED
    changed = await conn.execute(
        "UPDATE payout_queue SET state = $1, note = $2, decided_by = $3, decided_at = $4"
        " WHERE id = $5 AND state = 'queued'",
        state.value,
        note,
        admin_id,
        clock(),
        payout_id,
    )
    payout = await _get(conn, "p.id", payout_id)
    if payout is None:
        raise PayoutNotFound(payout_id=payout_id)
    if changed != "UPDATE 1":
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
    await append_event(conn, clock, admin_id, event, payout.telegram_id, details)
    return payout


class PgPayouts(PgPortStore, PayoutQueueStore):
    async def enqueue(
        self, request_id: str, card_last4: str, amount: int, currency: str
    ) -> QueuedPayout:
        return await self._write(_enqueue, self._clock, request_id, card_last4, amount, currency)

    async def close_unknown(self, request_id: str) -> QueuedPayout:
        return await self._write(_close_unknown, self._clock, request_id)

    async def decide(
        self, payout_id: int, paid: bool, admin_id: int, note: str, event: str
    ) -> QueuedPayout:
        return await self._write(
            _decide, self._clock, payout_id, paid, admin_id, note, event
        )

    async def get_payout(self, payout_id: int) -> QueuedPayout | None:
        if not is_bigint(payout_id):
            return None
        row = await self._fetchrow(f"SELECT {_COLUMNS} FROM {_FROM} WHERE p.id = $1", payout_id)
        return _row_to_payout(row) if row else None

    async def find_payout(self, request_id: str) -> QueuedPayout | None:
        row = await self._fetchrow(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE p.request_id = $1", request_id
        )
        return _row_to_payout(row) if row else None

    async def queued(self, limit: int) -> list[QueuedPayout]:
        rows = await self._fetch(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE p.state = 'queued' ORDER BY p.id LIMIT $1",
            limit,
        )
        return [_row_to_payout(row) for row in rows]
