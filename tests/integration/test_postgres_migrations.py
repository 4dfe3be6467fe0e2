"""Both back ends ship the same numbered migrations and end with the same schema: every
table and column of SQLite's is on PostgreSQL, and PostgreSQL adds only what several
processes need (the job leases, the withdrawals' sweep lease)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.storage.postgres import PgDatabase
from bot.storage.postgres.schema import migrations as pg_migrations
from bot.storage.sqlite import SqliteDatabase
from bot.storage.sqlite.schema import migrations as sqlite_migrations

# what PostgreSQL has beyond SQLite's schema, and why (docs/postgres.md)
POSTGRES_ONLY_TABLES = {"job_leases"}  # leases of the jobs that run once across processes
POSTGRES_ONLY_COLUMNS = {("withdrawals", "swept_until")}  # a sweep's lease on a withdrawal


def test_both_back_ends_number_and_name_their_migrations_alike():
    sqlite = [(version, name) for version, name, _ in sqlite_migrations()]
    postgres = [(version, name) for version, name, _ in pg_migrations()]

    assert sqlite == postgres
    assert [version for version, _ in sqlite] == list(range(1, len(sqlite) + 1))


def _sqlite_columns(path: Path) -> set[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            (table, row[1])
            for table in tables
            for row in conn.execute(f"PRAGMA table_info({table})")
        }
    finally:
        conn.close()


async def test_the_migrated_schemas_have_the_same_tables_and_columns(tmp_path, pg_url):
    sqlite = await SqliteDatabase.open(tmp_path / "wallet.db")
    await sqlite.close()
    postgres = await PgDatabase.open(pg_url, pool_size=1)
    try:
        rows = await postgres.pool.fetch(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public'"
        )
        applied = await postgres.pool.fetch(
            "SELECT version, name FROM schema_migrations ORDER BY version"
        )
    finally:
        await postgres.close()
    on_sqlite = _sqlite_columns(tmp_path / "wallet.db")
    on_postgres = {(row["table_name"], row["column_name"]) for row in rows}

    assert on_sqlite - on_postgres == set()
    extra = {(t, c) for t, c in on_postgres - on_sqlite if t not in POSTGRES_ONLY_TABLES}
    assert extra == POSTGRES_ONLY_COLUMNS
    assert POSTGRES_ONLY_TABLES <= {table for table, _ in on_postgres}
    assert [tuple(row) for row in applied] == [(v, name) for v, name, _ in pg_migrations()]
