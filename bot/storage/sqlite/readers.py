"""Reads for the running bot: a small pool of read-only connections, one statement a call.

**Read your writes.** A read that starts after a write was acknowledged sees that write.
The writer answers its callers only after ``COMMIT`` (see ``writer.py``); in WAL mode a
read transaction that *begins* after a commit sees it. What breaks this is a read
transaction that began earlier and is still open: SQLite keeps a connection's snapshot
for as long as any statement on that connection is active, so coroutines interleaving
``execute``/``fetchall``/``close`` on one shared connection can keep reading an old
snapshot under load.

So every read here runs to completion in one call on a reader thread: execute, fetch
every row, close the cursor. No statement stays active between calls, each call starts
a fresh read transaction, and it sees every commit acknowledged before it started. The
pool's threads each own a connection, so reads run beside each other and beside the
writer (WAL readers never block the writer, nor it them). Long scans page by key
(:meth:`ReaderPool.pages`), one complete statement a page.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.domain.errors import StorageError
from bot.storage.sqlite.schema import BUSY_TIMEOUT_MS

__all__ = ["DEFAULT_READERS", "ReaderPool"]

DEFAULT_READERS = 2  # two cores here; reads are short, a thread hop costs more than most


class ReaderPool:
    """``size`` reader threads, each with its own read-only connection to ``path``."""

    def __init__(self, path: Path, size: int = DEFAULT_READERS) -> None:
        if size < 1:
            raise ValueError("a reader pool has at least one connection")
        self.path = path
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="sqlite-reader")

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # check_same_thread=False only so that close() may close it from elsewhere,
            # after every reader thread has finished; it is used by this thread alone.
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA query_only = ON")
            conn.execute("PRAGMA cache_size = -16384")
            with self._lock:
                self._opened.append(conn)
            self._local.conn = conn
        return conn

    def _run(self, sql: str, params: Sequence | dict) -> list:
        cursor = self._connection().execute(sql, params)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()  # nothing stays active: the next call reads a fresh snapshot

    async def fetchall(self, sql: str, params: Sequence | dict = ()) -> list:
        """Every row of one statement, read in one call (a fresh read transaction)."""
        if self._closed:
            raise StorageError("the database is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._run, sql, params)
        except RuntimeError as exc:  # the executor was shut down meanwhile
            raise StorageError("the database is closed") from exc
        except sqlite3.Error as exc:
            raise StorageError(f"{type(exc).__name__}: {exc}") from exc

    async def pages(
        self, sql: str, params: dict, *, after: int = 0, size: int = 500
    ) -> AsyncIterator[list]:
        """Rows of a keyset-paged statement, one statement a page.

        ``sql`` selects rows whose first column (an increasing key) is greater than
        ``:after``, ordered by it, at most ``:size`` of them.
        """
        while True:
            rows = await self.fetchall(sql, {**params, "after": after, "size": size})
            if not rows:
                return
            yield rows
            if len(rows) < size:
                return
            after = rows[-1][0]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(None, self._shutdown)

    def _shutdown(self) -> None:
        self._executor.shutdown(wait=True)
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
