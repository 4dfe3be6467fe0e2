"""The ``OperationsStore`` of ``bot.domain.operations`` answers alike on SQLite and on
PostgreSQL: the money moved since a transfer id, by kind and currency (posted only), the
red packets by state, and a write probe that commits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.domain.model import AccountKind, TransferFlag
from bot.domain.operations import Moved
from bot.domain.users import Profile
from bot.storage.postgres import PgDatabase
from tests.fakes import ManualClock
from tests.integration.twins import open_sqlite, spec


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request, tmp_path) -> AsyncIterator[object]:
    clock = ManualClock()
    if request.param == "postgres":
        database = await request.getfixturevalue("pg_open")(clock=clock)
    else:
        database = await open_sqlite(tmp_path, clock)
    yield database
    await database.close()


async def test_figures_count_what_moved_after_a_transfer_id_and_nothing_twice(db):
    alice = (await db.users.upsert_user(Profile(1, "alice", "Alice"), "CNY", True)).account_id
    bob = (await db.users.upsert_user(Profile(2, "bob", "Bob"), "CNY", True)).account_id
    external = (await db.ledger.open_account("external", AccountKind.SYSTEM, "CNY")).id
    empty = await db.operations.figures(0)
    assert (empty.last_transfer_id, dict(empty.moved)) == (0, {})
    assert empty.held_payments == 0 and empty.payouts_queued == 0

    await db.ledger.create_transfers("t1", [spec(external, alice, 1_000, kind="top_up")])
    await db.ledger.create_transfers("t2", [spec(alice, bob, 300), spec(alice, bob, 200)])
    (pending,) = await db.ledger.create_transfers(
        "t3", [spec(alice, external, 100, kind="withdrawal", flag=TransferFlag.PENDING)]
    )
    first = await db.operations.figures(0)
    assert first.last_transfer_id == pending.id
    assert dict(first.moved) == {
        ("top_up", "CNY"): Moved(1, 1_000),
        ("transfer", "CNY"): Moved(2, 500),
    }  # the reservation moved nothing yet

    await db.ledger.create_transfers("t4", [spec(bob, alice, 50)])
    later = await db.operations.figures(first.last_transfer_id)
    assert dict(later.moved) == {("transfer", "CNY"): Moved(1, 50)}
    assert (await db.operations.figures(later.last_transfer_id)).moved == {}
    assert (await db.operations.figures(10**6)).last_transfer_id == 10**6


async def test_the_write_probe_commits_a_row_read_afterwards(db):
    await db.operations.probe_write()
    assert await db.meta("health_probe") == str(db.now_ms())


async def test_a_database_that_takes_no_write_fails_the_probe(pg_open):
    from bot.domain.errors import StorageError

    database: PgDatabase = await pg_open()
    try:
        async with database.pool.acquire() as conn:
            name = await conn.fetchval("SELECT current_database()")
            await conn.execute(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
        await database.pool.expire_connections()
        with pytest.raises(StorageError, match="read-only"):
            await database.operations.probe_write()
    finally:
        await database.close()
