"""Copies of one notice sent to several admins: remembered as they are sent, settled once
one admin acts (``bot.domain.admin_copies``).

The chat layer keeps each copy it sent (:meth:`AdminCopies.keep`); whoever acts on the
subject takes the other admins' copies (:meth:`AdminCopies.others`), edits them, and
forgets the subject (:meth:`AdminCopies.forget`). Everything lives in the database, so
the admin acting may be served by another process than the one that sent the notice,
or by the same one after a restart.
"""

from __future__ import annotations

from bot.domain.admin_copies import AdminCopy, AdminCopyStore

__all__ = ["AdminCopies"]


class AdminCopies:
    def __init__(self, store: AdminCopyStore) -> None:
        self.store = store

    async def keep(self, subject: str, admin_id: int, message_id: int, text: str) -> None:
        """Remember the copy of a notice about ``subject`` sent to ``admin_id``."""
        await self.store.keep_copy(AdminCopy(subject, admin_id, message_id, text))

    async def others(
        self, subject: str, admin_id: int, acted_on: int | None = None
    ) -> list[AdminCopy]:
        """The copies of ``subject`` sent to admins other than ``admin_id`` (who acted);
        with ``acted_on`` (the message they acted on), their other copies too."""
        return [
            c
            for c in await self.store.copies(subject)
            if c.admin_id != admin_id or (acted_on is not None and c.message_id != acted_on)
        ]

    async def forget(self, subject: str) -> None:
        """The subject is settled: forget its copies."""
        await self.store.forget_copies(subject)
