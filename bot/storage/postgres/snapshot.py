"""Read-only, consistent views of a wallet database on PostgreSQL (the ``AuditSnapshot``
of ``bot.domain.ports``): one REPEATABLE READ, READ ONLY transaction, so every query sees
the same moment; safe to take while the bot's processes are writing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from bot.domain.errors import StorageError
from bot.domain.model import Account, Transfer
from bot.domain.security_ports import SecurityEvent
from bot.storage.postgres.events import EVENT_COLUMNS, row_to_event
from bot.storage.postgres.ledger_store import (
    ACCOUNT_COLUMNS,
    TRANSFER_COLUMNS,
    row_to_account,
    row_to_transfer,
)
from bot.storage.postgres.port import storage_error
from bot.storage.postgres.schema import schema_version

__all__ = ["PgSnapshot", "open_pg_snapshot", "snapshot_on"]

_PAGE = 2_000


class PgSnapshot:
    """Reads inside one REPEATABLE READ transaction: every query sees the same moment."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def accounts(self) -> list[Account]:
        rows = await self._conn.fetch(f"SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY id")
        return [row_to_account(r) for r in rows]

    async def transfers(self) -> AsyncIterator[Transfer]:
        async for row in self._conn.cursor(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers ORDER BY id", prefetch=_PAGE
        ):
            yield row_to_transfer(row)

    async def events(self) -> AsyncIterator[SecurityEvent]:
        """The security audit log, in order."""
        async for row in self._conn.cursor(
            f"SELECT {EVENT_COLUMNS} FROM security_events ORDER BY id", prefetch=_PAGE
        ):
            yield row_to_event(row)

    async def live_voucher_value(self) -> dict[str, int]:
        """The remaining value of the live vouchers, by the currency of their escrow."""
        if await self._conn.fetchval("SELECT to_regclass('vouchers')") is None:
            return {}  # a database from before the vouchers (migration 18)
        rows = await self._conn.fetch(
            "SELECT a.currency, sum(v.remaining_fen)::bigint FROM vouchers AS v"
            " JOIN voucher_issues AS i ON i.id = v.issue_id"
            " JOIN accounts AS a ON a.id = i.escrow_id"
            " WHERE v.state = 'live' GROUP BY a.currency"
        )
        return {currency: value for currency, value in rows}


@asynccontextmanager
async def snapshot_on(conn: asyncpg.Connection) -> AsyncIterator[PgSnapshot]:
    """A snapshot in a read-only REPEATABLE READ transaction on ``conn``."""
    try:
        if await schema_version(conn) < 1:
            raise StorageError("not a wallet database (no migrations applied)")
        transaction = conn.transaction(isolation="repeatable_read", readonly=True)
        await transaction.start()
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise storage_error(exc) from exc
    try:
        yield PgSnapshot(conn)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise storage_error(exc) from exc
    finally:
        if not conn.is_closed():
            await transaction.rollback()


@asynccontextmanager
async def open_pg_snapshot(url: str) -> AsyncIterator[PgSnapshot]:
    """A read-only, consistent view of the database at ``url`` on a connection of its own."""
    try:
        conn = await asyncpg.connect(url)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise storage_error(exc) from exc
    try:
        async with snapshot_on(conn) as snapshot:
            yield snapshot
    finally:
        await conn.close()
