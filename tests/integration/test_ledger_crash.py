"""A process killed mid-load leaves a ledger that is whole: every operation all or nothing."""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bot.domain.model import AccountKind, TransferFlag
from bot.storage import open_store_snapshot
from bot.wallet.audit import audit_ledger

ROOT = Path(__file__).resolve().parents[2]
USERS = 8
SEED = 10_000  # each user's top-up per run of the load

# The load: many tasks run operations of one to three transfers between the users. Some
# operations are refused by their last transfer (more than the middle account holds).
# Each operation's key names its size; a line is printed only after the commit returned.
LOAD = textwrap.dedent(
    f"""
    import asyncio, sys

    from bot.storage import open_store
    from bot.domain.errors import (InsufficientFunds,)
    from bot.wallet.ledger import (Ledger,)
    from bot.domain.model import SystemAccount, TransferSpec

    url, run = sys.argv[1], sys.argv[2]

    async def worker(ledger, users, w):
        for i in range(10**9):
            a, b, c = (users[(w + i * k) % {USERS}] for k in (1, 3, 5))
            other = users[(w + i + 1) % {USERS}]
            size = 1 + i % 3
            legs = [(a, b, 1 + i % 50), (b, c, 1 + i % 70), (c, a, 1 + i % 90)][:size]
            if i % 7 == 5:
                legs[-1] = (legs[-1][0], legs[-1][1], 10**9)  # refused: all or nothing
            legs = [(d, cr, n) for d, cr, n in legs if d != cr] or [(a, other, 1)]
            key = f"{{run}}-w{{w}}-{{i}}-n{{len(legs)}}"
            specs = [TransferSpec(d, cr, n, "load") for d, cr, n in legs]
            try:
                await ledger.execute(key, specs)
            except InsufficientFunds:
                print("refused", key, flush=True)
            else:
                print("committed", key, flush=True)

    async def main():
        store = await open_store(url)
        ledger = Ledger(store.ledger, "CNY")
        external = await ledger.system_account_id(SystemAccount.EXTERNAL)
        users = [(await ledger.open_user_account(n)).id for n in range({USERS})]
        for n, user in enumerate(users):
            await ledger.transfer(f"{{run}}-seed-{{n}}", external, user, {SEED}, "top_up")
        print("ready", flush=True)
        await asyncio.gather(*(worker(ledger, users, w) for w in range(32)))

    asyncio.run(main())
    """
)


@dataclass
class Run:
    committed: set[str] = field(default_factory=set)
    refused: set[str] = field(default_factory=set)
    stderr: str = ""


def child_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WALLET_", "TELEGRAM_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        WALLET_DATABASE_URL=database_url,
        WALLET_DATA_DIR=str(tmp_path),
    )
    return env


def run_and_kill(tmp_path: Path, database_url: str, run: str, kill_after: int) -> Run:
    """Start the load, SIGKILL it once ``kill_after`` operations reported their commit."""
    script = tmp_path / "load.py"
    script.write_text(LOAD)
    errors = tmp_path / f"load-{run}.stderr"
    with errors.open("wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, str(script), database_url, run],
            cwd=tmp_path,
            env=child_env(tmp_path, database_url),
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    result, pending = Run(), b""

    def take(data: bytes) -> None:
        nonlocal pending
        *lines, pending = (pending + data).split(b"\n")
        for line in lines:
            word, _, key = line.decode().partition(" ")
            if word == "committed":
                result.committed.add(key)
            elif word == "refused":
                result.refused.add(key)

    try:
        deadline = time.monotonic() + 30
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            while len(result.committed) < kill_after and child.poll() is None:
                assert time.monotonic() < deadline, "the load made no progress"
                if selector.select(timeout=1):
                    take(os.read(child.stdout.fileno(), 65_536))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        take(child.stdout.read())  # lines written before the kill: those commits happened too
        child.stdout.close()
        result.stderr = errors.read_text()
    assert child.returncode == -signal.SIGKILL, f"the load stopped by itself:\n{result.stderr}"
    return result


async def check_whole(database_url: str, runs: int, reported: Run) -> int:
    """Audit the database and check every operation; return how many operations it holds."""
    async with open_store_snapshot(database_url) as snapshot:
        report = await audit_ledger(snapshot)
        accounts = {a.id: a for a in await snapshot.accounts()}
        transfers = [t async for t in snapshot.transfers()]
    assert report.ok, report.problems
    assert report.total_user_money == runs * USERS * SEED  # the load only moves it around

    operations: dict[str, list] = defaultdict(list)
    for t in transfers:
        assert t.flag is TransferFlag.POSTED
        operations[t.key.partition("#")[0]].append(t)
    for key, parts in operations.items():
        if "-seed-" in key:
            continue
        size = int(key.rpartition("-n")[2])
        assert [t.key for t in parts] == [key] + [f"{key}#{i}" for i in range(1, size)]
        assert [t.id for t in parts] == list(range(parts[0].id, parts[0].id + size)), key
    assert reported.committed <= operations.keys(), "a reported commit was lost"
    assert not reported.refused & operations.keys(), "a refused operation left transfers"

    balances: dict[int, int] = defaultdict(int)
    for t in transfers:
        balances[t.debit_account_id] -= t.amount
        balances[t.credit_account_id] += t.amount
    for account in accounts.values():
        assert account.balance == balances[account.id], account
        if account.kind is not AccountKind.SYSTEM:
            assert account.balance >= 0
    return len(operations)


def test_killed_load_leaves_every_operation_whole_and_the_audit_command_passes(
    tmp_path, database_url
):
    """On SQLite a killed process leaves its file; on PostgreSQL its connections are cut
    mid-transaction. Either way every operation is all or nothing."""
    reported = Run()
    held = 0
    for run, kill_after in enumerate((5, 300, 2_000)):
        this_run = run_and_kill(tmp_path, database_url, f"r{run}", kill_after)
        reported.committed |= this_run.committed
        reported.refused |= this_run.refused
        now_held = asyncio.run(check_whole(database_url, run + 1, reported))
        assert now_held >= held + len(this_run.committed)  # and the chain went on
        held = now_held
    assert reported.refused, "the load should include refused operations"

    audit = subprocess.run(
        [sys.executable, "-m", "bot", "audit"],
        cwd=tmp_path,
        env=child_env(tmp_path, database_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "\nOK: balances match their transfers" in audit.stdout
