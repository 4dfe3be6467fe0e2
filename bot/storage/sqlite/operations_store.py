"""The ``OperationsStore`` of ``bot.domain.operations`` on SQLite: figures and a write probe."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from bot.domain.errors import StorageError
from bot.domain.operations import Figures, Moved
from bot.storage.sqlite.port import PortStore, Shared

__all__ = ["SqliteOperations"]


class SqliteOperations(PortStore):
    def __init__(self, shared: Shared, path: Path) -> None:
        super().__init__(shared)
        self._path = Path(path)

    async def figures(self, after_transfer_id: int) -> Figures:
        (last,) = await self._fetchone("SELECT coalesce(max(id), 0) FROM transfers", ())
        # up to ``last`` only: a transfer committed meanwhile is read the next time
        moved = await self._moved_between(after_transfer_id, last)
        packets = await self._fetchall(
            "SELECT state, count(*) FROM red_packets GROUP BY state", ()
        )
        (held,) = await self._fetchone(
            "SELECT count(*) FROM held_payments WHERE state = 'open'", ()
        )
        (queued,) = await self._fetchone(
            "SELECT count(*) FROM payout_queue WHERE state = 'queued'", ()
        )
        return Figures(max(last, after_transfer_id), moved, dict(packets), held, queued)

    async def _moved_between(self, after: int, last: int) -> dict[tuple[str, str], Moved]:
        rows = await self._fetchall(
            "SELECT kind, currency, count(*), coalesce(sum(amount), 0) FROM transfers"
            " WHERE id > ? AND id <= ? AND flag IN ('posted', 'post_pending')"
            " GROUP BY kind, currency",
            (after, last),
        )
        return {(kind, currency): Moved(count, amount) for kind, currency, count, amount in rows}

    async def probe_write(self) -> None:
        problem = _unwritable(self._path)
        if problem:
            raise StorageError(problem)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO wallet_meta (name, value) VALUES ('health_probe', ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (str(self._clock()),),
            )

        try:
            await self._writer.run(write)
        except sqlite3.Error as exc:
            raise StorageError(f"the database takes no write: {exc}") from exc


def _unwritable(path: Path) -> str | None:
    """Why the file is not writable, or None. The permission bits count even for root
    (who could write anyway): a file made read-only says the operator wants no writes."""
    try:
        mode = path.stat().st_mode
        folder = os.statvfs(path.parent)
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
    if folder.f_flag & os.ST_RDONLY:
        return f"{path}: its file system is mounted read-only"
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or not os.access(path, os.W_OK):
        return f"{path}: the file is read-only"
    return None
