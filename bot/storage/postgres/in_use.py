"""The in-use lock: every open wallet holds ``IN_USE_LOCK`` shared, and a restore takes it
exclusively (``bot.ops.backup``), so neither runs while the other does.

The lock lives on a connection of its own, idle for the life of the wallet. Should that
connection be lost (PostgreSQL restarted, a network cut, an administrator's
``pg_terminate_backend``), the lock goes with it, and a restore would no longer be
refused while this bot runs: so it is taken again on a new connection, at once and then
every few seconds until that succeeds. While a restore holds it at that moment, the
bot cannot stop the restore; it says so in the log (an error: the database is being
replaced under a running bot) and takes the lock once the restore is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from bot.domain.errors import StorageError
from bot.storage.postgres.port import APPLICATION_NAME, IN_USE_LOCK

__all__ = ["InUseLock"]

log = logging.getLogger(__name__)

RETRY_S = (0.0, 1.0, 2.0, 5.0)  # the waits before each new try; the last one repeats


class RestoreRunning(StorageError):
    def __init__(self) -> None:
        super().__init__(
            "a restore is replacing this database (python -m bot restore): start the bot"
            " again once it has finished"
        )


async def _take(url: str) -> asyncpg.Connection:
    """A new connection holding the lock shared; :class:`RestoreRunning` while a restore
    holds it, StorageError when PostgreSQL cannot be reached."""
    try:
        conn = await asyncpg.connect(url, server_settings={"application_name": APPLICATION_NAME})
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise StorageError(f"cannot open the PostgreSQL database: {exc}") from exc
    try:
        held = await conn.fetchval("SELECT pg_try_advisory_lock_shared($1)", IN_USE_LOCK)
    except BaseException:
        conn.terminate()
        raise
    if not held:
        await conn.close()
        raise RestoreRunning()
    return conn


class InUseLock:
    """``IN_USE_LOCK`` held shared for as long as the wallet is open, taken again when its
    connection is lost (:meth:`held` says whether it is held now)."""

    def __init__(self, url: str, conn: asyncpg.Connection) -> None:
        self._url = url
        self._conn: asyncpg.Connection | None = None
        self._closed = False
        self._retaking: asyncio.Task | None = None
        self.lost = 0  # how many times its connection was lost (for tests and logs)
        self._hold(conn)

    @classmethod
    async def take(cls, url: str) -> InUseLock:
        """Hold the lock; StorageError while a restore holds it or PostgreSQL is away."""
        return cls(url, await _take(url))

    @property
    def held(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL session that holds the lock now (None while it is taken again)."""
        return self._conn.get_server_pid() if self.held else None

    def _hold(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        conn.add_termination_listener(self._lost)

    def _lost(self, conn: asyncpg.Connection) -> None:
        if self._closed or conn is not self._conn:
            return
        self._conn = None
        self.lost += 1
        log.warning(
            "the connection holding the database's in-use lock was lost: taking it again"
            " (until then a restore is not refused)"
        )
        self._retaking = asyncio.get_running_loop().create_task(
            self._retake(), name="in-use-lock"
        )

    async def _retake(self) -> None:
        refused_told = False
        for attempt in range(10**9):
            await asyncio.sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])
            if self._closed:
                return
            try:
                conn = await _take(self._url)
            except RestoreRunning:
                if not refused_told:
                    refused_told = True
                    log.error(
                        "a restore is replacing the database while this bot runs: stop the"
                        " bot, let the restore finish, then start it again"
                    )
                continue
            except StorageError as exc:
                log.debug("in-use lock not taken yet: %s", exc)
                continue
            if self._closed:
                await conn.close()
                return
            self._hold(conn)
            log.info("the database's in-use lock is held again")
            return

    async def close(self) -> None:
        self._closed = True
        retaking, self._retaking = self._retaking, None
        if retaking is not None:
            retaking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retaking
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            await conn.close()
