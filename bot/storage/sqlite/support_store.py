"""Support tickets and disputes on SQLite (the ``TicketStore`` of ``bot.domain.support``).

Each write is one operation of the group-commit writer. Opening a dispute relies on the
unique index of open disputes: of two at once for one transfer, one inserts and the
other is refused with the ticket that won. An admin's answer and a closing are each
written together with the admin's event in the security log, in one transaction;
closing is a conditional ``UPDATE … WHERE state = 'open'``, so it happens once.
"""

from __future__ import annotations

import sqlite3

from bot.domain.errors import DisputeAlreadyOpen, TicketClosed, TicketNotFound
from bot.domain.support import (
    AttachedTransfer,
    Ticket,
    TicketMessage,
    TicketState,
    TicketStore,
)
from bot.storage.rows import TICKET_COLUMNS, attached_json, row_to_ticket
from bot.storage.sqlite.ledger_ops import LedgerOps
from bot.storage.sqlite.port import PortStore
from bot.storage.sqlite.security_ops import SecurityOps

__all__ = ["SqliteSupport"]

def _get(conn: sqlite3.Connection, ticket_id: int) -> Ticket | None:
    row = conn.execute(
        f"SELECT {TICKET_COLUMNS} FROM support_tickets WHERE id = ?", (ticket_id,)
    ).fetchone()
    return row_to_ticket(row) if row else None


def _open_ticket(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    telegram_id: int,
    text: str,
    attached: tuple[AttachedTransfer, ...],
    transfer_id: int | None,
) -> Ticket:
    if transfer_id is not None:
        row = conn.execute(
            "SELECT id FROM support_tickets WHERE transfer_id = ? AND state = 'open'",
            (transfer_id,),
        ).fetchone()
        if row is not None:
            raise DisputeAlreadyOpen(transfer_id=transfer_id, ticket_id=row[0])
    cursor = conn.execute(
        "INSERT INTO support_tickets (telegram_id, transfer_id, text, attached, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (
            telegram_id,
            transfer_id,
            text,
            attached_json(attached),
            ledger.clock(),
        ),
    )
    return _get(conn, cursor.lastrowid)


def _open_for_write(conn: sqlite3.Connection, ticket_id: int) -> Ticket:
    ticket = _get(conn, ticket_id)
    if ticket is None:
        raise TicketNotFound(ticket_id=ticket_id)
    if ticket.state is not TicketState.OPEN:
        raise TicketClosed(ticket_id=ticket_id)
    return ticket


def _add_message(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    security: SecurityOps,
    ticket_id: int,
    author_id: int,
    text: str,
    admin_event: str | None,
) -> Ticket:
    ticket = _open_for_write(conn, ticket_id)
    conn.execute(
        "INSERT INTO support_messages (ticket_id, author_id, from_admin, text, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (ticket_id, author_id, int(admin_event is not None), text, ledger.clock()),
    )
    if admin_event is not None:
        details = {"ticket_id": ticket_id, "transfer_id": ticket.transfer_id, "text": text}
        security.record_event(conn, author_id, admin_event, ticket.telegram_id, details)
    return ticket


def _close_ticket(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    security: SecurityOps,
    ticket_id: int,
    admin_id: int,
    event: str,
) -> Ticket:
    ticket = _open_for_write(conn, ticket_id)
    changed = conn.execute(
        "UPDATE support_tickets SET state = 'closed', closed_by = ?, closed_at = ?"
        " WHERE id = ? AND state = 'open'",
        (admin_id, ledger.clock(), ticket_id),
    )
    if changed.rowcount != 1:  # pragma: no cover - one writer: checked just above
        raise TicketClosed(ticket_id=ticket_id)
    details = {"ticket_id": ticket_id, "transfer_id": ticket.transfer_id}
    security.record_event(conn, admin_id, event, ticket.telegram_id, details)
    return _get(conn, ticket_id)


class SqliteSupport(PortStore, TicketStore):
    async def open_ticket(
        self,
        telegram_id: int,
        text: str,
        attached: tuple[AttachedTransfer, ...],
        transfer_id: int | None = None,
    ) -> Ticket:
        return await self._writer.run(
            _open_ticket, self._ledger, telegram_id, text, attached, transfer_id
        )

    async def add_message(
        self, ticket_id: int, author_id: int, text: str, *, admin_event: str | None = None
    ) -> Ticket:
        return await self._writer.run(
            _add_message, self._ledger, self._security, ticket_id, author_id, text, admin_event
        )

    async def close_ticket(self, ticket_id: int, admin_id: int, event: str) -> Ticket:
        return await self._writer.run(
            _close_ticket, self._ledger, self._security, ticket_id, admin_id, event
        )

    async def get_ticket(self, ticket_id: int) -> Ticket | None:
        row = await self._fetchone(
            f"SELECT {TICKET_COLUMNS} FROM support_tickets WHERE id = ?", (ticket_id,)
        )
        return row_to_ticket(row) if row else None

    async def messages(self, ticket_id: int) -> list[TicketMessage]:
        rows = await self._fetchall(
            "SELECT ticket_id, author_id, from_admin, text, created_at FROM support_messages"
            " WHERE ticket_id = ? ORDER BY id",
            (ticket_id,),
        )
        return [TicketMessage(r[0], r[1], bool(r[2]), r[3], r[4]) for r in rows]

    async def open_tickets(self, limit: int) -> list[Ticket]:
        rows = await self._fetchall(
            f"SELECT {TICKET_COLUMNS} FROM support_tickets WHERE state = 'open'"
            " ORDER BY id LIMIT ?",
            (limit,),
        )
        return [row_to_ticket(row) for row in rows]
