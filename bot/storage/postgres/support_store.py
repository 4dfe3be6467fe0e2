"""Support tickets and disputes on PostgreSQL (the ``TicketStore`` of ``bot.domain.support``).

Opening a dispute relies on the unique index of open disputes: of two at once for one
transfer (from any processes), one inserts and the other is refused with the ticket that
won (``INSERT … ON CONFLICT DO NOTHING``, then a look-up). An answer and a closing read
the ticket ``FOR UPDATE``, so a message never lands on a ticket closed meanwhile, and
each is written with the admin's event in the security log, in one transaction; closing
is a conditional ``UPDATE … WHERE state = 'open'``, so it happens once.
"""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from bot.domain.errors import DisputeAlreadyOpen, TicketClosed, TicketNotFound
from bot.domain.support import (
    AttachedTransfer,
    Ticket,
    TicketMessage,
    TicketState,
    TicketStore,
)
from bot.storage.postgres.events import append_event
from bot.storage.postgres.ledger_store import is_bigint
from bot.storage.postgres.port import PgPortStore
from bot.storage.rows import TICKET_COLUMNS, attached_json, row_to_ticket

__all__ = ["PgSupport"]

async def _open_ticket(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    telegram_id: int,
    text: str,
    attached: tuple[AttachedTransfer, ...],
    transfer_id: int | None,
) -> Ticket:
    stored = attached_json(attached)
    while True:
        winner = None
        if transfer_id is not None:
            winner = await conn.fetchval(
                "SELECT id FROM support_tickets WHERE transfer_id = $1 AND state = 'open'",
                transfer_id,
            )
        if winner is not None:
            raise DisputeAlreadyOpen(transfer_id=transfer_id, ticket_id=winner)
        # the index settles a dispute opened meanwhile by another process: nothing
        # inserted, and the look-up above names the winner on the next round
        row = await conn.fetchrow(
            "INSERT INTO support_tickets (telegram_id, transfer_id, text, attached, created_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (transfer_id)"
            " WHERE state = 'open' AND transfer_id IS NOT NULL DO NOTHING"
            f" RETURNING {TICKET_COLUMNS}",
            telegram_id,
            transfer_id,
            text,
            stored,
            clock(),
        )
        if row is not None:
            return row_to_ticket(row)


async def _open_for_write(conn: asyncpg.Connection, ticket_id: int) -> Ticket:
    row = None
    if is_bigint(ticket_id):
        row = await conn.fetchrow(
            f"SELECT {TICKET_COLUMNS} FROM support_tickets WHERE id = $1 FOR UPDATE", ticket_id
        )
    if row is None:
        raise TicketNotFound(ticket_id=ticket_id)
    ticket = row_to_ticket(row)
    if ticket.state is not TicketState.OPEN:
        raise TicketClosed(ticket_id=ticket_id)
    return ticket


async def _add_message(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    ticket_id: int,
    author_id: int,
    text: str,
    admin_event: str | None,
) -> Ticket:
    ticket = await _open_for_write(conn, ticket_id)
    await conn.execute(
        "INSERT INTO support_messages (ticket_id, author_id, from_admin, text, created_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        ticket_id,
        author_id,
        admin_event is not None,
        text,
        clock(),
    )
    if admin_event is not None:
        details = {"ticket_id": ticket_id, "transfer_id": ticket.transfer_id, "text": text}
        await append_event(conn, clock, author_id, admin_event, ticket.telegram_id, details)
    return ticket


async def _close_ticket(
    conn: asyncpg.Connection, clock: Callable[[], int], ticket_id: int, admin_id: int, event: str
) -> Ticket:
    ticket = await _open_for_write(conn, ticket_id)
    row = await conn.fetchrow(
        "UPDATE support_tickets SET state = 'closed', closed_by = $1, closed_at = $2"
        f" WHERE id = $3 AND state = 'open' RETURNING {TICKET_COLUMNS}",
        admin_id,
        clock(),
        ticket_id,
    )
    if row is None:  # pragma: no cover - the row is locked and was open just above
        raise TicketClosed(ticket_id=ticket_id)
    details = {"ticket_id": ticket_id, "transfer_id": ticket.transfer_id}
    await append_event(conn, clock, admin_id, event, ticket.telegram_id, details)
    return row_to_ticket(row)


class PgSupport(PgPortStore, TicketStore):
    async def open_ticket(
        self,
        telegram_id: int,
        text: str,
        attached: tuple[AttachedTransfer, ...],
        transfer_id: int | None = None,
    ) -> Ticket:
        return await self._write(
            _open_ticket, self._clock, telegram_id, text, tuple(attached), transfer_id
        )

    async def add_message(
        self, ticket_id: int, author_id: int, text: str, *, admin_event: str | None = None
    ) -> Ticket:
        return await self._write(
            _add_message, self._clock, ticket_id, author_id, text, admin_event
        )

    async def close_ticket(self, ticket_id: int, admin_id: int, event: str) -> Ticket:
        return await self._write(_close_ticket, self._clock, ticket_id, admin_id, event)

    async def get_ticket(self, ticket_id: int) -> Ticket | None:
        if not is_bigint(ticket_id):
            return None
        row = await self._fetchrow(
            f"SELECT {TICKET_COLUMNS} FROM support_tickets WHERE id = $1", ticket_id
        )
        return row_to_ticket(row) if row else None

    async def messages(self, ticket_id: int) -> list[TicketMessage]:
        if not is_bigint(ticket_id):
            return []
        rows = await self._fetch(
            "SELECT ticket_id, author_id, from_admin, text, created_at FROM support_messages"
            " WHERE ticket_id = $1 ORDER BY id",
            ticket_id,
        )
        return [TicketMessage(r[0], r[1], bool(r[2]), r[3], r[4]) for r in rows]

    async def open_tickets(self, limit: int) -> list[Ticket]:
        rows = await self._fetch(
            f"SELECT {TICKET_COLUMNS} FROM support_tickets WHERE state = 'open'"
            " ORDER BY id LIMIT $1",
            limit,
        )
        return [row_to_ticket(row) for row in rows]
