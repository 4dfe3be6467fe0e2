"""What the store of every port shares: the database's one writer, its readers and clock.

A ``SqliteDatabase`` owns one group-commit writer (every write of every port goes
through it, so they commit in one order and a write that spans ports, like a hold with
its audit event, is one transaction) and one reader pool (every read sees the commits
acknowledged before it started). Each port's store is a thin view over those two.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.domain.security_ports import SecurityEvent
from bot.storage.sqlite.identity_ops import IdentityOps
from bot.storage.sqlite.ledger_ops import LedgerOps
from bot.storage.sqlite.readers import ReaderPool
from bot.storage.sqlite.security_ops import SecurityOps
from bot.storage.sqlite.users_ops import UsersOps
from bot.storage.sqlite.writer import GroupCommitWriter

__all__ = ["PortStore", "RecordsEvents", "Shared"]


@dataclass(frozen=True, slots=True)
class Shared:
    """What one database gives the store of each of its ports: the writer, the readers,
    the clock, and the operations more than one port runs in its writes."""

    writer: GroupCommitWriter
    reader: ReaderPool
    clock: Callable[[], int]
    ledger: LedgerOps
    users: UsersOps
    security: SecurityOps
    identity: IdentityOps


class PortStore:
    """The writer, reader pool, clock and shared operations of one database, as a port's
    store uses them."""

    def __init__(self, shared: Shared) -> None:
        self._writer = shared.writer
        self._reader = shared.reader
        self._clock = shared.clock
        self._ledger = shared.ledger
        self._users = shared.users
        self._security = shared.security
        self._identity = shared.identity

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
