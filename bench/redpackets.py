"""Red-packet grabs per second: the core, end to end, and the disk's ceiling, in one run.

    .venv/bin/python bench/redpackets.py [--packets 5] [--grabbers 1000] [--tappers 300]

Three figures, all on the same file system, all with WAL and synchronous=FULL:

1. the wallet core: ``RedPackets.grab`` for a 100-share packet with ``--grabbers``
   concurrent grabbers (1,000 tasks, 100 succeed, the rest learn it is finished), over
   ``--packets`` packets: successful grabs per second and attempts per second;
2. end to end: the real application polling the local Bot API emulator, ``--tappers``
   members tapping the grab button of a 100-share packet at once: taps per second until the
   last callback answer, and the latency from tap to answer (p50, p99);
3. plain sqlite3, one single-row INSERT per committed transaction (``bench/ledger.py``):
   the ceiling of any design that commits each grab on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ledger import groups_of, plain_single_rate

from bot.app import build_application, open_wallet
from bot.config import Settings
from bot.sandbox.server import start_sandbox
from bot.sandbox.testing import polling
from bot.security.cipher import Keyring
from bot.security.guard import PaymentGuard
from bot.security.identity import Identity
from bot.security.ratelimit import BucketLimit, RateLimits
from bot.security.risk import RiskRules
from bot.storage.sqlite import SqliteLedgerStore
from bot.wallet.errors import RedPacketExhausted
from bot.wallet.ledger import Ledger
from bot.wallet.model import SystemAccount
from bot.wallet.redpackets import RedPackets
from bot.wallet.users import Profile, Users

SHARES = 100
PIN = "739201"


async def core_rate(path: Path, packets: int, grabbers: int) -> tuple[float, float]:
    """(successful grabs per second, grab attempts per second) through the core."""
    store = await SqliteLedgerStore.open(path)
    ledger = Ledger(store, "CNY")
    users = Users(store, "CNY")
    guard = PaymentGuard(store, Identity(store, Keyring(bytes(32))), rules=RiskRules())
    red = RedPackets(store, ledger, users, guard)
    external = await ledger.system_account_id(SystemAccount.EXTERNAL)
    sender = await users.seen(Profile(1, "sender", "Sender"))
    await ledger.transfer("seed", external, sender.account_id, 10**9, "topup")
    await store.set_pin(1, "hash", "key")
    people = [await users.seen(Profile(1_000 + i, f"u{i}", "U")) for i in range(grabbers)]
    won = tried = 0
    elapsed = 0.0
    for p in range(packets):
        order = await red.order(sender, "random", "200", SHARES)
        packet = (await red.create(f"bench-{p}", order, authenticated=True)).packet

        async def grab(person, packet_id=packet.id) -> bool:
            try:
                await red.grab(packet_id, person)
            except RedPacketExhausted:
                return False
            return True

        start = time.perf_counter()
        results = await asyncio.gather(*(grab(person) for person in people))
        elapsed += time.perf_counter() - start
        won += sum(results)
        tried += len(results)
        assert sum(results) == SHARES
    await store.close()
    return won / elapsed, tried / elapsed


async def end_to_end(workdir: Path, tappers: int) -> tuple[float, float, float, int]:
    """(taps per second, p50 ms, p99 ms, edits of the packet message) through the emulator."""
    async with await start_sandbox() as sandbox:
        emulator = sandbox.emulator
        settings = Settings(
            telegram_bot_token=sandbox.token,
            telegram_api_base_url=sandbox.url,
            database_url=f"sqlite:///{workdir / 'e2e.db'}",
            data_dir=workdir,
        )
        wallet = await open_wallet(settings)
        fast = RateLimits(callback_user=BucketLimit(1_000, 1_000))
        application = build_application(settings, wallet=wallet, rate_limits=fast)
        alice = await wallet.users.seen(Profile(100_002, "alice", "Alice", "en"))
        external = await wallet.ledger.system_account_id(SystemAccount.EXTERNAL)
        await wallet.ledger.transfer("seed", external, alice.account_id, 1_000_00, "topup")
        await wallet.pins.set_pin(100_002, PIN)
        members = []
        for i in range(tappers):
            member = emulator.add_user(f"M{i}", f"m{i}", "en")
            emulator.group.member_ids.append(member.id)
            members.append(member)
        async with polling(application):
            await emulator.send_text("alice", "/start")
            await emulator.wait_for_message("alice")
            await emulator.send_text("alice", f"/redpacket 200 {SHARES}", emulator.group)
            card = await emulator.wait_for_message("alice")
            await emulator.tap("alice", card, "Confirm")
            await emulator.wait_for_edit(card)
            mark = emulator.mark()
            for digit in PIN:
                await emulator.tap("alice", card, digit)
            posted = await emulator.wait_for_message(emulator.group, text="🧧", since=mark)
            loop = asyncio.get_running_loop()
            mark = emulator.mark()
            latencies: list[float] = []

            async def tap(member) -> None:
                began = loop.time()
                query_id = await emulator.tap(member, posted, "Grab")
                await emulator.wait_for_answer(query_id, since=mark, timeout=60)
                latencies.append(loop.time() - began)

            start = loop.time()
            await asyncio.gather(*(tap(member) for member in members))
            elapsed = loop.time() - start
            await asyncio.sleep(4)  # the last coalesced edit
            edits = [
                e
                for e in emulator.bot_events("edit")
                if (e.chat_id, e.message_id) == (posted.chat_id, posted.message_id)
            ]
        await wallet.close()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return tappers / elapsed, statistics.median(latencies) * 1000, p99 * 1000, len(edits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=5)
    parser.add_argument("--grabbers", type=int, default=1_000)
    parser.add_argument("--tappers", type=int, default=300)
    parser.add_argument("--dir", type=Path, default=Path("."), help="where the files go")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="bench-redpackets-", dir=args.dir))
    try:
        won, tried = asyncio.run(core_rate(workdir / "core.db", args.packets, args.grabbers))
        taps, p50, p99, edits = asyncio.run(end_to_end(workdir, args.tappers))
        single = plain_single_rate(workdir / "single.db", groups_of(2_048, 64))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"red-packet grabs (WAL, synchronous=FULL, {os.uname().sysname})")
    print(
        f"  core, {SHARES}-share packet, {args.grabbers} grabbers  {won:>10,.0f} grabs/s"
        f"  ({tried:,.0f} attempts/s, {args.packets} packets)"
    )
    print(
        f"  end to end, {args.tappers} members tap at once   {taps:>10,.0f} taps/s"
        f"  (answer p50 {p50:.0f} ms, p99 {p99:.0f} ms; {edits} edits of the message)"
    )
    print(f"  plain sqlite3, 1 row per commit       {single:>10,.0f}/s  (ceiling without grouping)")
    print("ratios")
    print(f"  core grabs / 1-row-commit ceiling       {won / single:6.2f}x")
    print(f"  core attempts / 1-row-commit ceiling    {tried / single:6.2f}x")
    print(f"  end-to-end taps / 1-row-commit ceiling  {taps / single:6.2f}x")


if __name__ == "__main__":
    main()
