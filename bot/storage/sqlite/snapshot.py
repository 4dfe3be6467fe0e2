"""Read-only, consistent views of a wallet database (the ``LedgerSnapshot`` of
``bot.domain.ports``), for the audit and the admin's figures: one read transaction, so
every query sees the same moment, safe to take while the bot is writing."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from bot.domain.errors import StorageError
from bot.domain.model import Account, Transfer
from bot.domain.security_ports import SecurityEvent
from bot.storage.sqlite import schema
from bot.storage.sqlite.ledger_ops import (
    ACCOUNT_COLUMNS,
    TRANSFER_COLUMNS,
    row_to_account,
    row_to_transfer,
)
from bot.storage.sqlite.security_ops import EVENT_COLUMNS, row_to_event

__all__ = ["SqliteSnapshot", "open_snapshot"]


async def _open_reader(path: Path) -> aiosqlite.Connection:
    reader = await aiosqlite.connect(path, isolation_level=None)
    try:
        await reader.execute(f"PRAGMA busy_timeout = {schema.BUSY_TIMEOUT_MS}")
        await reader.execute("PRAGMA query_only = ON")
    except BaseException:
        await reader.close()
        raise
    return reader


class SqliteSnapshot:
    """Reads inside one read transaction: every query sees the same moment."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def accounts(self) -> list[Account]:
        async with self._conn.execute(
            f"SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY id"
        ) as cursor:
            return [row_to_account(r) for r in await cursor.fetchall()]

    async def events(self) -> AsyncIterator[SecurityEvent]:
        """The security audit log, in order."""
        async with self._conn.execute(
            f"SELECT {EVENT_COLUMNS} FROM security_events ORDER BY id"
        ) as cursor:
            while rows := await cursor.fetchmany(2_000):
                for row in rows:
                    yield row_to_event(row)

    async def live_voucher_value(self) -> dict[str, int]:
        """The remaining value of the live vouchers, by the currency of their escrow."""
        try:
            async with self._conn.execute(
                "SELECT a.currency, sum(v.remaining_fen) FROM vouchers AS v"
                " JOIN voucher_issues AS i ON i.id = v.issue_id"
                " JOIN accounts AS a ON a.id = i.escrow_id"
                " WHERE v.state = 'live' GROUP BY a.currency"
            ) as cursor:
                return {currency: value for currency, value in await cursor.fetchall()}
        except sqlite3.OperationalError:  # a file from before the vouchers (migration 18)
            return {}

    async def transfers(self) -> AsyncIterator[Transfer]:
        async with self._conn.execute(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers ORDER BY id"
        ) as cursor:
            cursor.arraysize = 2_000
            while rows := await cursor.fetchmany(cursor.arraysize):
                for row in rows:
                    yield row_to_transfer(row)


@asynccontextmanager
async def open_snapshot(path: str | Path) -> AsyncIterator[SqliteSnapshot]:
    """A read-only, consistent view of the ledger; safe while the bot is writing."""
    path = Path(path)
    if not path.is_file():
        raise StorageError(f"no wallet database at {path}")
    conn = await _open_reader(path)
    try:
        version = await _schema_version(conn)
        if version < 1:
            raise StorageError(f"{path} is not a wallet database (no migrations applied)")
        await conn.execute("BEGIN")
        # The first read fixes the snapshot for the rest of the transaction.
        await (await conn.execute("SELECT count(*) FROM accounts")).close()
        yield SqliteSnapshot(conn)
        await conn.execute("ROLLBACK")
    finally:
        await conn.close()


async def _schema_version(conn: aiosqlite.Connection) -> int:
    try:
        async with conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations") as c:
            (version,) = await c.fetchone()
    except sqlite3.Error:
        return 0
    return version
