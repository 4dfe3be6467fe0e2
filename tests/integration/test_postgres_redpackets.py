"""Red packets, refunds and job leases on PostgreSQL with several processes at once: each
"process" is a ``PgDatabase`` of its own (its own pool and clock) on one database, so
nothing in one process can make the other's writes safe; only the database can."""

from __future__ import annotations

import asyncio
import random
from types import SimpleNamespace

import pytest

from bot.domain.errors import (
    RedPacketAlreadyGrabbed,
    RedPacketExhausted,
    RedPacketExpired,
    RefundExceedsRemaining,
)
from bot.domain.kinds import TransferKind
from bot.domain.model import SystemAccount, TransferSpec
from bot.domain.redpackets import (
    GrabCheck,
    GrabRequest,
    PacketKind,
    PacketState,
    RedPacket,
)
from bot.domain.refunds import REFUND_EVENT
from bot.domain.risk import RiskRules
from bot.domain.users import Profile
from bot.handlers.leases import lease
from bot.storage import open_store_snapshot
from bot.storage.postgres import PgDatabase
from bot.storage.sqlite import SqliteDatabase
from bot.wallet.audit import audit_ledger
from bot.wallet.ledger import Ledger
from tests.fakes import ManualClock

HOUR_MS = 3_600_000
SENDER = 1
RULES = RiskRules(grab_burst_grabs=10_000)  # many grabs are the point here, not the guard


@pytest.fixture
async def two(pg_url):
    """Two "processes" on one database, each with a small pool and a clock of its own."""
    clocks = ManualClock(), ManualClock()
    first = await PgDatabase.open(pg_url, pool_size=4, clock=clocks[0])
    second = await PgDatabase.open(pg_url, pool_size=4, clock=clocks[1])
    yield (first, second), clocks
    await first.close()
    await second.close()


async def audit(url: str):
    async with open_store_snapshot(url) as snapshot:
        return await audit_ledger(snapshot), [t async for t in snapshot.transfers()]


async def fund_sender(db: PgDatabase, amount: int) -> tuple[int, int]:
    """The sender (with ``amount`` fen) and the escrow account: their account ids."""
    ledger = Ledger(db.ledger, "CNY")
    await ledger.open_system_accounts()
    sender = await db.users.upsert_user(Profile(SENDER, "sender", "S"), "CNY", True)
    external = await ledger.system_account_id(SystemAccount.EXTERNAL)
    await ledger.transfer("fund", external, sender.account_id, amount, "topup")
    return sender.account_id, await ledger.system_account_id(SystemAccount.ESCROW_REDPACKETS)


async def make_packet(
    db: PgDatabase, sender: int, escrow: int, shares: list[int], packet_id: str = "p"
) -> RedPacket:
    now = db.now_ms()
    packet = RedPacket(
        packet_id, SENDER, PacketKind.RANDOM, sum(shares), len(shares), "恭喜发财",
        None, None, -100, None, None, PacketState.OPEN, f"create-{packet_id}",
        now, now + HOUR_MS, None, 0,
    )  # fmt: skip
    spec = TransferSpec(
        sender, escrow, packet.total, TransferKind.RED_PACKET, ref=f"redpacket:{packet_id}"
    )
    made, again = await db.redpackets.create_red_packet(packet, shares, spec)
    assert not again
    return made


def grab_request(packet_id: str, user: int, escrow: int) -> GrabRequest:
    """A grab by a newcomer: registered in the grab's own write."""
    profile = Profile(user, None, f"U{user}")
    return GrabRequest(packet_id, user, None, escrow, GrabCheck(user, RULES), "CNY", profile)


def split(total: int, count: int, seed: int = 16) -> list[int]:
    draw = random.Random(seed)
    cuts = sorted(draw.sample(range(1, total), count - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


async def test_a_thousand_grabs_of_one_packet_on_two_processes_make_exactly_its_winners(
    pg_url, two
):
    (first, second), _ = two
    sender, escrow = await fund_sender(first, 200_00)
    shares = split(200_00, 200)
    await make_packet(first, sender, escrow, shares)

    attempts = await asyncio.gather(
        *(
            (first, second)[n % 2].redpackets.grab_red_packet(grab_request("p", 10_000 + n, escrow))
            for n in range(1_000)
        )
    )

    won = [a for a in attempts if a.grab is not None]
    refused = [a.refusal for a in attempts if a.grab is None]
    assert len(won) == 200
    assert all(isinstance(r, RedPacketExhausted) for r in refused)
    assert all(a.user is not None for a in attempts)  # every tapper registered, won or not
    assert sorted(a.grab.amount for a in won) == sorted(shares)
    assert sorted(a.grab.remaining for a in won) == list(range(200))
    assert [a.grab.finished for a in won].count(True) == 1
    stored = await second.redpackets.red_packet_shares("p")
    assert len({s.user_id for s in stored}) == 200 and None not in {s.user_id for s in stored}
    assert [s.amount for s in stored] == shares  # taken lowest position first
    packet = await second.redpackets.get_red_packet("p")
    assert packet.state is PacketState.FINISHED
    ledger = Ledger(second.ledger, "CNY")
    assert (await ledger.balance(escrow)).available == 0
    for attempt in won[:20]:
        balance = await ledger.balance(attempt.user.account_id)
        assert balance.available == attempt.grab.amount
    report, journal = await audit(pg_url)
    assert report.ok, report.problems
    assert [t.id for t in journal] == list(range(1, len(journal) + 1))
    assert sum(t.amount for t in journal if t.kind == TransferKind.RED_PACKET_GRAB) == 200_00


async def test_one_person_tapping_on_two_processes_at_once_gets_one_share(pg_url, two):
    (first, second), _ = two
    sender, escrow = await fund_sender(first, 10_00)
    await make_packet(first, sender, escrow, [1_00] * 10)

    attempts = await asyncio.gather(
        *((first, second)[n % 2].redpackets.grab_red_packet(grab_request("p", 7, escrow))
          for n in range(20))
    )  # fmt: skip

    assert sum(a.grab is not None for a in attempts) == 1
    assert all(isinstance(a.refusal, RedPacketAlreadyGrabbed) for a in attempts if a.refusal)
    assert (await audit(pg_url))[0].ok


async def test_two_processes_sweeping_at_once_refund_a_packet_once_and_no_grab_lands_after(
    pg_url, two
):
    (first, second), (_, sweeper_clock) = two
    sender, escrow = await fund_sender(first, 100_00)
    shares = split(100_00, 100, seed=7)
    packets = [await make_packet(first, sender, escrow, shares[:50], "a")]
    packets.append(await make_packet(first, sender, escrow, shares[50:], "b"))
    third = await PgDatabase.open(pg_url, pool_size=4, clock=sweeper_clock)
    # the sweepers' clocks are past the deadline; the grabber's is not (a clock that lags)
    sweeper_clock.advance(ms=HOUR_MS)

    try:
        grabs = [
            first.redpackets.grab_red_packet(grab_request(p.id, 500 + n, escrow))
            for n in range(30)  # fewer than the shares: neither packet finishes
            for p in packets
        ]
        results = await asyncio.gather(
            *grabs[:20],
            second.redpackets.expire_red_packet("a", escrow),
            third.redpackets.expire_red_packet("a", escrow),
            *grabs[20:40],
            second.redpackets.expire_red_packet("b", escrow),
            third.redpackets.expire_red_packet("b", escrow),
            *grabs[40:],
        )
    finally:
        await third.close()

    expiries = [r for r in results if not hasattr(r, "grab") and r is not None]
    assert sorted(e.packet.id for e in expiries) == ["a", "b"]  # each refunded once
    attempts = [r for r in results if hasattr(r, "grab")]
    assert all(isinstance(a.refusal, RedPacketExpired) for a in attempts if a.refusal)
    for packet_id in ("a", "b"):
        packet = await second.redpackets.get_red_packet(packet_id)
        stored = await second.redpackets.red_packet_shares(packet_id)
        grabbed = [s for s in stored if s.user_id is not None]
        assert packet.state is PacketState.EXPIRED
        assert packet.refunded == sum(s.amount for s in stored if s.user_id is None)
        assert packet.refunded + sum(s.amount for s in grabbed) == packet.total
        assert all(s.grabbed_at <= packet.settled_at for s in grabbed)
    ledger = Ledger(second.ledger, "CNY")
    assert (await ledger.balance(escrow)).available == 0
    won = sum(a.grab.amount for a in attempts if a.grab)
    assert (await ledger.balance(sender)).available == 100_00 - won
    report, journal = await audit(pg_url)
    assert report.ok, report.problems
    refunds = [t for t in journal if t.kind == TransferKind.RED_PACKET_REFUND]
    assert len(refunds) == 2 and {t.key for t in refunds} == {
        "redpacket:a:refund",
        "redpacket:b:refund",
    }


async def test_one_packet_created_on_two_processes_at_once_is_escrowed_once(pg_url, two):
    (first, second), _ = two
    sender, escrow = await fund_sender(first, 10_00)
    now = first.now_ms()
    packet = RedPacket(
        "p", SENDER, PacketKind.EQUAL, 10_00, 2, "", None, None, -100, None, None,
        PacketState.OPEN, "confirm-1", now, now + HOUR_MS, None, 0,
    )  # fmt: skip
    spec = TransferSpec(sender, escrow, 10_00, TransferKind.RED_PACKET, ref="redpacket:p")

    answers = await asyncio.gather(
        *((first, second)[n % 2].redpackets.create_red_packet(packet, [5_00, 5_00], spec)
          for n in range(10))
    )  # fmt: skip

    assert sorted(again for _, again in answers) == [False] + [True] * 9
    assert (await Ledger(second.ledger, "CNY").balance(sender)).available == 0
    report, journal = await audit(pg_url)
    assert report.ok and [t.key for t in journal].count("confirm-1") == 1


async def test_refunds_of_one_transfer_from_two_processes_never_exceed_it(pg_url, two):
    (first, second), _ = two
    ledger = Ledger(first.ledger, "CNY")
    await ledger.open_system_accounts()
    alice = await first.users.upsert_user(Profile(1, "alice", "A"), "CNY", True)
    bob = await first.users.upsert_user(Profile(2, "bob", "B"), "CNY", True)
    external = await ledger.system_account_id(SystemAccount.EXTERNAL)
    await ledger.transfer("fund", external, alice.account_id, 100_00, "topup")
    paid = await ledger.transfer("pay", alice.account_id, bob.account_id, 30_00, "transfer")

    results = await asyncio.gather(
        *(
            (first, second)[n % 2].refunds.refund(
                f"refund-{n}", paid.id, 7_00, 900, "duplicate", REFUND_EVENT
            )
            for n in range(12)
        ),
        return_exceptions=True,
    )

    done = [r for r in results if not isinstance(r, Exception)]
    assert len(done) == 4  # 4 × ¥7 of ¥30; a fifth would exceed what is left
    assert all(isinstance(r, RefundExceedsRemaining) for r in results if r not in done)
    assert sorted(r.refunded for r in done) == [7_00, 14_00, 21_00, 28_00]
    preview = await second.refunds.preview(paid.id, None)
    assert (preview.refunded, preview.amount) == (28_00, 2_00)
    assert (await ledger.balance(bob.account_id)).available == 2_00
    report, _ = await audit(pg_url)
    assert report.ok, report.problems


async def test_a_job_lease_is_held_by_one_process_until_released_or_past_its_deadline(two):
    (first, second), clocks = two

    taken = await asyncio.gather(
        *((first, second)[n % 2].jobs.try_lock("sweep", 1_000) for n in range(10))
    )

    assert taken.count(True) == 1  # one try, whichever came first, in either process
    holder, other = (first, second) if True in taken[::2] else (second, first)
    assert not await holder.jobs.try_lock("sweep", 1_000)  # held: a second run is refused
    assert not await other.jobs.try_lock("sweep", 1_000)
    assert await other.jobs.try_lock("another job", 1_000)
    for clock in clocks:
        clock.advance(ms=1_000)  # the holder died: its deadline passes
    assert await other.jobs.try_lock("sweep", 1_000)
    assert not await holder.jobs.try_lock("sweep", 1_000)
    await other.jobs.release("sweep")
    await holder.jobs.release("sweep")  # not its lease: nothing happens
    assert await holder.jobs.try_lock("sweep", 1_000)
    with pytest.raises(ValueError):
        await holder.jobs.try_lock("sweep", 0)


async def test_a_scheduled_job_under_its_lease_runs_in_one_process_at_a_time(two, tmp_path):
    (first, second), _ = two
    running, ran = [], []

    async def sweep(wallet, n: int) -> None:
        async with lease(wallet, "withdrawals.sweep", 60) as held:
            if held:
                running.append(n)
                assert len(running) == 1  # nobody else is inside
                await asyncio.sleep(0.5)
                ran.append(n)
                running.remove(n)

    wallets = [SimpleNamespace(store=db) for db in (first, second)]
    await asyncio.gather(*(sweep(wallets[n % 2], n) for n in range(6)))
    assert len(ran) >= 1
    await sweep(wallets[1], 99)  # released when done: the next turn runs anywhere
    assert ran[-1] == 99
    assert len(ran) == 2  # the six at once: one ran, the others saw it held

    sqlite = SimpleNamespace(store=await SqliteDatabase.open(tmp_path / "wallet.db"))
    try:
        await sweep(sqlite, 7)  # one writing process: no lease, it runs
    finally:
        await sqlite.store.close()
    assert ran[-1] == 7


async def test_a_long_job_keeps_its_lease_while_it_runs_and_an_unkept_one_runs_out(pg_url):
    first = await PgDatabase.open(pg_url, pool_size=2)  # the wall clock: deadlines pass
    second = await PgDatabase.open(pg_url, pool_size=2)
    mine, theirs = SimpleNamespace(store=first), SimpleNamespace(store=second)
    try:
        async with lease(mine, "broadcast.1", 0.6, keep=True) as held:
            assert held
            tries = []
            for _ in range(8):  # twice past the lease's first deadline
                await asyncio.sleep(0.15)
                tries.append(await second.jobs.try_lock("broadcast.1", 300))
            assert tries == [False] * 8  # renewed while the job runs
        assert await second.jobs.try_lock("broadcast.1", 300)  # let go at its end

        async with lease(theirs, "broadcast.2", 0.3) as held:  # not kept
            assert held
            await asyncio.sleep(0.5)
            assert await first.jobs.try_lock("broadcast.2", 300)  # it ran out: taken over
    finally:
        await first.close()
        await second.close()
