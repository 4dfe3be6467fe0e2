"""What the bot still owes a chat after a restart, and its port.

Two things a chat is promised outlive the process that promised them:

- **an open question**: the bot asked an admin in private chat (the bank reference of a
  payout marked Paid, the reason of a rejected one, the answer to a ticket) and takes
  their next text message as the answer, until the question expires. One question is
  open per person and topic; asking again replaces it.
- **a message to delete later**: a message holding a secret (the 2FA setup QR code, a
  full card number shown to an admin) leaves the chat at ``delete_at``. At start-up the
  ones still pending are scheduled again, the overdue ones deleted at once.

Times are unix milliseconds. Payloads are JSON values (what the asking feature needs to
take the answer: a payout id, a ticket id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["FollowUpStore", "OpenQuestion", "PendingDeletion"]


@dataclass(frozen=True, slots=True)
class OpenQuestion:
    topic: str  # which feature asked: "payout_note", "ticket_answer", ...
    telegram_id: int  # who was asked
    payload: object  # a JSON value
    expires_at: int  # unix ms


@dataclass(frozen=True, slots=True)
class PendingDeletion:
    chat_id: int
    message_id: int
    delete_at: int  # unix ms
    purpose: str  # "2fa_qr", "card_reveal", ...
    owner_id: int | None  # whose secret it shows (the person the QR was made for)


class FollowUpStore(Protocol):
    """Open questions and pending deletions. A write is acknowledged once committed;
    a read sees every write acknowledged before it started."""

    async def ask_question(self, question: OpenQuestion) -> None:
        """Open ``question``, replacing the person's open one of the same topic."""
        ...

    async def drop_question(self, topic: str, telegram_id: int) -> None:
        """Close the person's question of ``topic``, if any (closing twice is harmless)."""
        ...

    async def open_questions(self, topic: str) -> list[OpenQuestion]:
        """The questions of ``topic`` not yet closed (expired ones included), by person."""
        ...

    async def delete_later(self, deletion: PendingDeletion) -> None:
        """Remember to delete a message (again for the same message: the later time)."""
        ...

    async def deleted(self, chat_id: int, message_id: int) -> None:
        """The message is gone (or will not be deleted): forget it. Harmless twice."""
        ...

    async def pending_deletions(self) -> list[PendingDeletion]:
        """Every message still to delete, soonest first."""
        ...
