"""backup and restore on PostgreSQL: pg_dump and pg_restore, with the same refusals."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shutil
import subprocess
import sys
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest

from bot.config import Settings
from bot.ops.backup import BackupError, backup, latest_schema, prune, restore
from bot.security.cipher import Keyring

ROOT = Path(__file__).resolve().parents[2]
KEY_A, KEY_B = bytes([1]) * 32, bytes([2]) * 32

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


def table_data(dump, table: str) -> str:
    """The rows of ``table`` in ``dump``, as pg_restore writes them (tab-separated lines)."""
    return subprocess.run(
        ["pg_restore", "--data-only", f"--table={table}", "--file=-", str(dump)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


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


async def test_a_restore_is_refused_while_a_bot_has_the_database_open(pg_url, tmp_path):
    from bot.storage.postgres import PgDatabase

    settings = Settings(database_url=pg_url, data_dir=tmp_path / "data")
    made = backup(settings, tmp_path / "backups")
    later = "SELECT value FROM wallet_meta WHERE name = 'later'"
    await execute(pg_url, "INSERT INTO wallet_meta (name, value) VALUES ('later', 'x')")
    running = await PgDatabase.open(pg_url, pool_size=1)
    try:
        with pytest.raises(BackupError, match="open in a running bot"):
            await asyncio.to_thread(restore, settings, made, force=True)
        assert await rows(pg_url, later) == [("x",)]
        assert [p.name for p in made.parent.iterdir()] == [made.name]  # nothing dumped
    finally:
        await running.close()
    report = await asyncio.to_thread(restore, settings, made, force=True)
    assert report.replaced is not None
    assert await rows(pg_url, later) == []


async def test_a_bot_does_not_open_the_database_while_a_restore_holds_it(pg_url):
    import asyncpg

    from bot.domain.errors import StorageError
    from bot.storage.postgres import PgDatabase
    from bot.storage.postgres.port import IN_USE_LOCK

    restoring = await asyncpg.connect(pg_url)
    try:
        await restoring.execute("SELECT pg_advisory_lock($1)", IN_USE_LOCK)
        with pytest.raises(StorageError, match="a restore is replacing this database"):
            await PgDatabase.open(pg_url, pool_size=1)
    finally:
        await restoring.close()
    opened = await PgDatabase.open(pg_url, pool_size=1)
    await opened.close()


async def eventually(check, within_s: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "not within the time"
        await asyncio.sleep(0.05)


async def test_a_lost_in_use_lock_is_taken_again_and_restores_stay_refused(
    pg_url, tmp_path, caplog
):
    """The connection that holds the bot's in-use lock is cut (as by a PostgreSQL restart
    or an administrator): the bot takes the lock again on a new one, so a restore is still
    refused while it runs; once it is closed, the restore goes ahead."""
    from bot.storage.postgres import PgDatabase

    settings = Settings(database_url=pg_url, data_dir=tmp_path / "data")
    made = backup(settings, tmp_path / "backups")
    running = await PgDatabase.open(pg_url, pool_size=1)
    try:
        for cut in range(2):  # and again: each new connection is watched too
            first = running.in_use.backend_pid
            assert first is not None
            await execute(pg_url, f"SELECT pg_terminate_backend({first})")

            async def held_again(first: int = first) -> bool:
                pid = running.in_use.backend_pid
                return pid is not None and pid != first

            await eventually(held_again)
            assert running.in_use.lost == cut + 1
            with pytest.raises(BackupError, match="open in a running bot"):
                await asyncio.to_thread(restore, settings, made, force=True)
        assert "taking it again" in caplog.text
    finally:
        await running.close()
    report = await asyncio.to_thread(restore, settings, made, force=True)
    assert report.replaced is not None


async def test_a_lost_in_use_lock_met_by_a_restore_is_said_and_taken_after_it(pg_url, caplog):
    import asyncpg

    from bot.storage.postgres import PgDatabase
    from bot.storage.postgres.port import IN_USE_LOCK

    running = await PgDatabase.open(pg_url, pool_size=1)
    restoring = await asyncpg.connect(pg_url)
    try:
        # a restore waits for the lock; the bot's connection is cut: the restore gets in
        waiting = asyncio.create_task(
            restoring.execute("SELECT pg_advisory_lock($1)", IN_USE_LOCK)
        )
        await asyncio.sleep(0.2)
        assert not waiting.done()
        await execute(pg_url, f"SELECT pg_terminate_backend({running.in_use.backend_pid})")
        await asyncio.wait_for(waiting, 15)

        async def said() -> bool:
            return "a restore is replacing the database while this bot runs" in caplog.text

        await eventually(said)
        assert not running.in_use.held
        await restoring.execute("SELECT pg_advisory_unlock($1)", IN_USE_LOCK)

        async def held() -> bool:
            return running.in_use.held

        await eventually(held, within_s=20)
    finally:
        await restoring.close()
        await running.close()


async def test_the_replaced_database_is_kept_as_a_dump_beside_the_backup(pg_url, tmp_path):
    settings = Settings(database_url=pg_url, data_dir=tmp_path / "data")
    made = backup(settings, tmp_path / "backups")
    await execute(pg_url, "CREATE TABLE marker (v int)", "INSERT INTO marker VALUES (42)")

    report = restore(settings, made, force=True)

    kept = report.replaced
    assert kept is not None and kept.parent == made.parent
    assert kept.name.startswith("wallet-before-restore-") and kept.suffix == ".dump"
    assert kept.stat().st_mode & 0o777 == 0o600
    assert report.target.startswith(("postgresql://", "postgres://"))
    assert re.search(r"^42$", table_data(kept, "marker"), re.MULTILINE)
    assert prune(made.parent, 1) == []  # scheduled pruning leaves it alone (one backup)


@pytest.mark.parametrize(("configured", "matches"), [(KEY_A, True), (KEY_B, False)])
async def test_the_restore_says_whether_the_configured_master_key_wrote_the_dump(
    pg_url, tmp_path, configured, matches
):
    written = Settings(database_url=pg_url, data_dir=tmp_path / "data", master_key=KEY_A)
    await execute(
        pg_url,
        "INSERT INTO wallet_meta (name, value) VALUES"
        f" ('key_check', '{Keyring(KEY_A, []).key_check()}')",
    )
    made = backup(written, tmp_path / "backups")
    settings = dataclasses.replace(written, master_key=configured)
    assert restore(settings, made, force=True).key_matches is matches


async def test_rotate_keys_on_a_database_with_no_wallet_refuses_and_creates_nothing(
    pg_server, tmp_path
):
    import asyncpg

    name = f"empty_{os.getpid()}"
    admin = await asyncpg.connect(pg_server.database_url("postgres"))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    url = pg_server.database_url(name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WALLET_"))}
    env.update(PYTHONPATH=str(ROOT), WALLET_DATABASE_URL=url)
    done = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot", "rotate-keys"), cwd=tmp_path, env=env, stdout=PIPE,
        stderr=PIPE,
    )
    out, err = await asyncio.wait_for(done.communicate(), 60)
    assert done.returncode == 2, out + err
    assert err.decode().startswith("error: no wallet database at the PostgreSQL database")
    assert await rows(url, "SELECT to_regclass('schema_migrations') IS NULL") == [(True,)]
    assert list(tmp_path.iterdir()) == []  # no master key made either
