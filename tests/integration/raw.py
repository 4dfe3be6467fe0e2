"""SQL straight on a test's database, past the stores, on SQLite or PostgreSQL: what
someone holding the file (or the server's owner role) could do, for the tests that show
the database's own guards (triggers, CHECKs) standing behind the code.

Statements take no parameters, so one text serves both back ends.
"""

from __future__ import annotations

import sqlite3

import pytest

from bot.storage import is_postgres_url, sqlite_path

__all__ = ["drop_triggers", "execute", "fetch", "refused"]


async def execute(database_url: str, *statements: str) -> None:
    """Run ``statements`` one after the other, each committed on its own."""
    if is_postgres_url(database_url):
        import asyncpg

        conn = await asyncpg.connect(database_url)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()
        return
    conn = sqlite3.connect(sqlite_path(database_url), isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


async def fetch(database_url: str, query: str) -> list[tuple]:
    """The rows of ``query``, as tuples."""
    if is_postgres_url(database_url):
        import asyncpg

        conn = await asyncpg.connect(database_url)
        try:
            return [tuple(row) for row in await conn.fetch(query)]
        finally:
            await conn.close()
    with sqlite3.connect(sqlite_path(database_url)) as conn:
        return conn.execute(query).fetchall()


async def refused(database_url: str, statement: str) -> str:
    """The database's refusal of ``statement`` (a trigger's or a constraint's message);
    the test fails when the statement goes through."""
    if is_postgres_url(database_url):
        import asyncpg

        with pytest.raises(asyncpg.PostgresError) as caught:
            await execute(database_url, statement)
    else:
        with pytest.raises(sqlite3.DatabaseError) as caught:
            await execute(database_url, statement)
    return str(caught.value)


async def drop_triggers(database_url: str, table: str, *triggers: str) -> None:
    """Take the named guards off ``table``."""
    if is_postgres_url(database_url):
        await execute(database_url, *(f"DROP TRIGGER {t} ON {table}" for t in triggers))
    else:
        await execute(database_url, *(f"DROP TRIGGER {t}" for t in triggers))
