"""What the store of every port shares on PostgreSQL: the connection pool, the clock,
one way to run a transaction, and the translation of the driver's errors.

Every write is one database transaction on a pooled connection, at READ COMMITTED:
what must not race is serialized by row locks (``SELECT … FOR UPDATE``), conditional
updates (``UPDATE … WHERE available >= amount``) and, for the two hash chains, a
transaction-scoped advisory lock (:data:`JOURNAL_LOCK`, :data:`EVENTS_LOCK`). Nothing in
this process is relied on for correctness: several processes may share the database.

Read your writes: a write returns only after ``COMMIT``; a read is one statement on any
pooled connection outside a transaction, so it sees every commit that happened before
it started.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bot.domain.errors import StorageError, WalletError

__all__ = [
    "APPLICATION_NAME",
    "EVENTS_LOCK",
    "IN_USE_LOCK",
    "JOURNAL_LOCK",
    "MIGRATIONS_LOCK",
    "RETRY_SQLSTATES",
    "UNIQUE_VIOLATION",
    "USERNAME_LOCK",
    "PgPortStore",
    "PgShared",
    "storage_error",
]

# Keys of pg_advisory_xact_lock / pg_advisory_lock (one number space per database).
JOURNAL_LOCK = 0x77_61_6C_01  # appending to the transfers' hash chain
EVENTS_LOCK = 0x77_61_6C_02  # appending to the security log's hash chain
MIGRATIONS_LOCK = 0x77_61_6C_03  # applying migrations (session lock, at open)
# pg_advisory_xact_lock(USERNAME_LOCK, hashtext(lower(username))): the claims of one
# username, one after the other (the two-int key space, apart from the keys above)
USERNAME_LOCK = 0x77_61_6C_04
# pg_advisory_lock_shared(IN_USE_LOCK): held by each open wallet on a connection of its own
# for as long as it is open; a restore (``bot.ops.backup``) takes it exclusively, so it is
# refused while a bot uses the database, and a bot does not start while one replaces it
IN_USE_LOCK = 0x77_61_6C_05
# the application_name of the wallet's connections (``pg_stat_activity``)
APPLICATION_NAME = "wallet-bot"

# SQLSTATEs a transaction is simply run again after (nothing was committed).
RETRY_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
UNIQUE_VIOLATION = "23505"
MAX_ATTEMPTS = 5


def storage_error(exc: BaseException) -> StorageError:
    """The ``StorageError`` a driver or server error becomes at the store's boundary."""
    state = getattr(exc, "sqlstate", None)
    detail = f" [{state}]" if state else ""
    return StorageError(f"PostgreSQL{detail}: {type(exc).__name__}: {exc}")


@dataclass(slots=True)
class PgShared:
    """What one database gives the store of each of its ports."""

    pool: asyncpg.Pool
    clock: Callable[[], int]
    closed: bool = field(default=False)
    # this process's group commit of the hot money writes (``batch.PgGroupCommit``);
    # None: every write runs one by one
    group: Any = field(default=None)


class PgPortStore:
    """The pool and clock of one database, as a port's store uses them."""

    def __init__(self, shared: PgShared) -> None:
        self._shared = shared
        self._clock = shared.clock

    def now_ms(self) -> int:
        return self._clock()

    def _pool(self) -> asyncpg.Pool:
        if self._shared.closed:
            raise StorageError("the database is closed")
        return self._shared.pool

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """One READ COMMITTED transaction on a pooled connection: committed when the
        block ends, rolled back when it raises. Domain errors (``WalletError``) pass
        through as they are; any other error becomes ``StorageError``, as on SQLite's
        writer. (Writes use :meth:`_write`, which also retries a transaction that met a
        serialization failure or a deadlock.)"""
        try:
            async with self._pool().acquire() as conn, conn.transaction():
                yield conn
        except WalletError:
            raise
        except Exception as exc:
            raise storage_error(exc) from exc

    async def _write(
        self, operation: Callable, *args: object, retry: frozenset[str] = RETRY_SQLSTATES
    ) -> object:
        """``await operation(conn, *args)`` in one transaction, run again (from the
        start, on a new transaction) after a serialization failure or a deadlock, or
        another error whose SQLSTATE ``retry`` names (a unique violation where a
        concurrent writer's commit changes what the operation will do)."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                async with self._transaction() as conn:
                    return await operation(conn, *args)
            except StorageError as exc:
                again = getattr(exc.__cause__, "sqlstate", None) in retry
                if not again or attempt == MAX_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def _fetchrow(self, sql: str, *params: object) -> asyncpg.Record | None:
        try:
            return await self._pool().fetchrow(sql, *params)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise storage_error(exc) from exc

    async def _fetch(self, sql: str, *params: object) -> list[asyncpg.Record]:
        try:
            return await self._pool().fetch(sql, *params)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise storage_error(exc) from exc

    async def _pages(
        self, sql: str, params: Sequence[object], size: int = 2_000
    ) -> AsyncIterator[list[asyncpg.Record]]:
        """Rows of ``sql`` (which takes ``… WHERE id > $1 … ORDER BY id LIMIT $2`` then
        ``params``) page by page, each page one statement: no read outlives its page."""
        after = 0
        while True:
            rows = await self._fetch(sql, after, size, *params)
            if not rows:
                return
            yield rows
            after = rows[-1][0]
