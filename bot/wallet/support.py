"""Support tickets and disputes: a person asks, the admins answer, an admin closes.

:meth:`Support.open` opens a ticket with the person's last few transfers attached (as
their history shows them); :meth:`Support.dispute` opens one about a single transfer the
person is a party to (anyone else's transfer is "not found", as in the history), at most
one open dispute per transfer. The person adds to an open ticket of their own with
:meth:`Support.add`; an admin answers with :meth:`Support.answer` and closes with
:meth:`Support.close`, each recorded in the security log with the write itself.
No money moves here: a refund is the refunds' own service.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain.errors import (
    DisputeAlreadyOpen,
    SupportTextInvalid,
    TicketClosed,
    TicketIdInvalid,
    TicketNotFound,
)
from bot.domain.history import EntryState, HistoryLine
from bot.domain.model import TransferFlag
from bot.domain.support import (
    TICKET_CLOSED,
    TICKET_REPLIED,
    AttachedTransfer,
    Ticket,
    TicketMessage,
    TicketState,
    TicketStore,
)

if TYPE_CHECKING:
    from bot.domain.users import User
    from bot.wallet.history import History

__all__ = [
    "ATTACHED",
    "TEXT_MAX",
    "Support",
    "TicketView",
    "check_text",
    "parse_ticket_id",
]

ATTACHED = 5  # the person's newest transfers attached to a new ticket
TEXT_MAX = 1000  # characters of one message of a ticket
_MAX_ID = 2**63 - 1


def _attached(line: HistoryLine) -> AttachedTransfer:
    """A history line as a ticket keeps it; a voucher's part of a shop payment as money
    out (the person's voucher paid it), as the admin reads the ticket."""
    party = line.counterparty
    other = party.shop or party.person or ""  # (a system account: its kind says enough)
    if line.state is EntryState.VOUCHER:
        return AttachedTransfer(
            line.transfer_id, -line.amount, str(line.kind), EntryState.MOVED, other
        )
    return AttachedTransfer(line.transfer_id, line.amount, str(line.kind), line.state, other)


@dataclass(frozen=True, slots=True)
class TicketView:
    """A ticket with its thread (the messages after the opening one, oldest first)."""

    ticket: Ticket
    thread: tuple[TicketMessage, ...]


def check_text(text: str) -> str:
    """The text of a message, tidied (control characters out, runs of spaces as one,
    line breaks kept); ``SupportTextInvalid`` when empty or too long."""
    kept = "".join(c for c in text if unicodedata.category(c)[0] != "C" or c == "\n")
    lines = [" ".join(line.split()) for line in kept.split("\n")]
    tidy = "\n".join(line for line in lines if line)
    if not tidy:
        raise SupportTextInvalid("support_text_missing")
    if len(tidy) > TEXT_MAX:
        raise SupportTextInvalid("support_text_too_long", limit=TEXT_MAX)
    return tidy


def parse_ticket_id(text: str) -> int:
    """``12`` or ``#12`` (full-width digits too) → 12; anything else → ``TicketIdInvalid``."""
    normalized = unicodedata.normalize("NFKC", text).strip().removeprefix("#")
    if not normalized.isascii() or not normalized.isdigit() or len(normalized) > 19:
        raise TicketIdInvalid(text=text[:40])
    value = int(normalized)
    if not 1 <= value <= _MAX_ID:
        raise TicketIdInvalid(text=text[:40])
    return value


class Support:
    def __init__(
        self,
        store: TicketStore,
        history: History,
        open_count: Callable[[int], Awaitable[int | None]] | None = None,
    ) -> None:
        self.store = store
        self._open_count = open_count  # a person's open tickets (None: none are kept)
        self.history = history

    async def open(self, user: User, text: str) -> Ticket:
        """A new ticket from ``user`` with their newest transfers attached."""
        text = check_text(text)
        view = await self.history.page(user.account_id)
        attached = tuple(_attached(line) for line in view.lines[:ATTACHED])
        return await self.store.open_ticket(user.telegram_id, text, attached)

    async def dispute(self, user: User, transfer_id: int | str, text: str) -> Ticket:
        """A dispute of one of ``user``'s transfers (``TransferNotFound`` for anyone
        else's; ``DisputeAlreadyOpen`` while the transfer has an open one of theirs).
        While the other party's dispute of it is open, theirs is a ticket of its own with
        the transfer attached: admins hear both sides, neither reads the other's."""
        text = check_text(text)
        detail = await self.history.detail(user.account_id, transfer_id)
        posting = detail.resolution
        if posting is not None and posting.flag is TransferFlag.POST_PENDING:
            # a held payment's reservation, approved since: the payment is its posting
            detail = await self.history.detail(user.account_id, posting.id)
        attached = (_attached(detail.line),)
        try:
            return await self.store.open_ticket(
                user.telegram_id, text, attached, transfer_id=detail.transfer.id
            )
        except DisputeAlreadyOpen as open_one:
            disputed = await self.store.get_ticket(open_one.params["ticket_id"])
            if disputed is None or disputed.telegram_id == user.telegram_id:
                raise
        return await self.store.open_ticket(user.telegram_id, text, attached)

    async def get(self, ticket_id: int) -> Ticket:
        ticket = await self.store.get_ticket(ticket_id)
        if ticket is None:
            raise TicketNotFound(ticket_id=ticket_id)
        return ticket

    async def get_open(self, ticket_id: int) -> Ticket:
        """The ticket, if it is still open (else ``TicketClosed``)."""
        ticket = await self.get(ticket_id)
        if ticket.state is not TicketState.OPEN:
            raise TicketClosed(ticket_id=ticket_id)
        return ticket

    def now_ms(self) -> int:
        return self.store.now_ms()

    async def view(self, ticket_id: int) -> TicketView:
        ticket = await self.get(ticket_id)
        return TicketView(ticket, tuple(await self.store.messages(ticket_id)))

    async def add(self, user: User, ticket_id: int, text: str) -> Ticket:
        """The person adds to an open ticket of their own (anyone else's: not found)."""
        text = check_text(text)
        ticket = await self.store.get_ticket(ticket_id)
        if ticket is None or ticket.telegram_id != user.telegram_id:
            raise TicketNotFound(ticket_id=ticket_id)
        return await self.store.add_message(ticket_id, user.telegram_id, text)

    async def answer(self, admin_id: int, ticket_id: int, text: str) -> Ticket:
        """An admin's answer to an open ticket, recorded in the security log."""
        text = check_text(text)
        return await self.store.add_message(ticket_id, admin_id, text, admin_event=TICKET_REPLIED)

    async def close(self, admin_id: int, ticket_id: int) -> Ticket:
        """Close an open ticket, once; recorded in the security log."""
        return await self.store.close_ticket(ticket_id, admin_id, TICKET_CLOSED)

    async def has_open(self, telegram_id: int) -> bool:
        """Whether the person has a ticket open (their stray message may be meant for it)."""
        return self._open_count is not None and bool(await self._open_count(telegram_id))

    async def open_tickets(self, limit: int = 20) -> list[Ticket]:
        """The open tickets, oldest first."""
        if not 1 <= limit <= 100:
            raise ValueError("list 1–100 tickets at a time")
        return await self.store.open_tickets(limit)
