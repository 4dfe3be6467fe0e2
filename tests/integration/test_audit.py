"""`audit` proves the ledger is whole, and names what was tampered with, on SQLite and on
PostgreSQL (the tests of the SQLite file itself and of a missing or foreign one stay on SQLite)."""

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from bot.domain.model import SystemAccount
from bot.storage import open_store, open_store_snapshot
from bot.storage.sqlite import open_snapshot
from bot.wallet.audit import audit_ledger
from bot.wallet.ledger import Ledger
from tests.integration import raw

ROOT = Path(__file__).resolve().parents[2]


async def build_ledger(database_url: str) -> dict[str, int]:
    """A small ledger: top-ups, transfers, a posted and an open reservation."""
    async with await open_store(database_url) as store:
        ledger = Ledger(store.ledger, "CNY")
        external = await ledger.system_account_id(SystemAccount.EXTERNAL)
        alice = (await ledger.open_user_account(1)).id
        bob = (await ledger.open_user_account(2)).id
        await ledger.transfer("topup-1", external, alice, 50_00, "topup")
        await ledger.transfer("p2p-1", alice, bob, 12_34, "p2p", memo="tamper-me-please")
        await ledger.transfer("p2p-2", bob, alice, 1_00, "p2p")
        hold = await ledger.reserve("wd-1", alice, external, 5_00, "withdraw")
        await ledger.post("wd-1-post", hold.id)
        await ledger.reserve("wd-2", alice, external, 3_00, "withdraw")
        return {"alice": alice, "bob": bob, "external": external}


async def audit(database_url: str):
    async with open_store_snapshot(database_url) as snapshot:
        return await audit_ledger(snapshot)


async def tamper(database_url: str, sql: str) -> None:
    """What an attacker with the file (or the server) could do: drop the guards and change
    a row."""
    await raw.drop_triggers(
        database_url, "transfers", "transfers_are_immutable", "transfers_are_permanent"
    )
    await raw.execute(database_url, sql)


def run_audit_command(database_url: str, folder: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WALLET_DATABASE_URL": database_url, "WALLET_DATA_DIR": str(folder)}
    return subprocess.run(
        [sys.executable, "-m", "bot", "audit"],
        cwd=folder,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_a_whole_ledger_passes_the_audit(database_url):
    await build_ledger(database_url)
    report = await audit(database_url)
    assert report.ok, report.problems
    assert report.transfers == 6
    assert report.open_pending == 1
    assert report.total_user_money == 50_00 - 5_00


async def test_a_changed_amount_is_named_by_transfer_and_account(database_url):
    ids = await build_ledger(database_url)
    await tamper(database_url, "UPDATE transfers SET amount = 99999 WHERE key = 'p2p-1'")
    report = await audit(database_url)
    assert not report.ok
    assert any(p.startswith("transfer 2: hash does not match") for p in report.problems)
    assert any(p.startswith(f"account {ids['bob']} ") for p in report.problems)


async def test_a_deleted_transfer_breaks_the_chain_at_the_next_one(database_url):
    await build_ledger(database_url)
    await tamper(database_url, "DELETE FROM transfers WHERE key = 'p2p-2'")
    report = await audit(database_url)
    assert "transfer 4: prev_hash does not match transfer 2 " in " ".join(report.problems)


async def test_a_forged_balance_is_named(database_url):
    ids = await build_ledger(database_url)
    await raw.execute(
        database_url,
        f"UPDATE accounts SET credits_posted = credits_posted + 100 WHERE id = {ids['bob']}",
    )
    report = await audit(database_url)
    assert any(f"account {ids['bob']} (user:2): credits_posted" in p for p in report.problems)
    assert any("the balances add up to 100, not 0" in p for p in report.problems)


async def test_bytes_changed_in_the_file_itself_are_caught(tmp_path):
    path = tmp_path / "w.db"
    await build_ledger(f"sqlite:///{path}")  # closing the store checkpoints the WAL into the file
    data = path.read_bytes()
    assert data.count(b"tamper-me-please") == 1
    path.write_bytes(data.replace(b"tamper-me-please", b"tamper-me-PLEASE"))
    async with open_snapshot(path) as snapshot:
        report = await audit_ledger(snapshot)
    assert report.problems == ["transfer 2: hash does not match its contents (row changed)"]


async def test_transfers_cannot_be_changed_or_deleted_through_sql(database_url):
    await build_ledger(database_url)
    for sql in ("UPDATE transfers SET amount = 1 WHERE id = 2", "DELETE FROM transfers"):
        assert "append-only" in await raw.refused(database_url, sql)
    assert (await audit(database_url)).ok


async def test_audit_takes_a_consistent_snapshot_while_money_moves(database_url):
    ids = await build_ledger(database_url)
    async with await open_store(database_url) as store:
        ledger = Ledger(store.ledger, "CNY")

        async def traffic() -> None:
            for i in range(300):
                await ledger.transfer(f"ab-{i}", ids["alice"], ids["bob"], 1, "p2p")
                await ledger.transfer(f"ba-{i}", ids["bob"], ids["alice"], 1, "p2p")

        mover = asyncio.create_task(traffic())
        reports = []
        while not mover.done():
            reports.append(await audit(database_url))
        await mover
    assert len(reports) >= 2
    assert all(r.ok for r in reports), [r.problems for r in reports if not r.ok]


def test_the_audit_command_exits_0_on_a_whole_ledger_and_1_on_a_tampered_one(
    tmp_path, database_url
):
    asyncio.run(build_ledger(database_url))
    clean = run_audit_command(database_url, tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "OK: balances match their transfers" in clean.stdout
    assert "transfers: 6" in clean.stdout

    asyncio.run(tamper(database_url, "UPDATE transfers SET memo = 'changed' WHERE id = 3"))
    broken = run_audit_command(database_url, tmp_path)
    assert broken.returncode == 1
    assert "FAILED" in broken.stdout
    assert "transfer 3: hash does not match its contents" in broken.stdout


def test_the_audit_command_refuses_a_missing_or_foreign_file(tmp_path):
    missing = run_audit_command(f"sqlite:///{tmp_path / 'none.db'}", tmp_path)
    assert missing.returncode == 2
    assert "no wallet database" in missing.stderr
    foreign = tmp_path / "foreign.db"
    foreign.write_bytes(b"this is not sqlite at all" * 100)
    result = run_audit_command(f"sqlite:///{foreign}", tmp_path)
    assert result.returncode == 2
    assert "not a wallet database" in result.stderr


def test_the_migrate_command_creates_the_schema(tmp_path):
    path = tmp_path / "new" / "w.db"
    env = {
        **os.environ,
        "WALLET_DATABASE_URL": f"sqlite:///{path}",
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "migrate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    tables = {
        row[0]
        for row in sqlite3.connect(path).execute(
            "SELECT name FROM sqlite_master WHERE type='table'"
        )
    }
    assert {"accounts", "transfers", "schema_migrations"} <= tables
    assert run_audit_command(f"sqlite:///{path}", path.parent).returncode == 0


def test_a_bad_setting_stops_the_command_with_the_reason(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bot", "audit"],
        cwd=tmp_path,
        env={**os.environ, "WALLET_ADMIN_IDS": "boss", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "WALLET_ADMIN_IDS: 'boss' is not a numeric Telegram user id" in done.stderr


async def test_a_changed_security_event_is_named(tmp_path, database_url):
    await build_ledger(database_url)
    async with await open_store(database_url) as store:
        await store.security.record_event(1, "pin.wrong", 1, {"failed": 1})
        await store.security.record_event(1, "pin.locked", 1, {"until_ms": 5})
        await store.security.record_event(None, "admin.freeze", 2, {})
    clean = await asyncio.to_thread(run_audit_command, database_url, tmp_path)
    assert clean.returncode == 0 and "security events: 3" in clean.stdout
    await raw.drop_triggers(database_url, "security_events", "security_events_are_immutable")
    await raw.execute(database_url, "UPDATE security_events SET event = 'pin.ok' WHERE id = 2")
    broken = await asyncio.to_thread(run_audit_command, database_url, tmp_path)
    assert broken.returncode == 1
    assert "security event 2: hash does not match its contents" in broken.stdout
