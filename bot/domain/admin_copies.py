"""Copies of one notice sent to several admins, and the port that remembers them.

Some notices go to every admin with buttons of the moment: a held payment (Approve /
Reject), a support ticket and what its person adds (Reply / Close). Once one admin acts,
the buttons on every other admin's copy are stale. So each copy sent is remembered: the
**subject** it is about (``hold:12``, ``ticket:7``: one subject for every notice about
the same thing), the admin it went to, its message id in that admin's private chat and
the text it says. Whoever acts (in any process, after a restart too) takes the
subject's copies (forgets them as it reads them, so no copy is edited twice) and edits
the other admins' copies to say what became of it.

A copy is one message: keeping it again changes nothing; another message about the same
subject to the same admin (the notice told again, a person's addition to a ticket) is
another copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["AdminCopy", "AdminCopyStore", "hold_subject", "ticket_subject"]


def hold_subject(held_id: int) -> str:
    """The subject of the notices about a held payment."""
    return f"hold:{held_id}"


def ticket_subject(ticket_id: int) -> str:
    """The subject of the notices about a support ticket (its opening, its additions)."""
    return f"ticket:{ticket_id}"


@dataclass(frozen=True, slots=True)
class AdminCopy:
    subject: str  # what the notice is about: "hold:12", "ticket:7"
    admin_id: int  # the admin's Telegram id: their private chat
    message_id: int  # the copy in that chat
    text: str  # what it says (Telegram gives a bot no way to read a message back)


class AdminCopyStore(Protocol):
    """The copies sent and not yet settled. A write is acknowledged once committed; a
    read sees every write acknowledged before it started."""

    async def keep_copy(self, copy: AdminCopy) -> None:
        """Remember ``copy`` (kept again: nothing new)."""
        ...

    async def copies(self, subject: str) -> list[AdminCopy]:
        """The copies of ``subject``, by admin, then oldest message first."""
        ...

    async def take_copy(self, copy: AdminCopy) -> bool:
        """Forget ``copy``; whether it was still kept (so this caller is the one to edit
        it): of callers at once, one only."""
        ...

    async def take_copies(self, subject: str) -> list[AdminCopy]:
        """Forget every copy of ``subject`` and return them, ordered as :meth:`copies`
        orders them: in one write, so of callers at once each copy goes to one only."""
        ...
