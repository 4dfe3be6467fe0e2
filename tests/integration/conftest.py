"""Integration fixtures: a real SQLite wallet database in ``tmp_path`` with a clock the test
moves (``store`` is the database; its attributes are the stores of the ports)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from bot.domain.model import SystemAccount
from bot.storage.sqlite import SqliteDatabase, open_snapshot
from bot.wallet.audit import AuditReport, audit_ledger
from bot.wallet.ledger import Ledger
from tests.fakes.state import ManualClock
from tests.integration.twins import BACK_ENDS, Opener, open_memory

START_MS = 1_700_000_000_000  # 2023-11-14, any fixed moment will do


class Clock:
    """A store clock that stands still until the test advances it."""

    def __init__(self, now_ms: int = START_MS) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, *, seconds: int = 0, ms: int = 0) -> None:
        self.now_ms += seconds * 1000 + ms


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def manual_clock() -> ManualClock:
    """The clock of ``db``: it stands still until the test moves it."""
    return ManualClock()


@pytest.fixture(params=[*sorted(BACK_ENDS), "postgres"])
async def db(request, tmp_path: Path, manual_clock: ManualClock) -> AsyncIterator[object]:
    """A fresh wallet database on each back end in turn (memory, SQLite, PostgreSQL), for
    the contract tests: a port's store must answer alike on every one."""
    if request.param == "postgres":
        database = await request.getfixturevalue("pg_open")(clock=manual_clock)
    else:
        database = await BACK_ENDS[request.param](tmp_path, manual_clock)
    yield database
    await database.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "wallet.db"


@pytest.fixture
async def store(db_path: Path, clock: Clock) -> AsyncIterator[SqliteDatabase]:
    store = await SqliteDatabase.open(db_path, clock=clock)
    yield store
    await store.close()


@pytest.fixture
async def ledger(store: SqliteDatabase) -> Ledger:
    ledger = Ledger(store.ledger, "CNY")
    await ledger.open_system_accounts()
    return ledger


@pytest.fixture
async def external(ledger: Ledger) -> int:
    """The payment gateway's account: where top-ups come from (it may go negative)."""
    return await ledger.system_account_id(SystemAccount.EXTERNAL)


@pytest.fixture
def audit(db_path: Path) -> Callable[[], Awaitable[AuditReport]]:
    """Audit the test's database from a fresh read-only snapshot."""

    async def run() -> AuditReport:
        async with open_snapshot(db_path) as snapshot:
            return await audit_ledger(snapshot)

    return run


@pytest.fixture(params=["sqlite", "postgres"])
def twin_back_ends(request) -> dict[str, Opener]:
    """Whom ``twins.tell`` tells a story to: the memory back end and SQLite, or the memory
    back end and PostgreSQL (a database of the test's own)."""
    if request.param == "sqlite":
        return dict(BACK_ENDS)
    from bot.storage.postgres import PgDatabase

    url = request.getfixturevalue("pg_url")

    async def open_postgres(folder: Path, clock) -> PgDatabase:
        return await PgDatabase.open(url, clock=clock)

    return {"memory": open_memory, "postgres": open_postgres}


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, db_path: Path) -> str:
    """The test's database on each back end: a SQLite file, or a PostgreSQL database of
    its own (for the tests of ports both back ends have; see ``both_store``)."""
    if request.param == "sqlite":
        return f"sqlite:///{db_path}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
async def both_store(database_url: str, db_path: Path, clock: Clock) -> AsyncIterator[object]:
    """``store`` on SQLite, then on PostgreSQL: a module whose tests hold on both says
    ``store = both_store`` and ``audit = both_audit``."""
    from bot.storage import is_postgres_url

    if is_postgres_url(database_url):
        from bot.storage.postgres import PgDatabase

        store = await PgDatabase.open(database_url, clock=clock)
    else:
        store = await SqliteDatabase.open(db_path, clock=clock)
    yield store
    await store.close()


@pytest.fixture
def reopen(database_url: str, db_path: Path, clock: Clock) -> Callable[[], Awaitable[object]]:
    """Open the test's database once more, on the back end of ``both_store``: a restart,
    or a second process beside the first."""
    from bot.storage import is_postgres_url

    async def open_again() -> object:
        if is_postgres_url(database_url):
            from bot.storage.postgres import PgDatabase

            return await PgDatabase.open(database_url, clock=clock)
        return await SqliteDatabase.open(db_path, clock=clock)

    return open_again


@pytest.fixture
def both_audit(database_url: str) -> Callable[[], Awaitable[AuditReport]]:
    """Audit the test's database from a fresh read-only snapshot, as ``bot audit`` does."""
    from bot.storage import open_store_snapshot

    async def run() -> AuditReport:
        async with open_store_snapshot(database_url) as snapshot:
            return await audit_ledger(snapshot)

    return run
