"""PostgreSQL beside SQLite in one run: ledger transfers, red packet grabs in the core, and
taps per second end to end with one, two and three bot processes.

    .venv/bin/python bench/postgres.py [--database-url postgresql://…] [--fast]
        [--transfers 3200] [--grabbers 1000] [--shares 100] [--tappers 1000]
        [--packet-shares 200] [--rounds 3] [--processes 1,2,3]

Without ``--database-url`` a throwaway cluster is started with ``scripts/postgres.sh``
(PostgreSQL from Debian's packages) and restarted durable (``fsync=on``,
``synchronous_commit=on``, as SQLite runs with ``synchronous=FULL``); ``--fast`` keeps the
test cluster's ``fsync=off``. With ``--database-url`` the server given is used as it is:
its user must be allowed to create databases (one per measurement, dropped after).

1. **ledger**: ``Ledger.transfer`` awaited by 1 caller, then by 64 concurrent callers
   (SQLite: the group-commit writer; PostgreSQL: the group commit of
   ``bot/storage/postgres/batch.py``, one transaction for the transfers queued while the
   one before committed, on a pool of 10 connections; how it grouped them is printed).
2. **red packet core**: ``--grabbers`` members the wallet knows grab
   ``--grabbers / --shares`` packets open at once, each member one packet, so every grab
   succeeds: grabs per second.
3. **end to end**: the bot as it is deployed with several processes: N ``python -m bot
   run --webhook …`` processes behind ``--front``: nginx spreading the updates by person
   as ``deploy/`` configures it (the default when nginx is installed), or the dispatcher
   (``python -m bot dispatch``); the sandbox emulator (in this process) delivering by
   webhook to the front, as Telegram does.
   Per round ``--tappers`` new members of a new group tap one ``--packet-shares``-share
   packet Alice sent through the bot: taps per second from the burst to the last answer,
   answer p50 and p99. SQLite with one
   process (all it supports), then PostgreSQL with each of ``--processes``; the median
   round of ``--rounds``, and the scaling of taps/s against one PostgreSQL process.

Every process of the machine shares its cores: the bench prints how many there are. The
bots' logs are checked for errors (a count is printed; 0 expected).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from bot.app import open_wallet  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.domain.errors import RedPacketExhausted  # noqa: E402
from bot.domain.model import SystemAccount  # noqa: E402
from bot.domain.redpackets import RedPacketLimits  # noqa: E402
from bot.domain.risk import RiskRules  # noqa: E402
from bot.domain.users import Profile  # noqa: E402
from bot.sandbox.server import start_sandbox  # noqa: E402
from bot.sandbox.testing import tap_burst  # noqa: E402
from bot.security.cipher import Keyring  # noqa: E402
from bot.security.guard import PaymentGuard  # noqa: E402
from bot.security.identity import Identity  # noqa: E402
from bot.storage import open_store  # noqa: E402
from bot.storage.postgres import PgDatabase  # noqa: E402
from bot.wallet.ledger import Ledger  # noqa: E402
from bot.wallet.redpackets import RedPackets  # noqa: E402
from bot.wallet.users import Users  # noqa: E402
from tests.cluster import Cluster, log_problems, nginx_binary  # noqa: E402

SCRIPT = ROOT / "scripts" / "postgres.sh"
SENDER = 1
MEMBER = 1_000
ALICE = Profile(100_002, "alice", "Alice", "en")
PIN = "739201"
# the sender makes dozens of packets in a minute: no velocity hold or daily cap for that
_SENDER_RULES = RiskRules(
    payment_limit_fen=(10**12,) * 3, daily_limit_fen=(10**12,) * 3, velocity_max_payments=10**6
)


# -- the databases ------------------------------------------------------------------------


class Databases:
    """Fresh databases, one per measurement: SQLite files in a folder, PostgreSQL
    databases on one server."""

    def __init__(self, folder: Path, server_url: str) -> None:
        self.folder = folder
        self.server_url = server_url
        self._made: list[str] = []
        self._count = 0

    def sqlite(self) -> str:
        self._count += 1
        return f"sqlite:///{self.folder / f'bench-{self._count}.db'}"

    async def postgres(self) -> str:
        self._count += 1
        name = f"bench_{os.getpid()}_{self._count}"
        await self._admin(f"CREATE DATABASE {name}")
        self._made.append(name)
        return self.server_url.rsplit("/", 1)[0] + "/" + name

    async def drop_all(self) -> None:
        for name in self._made:
            await self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    async def _admin(self, statement: str) -> None:
        conn = await asyncpg.connect(self.server_url.rsplit("/", 1)[0] + "/postgres")
        try:
            await conn.execute(statement)
        finally:
            await conn.close()


def start_cluster(durable: bool) -> tuple[str, str]:
    """A throwaway cluster (``scripts/postgres.sh start``): its URL and folder; with
    ``durable`` restarted with fsync and synchronous commits on."""
    done = subprocess.run(
        ["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"postgres.sh start failed: {done.stderr.strip()[-2000:]}")
    found = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    url, folder = found["url"], found["dir"]
    if durable:
        port = url.rsplit(":", 1)[1].split("/", 1)[0]
        bin_dir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
        owner = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c max_connections=200"
        subprocess.run(
            [*owner, str(bin_dir / "pg_ctl"), "-D", f"{folder}/data", "-w", "-m", "fast",
             "restart", "-l", f"{folder}/server.log", "-o", options],
            check=True, capture_output=True, timeout=120,
        )
    return url, folder


def stop_cluster(folder: str) -> None:
    subprocess.run(["bash", str(SCRIPT), "stop", folder], capture_output=True, timeout=120,
                   check=False)


async def server_settings(url: str) -> str:
    conn = await asyncpg.connect(url)
    try:
        version = await conn.fetchval("SHOW server_version")
        fsync = await conn.fetchval("SHOW fsync")
        commit = await conn.fetchval("SHOW synchronous_commit")
    finally:
        await conn.close()
    return f"PostgreSQL {version}, fsync={fsync}, synchronous_commit={commit}"


async def open_db(url: str):
    """The store of the core benches: PostgreSQL's opened whole (those benches need only
    the ledger's, users' and red packets' stores), SQLite's as the bot opens it."""
    if url.startswith("postgresql"):
        return await PgDatabase.open(url, pool_size=10)
    return await open_store(url)


_GROUPS: list[str] = []  # how the last PostgreSQL measurement's writes were grouped


def note_groups(store) -> None:
    """Remember how PostgreSQL's group commit (``bot/storage/postgres/batch.py``) grouped
    the writes of a measurement, for the line that prints it."""
    stats = getattr(store, "group_commit", None)
    if stats is not None:
        stats = stats.stats
        mean = stats.operations / stats.groups if stats.groups else 0
        _GROUPS[:] = [f"PostgreSQL's groups: {stats.groups:,}, {mean:.1f} operations"
                      f" each on average, {stats.largest} at most, {stats.alone} one by one"]


# -- 1. ledger ------------------------------------------------------------------------------


async def ledger_rate(url: str, transfers: int, callers: int) -> float:
    """Transfers per second through ``Ledger.transfer`` with ``callers`` at once."""
    store = await open_db(url)
    try:
        ledger = Ledger(store.ledger, "CNY")
        external = await ledger.system_account_id(SystemAccount.EXTERNAL)
        users = [(await ledger.open_user_account(i)).id for i in range(2 * callers)]
        for user in users:
            await ledger.transfer(f"seed-{user}", external, user, 10_000_000, "topup")
        per_caller = transfers // callers

        async def caller(n: int) -> None:
            source, target = users[2 * n], users[2 * n + 1]
            for i in range(per_caller):
                await ledger.transfer(f"c{n}-{i}", source, target, 1 + i % 100, "p2p")

        start = time.perf_counter()
        await asyncio.gather(*(caller(n) for n in range(callers)))
        return per_caller * callers / (time.perf_counter() - start)
    finally:
        note_groups(store)
        await store.close()


# -- 2. red packet core ---------------------------------------------------------------------


async def grab_rate(url: str, grabbers: int, shares: int) -> float:
    """Successful grabs per second: ``grabbers`` known members, each grabbing one of
    ``grabbers / shares`` packets open at once."""
    store = await open_db(url)
    try:
        ledger, users = Ledger(store.ledger, "CNY"), Users(store.users, "CNY")
        guard = PaymentGuard(
            store.holds, Identity(store.identity, Keyring(bytes(32))), rules=_SENDER_RULES
        )
        red = RedPackets(store.redpackets, ledger, users, guard, RedPacketLimits(1000_00, 1000))
        external = await ledger.system_account_id(SystemAccount.EXTERNAL)
        sender = await users.seen(Profile(SENDER, "sender", "Sender"))
        await ledger.transfer("seed", external, sender.account_id, 10**10, "topup")
        await store.security.set_pin(SENDER, "hash", "key")
        packets = []
        for p in range(grabbers // shares):
            order = await red.order(sender, "random", str(shares), shares)
            packets.append((await red.create(f"packet-{p}", order, authenticated=True)).packet.id)
        people = [await users.seen(Profile(MEMBER + i, None, "M")) for i in range(grabbers)]
        won = 0

        async def grab(packet_id: str, grabber) -> None:
            nonlocal won
            try:
                await red.grab(packet_id, grabber)
            except RedPacketExhausted:
                return
            won += 1

        start = time.perf_counter()
        await asyncio.gather(
            *(grab(packets[i % len(packets)], person) for i, person in enumerate(people))
        )
        elapsed = time.perf_counter() - start
        assert won == grabbers, (won, grabbers)
        await asyncio.sleep(0.5)  # the finished packets are read into memory in the background
        return won / elapsed
    finally:
        note_groups(store)
        await store.close()


# -- 3. end to end --------------------------------------------------------------------------


@dataclass(frozen=True)
class Round:
    taps_per_s: float
    p50_ms: float
    p99_ms: float
    unanswered: int


THUMB_S = 0.2  # between two keys: 5 a second, what the limit on a person's taps refills


async def post_packet(emulator, group, amount: str, shares: int):
    """Alice sends a red packet into ``group`` through the bot: its message there."""
    await emulator.send_text("alice", f"/redpacket {amount} {shares}", group)
    card = await emulator.wait_for_message("alice", timeout=60)
    await emulator.tap("alice", card, "Confirm")
    await emulator.wait_for_edit(card, timeout=60)
    mark = emulator.mark()
    for digit in PIN:  # at a thumb's pace: Alice's taps keep the bot's limit on one person's
        await emulator.tap("alice", card, digit)
        await asyncio.sleep(THUMB_S)
    return await emulator.wait_for_message(group, text="🧧", since=mark, timeout=60)


async def e2e_rounds(
    url: str, processes: int, folder: Path, args: argparse.Namespace
) -> tuple[list[Round], int]:
    """The rounds of one configuration, and the error lines in its processes' logs."""
    async with await start_sandbox() as sandbox:
        emulator = sandbox.emulator
        cluster = Cluster(
            folder,
            api_url=sandbox.url,
            token=sandbox.token,
            database_url=url,
            workers=processes,
            env={"WALLET_REDPACKET_MAX_SHARES": str(max(args.packet_shares, 100))},
            front=args.front,
        )
        settings = Settings(database_url=url, master_key=cluster.master_key, data_dir=folder)
        wallet = await open_wallet(settings)
        try:
            alice = await wallet.users.seen(ALICE)
            external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
            await wallet.ledger.transfer("fund", external, alice.account_id, 10**8, "topup")
            await wallet.pins.set_pin(ALICE.telegram_id, PIN)
        finally:
            await wallet.close()  # SQLite: the bot process is the only writer
        rounds = []
        await cluster.start()
        try:
            await emulator.send_text("alice", "/start")
            await emulator.wait_for_message("alice", timeout=60)
            for r in range(args.rounds + 1):  # the first warms up, unmeasured
                members = [
                    emulator.add_user(f"R{r} {i}", f"r{r}_{i}", "en")
                    for i in range(args.tappers if r else 200)
                ]
                group = emulator.add_group(f"Round {r}", [emulator.user("alice"), *members])
                packet = await post_packet(emulator, group, "200", args.packet_shares)
                burst = await tap_burst(emulator, members, packet, "Grab", timeout=120)
                if r:
                    rounds.append(
                        Round(
                            len(members) / burst.span,
                            burst.percentile(0.5) * 1000,
                            burst.percentile(0.99) * 1000,
                            burst.unanswered,
                        )
                    )
        finally:
            await cluster.stop()
        errors = sum(len(log_problems(text)) for text in cluster.logs().values())
        return rounds, errors


# -- the run --------------------------------------------------------------------------------


def rate(value: float) -> str:
    return f"{value:>9,.0f}/s"


async def run(args: argparse.Namespace, folder: Path) -> None:
    cluster_dir = None
    if args.database_url:
        server_url = args.database_url
    else:
        server_url, cluster_dir = start_cluster(durable=not args.fast)
    databases = Databases(folder, server_url)
    try:
        print(f"{os.cpu_count()} cores; SQLite WAL synchronous=FULL;"
              f" {await server_settings(server_url)}")
        if "core" in args.parts:
            await core_benches(args, databases)
        if "e2e" in args.parts:
            await e2e_bench(args, databases, folder)
    finally:
        if not args.keep:
            await databases.drop_all()
        if cluster_dir:
            stop_cluster(cluster_dir)


async def core_benches(args: argparse.Namespace, databases: Databases) -> None:
    print(f"\nledger transfers ({args.transfers} each)")
    for callers in (1, 64):
        sqlite = await ledger_rate(databases.sqlite(), args.transfers, callers)
        pg = await ledger_rate(await databases.postgres(), args.transfers, callers)
        print(f"  {callers:>2} caller{'s' if callers > 1 else ' '}   SQLite {rate(sqlite)}"
              f"   PostgreSQL {rate(pg)}   PostgreSQL/SQLite {pg / sqlite:.2f}x")
        print(f"               ({_GROUPS[0] if _GROUPS else 'no groups'})")
    print(f"\nred packet grabs in the core ({args.grabbers} members, "
          f"{args.grabbers // args.shares} packets of {args.shares} at once, every grab wins)")
    sqlite = await grab_rate(databases.sqlite(), args.grabbers, args.shares)
    pg = await grab_rate(await databases.postgres(), args.grabbers, args.shares)
    print(f"  SQLite {rate(sqlite)}   PostgreSQL {rate(pg)}"
          f"   PostgreSQL/SQLite {pg / sqlite:.2f}x")
    print(f"  ({_GROUPS[0] if _GROUPS else 'no groups'})")


async def e2e_bench(args: argparse.Namespace, databases: Databases, folder: Path) -> None:
    print(f"\nend to end: {args.tappers} new members tap one {args.packet_shares}-share"
          f" packet at once, {args.front} + N webhook processes, median of {args.rounds}")
    print("                        taps/s      p50      p99   unanswered  log errors")
    configs = [("SQLite", 1)] + [("PostgreSQL", n) for n in args.processes]
    base = None
    for name, processes in configs:
        url = databases.sqlite() if name == "SQLite" else await databases.postgres()
        where = folder / f"e2e-{name}-{processes}"
        rounds, errors = await e2e_rounds(url, processes, where, args)
        middle = sorted(rounds, key=lambda r: r.taps_per_s)[(len(rounds) - 1) // 2]
        unanswered = sum(r.unanswered for r in rounds)
        spread = f"({min(r.taps_per_s for r in rounds):,.0f}–" \
                 f"{max(r.taps_per_s for r in rounds):,.0f})"
        scale = ""
        if name == "PostgreSQL":
            base = base or middle.taps_per_s
            scale = f"   {middle.taps_per_s / base:.2f}x one PostgreSQL process"
        print(f"  {name:<10} {processes} proc  {middle.taps_per_s:>7,.0f}"
              f"  {middle.p50_ms:>6.0f} ms {middle.p99_ms:>6.0f} ms   {unanswered:>5}"
              f"   {errors:>5}   {spread}{scale}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL server to use (default: a new one)")
    parser.add_argument("--fast", action="store_true", help="the new cluster with fsync=off")
    parser.add_argument("--keep", action="store_true", help="keep the databases made")
    parser.add_argument("--dir", help="folder for the SQLite files and the logs (kept)")
    parser.add_argument(
        "--parts", default="core,e2e", help="core (ledger, red packets), e2e, or both"
    )
    parser.add_argument("--transfers", type=int, default=3200)
    parser.add_argument("--grabbers", type=int, default=1000)
    parser.add_argument("--shares", type=int, default=100)
    parser.add_argument("--tappers", type=int, default=1000)
    parser.add_argument("--packet-shares", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--front",
        choices=("nginx", "dispatch"),
        default="nginx" if nginx_binary() else "dispatch",
        help="what spreads the updates over the processes (default: nginx when installed)",
    )
    parser.add_argument(
        "--processes", default="1,2,3", type=lambda s: [int(n) for n in s.split(",")]
    )
    args = parser.parse_args()
    folder = Path(args.dir or tempfile.mkdtemp(prefix="bench-pg-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(run(args, folder))
    finally:
        if not args.dir:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
