"""Copies of one notice sent to several admins in memory (the ``AdminCopyStore`` of
``bot.domain.admin_copies``), kept as ``admin_copies_store`` keeps them: one per
message, by subject."""

from __future__ import annotations

from bot.domain.admin_copies import AdminCopy, AdminCopyStore
from tests.fakes.port import MemoryPort
from tests.fakes.state import MemoryState

__all__ = ["MemoryAdminCopies"]


class MemoryAdminCopies(MemoryPort, AdminCopyStore):
    def __init__(self, state: MemoryState) -> None:
        super().__init__(state)
        self._copies: dict[tuple[str, int, int], AdminCopy] = {}

    def _keep(self, copy: AdminCopy) -> None:
        self._copies.setdefault((copy.subject, copy.admin_id, copy.message_id), copy)

    async def keep_copy(self, copy: AdminCopy) -> None:
        await self._state.write(self._keep, copy)

    async def copies(self, subject: str) -> list[AdminCopy]:
        self._state.check_open()
        return [self._copies[key] for key in sorted(self._copies) if key[0] == subject]

    def _take_one(self, copy: AdminCopy) -> bool:
        return self._copies.pop((copy.subject, copy.admin_id, copy.message_id), None) is not None

    async def take_copy(self, copy: AdminCopy) -> bool:
        return await self._state.write(self._take_one, copy)

    def _take(self, subject: str) -> list[AdminCopy]:
        return [self._copies.pop(key) for key in sorted(self._copies) if key[0] == subject]

    async def take_copies(self, subject: str) -> list[AdminCopy]:
        return await self._state.write(self._take, subject)
