"""Broadcasts: one admin's message to everyone who opened the bot's private chat, and its port.

A broadcast is written down before anything is sent: its text, and one row per
recipient (every user with ``private_chat = 1`` whom no earlier send found unreachable).
Each recipient goes ``pending`` → ``sending`` (claimed, one person in one write, just
before the message to them is sent) → ``sent`` | ``blocked`` | ``failed`` (written as
soon as Telegram answers). Claiming before sending is what makes a restart safe: a run
sends only to people it claimed from ``pending``, so two runs never send to one person,
and a clean stop (between batches, the batch under way finished and recorded) leaves
nobody claimed and nobody missed.

After a crash the people left ``sending`` are the only uncertain ones: the message to
them may or may not have left. **Decision: they are sent it once more** (a repeated
announcement is harmless next to a missed one): the next start puts them back to
``pending``. A claim counts its ``attempts``; a person left ``sending`` by two crashed
runs is closed ``failed`` rather than sent it a third time. A person Telegram refuses
(403: they blocked the bot), or says blocked the bot, is recorded unreachable and left out
of later broadcasts until Telegram says they unblocked it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

__all__ = [
    "BROADCAST_EVENT",
    "BROADCAST_TEXT_MAX",
    "Broadcast",
    "BroadcastStore",
    "RecipientState",
]

BROADCAST_EVENT = "admin.broadcast"  # the security log's event of a broadcast begun
BROADCAST_TEXT_MAX = 4096  # Telegram's limit of a message's text, in characters


class RecipientState(StrEnum):
    PENDING = "pending"  # not sent yet
    SENDING = "sending"  # claimed by a sender; its answer is not recorded yet
    SENT = "sent"
    BLOCKED = "blocked"  # 403: the person blocked the bot (or never could be written to)
    FAILED = "failed"  # any other refusal, or a claim a stopped process left unanswered


@dataclass(frozen=True, slots=True)
class Broadcast:
    """A broadcast and how far it got. ``progress_*`` name the admin's progress message."""

    id: int
    admin_id: int
    text: str
    total: int
    sent: int
    blocked: int
    failed: int
    finished: bool
    created_at: int  # unix ms
    progress_chat_id: int | None = None
    progress_message_id: int | None = None

    @property
    def done(self) -> int:
        return self.sent + self.blocked + self.failed


class BroadcastStore(Protocol):
    def now_ms(self) -> int: ...

    async def audience_size(self) -> int:
        """How many people a broadcast begun now would go to."""
        ...

    async def create_broadcast(self, key: str, admin_id: int, text: str, event: str) -> Broadcast:
        """Write the broadcast, a pending row per recipient and the admin's ``event`` in
        the security log, in one transaction; a repeat of ``key`` returns the first one."""
        ...

    async def get_broadcast(self, broadcast_id: int) -> Broadcast | None: ...

    async def unfinished_broadcasts(self) -> list[Broadcast]: ...

    async def pending_recipients(self, broadcast_id: int, limit: int) -> list[int]:
        """Up to ``limit`` recipients still ``pending``, lowest id first (not claimed)."""
        ...

    async def claim_recipient(self, broadcast_id: int, telegram_id: int) -> bool:
        """``pending`` → ``sending`` (one more attempt); False if not pending any more
        (another run claimed it)."""
        ...

    async def record_deliveries(
        self, broadcast_id: int, results: dict[int, RecipientState]
    ) -> None:
        """What became of claimed recipients; the blocked ones become unreachable."""
        ...

    async def reopen_stale_claims(self, broadcast_id: int, max_attempts: int) -> tuple[int, int]:
        """Claims nobody will answer (their process stopped): back to ``pending`` if
        claimed fewer than ``max_attempts`` times, else ``failed``; (reopened, failed)."""
        ...

    async def set_progress_message(
        self, broadcast_id: int, chat_id: int, message_id: int
    ) -> None: ...

    async def finish_broadcast(self, broadcast_id: int) -> Broadcast:
        """Mark it finished unless a recipient is pending or claimed (by another run,
        which finishes it); the broadcast as it stands."""
        ...

    async def set_reachable(self, telegram_id: int, reachable: bool) -> None:
        """Whether later broadcasts go to the person (they unblocked or blocked the bot)."""
        ...
