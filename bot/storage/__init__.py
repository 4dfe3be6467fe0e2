"""Persistence behind the ports the wallet core needs (``bot.domain.ports`` and the others)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from bot.domain.errors import StorageError
from bot.domain.ports import LedgerSnapshot

if TYPE_CHECKING:
    from bot.storage.sqlite import SqliteDatabase

__all__ = ["open_store", "open_store_snapshot", "sqlite_path"]


def sqlite_path(database_url: str) -> Path:
    """The file of a ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` URL."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix) or len(database_url) == len(prefix):
        raise StorageError(f"not a SQLite URL: {database_url!r}")
    return Path(database_url[len(prefix) :])


def _require_sqlite(database_url: str) -> Path:
    if database_url.startswith(("postgresql://", "postgres://")):
        raise StorageError("PostgreSQL storage is not available yet; use sqlite:///path.db")
    return sqlite_path(database_url)


async def open_store(database_url: str, *, synchronous: str = "FULL") -> SqliteDatabase:
    """Open the database a URL names, applying migrations; its attributes are the stores
    of the ports (``db.ledger``, ``db.users``, …)."""
    from bot.storage.sqlite import SqliteDatabase

    return await SqliteDatabase.open(_require_sqlite(database_url), synchronous=synchronous)


def open_store_snapshot(database_url: str) -> AbstractAsyncContextManager[LedgerSnapshot]:
    """A read-only consistent view, safe to take while the bot runs (used by audit)."""
    from bot.storage.sqlite import open_snapshot

    return open_snapshot(_require_sqlite(database_url))
