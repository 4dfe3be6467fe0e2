"""Copies of one notice sent to several admins: remembered as they are sent, settled once
one admin acts (``bot.domain.admin_copies``).

The chat layer keeps each copy it sent (:meth:`AdminCopies.keep`); whoever acts on the
subject takes its copies (:meth:`AdminCopies.settle`, which forgets them) and edits the
other admins'. Everything lives in the database, so
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

    async def settle_late(self, copy: AdminCopy) -> bool:
        """A copy sent after its subject was settled: forget it; whether it was still
        kept (then the caller brings it up to date; else a settling took it, and does)."""
        return await self.store.take_copy(copy)

    async def settle(self, subject: str) -> list[AdminCopy]:
        """The subject is settled: forget its copies and return them, to be brought up to
        date. Of callers at once (the admin's action, a copy sent late) each copy goes to
        one only, so none is edited twice."""
        return await self.store.take_copies(subject)
