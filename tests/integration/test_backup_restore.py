"""Backups while the bot writes, restored elsewhere and audited; the restore's refusals."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.config import Settings
from bot.domain.events import verify_events
from bot.ops.backup import (
    BackupError,
    backup,
    latest_schema,
    prune,
    restore,
    scheduled_backup,
)
from bot.storage.sqlite import open_snapshot
from bot.wallet.audit import audit_ledger

ROOT = Path(__file__).resolve().parents[2]


def settings_at(path: Path, **more) -> Settings:
    return Settings(database_url=f"sqlite:///{path}", data_dir=path.parent, **more)


async def audited_ids(path: Path) -> set[int]:
    """The ids of the transfers in the database at ``path``, which must audit clean."""
    async with open_snapshot(path) as snapshot:
        report = await audit_ledger(snapshot)
        _, event_problems = await verify_events(snapshot.events())
        ids = {t.id async for t in snapshot.transfers()}
    assert report.ok and not event_problems, report.problems + event_problems
    return ids


async def test_a_backup_under_concurrent_writes_restores_to_an_audited_copy_with_every_commit(
    tmp_path, db_path, store, ledger, external
):
    accounts = [(await ledger.open_user_account(n)).id for n in range(1, 9)]
    for account in accounts:
        await ledger.transfer(f"fund-{account}", external, account, 1_000_000, "topup")
    for n in range(2_000):  # a database of some size, so the copy takes a while
        await ledger.transfer(f"warm-{n}", accounts[n % 8], accounts[(n + 1) % 8], 1, "transfer")

    acknowledged: list[tuple[float, int]] = []  # (when, transfer id) of each committed write
    stop = asyncio.Event()

    async def write(lane: int) -> None:
        n = 0
        while not stop.is_set():
            done = await ledger.transfer(
                f"lane{lane}-{n}", accounts[lane], accounts[(lane + 3) % 8], 1, "transfer"
            )
            acknowledged.append((time.monotonic(), done.id))
            n += 1

    writers = [asyncio.create_task(write(lane)) for lane in range(8)]
    while len(acknowledged) < 200:  # noqa: ASYNC110  (the writers run meanwhile)
        await asyncio.sleep(0.01)
    began = time.monotonic()
    before = {tid for _, tid in acknowledged}  # acknowledged before the backup began
    made = await asyncio.to_thread(backup, settings_at(db_path), tmp_path / "backups/")
    ended = time.monotonic()
    while sum(1 for when, _ in acknowledged if when > ended) < 50:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.gather(*writers)

    during = [tid for when, tid in acknowledged if began < when < ended]
    assert during, "no write was committed while the backup ran: nothing was proven"
    assert made.parent == tmp_path / "backups" and made.stat().st_mode & 0o777 == 0o600

    copy = tmp_path / "elsewhere" / "wallet.db"
    report = restore(settings_at(copy), made)
    assert report.replaced is None and report.schema == latest_schema()
    restored = await audited_ids(copy)
    assert before <= restored
    live = await audited_ids(db_path)
    assert restored < live  # the writes after the backup are in the live database only


def make_wallet_file(path: Path) -> None:
    """A wallet database with its schema (no bot running)."""
    from bot.storage.sqlite import schema

    path.parent.mkdir(parents=True, exist_ok=True)
    conn = schema.connect(path)
    schema.apply_migrations(conn)
    conn.close()


def test_a_backup_is_refused_beside_the_master_key_and_never_over_a_file(tmp_path):
    db = tmp_path / "data" / "wallet.db"
    make_wallet_file(db)
    settings = settings_at(db)
    settings.master_key_dir.mkdir(mode=0o700)
    (settings.master_key_dir / "master.key").write_text("x")
    with pytest.raises(BackupError, match="holds the master key"):
        backup(settings, settings.master_key_dir)
    with pytest.raises(BackupError, match="holds the master key"):
        backup(settings, settings.master_key_dir / "copy.db")
    made = backup(settings, tmp_path / "copy.db")
    with pytest.raises(BackupError, match="exists already"):
        backup(settings, made)
    not_wallet = tmp_path / "empty.db"
    sqlite3.connect(not_wallet).close()
    with pytest.raises(BackupError, match="not a wallet database"):
        backup(settings_at(not_wallet), tmp_path / "x.db")


def test_a_restore_refuses_an_existing_database_without_force_and_keeps_it_with_force(tmp_path):
    live = tmp_path / "data" / "wallet.db"
    make_wallet_file(live)
    conn = sqlite3.connect(live)
    conn.execute("INSERT INTO wallet_meta VALUES ('marker', 'live')")
    conn.commit()
    conn.close()
    other = tmp_path / "other.db"
    make_wallet_file(other)

    with pytest.raises(BackupError, match="--force"):
        restore(settings_at(live), other)
    assert sqlite3.connect(live).execute("SELECT value FROM wallet_meta").fetchall()

    report = restore(settings_at(live), other, force=True)
    assert report.replaced is not None and report.replaced.parent == live.parent
    assert sqlite3.connect(live).execute("SELECT value FROM wallet_meta").fetchall() == []
    kept = sqlite3.connect(report.replaced).execute("SELECT value FROM wallet_meta").fetchall()
    assert kept == [("live",)]


def test_a_restore_refuses_a_database_newer_than_the_code(tmp_path):
    newer = tmp_path / "newer.db"
    make_wallet_file(newer)
    conn = sqlite3.connect(newer)
    conn.execute(f"INSERT INTO schema_migrations VALUES ({latest_schema() + 1}, 'future', 0)")
    conn.commit()
    conn.close()
    target = tmp_path / "data" / "wallet.db"
    with pytest.raises(BackupError, match="newer than this code"):
        restore(settings_at(target), newer)
    assert not target.exists()


async def test_a_restore_is_refused_while_a_bot_has_the_database_open(tmp_path, store, db_path):
    other = tmp_path / "other.db"
    make_wallet_file(other)
    with pytest.raises(BackupError, match="running bot"):
        await asyncio.to_thread(restore, settings_at(db_path), other, force=True)


def test_scheduled_backups_keep_only_the_newest(tmp_path):
    db = tmp_path / "data" / "wallet.db"
    make_wallet_file(db)
    folder = tmp_path / "backups"
    settings = settings_at(db, backup_dir=folder, backup_keep=2)
    made = [scheduled_backup(settings, now=1_764_000_000 + 3600 * n)[0] for n in range(4)]
    (folder / "notes.txt").write_text("not a backup")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [made[2].name, made[3].name, "notes.txt"]
    )
    assert prune(folder, 1) == [made[2]]


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    inherited = {
        k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WALLET_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env={**inherited, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_command_line_backs_up_and_restores_then_audits(tmp_path):
    db = tmp_path / "data" / "wallet.db"
    env = {"WALLET_DATA_DIR": "data"}  # relative: the restore still says where, in full
    assert run_cli("migrate", env=env, cwd=tmp_path).returncode == 0
    done = run_cli("backup", str(tmp_path / "b.db"), env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "master key is not in it" in done.stdout
    refused = run_cli("restore", str(tmp_path / "b.db"), env=env, cwd=tmp_path)
    assert refused.returncode == 2 and "--force" in refused.stderr
    restored = run_cli("restore", "--force", str(tmp_path / "b.db"), env=env, cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert "ledger audit of" in restored.stdout and "OK:" in restored.stdout
    assert f"restored {tmp_path / 'b.db'} (schema" in restored.stdout
    assert f"to {db}\n" in restored.stdout
    assert f"kept as {tmp_path / 'data'}/wallet.db.before-restore-" in restored.stdout
    assert db.is_file()


@pytest.mark.parametrize("command", [["rotate-keys"], ["audit"], ["backup", "copy.db"]])
def test_a_maintenance_command_in_a_folder_with_no_wallet_refuses_and_creates_nothing(
    tmp_path, command
):
    done = run_cli(*command, env={}, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == (
        f"error: no wallet database at {tmp_path / 'data' / 'wallet.db'}: set"
        " WALLET_DATABASE_URL (or WALLET_DATA_DIR) as the bot's service does, or create one"
        " with migrate\n"
    )
    assert done.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no database, no data folder, no master key


async def test_the_bot_refuses_to_start_on_a_database_newer_than_the_code(tmp_path):
    from bot.domain.errors import StorageError
    from bot.storage.sqlite import SqliteDatabase

    path = tmp_path / "wallet.db"
    make_wallet_file(path)
    conn = sqlite3.connect(path)
    conn.execute(f"INSERT INTO schema_migrations VALUES ({latest_schema() + 1}, 'future', 0)")
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="newer than this code"):
        await SqliteDatabase.open(path)
    done = run_cli("migrate", env={"WALLET_DATABASE_URL": f"sqlite:///{path}"}, cwd=tmp_path)
    assert done.returncode == 2 and "newer than this code" in done.stderr
