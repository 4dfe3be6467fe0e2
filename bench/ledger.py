"""Durable transfers per second: the wallet core beside plain sqlite3, in one run.

    .venv/bin/python bench/ledger.py [--transfers 6000] [--dir PATH]

Four figures, all on the same file system, all with WAL and synchronous=FULL:

1. the wallet core, 1 caller: ``Ledger.transfer`` awaited one after another;
2. the wallet core, 64 concurrent callers (group commit at work);
3. plain sqlite3, one single-row INSERT per committed transaction: the ceiling of any
   design that commits each transfer on its own;
4. plain sqlite3 inserting the same rows in one batched transaction: the floor of what
   the disk and SQLite cost per row.

The plain rows go into the same ``transfers`` table (same indexes, same triggers) that the
core writes, so the comparison is like for like except for the work the core does on top
(conditional balance updates, idempotency look-up, hash chain, asyncio hand-offs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.storage.sqlite import SqliteLedgerStore
from bot.storage.sqlite.schema import apply_migrations, configure
from bot.wallet.ledger import Ledger
from bot.wallet.model import SystemAccount


async def core_rate(path: Path, transfers: int, callers: int) -> tuple[float, float]:
    """Transfers per second through the core and the average group size."""
    store = await SqliteLedgerStore.open(path)
    ledger = Ledger(store, "CNY")
    external = await ledger.system_account_id(SystemAccount.EXTERNAL)
    users = [(await ledger.open_user_account(i)).id for i in range(2 * callers)]
    for user in users:
        await ledger.transfer(f"seed-{user}", external, user, 10_000_000, "topup")
    batches_before, ops_before = store.writer.batches, store.writer.operations
    per_caller = transfers // callers

    async def caller(n: int) -> None:
        source, target = users[2 * n], users[2 * n + 1]
        for i in range(per_caller):
            await ledger.transfer(f"c{callers}-{n}-{i}", source, target, 1 + i % 100, "p2p")

    start = time.perf_counter()
    await asyncio.gather(*(caller(n) for n in range(callers)))
    elapsed = time.perf_counter() - start
    batches = store.writer.batches - batches_before
    operations = store.writer.operations - ops_before
    await store.close()
    return per_caller * callers / elapsed, operations / max(batches, 1)


def _plain_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    configure(conn, "FULL")
    apply_migrations(conn)
    conn.execute(
        "INSERT INTO accounts (id, name, kind, currency, created_at)"
        " VALUES (1, 'external', 'system', 'CNY', 0), (2, 'user:1', 'user', 'CNY', 0)"
    )
    return conn


def _row(i: int) -> tuple:
    return (i, f"k{i}", 1, 2, 100, "CNY", "p2p", "posted", None, "", "", 0, i, "0" * 64, "f" * 64)


_INSERT = (
    "INSERT INTO transfers (id, key, debit_account_id, credit_account_id, amount, currency,"
    " kind, flag, pending_id, ref, memo, timeout_ms, created_at, prev_hash, hash)"
    f" VALUES ({', '.join('?' * 15)})"
)


def plain_single_rate(path: Path, transfers: int) -> float:
    conn = _plain_connection(path)
    start = time.perf_counter()
    for i in range(1, transfers + 1):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(_INSERT, _row(i))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return transfers / elapsed


def plain_batched_rate(path: Path, transfers: int) -> float:
    conn = _plain_connection(path)
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(_INSERT, (_row(i) for i in range(1, transfers + 1)))
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return transfers / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=6_400)
    parser.add_argument("--dir", type=Path, default=Path("."), help="where the files go")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ledger-", dir=args.dir))
    try:
        n = args.transfers
        core1, _ = asyncio.run(core_rate(workdir / "core1.db", max(n // 8, 200), 1))
        core64, group = asyncio.run(core_rate(workdir / "core64.db", n, 64))
        single = plain_single_rate(workdir / "single.db", n)
        batched = plain_batched_rate(workdir / "batched.db", n)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"durable transfers per second (WAL, synchronous=FULL, {os.uname().sysname}, {n} rows)")
    print(f"  wallet core,  1 caller                {core1:>10,.0f}/s")
    print(f"  wallet core, 64 callers               {core64:>10,.0f}/s  ({group:.1f} per commit)")
    print(f"  plain sqlite3, 1 row per commit       {single:>10,.0f}/s  (ceiling without grouping)")
    print(f"  plain sqlite3, all rows in 1 commit   {batched:>10,.0f}/s  (floor cost per row)")
    print("ratios")
    print(f"  core 64 callers / 1-row-commit ceiling  {core64 / single:6.2f}x  (target >= 5)")
    print(f"  core 64 callers / core 1 caller         {core64 / core1:6.2f}x")
    print(f"  core 1 caller   / 1-row-commit ceiling  {core1 / single:6.2f}x")
    print(f"  batched plain   / core 64 callers       {batched / core64:6.2f}x")


if __name__ == "__main__":
    main()
