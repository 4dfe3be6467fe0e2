"""Support tickets and disputes: what a person asks the admins, and the port that keeps it.

A person opens a **ticket** with ``/support <text>`` (or the menu's Support button); the
ticket carries their last few transfers as they were when it was opened, so an admin sees
what the person is talking about. A **dispute** is a ticket about one transfer the person
is a party to, opened from that transfer's detail view; a transfer has at most one open
dispute at a time (a unique index, so two taps at once open one).

A ticket is a thread of messages: the person's, and the admins' answers. An admin's
answer and the closing of a ticket are each one write together with the admin's event in
the security log. A closed ticket takes no more messages; closing is done once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.domain.history import EntryState

__all__ = [
    "TICKET_CLOSED",
    "TICKET_REPLIED",
    "AttachedTransfer",
    "Ticket",
    "TicketMessage",
    "TicketState",
    "TicketStore",
]

TICKET_REPLIED = "admin.ticket_replied"  # the security log's events of admins' actions
TICKET_CLOSED = "admin.ticket_closed"


class TicketState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"  # final


@dataclass(frozen=True, slots=True)
class AttachedTransfer:
    """One of the person's transfers as their history showed it when the ticket opened
    (``amount`` signed as in the history: + in, - out, for money moved; for a reservation,
    its release or expiry the amount held or freed, and ``state`` says which)."""

    transfer_id: int
    amount: int
    kind: str
    state: EntryState = EntryState.MOVED
    other: str = ""  # the other side as the history named it (a person, a shop); "": none


@dataclass(frozen=True, slots=True)
class Ticket:
    id: int
    telegram_id: int  # the person who opened it
    transfer_id: int | None  # the disputed transfer; None for a plain ticket
    state: TicketState
    text: str  # the opening message
    attached: tuple[AttachedTransfer, ...]
    created_at: int  # unix ms
    closed_by: int | None = None  # the admin's Telegram id
    closed_at: int | None = None

    @property
    def is_dispute(self) -> bool:
        return self.transfer_id is not None


@dataclass(frozen=True, slots=True)
class TicketMessage:
    ticket_id: int
    author_id: int
    from_admin: bool
    text: str
    created_at: int


class TicketStore(Protocol):
    def now_ms(self) -> int: ...

    async def open_ticket(
        self,
        telegram_id: int,
        text: str,
        attached: tuple[AttachedTransfer, ...],
        transfer_id: int | None = None,
    ) -> Ticket:
        """A new open ticket. Raises ``DisputeAlreadyOpen`` when ``transfer_id`` has an
        open dispute already."""
        ...

    async def add_message(
        self, ticket_id: int, author_id: int, text: str, *, admin_event: str | None = None
    ) -> Ticket:
        """Append a message to an open ticket; with ``admin_event`` it is an admin's,
        recorded in the security log in the same transaction. Raises ``TicketNotFound``
        or ``TicketClosed``."""
        ...

    async def close_ticket(self, ticket_id: int, admin_id: int, event: str) -> Ticket:
        """open → closed with the admin's ``event``, once. Raises ``TicketNotFound`` or
        ``TicketClosed``."""
        ...

    async def get_ticket(self, ticket_id: int) -> Ticket | None: ...

    async def messages(self, ticket_id: int) -> list[TicketMessage]:
        """The ticket's thread after its opening message, oldest first."""
        ...

    async def open_tickets(self, limit: int) -> list[Ticket]:
        """The open tickets, oldest first."""
        ...
