"""The PostgreSQL back end with several processes at once: each "process" is a
``PgDatabase`` of its own (its own pool) on one database, so nothing in one process can
make the other's writes safe; only the database can."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from bot.app import open_wallet
from bot.config import Settings
from bot.domain.errors import InsufficientFunds, PendingTransferAlreadyResolved, StorageError
from bot.domain.events import verify_events
from bot.domain.model import SystemAccount, Transfer
from bot.domain.security_errors import PinLocked
from bot.domain.security_ports import MAX_TRIES
from bot.domain.users import Profile
from bot.storage import open_store, open_store_snapshot
from bot.storage.postgres import MISSING_PORTS, PgDatabase
from bot.storage.postgres.schema import migrations
from bot.wallet.audit import audit_ledger
from bot.wallet.ledger import Ledger

ROOT = Path(__file__).resolve().parents[2]
_keys = itertools.count()


def key(prefix: str = "k") -> str:
    return f"{prefix}-{next(_keys)}"


@pytest.fixture
async def two(pg_url):
    """Two "processes" on one database, each with a small pool of its own."""
    first = await PgDatabase.open(pg_url, pool_size=4)
    second = await PgDatabase.open(pg_url, pool_size=4)
    yield first, second
    await first.close()
    await second.close()


async def audit(url: str):
    async with open_store_snapshot(url) as snapshot:
        report = await audit_ledger(snapshot)
        events, problems = await verify_events(snapshot.events())
        journal = [t async for t in snapshot.transfers()]
    return report, events, problems, journal


# Many processes, one ledger --------------------------------------------------------------


async def test_many_tasks_on_two_processes_move_money_exactly_between_the_same_accounts(
    pg_url, two
):
    ledgers = [Ledger(db.ledger, "CNY") for db in two]
    external = await ledgers[0].system_account_id(SystemAccount.EXTERNAL)
    people = [(await ledgers[0].open_user_account(n)).id for n in range(1, 5)]
    for person in people:
        await ledgers[1].transfer(key("top-up"), external, person, 1_000, "top_up")
    draw = random.Random(16)
    orders = []
    for n in range(300):
        payer, payee = draw.sample(people, 2)
        orders.append((f"pay-{n}", payer, payee, draw.randint(1, 60)))

    results = await asyncio.gather(
        *(
            ledgers[n % 2].transfer(k, payer, payee, amount, "p2p")
            for n, (k, payer, payee, amount) in enumerate(orders)
        ),
        return_exceptions=True,
    )

    refused = [r for r in results if not isinstance(r, Transfer)]
    assert all(isinstance(r, InsufficientFunds) for r in refused), set(map(type, refused))
    expected = dict.fromkeys(people, 1_000)
    for done in results:
        if isinstance(done, Transfer):
            expected[done.debit_account_id] -= done.amount
            expected[done.credit_account_id] += done.amount
    for person in people:
        balance = await ledgers[person % 2].balance(person)
        assert balance.available == expected[person] >= 0
    report, _, _, journal = await audit(pg_url)
    assert report.ok, report.problems
    assert [t.id for t in journal] == list(range(1, len(journal) + 1))
    assert len(journal) == 4 + len(results) - len(refused)


async def test_two_processes_never_overdraw_one_account(pg_url, two):
    ledgers = [Ledger(db.ledger, "CNY") for db in two]
    external = await ledgers[0].system_account_id(SystemAccount.EXTERNAL)
    payer = (await ledgers[0].open_user_account(1)).id
    payee = (await ledgers[1].open_user_account(2)).id
    amount, covered = 7, 83
    await ledgers[0].transfer(key(), external, payer, amount * covered + 5, "top_up")

    results = await asyncio.gather(
        *(ledgers[i % 2].transfer(f"pay-{i}", payer, payee, amount, "p2p") for i in range(200)),
        return_exceptions=True,
    )

    done = [r for r in results if isinstance(r, Transfer)]
    assert len(done) == covered
    assert all(isinstance(r, InsufficientFunds) for r in results if r not in done)
    assert (await ledgers[1].balance(payer)).available == 5
    assert (await ledgers[0].balance(payee)).available == amount * covered
    assert (await audit(pg_url))[0].ok


async def test_replays_racing_on_two_processes_get_the_first_result_and_move_money_once(
    pg_url, two
):
    ledgers = [Ledger(db.ledger, "CNY") for db in two]
    external = await ledgers[0].system_account_id(SystemAccount.EXTERNAL)
    alice = (await ledgers[0].open_user_account(1)).id

    results = await asyncio.gather(
        *(
            ledgers[n % 2].transfer(f"charge-{n // 6}", external, alice, 100 + n // 6, "top_up")
            for n in range(60)
        )
    )

    for n in range(0, 60, 6):
        assert len(set(results[n : n + 6])) == 1  # every caller of one key: one answer
    assert (await ledgers[1].balance(alice)).available == sum(100 + k for k in range(10))
    report, _, _, journal = await audit(pg_url)
    assert report.ok and len(journal) == 10


async def test_a_reservation_resolved_from_two_processes_at_once_is_resolved_once(pg_url, two):
    ledgers = [Ledger(db.ledger, "CNY") for db in two]
    external = await ledgers[0].system_account_id(SystemAccount.EXTERNAL)
    alice = (await ledgers[0].open_user_account(1)).id
    await ledgers[0].transfer(key(), external, alice, 500, "top_up")
    hold = await ledgers[1].reserve(key(), alice, external, 300, "withdrawal")

    results = await asyncio.gather(
        *(
            (ledgers[n % 2].post if n % 3 else ledgers[n % 2].void)(f"resolve-{n}", hold.id)
            for n in range(12)
        ),
        return_exceptions=True,
    )

    won = [r for r in results if isinstance(r, Transfer)]
    assert len(won) == 1
    assert all(isinstance(r, PendingTransferAlreadyResolved) for r in results if r not in won)
    balance = await ledgers[0].balance(alice)
    posted = won[0].flag == "post_pending"
    assert (balance.available, balance.reserved) == (200 if posted else 500, 0)
    assert (await audit(pg_url))[0].ok


async def test_pin_tries_sent_at_once_from_two_processes_meet_the_limit(two):
    first, second = two
    await first.users.upsert_user(Profile(7, "p", "P"), "CNY", True)
    await first.security.set_pin(7, "hash", "k1")
    now = first.now_ms()

    results = await asyncio.gather(
        *((first, second)[n % 2].security.begin_pin_attempt(7, now) for n in range(12)),
        return_exceptions=True,
    )

    counted = [r for r in results if not isinstance(r, BaseException)]
    assert len(counted) == MAX_TRIES
    assert all(isinstance(r, PinLocked) for r in results if r not in counted)
    assert sorted(r.state.failed for r in counted) == list(range(MAX_TRIES))


async def test_a_username_claimed_by_many_at_once_ends_with_exactly_one_of_them(two):
    users = await asyncio.gather(
        *(
            two[n % 2].users.upsert_user(Profile(100 + n, "Popular", f"P{n}"), "CNY", False)
            for n in range(16)
        )
    )

    holder = await two[0].users.find_user_by_username("popular")
    assert all(user.username == "Popular" for user in users)  # each held it when it wrote
    assert holder is not None and 100 <= holder.telegram_id < 116
    others = [await two[1].users.get_user(100 + n) for n in range(16)]
    assert [u.telegram_id for u in others if u.username is not None] == [holder.telegram_id]


async def test_security_events_from_two_processes_form_one_chain(pg_url, two):
    await asyncio.gather(
        *(
            db.security.record_event(n, "test.event", None, {"n": n, "by": i})
            for n in range(40)
            for i, db in enumerate(two)
        )
    )

    _, events, problems, _ = await audit(pg_url)
    assert (events, problems) == (80, [])


# Opening, migrations, snapshots -----------------------------------------------------------


async def test_a_postgresql_url_opens_a_whole_wallet_and_the_migrate_command_too(
    pg_url, tmp_path
):
    assert MISSING_PORTS == ()
    store = await open_store(pg_url)
    try:
        assert isinstance(store, PgDatabase)
        assert all(hasattr(store, name) for name in PgDatabase.STORES)
    finally:
        await store.close()

    env = {**os.environ, "WALLET_DATABASE_URL": pg_url, "PYTHONPATH": str(ROOT)}
    env["WALLET_DATA_DIR"] = str(tmp_path)
    migrated = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    settings = Settings(database_url=pg_url, data_dir=tmp_path, admin_ids=frozenset({1}))
    wallet = await open_wallet(settings)
    try:
        alice = await wallet.users.seen(Profile(1, "alice", "Alice", "en"), private_chat=True)
        external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
        await wallet.ledger.transfer("fund", external, alice.account_id, 500, "topup")
        flow = await wallet.guides.begin(1, "send", "amount")
        assert (await wallet.guides.current(1)) == flow
        await wallet.store.operations.probe_write()
        assert (await wallet.ledger.account(alice.account_id)).available == 500
    finally:
        await wallet.close()
    report, _, problems, journal = await audit(pg_url)
    assert report.ok and problems == [] and len(journal) == 1


async def test_processes_starting_at_once_apply_each_migration_once(pg_server):
    url = pg_server.database_url("wallet_fresh")
    admin = await asyncpg.connect(pg_server.database_url("postgres"))
    await admin.execute("DROP DATABASE IF EXISTS wallet_fresh WITH (FORCE)")
    await admin.execute("CREATE DATABASE wallet_fresh")
    try:
        opened = await asyncio.gather(*(PgDatabase.open(url, pool_size=1) for _ in range(3)))
        for db in opened:
            await db.close()
        conn = await asyncpg.connect(url)
        recorded = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY 1")
        await conn.close()
    finally:
        await admin.execute("DROP DATABASE IF EXISTS wallet_fresh WITH (FORCE)")
        await admin.close()

    assert [tuple(r) for r in recorded] == [(v, name) for v, name, _ in migrations()]


async def test_a_snapshot_of_a_database_without_the_schema_is_a_storage_error(pg_server):
    with pytest.raises(StorageError):
        async with open_store_snapshot(pg_server.database_url("postgres")):
            pass
    with pytest.raises(StorageError):
        async with open_store_snapshot(pg_server.database_url("no_such_database")):
            pass


async def test_the_journal_cannot_be_changed_or_deleted_through_sql(pg_url, two):
    ledger = Ledger(two[0].ledger, "CNY")
    external = await ledger.system_account_id(SystemAccount.EXTERNAL)
    alice = (await ledger.open_user_account(1)).id
    await ledger.transfer("t", external, alice, 100, "top_up")
    conn = await asyncpg.connect(pg_url)
    try:
        for sql in ("UPDATE transfers SET amount = 1", "DELETE FROM transfers"):
            with pytest.raises(asyncpg.PostgresError, match="append-only"):
                await conn.execute(sql)
    finally:
        await conn.close()


async def test_audit_takes_one_moment_while_two_processes_move_money(pg_url, two):
    ledgers = [Ledger(db.ledger, "CNY") for db in two]
    external = await ledgers[0].system_account_id(SystemAccount.EXTERNAL)
    people = [(await ledgers[0].open_user_account(n)).id for n in (1, 2)]
    await ledgers[0].transfer(key(), external, people[0], 10_000, "top_up")

    async def move() -> None:
        for n in range(150):
            await ledgers[n % 2].transfer(key(), people[n % 2], people[1 - n % 2], 1, "p2p")

    async def audits() -> list:
        reports = []
        for _ in range(5):
            reports.append((await audit(pg_url))[0])
        return reports

    _, reports = await asyncio.gather(move(), audits())
    assert all(report.ok for report in reports), [r.problems for r in reports]


async def test_the_audit_command_reads_postgresql_and_names_a_tampered_transfer(pg_url, two):
    ledger = Ledger(two[0].ledger, "CNY")
    external = await ledger.system_account_id(SystemAccount.EXTERNAL)
    alice = (await ledger.open_user_account(1)).id
    await ledger.transfer("t1", external, alice, 100, "top_up")
    await ledger.transfer("t2", alice, external, 40, "withdrawal")

    def run_audit() -> subprocess.CompletedProcess:
        env = {**os.environ, "WALLET_DATABASE_URL": pg_url, "PYTHONPATH": str(ROOT)}
        return subprocess.run(
            [sys.executable, "-m", "bot", "audit"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    whole = await asyncio.to_thread(run_audit)
    conn = await asyncpg.connect(pg_url)
    try:  # what someone with the database's superuser could do
        await conn.execute("ALTER TABLE transfers DISABLE TRIGGER USER")
        await conn.execute("UPDATE transfers SET amount = 50 WHERE key = 't2'")
    finally:
        await conn.close()
    tampered = await asyncio.to_thread(run_audit)

    assert whole.returncode == 0, whole.stdout + whole.stderr
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    assert "transfer 2" in tampered.stdout
