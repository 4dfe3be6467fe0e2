"""Red-packet grabs in the wallet core beside plain sqlite3 writing the same rows, in one run.

    .venv/bin/python bench/redpackets.py [--rounds 5] [--grabbers 1000] [--shares 100]

All on the same file system, with WAL and synchronous=FULL:

1. **drain**: ``--grabbers`` members grab a ``--shares``-share packet at once through
   ``RedPackets.grab`` (1,000 tasks, 100 win, the rest learn it is finished): the time
   until the last share was taken (its grabber answered), and until every grabber was
   answered; for members the wallet knows and for members never seen before (whose
   grab registers them in the same write);
2. **throughput**: the same members grab ``--grabbers / --shares`` packets open at once
   (as in as many busy groups), each member one packet, so every grab succeeds:
   successful grabs per second, over ``--rounds`` rounds; run ``--pairs`` times, each
   run followed at once by (3) on its rows, and the ratio is the median of the pairs';
3. **plain sqlite3, the same rows per commit**: the rows the throughput run wrote (each
   grab's journal row, its two balance updates, its share, the finished packets), read
   back from the core's file and written again by plain sqlite3 onto a copy of the file
   as it was before the run, in commits of the size the core's writer made. What the
   disk and SQLite cost for those rows, with none of the core's own work (checks, risk
   rule, idempotency, hash chain, asyncio hand-offs).

The process runs as the bot's does: with the garbage collector's thresholds that
``bot/app.py`` sets at start (``bot.ops.collector``), for the core and plain sqlite3 alike.

Targets: a drain under 20 ms, at least 10,000 successful grabs a second, and the core at
half or more of plain sqlite3 writing the same rows per commit.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.domain.errors import RedPacketExhausted
from bot.domain.kinds import TransferKind
from bot.domain.model import SystemAccount
from bot.domain.redpackets import RedPacketLimits
from bot.domain.risk import RiskRules
from bot.domain.users import Profile
from bot.ops.collector import as_the_bot_runs
from bot.security.cipher import Keyring
from bot.security.guard import PaymentGuard
from bot.security.identity import Identity
from bot.storage.sqlite import SqliteDatabase
from bot.storage.sqlite.schema import configure
from bot.wallet.ledger import Ledger
from bot.wallet.redpackets import RedPackets
from bot.wallet.users import Users

SENDER = 1
# the sender makes dozens of packets in a minute: no velocity hold or daily cap for that;
# the grab-burst rule, the one grabs meet, stays as it ships
_SENDER_RULES = RiskRules(
    payment_limit_fen=(10**12,) * 3, daily_limit_fen=(10**12,) * 3, velocity_max_payments=10**6
)
MEMBER = 1_000  # the first member's id


class _World:
    """A store with a funded sender and the services over it."""

    def __init__(self, store: SqliteDatabase) -> None:
        self.store = store
        self.ledger = Ledger(store.ledger, "CNY")
        self.users = Users(store.users, "CNY")
        identity = Identity(store.identity, Keyring(bytes(32)))
        guard = PaymentGuard(store.holds, identity, rules=_SENDER_RULES)
        limits = RedPacketLimits(1000_00, 1000)
        self.red = RedPackets(store.redpackets, self.ledger, self.users, guard, limits)

    @classmethod
    async def open(cls, path: Path) -> _World:
        world = cls(await SqliteDatabase.open(path))
        external = await world.ledger.system_account_id(SystemAccount.EXTERNAL)
        sender = await world.users.seen(Profile(SENDER, "sender", "Sender"))
        await world.ledger.transfer("seed", external, sender.account_id, 10**10, "topup")
        await world.store.security.set_pin(SENDER, "hash", "key")
        return world

    async def packet(self, key: str, shares: int) -> str:
        sender = await self.users.get(SENDER)
        order = await self.red.order(sender, "random", str(shares), shares)
        return (await self.red.create(key, order, authenticated=True)).packet.id

    async def members(self, count: int, first: int = MEMBER) -> list:
        return [await self.users.seen(Profile(first + i, None, "M")) for i in range(count)]


async def _grab_all(red: RedPackets, pairs: list) -> tuple[list[float], float]:
    """Every (packet, grabber) at once: the times (s) of the winners' answers, and the
    time the last one was answered."""
    start = time.perf_counter()
    won: list[float] = []

    async def grab(packet_id: str, grabber) -> None:
        try:
            await red.grab(packet_id, grabber)
        except RedPacketExhausted:
            return
        won.append(time.perf_counter() - start)

    await asyncio.gather(*(grab(packet_id, grabber) for packet_id, grabber in pairs))
    return won, time.perf_counter() - start


async def drain(path: Path, rounds: int, grabbers: int, shares: int) -> dict[str, list]:
    """Per round: (ms until the last share was taken, ms until everyone was answered)."""
    world = await _World.open(path)
    known = await world.members(grabbers)
    found: dict[str, list] = {"known": [], "new": []}
    for r in range(rounds):
        for who in ("known", "new"):
            packet_id = await world.packet(f"drain-{who}-{r}", shares)
            people = known
            if who == "new":
                first = 10**6 * (r + 1)
                people = [Profile(first + i, None, "N") for i in range(grabbers)]
            won, everyone = await _grab_all(world.red, [(packet_id, p) for p in people])
            assert len(won) == shares, len(won)
            found[who].append((max(won) * 1000, everyone * 1000))
    await world.store.close()
    return found


async def throughput(path: Path, before: Path, rounds: int, grabbers: int, shares: int):
    """(successful grabs per second, grabs per commit); ``before`` gets a copy of the file
    as it stood before the grabs, for the plain run."""
    world = await _World.open(path)
    people = await world.members(grabbers)
    packets = [
        [await world.packet(f"busy-{r}-{p}", shares) for p in range(grabbers // shares)]
        for r in range(rounds)
    ]
    await world.store.close()
    shutil.copyfile(path, before)
    world = await _World.open(path)  # the same file: the members are already there
    people = await world.members(grabbers)
    batches, operations = world.store.writer.batches, world.store.writer.operations
    elapsed = 0.0
    for round_packets in packets:
        pairs = [(round_packets[i % len(round_packets)], p) for i, p in enumerate(people)]
        won, took = await _grab_all(world.red, pairs)
        assert len(won) == len(pairs)
        elapsed += took
    batches = world.store.writer.batches - batches
    operations = world.store.writer.operations - operations
    await world.store.close()
    return rounds * len(people) / elapsed, operations / max(batches, 1)


def plain_same_rows(core: Path, before: Path, per_commit: float) -> float:
    """The throughput run's rows, written again by plain sqlite3 in commits of the core's
    size onto the file as it was before: grabs per second."""
    source = sqlite3.connect(core)
    transfers = source.execute(
        "SELECT * FROM transfers WHERE kind = ? ORDER BY id", (TransferKind.RED_PACKET_GRAB.value,)
    ).fetchall()
    shares = dict(
        ((row[0]), row[1:])
        for row in source.execute(
            "SELECT transfer_id, user_id, grabbed_at, packet_id, position FROM red_packet_shares"
            " WHERE transfer_id IS NOT NULL"
        )
    )
    finished = dict(
        source.execute("SELECT id, settled_at FROM red_packets WHERE state = 'finished'")
    )
    last: dict[str, int] = {}  # packet -> the transfer that took its last share
    for transfer_id, (_, _, packet_id, _) in shares.items():
        last[packet_id] = max(last.get(packet_id, 0), transfer_id)
    last_of = {t: p for p, t in last.items() if p in finished}
    columns = ", ".join(d[0] for d in source.execute("SELECT * FROM transfers").description)
    source.close()
    conn = sqlite3.connect(before, isolation_level=None)
    configure(conn, "FULL")
    insert = f"INSERT INTO transfers ({columns}) VALUES ({', '.join('?' * len(transfers[0]))})"
    size = max(1, round(per_commit))
    start = time.perf_counter()
    for i in range(0, len(transfers), size):
        group = transfers[i : i + size]
        done = [last_of[t[0]] for t in group if t[0] in last_of]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "UPDATE accounts SET debits_posted = debits_posted + ? WHERE id = ?",
            [(t[4], t[2]) for t in group],
        )
        conn.executemany(
            "UPDATE accounts SET credits_posted = credits_posted + ? WHERE id = ?",
            [(t[4], t[3]) for t in group],
        )
        conn.executemany(insert, group)
        conn.executemany(
            "UPDATE red_packet_shares SET user_id = ?, transfer_id = ?, grabbed_at = ?"
            " WHERE packet_id = ? AND position = ?",
            [(shares[t[0]][0], t[0], shares[t[0]][1], *shares[t[0]][2:]) for t in group],
        )
        conn.executemany(
            "UPDATE red_packets SET state = 'finished', settled_at = ? WHERE id = ?",
            [(finished[p], p) for p in done],
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return len(transfers) / elapsed


def measure(rounds: int, grabbers: int, shares: int, directory: Path, pairs: int = 3) -> dict:
    """The drains (per round: ms to the last share, ms to everyone), and ``pairs`` times
    the throughput run then plain sqlite3 on its rows, one right after the other: the
    medians of the core's grabs per second, of its grabs per commit and of plain's grabs
    per second, and each pair's ratio (a pair shares the machine's mood of the moment),
    measured in a temporary folder under ``directory`` (removed after)."""
    logging.disable(logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="bench-redpackets-", dir=directory))
    cores, commits, plains = [], [], []
    try:
        with as_the_bot_runs():  # the bot's collector thresholds, for the core and plain alike
            drains = asyncio.run(drain(workdir / "drain.db", rounds, grabbers, shares))
            for pair in range(pairs):
                busy, before = workdir / f"busy-{pair}.db", workdir / f"before-{pair}.db"
                core, per_commit = asyncio.run(
                    throughput(busy, before, rounds, grabbers, shares)
                )
                cores.append(core)
                commits.append(per_commit)
                plains.append(plain_same_rows(busy, before, per_commit))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        logging.disable(logging.NOTSET)
    return {
        "drains": drains,
        "core": statistics.median(cores),
        "per_commit": statistics.median(commits),
        "plain": statistics.median(plains),
        "ratios": [core / plain for core, plain in zip(cores, plains, strict=True)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--grabbers", type=int, default=1_000)
    parser.add_argument("--shares", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=3, help="throughput runs, each + plain")
    parser.add_argument("--dir", type=Path, default=Path("."), help="where the files go")
    args = parser.parse_args()
    if args.grabbers < args.shares:
        parser.error("--grabbers must be at least --shares")
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    found = measure(args.rounds, args.grabbers, args.shares, args.dir, args.pairs)
    drains, core = found["drains"], found["core"]
    per_commit, plain, ratios = found["per_commit"], found["plain"], found["ratios"]

    g, s = args.grabbers, args.shares
    print(
        f"red-packet grabs in the core (WAL, synchronous=FULL, {os.uname().sysname},"
        " the collector as the bot sets it)"
    )
    for who, label in (("known", "members it knows"), ("new", "members never seen")):
        taken = [d[0] for d in drains[who]]
        everyone = [d[1] for d in drains[who]]
        print(
            f"  drain: {g} {label} grab a {s}-share packet"
            f"  last share {statistics.median(taken):5.1f} ms (worst {max(taken):.1f})"
            f"  everyone answered {statistics.median(everyone):5.1f} ms"
            f" (worst {max(everyone):.1f})"
        )
    print(
        f"  throughput: {g} members, {g // s} packets at once  {core:>10,.0f} grabs/s"
        f"  ({per_commit:.0f} grabs per commit, every grab wins; median of {len(ratios)})"
    )
    print(f"  plain sqlite3, the same rows per commit        {plain:>10,.0f} grabs/s")
    print("ratios and targets")
    known = statistics.median(d[0] for d in drains["known"])
    print(f"  drain, last share (known members)       {known:6.1f} ms  (target < 20 ms)")
    print(f"  core grabs/s                            {core:8,.0f}  (target >= 10,000)")
    each = ", ".join(f"{r:.2f}" for r in ratios)
    print(
        f"  core / plain sqlite3 same rows          {statistics.median(ratios):6.2f}x"
        f"  (target >= 0.5; the median of the pairs {each})"
    )


if __name__ == "__main__":
    main()
