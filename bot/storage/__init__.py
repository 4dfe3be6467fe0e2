"""Persistence behind the ports the wallet core needs (``bot.domain.ports`` and the others)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from bot.domain.errors import StorageError
from bot.domain.ports import AuditSnapshot

if TYPE_CHECKING:
    from bot.storage.postgres import PgDatabase
    from bot.storage.sqlite import SqliteDatabase

__all__ = [
    "DEFAULT_POOL_SIZE",
    "holds_wallet",
    "is_postgres_url",
    "open_store",
    "open_store_snapshot",
    "sqlite_path",
]

DEFAULT_POOL_SIZE = 10  # PostgreSQL connections per process (WALLET_DATABASE_POOL_SIZE)


def sqlite_path(database_url: str) -> Path:
    """The file of a ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` URL."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix) or len(database_url) == len(prefix):
        raise StorageError(f"not a SQLite URL: {database_url!r}")
    return Path(database_url[len(prefix) :])


def is_postgres_url(database_url: str) -> bool:
    return database_url.startswith(("postgresql://", "postgres://"))


def _require_sqlite(database_url: str) -> Path:
    if is_postgres_url(database_url):
        raise StorageError("not a SQLite URL: a PostgreSQL database is opened by open_store")
    return sqlite_path(database_url)


def _require_every_port() -> None:
    from bot.storage.postgres import MISSING_PORTS

    if MISSING_PORTS:
        raise StorageError(
            "PostgreSQL storage is not complete yet: the stores of "
            + ", ".join(MISSING_PORTS)
            + " are missing; use sqlite:///path.db for now"
        )


async def open_store(
    database_url: str, *, synchronous: str = "FULL", pool_size: int = DEFAULT_POOL_SIZE
) -> SqliteDatabase | PgDatabase:
    """Open the database a URL names (``sqlite:///…`` or ``postgresql://…``), applying
    migrations; its attributes are the stores of the ports (``db.ledger``, ``db.users``, …).

    ``synchronous`` is SQLite's durability setting; ``pool_size`` the number of
    PostgreSQL connections. A PostgreSQL URL is refused (``StorageError``) while some
    port has no PostgreSQL store yet: never a database that works for half the bot.
    """
    if is_postgres_url(database_url):
        _require_every_port()
        from bot.storage.postgres import PgDatabase

        return await PgDatabase.open(database_url, pool_size=pool_size)
    from bot.storage.sqlite import SqliteDatabase

    return await SqliteDatabase.open(_require_sqlite(database_url), synchronous=synchronous)


def open_store_snapshot(database_url: str) -> AbstractAsyncContextManager[AuditSnapshot]:
    """A read-only consistent view, safe to take while the bot runs (used by audit)."""
    if is_postgres_url(database_url):
        from bot.storage.postgres import open_pg_snapshot

        return open_pg_snapshot(database_url)
    from bot.storage.sqlite import open_snapshot

    return open_snapshot(_require_sqlite(database_url))


async def holds_wallet(database_url: str) -> bool:
    """Whether the database a URL names exists and has the wallet's schema (migrations
    applied); it is only read, never created."""
    if is_postgres_url(database_url):
        import asyncpg

        try:
            conn = await asyncpg.connect(database_url)
        except asyncpg.InvalidCatalogNameError:  # no such database
            return False
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise StorageError(f"cannot open the PostgreSQL database: {exc}") from exc
        try:
            return bool(await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"))
        finally:
            await conn.close()
    import sqlite3

    from bot.storage.sqlite import schema

    path = _require_sqlite(database_url)
    if not path.is_file():
        return False
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return schema.schema_version(conn) >= 1
        finally:
            conn.close()
    except sqlite3.Error as exc:
        if "not a database" in str(exc):  # another kind of file altogether
            raise StorageError(f"{path.resolve()} is not a wallet database ({exc})") from exc
        raise StorageError(f"cannot read {path.resolve()}: {exc}") from exc
