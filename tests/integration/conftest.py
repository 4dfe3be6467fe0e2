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
