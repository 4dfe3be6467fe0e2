"""Support tickets in memory (the ``TicketStore`` of ``bot.domain.support``), kept as
``support_store`` keeps them: one open dispute per transfer, an admin's answer and a
closing each written with the admin's security event, a ticket closed once."""

from __future__ import annotations

from dataclasses import replace

from bot.domain.errors import DisputeAlreadyOpen, TicketClosed, TicketNotFound
from bot.domain.support import (
    AttachedTransfer,
    Ticket,
    TicketMessage,
    TicketState,
    TicketStore,
)
from tests.fakes.port import MemoryPort
from tests.fakes.state import MemoryState, record_event

__all__ = ["MemorySupport"]


class MemorySupport(MemoryPort, TicketStore):
    def __init__(self, state: MemoryState) -> None:
        super().__init__(state)
        self._tickets: dict[int, Ticket] = {}
        self._messages: list[TicketMessage] = []

    def _open_for_write(self, ticket_id: int) -> Ticket:
        ticket = self._tickets.get(ticket_id)
        if ticket is None:
            raise TicketNotFound(ticket_id=ticket_id)
        if ticket.state is not TicketState.OPEN:
            raise TicketClosed(ticket_id=ticket_id)
        return ticket

    def _open(self, telegram_id, text, attached, transfer_id) -> Ticket:
        if transfer_id is not None:
            for other in self._tickets.values():
                if other.transfer_id == transfer_id and other.state is TicketState.OPEN:
                    raise DisputeAlreadyOpen(transfer_id=transfer_id, ticket_id=other.id)
        ticket_id = len(self._tickets) + 1
        ticket = Ticket(
            ticket_id,
            telegram_id,
            transfer_id,
            TicketState.OPEN,
            text,
            tuple(attached),
            self._state.clock(),
        )
        self._tickets[ticket_id] = ticket
        return ticket

    def _add(self, ticket_id, author_id, text, admin_event) -> Ticket:
        ticket = self._open_for_write(ticket_id)
        if admin_event is not None:
            details = {"ticket_id": ticket_id, "transfer_id": ticket.transfer_id, "text": text}
            record_event(self._state, author_id, admin_event, ticket.telegram_id, details)
        message = TicketMessage(
            ticket_id, author_id, admin_event is not None, text, self._state.clock()
        )
        self._messages.append(message)
        return ticket

    def _close(self, ticket_id, admin_id, event) -> Ticket:
        ticket = self._open_for_write(ticket_id)
        details = {"ticket_id": ticket_id, "transfer_id": ticket.transfer_id}
        record_event(self._state, admin_id, event, ticket.telegram_id, details)
        closed = replace(
            ticket, state=TicketState.CLOSED, closed_by=admin_id, closed_at=self._state.clock()
        )
        self._tickets[ticket_id] = closed
        return closed

    async def open_ticket(
        self,
        telegram_id: int,
        text: str,
        attached: tuple[AttachedTransfer, ...],
        transfer_id: int | None = None,
    ) -> Ticket:
        return await self._state.write(self._open, telegram_id, text, attached, transfer_id)

    async def add_message(
        self, ticket_id: int, author_id: int, text: str, *, admin_event: str | None = None
    ) -> Ticket:
        return await self._state.write(self._add, ticket_id, author_id, text, admin_event)

    async def close_ticket(self, ticket_id: int, admin_id: int, event: str) -> Ticket:
        return await self._state.write(self._close, ticket_id, admin_id, event)

    async def get_ticket(self, ticket_id: int) -> Ticket | None:
        self._db  # noqa: B018  (refused once the database is closed)
        return self._tickets.get(ticket_id)

    async def messages(self, ticket_id: int) -> list[TicketMessage]:
        self._db  # noqa: B018
        return [m for m in self._messages if m.ticket_id == ticket_id]

    async def open_tickets(self, limit: int) -> list[Ticket]:
        self._db  # noqa: B018
        found = [t for t in self._tickets.values() if t.state is TicketState.OPEN]
        return sorted(found, key=lambda t: t.id)[:limit]
