"""Numbered migrations for the PostgreSQL store, in PostgreSQL's dialect.

``migrations/NNNN_name.sql`` carries the same number as SQLite's migration of the same
change. They are applied at open, each in its own transaction and recorded in
``schema_migrations`` (version, name, applied_at) like SQLite's; a session advisory lock
(:data:`~bot.storage.postgres.port.MIGRATIONS_LOCK`) keeps two processes starting at
once from applying the same one twice.
"""

from __future__ import annotations

import time
from importlib import resources

import asyncpg

from bot.storage.postgres.port import MIGRATIONS_LOCK

__all__ = ["apply_migrations", "migrations", "schema_version"]


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped with the package, in order."""
    found = []
    for entry in resources.files("bot.storage.postgres").joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


async def schema_version(conn: asyncpg.Connection) -> int:
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return 0
    return await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations")


async def apply_migrations(conn: asyncpg.Connection) -> list[str]:
    """Apply the migrations this database lacks; return their names."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATIONS_LOCK)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
        )
        applied = []
        current = await schema_version(conn)
        for version, name, sql in migrations():
            if version <= current:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at)"
                    " VALUES ($1, $2, $3)",
                    version,
                    name,
                    int(time.time()),
                )
            applied.append(name)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATIONS_LOCK)
