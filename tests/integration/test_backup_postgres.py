"""backup and restore on PostgreSQL: pg_dump and pg_restore, with the same refusals."""

from __future__ import annotations

import shutil

import pytest

from bot.config import Settings
from bot.ops.backup import BackupError, backup, latest_schema, restore

pytestmark = pytest.mark.skipif(
    not (shutil.which("pg_dump") and shutil.which("pg_restore") and shutil.which("psql")),
    reason="pg_dump, pg_restore and psql are not installed",
)


async def rows(url: str, sql: str) -> list:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


async def execute(url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def test_a_dump_is_restored_over_the_database_only_with_force(pg_url, tmp_path):
    settings = Settings(database_url=pg_url, data_dir=tmp_path / "data")
    await execute(pg_url, "CREATE TABLE marker (v int)", "INSERT INTO marker VALUES (1)")
    made = backup(settings, tmp_path / "backups")
    assert made.suffix == ".dump" and made.stat().st_mode & 0o777 == 0o600
    await execute(pg_url, "INSERT INTO marker VALUES (2)")

    with pytest.raises(BackupError, match="--force"):
        restore(settings, made)
    assert await rows(pg_url, "SELECT v FROM marker ORDER BY v") == [(1,), (2,)]
    report = restore(settings, made, force=True)
    assert report.schema == latest_schema(pg_url)
    assert await rows(pg_url, "SELECT v FROM marker ORDER BY v") == [(1,)]


async def test_a_dump_newer_than_the_code_is_refused(pg_url, tmp_path):
    settings = Settings(database_url=pg_url, data_dir=tmp_path / "data")
    future = latest_schema(pg_url) + 1
    await execute(pg_url, f"INSERT INTO schema_migrations VALUES ({future}, 'future', 0)")
    made = backup(settings, tmp_path / "newer.dump")
    with pytest.raises(BackupError, match="newer than this code"):
        restore(settings, made, force=True)
