"""Memory and start-up time of the bot process holding a big wallet, beside an empty one.

    .venv/bin/python bench/footprint.py [--users 10000] [--packets 1000]
        [--transfers 100000] [--burst 300] [--dir PATH]

1. **build**: a SQLite file (WAL, synchronous=FULL) holding ``--users`` users, ``--packets``
   open red packets of 10 shares and ``--transfers`` transfers (one top-up per user, the
   packets' escrow, the rest transfers between users), made through the wallet core with
   many concurrent callers, so the group-commit writer takes them in bulk: every row,
   hash and balance is the core's own. The time it took is printed.
2. **start-up**: the sandbox emulator runs in this process with one ``/balance`` already
   waiting; ``python -m bot run`` starts as a child process against the file, polling the
   emulator, as it is deployed. Start-up is the time from starting the process to the
   reply to that update (the interpreter, imports, migrations check, the sweep and the
   expiry job of every open packet, the first poll).
3. **memory**: the resident set of the bot's process (``VmRSS`` of /proc) after start-up,
   after a warm-up burst of ``--burst`` people writing ``/balance`` at once and after a
   second such burst by other people; and its peak (``VmHWM``). The bot runs as shipped,
   so its replies keep Telegram's 30 messages a second: a burst of 300 takes 10 s.

The baseline, in the same run, is the same process against an empty (freshly migrated)
wallet; the ratio is printed. The issues state no target for these figures. The bot's
log is checked for ERROR lines (0 expected).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

from redpackets import _World  # noqa: E402

from bot.domain.model import SystemAccount  # noqa: E402
from bot.domain.users import Profile  # noqa: E402
from bot.sandbox.server import start_sandbox  # noqa: E402
from bot.sandbox.testing import message_burst  # noqa: E402
from bot.storage.sqlite import SqliteDatabase  # noqa: E402

KEY = bytes(32)  # the key ``redpackets._World`` encrypts with; the bot is given the same
SHARES = 10
CALLERS = 64
START_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Footprint:
    """One bot process's figures."""

    start_s: float  # process start to the first reply
    rss_started_mb: float
    rss_warm_mb: float
    rss_burst_mb: float
    peak_mb: float
    burst_p50_ms: float
    burst_p99_ms: float
    unanswered: int
    log_errors: int


async def build(path: Path, users: int, packets: int, transfers: int) -> float:
    """Fill ``path`` through the core; seconds it took."""
    start = time.perf_counter()
    world = await _World.open(path)  # a funded sender, who sends the packets
    ledger = world.ledger
    external = await ledger.system_account_id(SystemAccount.EXTERNAL)

    async def in_parallel(jobs: list) -> list:
        results = []
        for i in range(0, len(jobs), CALLERS * 8):
            results += await asyncio.gather(*jobs[i : i + CALLERS * 8])
        return results

    people = await in_parallel(
        [world.users.seen(Profile(1_000 + i, None, f"R{i}")) for i in range(users)]
    )
    accounts = [person.account_id for person in people]
    await in_parallel(
        [ledger.transfer(f"top-{a}", external, a, 1_000_00, "topup") for a in accounts]
    )
    await in_parallel([world.packet(f"open-{p}", SHARES) for p in range(packets)])
    left = max(0, transfers - users - packets - 1)

    async def caller(n: int) -> None:
        for k in range(n, left, CALLERS):
            source, target = accounts[k % len(accounts)], accounts[(k * 7 + 1) % len(accounts)]
            if source == target:
                target = external
            await ledger.transfer(f"p2p-{k}", source, target, 1 + k % 50, "p2p")

    await asyncio.gather(*(caller(n) for n in range(CALLERS)))
    await world.store.close()
    return time.perf_counter() - start


def status_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process, in MB (Linux)."""
    found = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) / 1024
    return found


async def _first_reply(emulator, chat_id: int, process: subprocess.Popen, log: Path) -> None:
    """Wait for the bot's first message in ``chat_id``; fail with its log if it exits."""
    deadline = time.monotonic() + START_TIMEOUT_S
    since = emulator.mark()
    while time.monotonic() < deadline:
        try:
            await emulator.wait_for_message(chat_id, timeout=0.5, since=0)
            return
        except TimeoutError:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-3000:]  # noqa: ASYNC240
                raise RuntimeError(f"the bot exited ({process.returncode}):\n{tail}") from None
    raise TimeoutError(f"no reply within {START_TIMEOUT_S} s (events since {since})")


async def footprint(database: Path, workdir: Path, burst: int, label: str) -> Footprint:
    """Start the bot on ``database``; its start-up time and memory."""
    sandbox = await start_sandbox()
    emulator = sandbox.emulator
    log = workdir / f"{label}.log"
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": sandbox.token,
        "TELEGRAM_API_BASE_URL": sandbox.url,
        "WALLET_DATABASE_URL": f"sqlite:///{database}",
        "WALLET_DATA_DIR": str(workdir / f"{label}-data"),
        "WALLET_MASTER_KEY": base64.b64encode(KEY).decode(),
        "WALLET_LOG_LEVEL": "WARNING",
        "WALLET_PAYOUT_GATEWAY": "manual",  # withdrawals are not measured
    }
    env.pop("WALLET_CONFIG", None)
    first = emulator.add_user(f"{label}-first", f"{label}_first", "en")
    await emulator.send_text(first, "/balance")
    with open(log, "wb") as out:  # noqa: ASYNC230  (before the clock starts)
        start = time.monotonic()
        process = subprocess.Popen(  # noqa: ASYNC220  (Popen returns at once)
            [sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
        try:
            await _first_reply(emulator, first.id, process, log)
            started = time.monotonic() - start
            rss_started = status_mb(process.pid)["VmRSS"]
            warm = [emulator.add_user(f"w{i}", None, "en").id for i in range(burst)]
            await message_burst(emulator, warm, "/balance", timeout=START_TIMEOUT_S)
            rss_warm = status_mb(process.pid)["VmRSS"]
            await asyncio.sleep(1.5)  # the warm-up's replies leave the send window
            others = [emulator.add_user(f"b{i}", None, "en").id for i in range(burst)]
            measured = await message_burst(emulator, others, "/balance", timeout=START_TIMEOUT_S)
            memory = status_mb(process.pid)
        finally:
            process.terminate()
            try:
                await asyncio.to_thread(process.wait, 30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            await sandbox.stop()
    errors = sum(" ERROR " in line or '"ERROR"' in line for line in log.read_text().splitlines())
    return Footprint(
        start_s=started,
        rss_started_mb=rss_started,
        rss_warm_mb=rss_warm,
        rss_burst_mb=memory["VmRSS"],
        peak_mb=memory["VmHWM"],
        burst_p50_ms=measured.percentile(0.5) * 1000,
        burst_p99_ms=measured.percentile(0.99) * 1000,
        unanswered=measured.unanswered,
        log_errors=errors,
    )


def count_rows(path: Path) -> dict[str, int]:
    """What the built file holds."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return {
            "users": conn.execute("SELECT count(*) FROM users").fetchone()[0],
            "open packets": conn.execute(
                "SELECT count(*) FROM red_packets WHERE state = 'open'"
            ).fetchone()[0],
            "transfers": conn.execute("SELECT count(*) FROM transfers").fetchone()[0],
        }
    finally:
        conn.close()


async def _empty(path: Path) -> None:
    await (await SqliteDatabase.open(path)).close()


def measure(users: int, packets: int, transfers: int, burst: int, directory: Path) -> dict:
    """Build time, what the file holds, its size, and the footprint of the empty and the
    big wallet, measured in a temporary folder under ``directory`` (removed after)."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-footprint-", dir=directory))
    try:
        empty, big = workdir / "empty.db", workdir / "big.db"
        asyncio.run(_empty(empty))
        built_s = asyncio.run(build(big, users, packets, transfers))
        return {
            "built_s": built_s,
            "rows": count_rows(big),
            "size_mb": big.stat().st_size / 2**20,
            "empty": asyncio.run(footprint(empty, workdir, burst, "empty")),
            "big": asyncio.run(footprint(big, workdir, burst, "big")),
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--packets", type=int, default=1_000)
    parser.add_argument("--transfers", type=int, default=100_000)
    parser.add_argument("--burst", type=int, default=300, help="people writing at once")
    parser.add_argument("--dir", type=Path, default=Path("."), help="where the files go")
    args = parser.parse_args()
    found = measure(args.users, args.packets, args.transfers, args.burst, args.dir)
    rows = ", ".join(f"{value:,} {name}" for name, value in found["rows"].items())
    print(f"the big wallet: {rows}; {found['size_mb']:.1f} MB, built in {found['built_s']:.1f} s")
    empty, big = found["empty"], found["big"]
    print(f"{'':34}{'empty wallet':>14}{'big wallet':>14}{'ratio':>8}")
    for label, field, unit in (
        ("start-up to the first reply", "start_s", "s"),
        ("RSS after start-up", "rss_started_mb", "MB"),
        (f"RSS after a {args.burst}-person burst", "rss_warm_mb", "MB"),
        ("RSS after a second burst", "rss_burst_mb", "MB"),
        ("peak RSS (VmHWM)", "peak_mb", "MB"),
        ("second burst, reply p50", "burst_p50_ms", "ms"),
        ("second burst, reply p99", "burst_p99_ms", "ms"),
    ):
        a, b = getattr(empty, field), getattr(big, field)
        print(f"  {label:<32}{a:>10.1f} {unit:<3}{b:>10.1f} {unit:<3}{b / a:>7.2f}x")
    print(
        f"unanswered: {empty.unanswered + big.unanswered};"
        f" ERROR lines in the bot's logs: {empty.log_errors + big.log_errors} (0 expected)"
    )


if __name__ == "__main__":
    main()
