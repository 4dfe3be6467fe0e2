"""Reading (and, to test the audit, tampering with) the wallet's database behind the
bot's back, on SQLite or on PostgreSQL (``WALLET_TEST_DATABASE``, ``conftest.py``)."""

from __future__ import annotations

import asyncio
import itertools
import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

__all__ = ["is_postgres", "rows", "tamper"]


def is_postgres(database_url: str) -> bool:
    return database_url.startswith(("postgresql://", "postgres://"))


def rows(database_url: str, sql: str, *params: object) -> list[tuple]:
    """The rows of ``sql`` (``?`` placeholders), read on a connection of its own."""
    if not is_postgres(database_url):
        with closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as conn:
            return conn.execute(sql, params).fetchall()
    numbers = itertools.count(1)
    sql = re.sub(r"\?", lambda _: f"${next(numbers)}", sql)
    return _on_postgres(database_url, lambda conn: conn.fetch(sql, *params))


def tamper(database_url: str, sql: str) -> None:
    """Run ``sql`` with the journal's append-only triggers out of the way (what someone
    with the database's files or superuser could do)."""
    if not is_postgres(database_url):
        path = database_url.removeprefix("sqlite:///")
        with closing(sqlite3.connect(path, isolation_level=None)) as conn:
            conn.execute("DROP TRIGGER IF EXISTS transfers_are_immutable")
            conn.execute(sql)
        return

    async def run(conn) -> list:
        await conn.execute("ALTER TABLE transfers DISABLE TRIGGER USER")
        await conn.execute(sql)
        return []

    _on_postgres(database_url, run)


def _on_postgres(database_url: str, work) -> list[tuple]:
    import asyncpg

    async def main() -> list[tuple]:
        conn = await asyncpg.connect(database_url)
        try:
            return [tuple(row) for row in await work(conn)]
        finally:
            await conn.close()

    # a loop of its own (the test's loop is running): a thread for the moment
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, main()).result()
