"""Durable transfers per second: the wallet core beside plain sqlite3, in one run.

    .venv/bin/python bench/ledger.py [--transfers 6400] [--pairs 3] [--dir PATH]

Six figures, all on the same file system, all with WAL and synchronous=FULL:

1. the wallet core, 1 caller: ``Ledger.transfer`` awaited one after another;
2. the wallet core, 64 concurrent callers (group commit at work);
3. plain sqlite3, one single-row INSERT per committed transaction: the ceiling of any
   design that commits each transfer on its own;
4. plain sqlite3 writing the same rows 64 to a commit and nothing else: what grouping
   alone buys on this file system;
5. the same with each transfer's two balance updates, which the core cannot skip: the
   bound of the core with 64 callers, before any work of its own;
6. plain sqlite3 inserting the same rows in one batched transaction: the floor of what
   the disk and SQLite cost per row.

(2) and (5) are measured ``--pairs`` times, each 64-caller run followed at once by (5):
the figures are the medians, and the ratio of the core to its bound is the median of the
pairs' ratios (a pair shares the machine's mood of the moment; on a shared machine one
run alone moves by a third from one minute to the next).

The plain rows are the rows the 64-caller run writes (same keys, accounts and amounts)
in the same ``transfers`` table (same indexes, triggers and foreign keys), so the
comparison is like for like except for the work the core does on top (checks,
idempotency look-up, hash chain, asyncio hand-offs).

The process runs as the bot's does: with the garbage collector's thresholds that
``bot/app.py`` sets at start (``bot.ops.collector``), for the core and plain sqlite3 alike.

Why (4) stays far below 64x (3): a commit writes every B-tree page it touched to the
WAL, and 64 transfers between 128 accounts, under keys that sort into 64 different
places, touch about three index pages each (key, debit account, credit account): a
64-transfer commit appends some 180 pages where a 1-row commit appends 6. Where a flush
is cheap (about 0.1 ms here), grouping saves the flushes but not those page writes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.domain.model import SystemAccount
from bot.ops.collector import as_the_bot_runs
from bot.storage.sqlite import SqliteDatabase
from bot.storage.sqlite.schema import apply_migrations, configure
from bot.wallet.ledger import Ledger


async def core_rate(path: Path, transfers: int, callers: int) -> tuple[float, float]:
    """Transfers per second through the core and the average group size."""
    store = await SqliteDatabase.open(path)
    ledger = Ledger(store.ledger, "CNY")
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


def _plain_connection(path: Path, callers: int) -> sqlite3.Connection:
    """The wallet's schema and pragmas, with the accounts ``core_rate`` opens."""
    conn = sqlite3.connect(path, isolation_level=None)
    configure(conn, "FULL")
    apply_migrations(conn)
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO accounts (id, name, kind, currency, created_at)"
        " VALUES (1, 'external', 'system', 'CNY', 0)"
    )
    conn.executemany(
        "INSERT INTO accounts (id, name, kind, currency, credits_posted, created_at)"
        " VALUES (?, ?, 'user', 'CNY', 10000000, 0)",
        [(2 + n, f"user:{n}") for n in range(2 * callers)],
    )
    conn.execute("COMMIT")
    return conn


def groups_of(transfers: int, callers: int) -> list[list[tuple]]:
    """The rows the core writes in the 64-caller run, in the groups it commits them in:
    round i holds transfer i of every caller (same keys, accounts and amounts)."""
    per_caller = transfers // callers
    rows: list[list[tuple]] = []
    for i in range(per_caller):
        rows.append(
            [
                (
                    1 + len(rows) * callers + n,
                    f"c{callers}-{n}-{i}",
                    2 + 2 * n,
                    3 + 2 * n,
                    1 + i % 100,
                    "CNY",
                    "p2p",
                    "posted",
                    None,
                    "",
                    "",
                    0,
                    1_763_776_000_000,
                    "0" * 64,
                    "f" * 64,
                )
                for n in range(callers)
            ]
        )
    return rows


_INSERT = (
    "INSERT INTO transfers (id, key, debit_account_id, credit_account_id, amount, currency,"
    " kind, flag, pending_id, ref, memo, timeout_ms, created_at, prev_hash, hash)"
    f" VALUES ({', '.join('?' * 15)})"
)
_DEBIT = "UPDATE accounts SET debits_posted = debits_posted + ? WHERE id = ?"
_CREDIT = "UPDATE accounts SET credits_posted = credits_posted + ? WHERE id = ?"


def plain_single_rate(path: Path, groups: list[list[tuple]]) -> float:
    conn = _plain_connection(path, len(groups[0]))
    rows = [row for group in groups for row in group]
    start = time.perf_counter()
    for row in rows:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(_INSERT, row)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return len(rows) / elapsed


def plain_grouped_rate(path: Path, groups: list[list[tuple]], balances: bool) -> float:
    """Each round in one commit, with (``balances``) or without each transfer's two balance
    updates, and nothing else: what grouping 64 transfers a commit costs on this file
    system before any work of the core's own."""
    conn = _plain_connection(path, len(groups[0]))
    start = time.perf_counter()
    for group in groups:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_INSERT, group)
        if balances:
            conn.executemany(_DEBIT, [(row[4], row[2]) for row in group])
            conn.executemany(_CREDIT, [(row[4], row[3]) for row in group])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return sum(map(len, groups)) / elapsed


def plain_batched_rate(path: Path, groups: list[list[tuple]]) -> float:
    conn = _plain_connection(path, len(groups[0]))
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(_INSERT, (row for group in groups for row in group))
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return sum(map(len, groups)) / elapsed


def measure(n: int, directory: Path, pairs: int = 3) -> dict:
    """The six figures (transfers per second; the 64-caller core and its bound the medians
    of ``pairs`` runs, each core run followed at once by its bound), the 64-caller run's
    transfers a commit and each pair's ratio, measured in a temporary folder under
    ``directory`` (removed after)."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-ledger-", dir=directory))
    cores, groups_a_commit, bounds = [], [], []
    try:
        with as_the_bot_runs():  # the bot's collector thresholds, for the core and plain alike
            core1, _ = asyncio.run(core_rate(workdir / "core1.db", max(n // 8, 200), 1))
            groups = groups_of(n, 64)
            for pair in range(pairs):
                core64, group = asyncio.run(core_rate(workdir / f"core64-{pair}.db", n, 64))
                cores.append(core64)
                groups_a_commit.append(group)
                bounds.append(plain_grouped_rate(workdir / f"grouped-{pair}.db", groups, True))
            return {
                "core1": core1,
                "core64": statistics.median(cores),
                "group": statistics.median(groups_a_commit),
                "single": plain_single_rate(workdir / "single.db", groups),
                "grouped_rows": plain_grouped_rate(workdir / "grouped-rows.db", groups, False),
                "grouped": statistics.median(bounds),
                "batched": plain_batched_rate(workdir / "batched.db", groups),
                "ratios": [core / bound for core, bound in zip(cores, bounds, strict=True)],
            }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=6_400)
    parser.add_argument("--pairs", type=int, default=3, help="64-caller runs, each + its bound")
    parser.add_argument("--dir", type=Path, default=Path("."), help="where the files go")
    args = parser.parse_args()
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    n = args.transfers
    found = measure(n, args.dir, args.pairs)
    core1, core64, group = found["core1"], found["core64"], found["group"]
    single, grouped_rows = found["single"], found["grouped_rows"]
    grouped, batched = found["grouped"], found["batched"]

    print(
        f"durable transfers per second (WAL, synchronous=FULL, {os.uname().sysname}, {n} rows,"
        " the collector as the bot sets it)"
    )
    print(f"  wallet core,  1 caller                {core1:>10,.0f}/s")
    print(f"  wallet core, 64 callers               {core64:>10,.0f}/s  ({group:.1f} per commit)")
    print(f"  plain sqlite3, 1 row per commit       {single:>10,.0f}/s  (ceiling without grouping)")
    print(f"  plain sqlite3, 64 rows per commit     {grouped_rows:>10,.0f}/s  (rows only)")
    print(f"  plain sqlite3, 64 rows per commit     {grouped:>10,.0f}/s  (+ their balance updates)")
    print(f"  plain sqlite3, all rows in 1 commit   {batched:>10,.0f}/s  (floor cost per row)")
    print("ratios")
    print(f"  core 64 callers / 1-row-commit ceiling  {core64 / single:6.2f}x  (target >= 5)")
    print(
        f"  plain 64 rows a commit / 1-row-commit   {grouped_rows / single:6.2f}x  (grouping alone)"
    )
    print(
        f"  plain 64 + balances / 1-row-commit      {grouped / single:6.2f}x  (bound of the core)"
    )
    ratios = found["ratios"]
    each = ", ".join(f"{r:.2f}" for r in ratios)
    print(
        f"  core 64 callers / plain 64 + balances   {statistics.median(ratios):6.2f}x"
        f"  (the core's own work; target >= 0.6; the median of the pairs {each})"
    )
    print(f"  core 64 callers / core 1 caller         {core64 / core1:6.2f}x")
    print(f"  core 1 caller   / 1-row-commit ceiling  {core1 / single:6.2f}x")


if __name__ == "__main__":
    main()
