"""What the store of every port shares: the database's one writer, its readers and clock.

A ``SqliteDatabase`` owns one group-commit writer (every write of every port goes
through it, so they commit in one order and a write that spans ports, like a hold with
its audit event, is one transaction) and one reader pool (every read sees the commits
acknowledged before it started). Each port's store is a thin view over those two.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from bot.domain.security_ports import SecurityEvent
from bot.storage.sqlite.readers import ReaderPool
from bot.storage.sqlite.security_ops import SecurityOps
from bot.storage.sqlite.writer import GroupCommitWriter

__all__ = ["PortStore", "RecordsEvents"]


class PortStore:
    """The writer, reader pool and clock of one database, as a port's store uses them."""

    def __init__(
        self, writer: GroupCommitWriter, reader: ReaderPool, clock: Callable[[], int]
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._clock = clock

    def now_ms(self) -> int:
        return self._clock()

    async def _fetchone(self, sql: str, params: Sequence | dict) -> sqlite3.Row | None:
        rows = await self._reader.fetchall(sql, params)
        return rows[0] if rows else None

    async def _fetchall(self, sql: str, params: Sequence | dict) -> list:
        return await self._reader.fetchall(sql, params)


class RecordsEvents:
    """For the store of a port whose service writes to the security log (one hash chain,
    whichever port appends to it)."""

    _writer: GroupCommitWriter
    _security: SecurityOps

    async def record_event(
        self, actor_id: int | None, event: str, subject_id: int | None, details: dict
    ) -> SecurityEvent:
        return await self._writer.run(
            self._security.record_event, actor_id, event, subject_id, details
        )
