"""Red packets on a real ledger: escrowed once, grabbed once a person, refunded once (on
SQLite, then on PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.errors import (
    InsufficientFunds,
    RedPacketAlreadyGrabbed,
    RedPacketExhausted,
    RedPacketExpired,
    RedPacketGrabBlocked,
    RedPacketLimit,
    RedPacketNotForYou,
    RedPacketWrongPassword,
)
from bot.domain.model import SystemAccount
from bot.domain.redpackets import PacketState, RedPacketLimits
from bot.domain.risk import RiskRules
from bot.domain.users import Profile
from bot.security.cipher import Keyring
from bot.security.guard import PaymentGuard
from bot.security.identity import Identity
from bot.wallet.redpackets import RedPackets
from bot.wallet.users import Users

ALICE, BOB = 101, 202
MONTH_MS = 30 * 24 * 3600 * 1000
EXPIRY_S = 60


class World:
    def __init__(self, store, ledger, clock, external, db_path) -> None:
        self.store, self.ledger, self.clock, self.external = store, ledger, clock, external
        self.db_path = db_path
        self.users = Users(store.users, "CNY")
        identity = Identity(store.identity, Keyring(bytes(range(32))))
        # Many grabs from one person in a few chats are the point of these tests.
        rules = RiskRules(grab_burst_grabs=10_000)
        self.guard = PaymentGuard(store.holds, identity, rules=rules)
        limits = RedPacketLimits(expiry_s=EXPIRY_S)
        self.packets = RedPackets(store.redpackets, ledger, self.users, self.guard, limits)
        self.people = {}

    async def person(self, telegram_id: int, funds: int = 0):
        now = self.clock.now_ms
        self.clock.now_ms = now - MONTH_MS  # an old wallet: no new-account rule
        user = await self.users.seen(Profile(telegram_id, f"user{telegram_id}", "U"))
        self.clock.now_ms = now
        if funds:
            await self.store.security.set_pin(telegram_id, "scrypt-hash", "key")
            await self.ledger.transfer(
                f"fund-{telegram_id}", self.external, user.account_id, funds, "topup"
            )
        self.people[telegram_id] = user
        return user

    async def available(self, telegram_id: int) -> int:
        user = self.people[telegram_id]
        return (await self.ledger.balance(user.account_id)).available

    async def escrow(self) -> int:
        escrow = await self.ledger.system_account_id(SystemAccount.ESCROW_REDPACKETS)
        return (await self.ledger.balance(escrow)).available

    async def packet(self, kind="random", amount="20", count=5, key="confirm-1", **more):
        order = await self.packets.order(self.people[ALICE], kind, amount, count, **more)
        creation = await self.packets.create(key, order, authenticated=True)
        assert creation.status == "created"
        return creation.packet

    async def count(self, kind: str, ref: str | None = None) -> int:
        """How many transfers of ``kind`` (with ``ref``, when given) the journal holds."""
        async with self.store.snapshot() as snapshot:
            journal = [t async for t in snapshot.transfers()]
        return sum(1 for t in journal if t.kind == kind and ref in (None, t.ref))


@pytest.fixture
def store(both_store):
    return both_store


@pytest.fixture
def audit(both_audit):
    return both_audit


@pytest.fixture
async def world(store, ledger, clock, external, db_path) -> World:
    world = World(store, ledger, clock, external, db_path)
    await world.person(ALICE, funds=500_00)
    await world.person(BOB)
    return world


async def test_creating_escrows_the_whole_amount_once_per_confirmation(world, audit):
    packet = await world.packet(amount="20", count=5)
    again = await world.packets.create(
        "confirm-1",
        await world.packets.order(world.people[ALICE], "random", "20", 5),
        authenticated=True,
    )
    assert again.packet.id == packet.id
    assert await world.available(ALICE) == 480_00
    assert await world.escrow() == 20_00
    shares = await world.store.redpackets.red_packet_shares(packet.id)
    assert len(shares) == 5 and sum(s.amount for s in shares) == 20_00
    assert (await audit()).ok


async def test_three_hundred_grabbers_of_a_hundred_shares_make_a_hundred_winners(world, audit):
    packet = await world.packet(amount="200", count=100)
    grabbers = [await world.person(1000 + i) for i in range(300)]

    async def grab(user):
        try:
            return await world.packets.grab(packet.id, user)
        except RedPacketExhausted:
            return None

    results = await asyncio.gather(*(grab(user) for user in grabbers))
    winners = [(u.telegram_id, r.amount) for u, r in zip(grabbers, results, strict=True) if r]
    assert len(winners) == 100
    assert len({who for who, _ in winners}) == 100
    assert sum(amount for _, amount in winners) == 200_00
    for who, amount in winners:
        assert await world.available(who) == amount
    assert await world.escrow() == 0
    assert sum(1 for r in results if r and r.finished) == 1
    assert (await world.packets.get(packet.id)).state is PacketState.FINISHED
    assert await world.count("redpacket_grab", "chat:0") == 100
    assert (await audit()).ok


async def test_a_second_grab_by_the_same_person_is_refused_with_their_amount(world):
    packet = await world.packet(amount="10", count=3)
    first = await world.packets.grab(packet.id, world.people[BOB])
    with pytest.raises(RedPacketAlreadyGrabbed) as refused:
        await world.packets.grab(packet.id, world.people[BOB])
    assert refused.value.params["amount"] == first.amount
    assert await world.available(BOB) == first.amount


async def test_the_same_person_grabbing_twice_at_once_gets_one_share(world):
    packet = await world.packet(amount="10", count=3)
    results = await asyncio.gather(
        *(world.packets.grab(packet.id, world.people[BOB]) for _ in range(5)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, RedPacketAlreadyGrabbed) for r in results if isinstance(r, Exception))


async def test_an_equal_packet_gives_each_the_same(world):
    packet = await world.packet(kind="equal", amount="2", count=5)
    assert packet.total == 10_00
    grab = await world.packets.grab(packet.id, world.people[BOB])
    assert grab.amount == 2_00


async def test_an_exclusive_packet_opens_only_for_its_person(world):
    carol = await world.person(303)
    packet = await world.packet(kind="exclusive", amount="8.88", recipient=world.people[BOB])
    with pytest.raises(RedPacketNotForYou):
        await world.packets.grab(packet.id, carol)
    grab = await world.packets.grab(packet.id, world.people[BOB])
    assert (grab.amount, grab.finished) == (8_88, True)


async def test_a_password_packet_needs_the_phrase(world):
    packet = await world.packet(kind="password", amount="10", count=2, password="恭喜 发财")
    with pytest.raises(RedPacketWrongPassword):
        await world.packets.grab(packet.id, world.people[BOB], "恭喜")
    with pytest.raises(RedPacketWrongPassword):
        await world.packets.grab(packet.id, world.people[BOB])
    grab = await world.packets.grab(packet.id, world.people[BOB], " 恭喜  发财 ")
    assert grab.amount > 0


async def test_an_expired_packet_refunds_the_remainder_once(world, clock, audit):
    packet = await world.packet(amount="20", count=4)
    grab = await world.packets.grab(packet.id, world.people[BOB])
    assert await world.packets.expire_due() == []  # not yet
    clock.advance(seconds=EXPIRY_S)
    with pytest.raises(RedPacketExpired):
        await world.packets.grab(packet.id, await world.person(303))
    sweeps = await asyncio.gather(world.packets.expire_due(), world.packets.expire_due())
    expiries = [e for sweep in sweeps for e in sweep]
    assert len(expiries) == 1 and expiries[0].refunded == 20_00 - grab.amount
    assert await world.packets.expire(packet.id) is None
    assert await world.available(ALICE) == 500_00 - grab.amount
    assert await world.escrow() == 0
    assert await world.count("redpacket_refund") == 1
    results = await world.packets.results(packet.id)
    assert results.packet.state is PacketState.EXPIRED and results.remaining == 20_00 - grab.amount
    assert (await audit()).ok


async def test_a_finished_packet_has_nothing_to_refund(world, clock):
    packet = await world.packet(kind="exclusive", amount="1", recipient=world.people[BOB])
    await world.packets.grab(packet.id, world.people[BOB])
    clock.advance(seconds=EXPIRY_S)
    assert await world.packets.expire_due() == []
    with pytest.raises(RedPacketExhausted):
        await world.packets.grab(packet.id, await world.person(9))


async def test_the_luckiest_draw_is_the_largest_and_the_earliest_of_a_tie(world, clock):
    packet = await world.packet(amount="0.03", count=3)  # a fen each: a three-way tie
    people = [await world.person(400 + i) for i in range(3)]
    for person in people:
        await world.packets.grab(packet.id, person)
        clock.advance(ms=5)
    results = await world.packets.results(packet.id)
    assert [s.user_id for s in results.grabs] == [p.telegram_id for p in people]
    assert results.luckiest.user_id == people[0].telegram_id
    assert results.grabbed == 3


@pytest.mark.parametrize(
    ("kind", "amount", "count", "code"),
    [
        ("random", "200.01", 5, "red_packet_total_too_large"),
        ("random", "20", 101, "red_packet_count_out_of_range"),
        ("random", "20", 0, "red_packet_count_out_of_range"),
        ("random", "0.99", 100, "red_packet_share_too_small"),
        ("equal", "2.01", 100, "red_packet_equal_total_too_large"),
    ],
)
async def test_limits_are_checked_before_anything_moves(world, kind, amount, count, code):
    with pytest.raises(RedPacketLimit) as refused:
        await world.packets.order(world.people[ALICE], kind, amount, count)
    assert refused.value.code == code
    assert await world.available(ALICE) == 500_00


async def test_the_limits_themselves_are_allowed(world):
    assert (await world.packet(amount="200", count=100)).total == 200_00
    assert (await world.packet(amount="1", count=100, key="k2")).total == 1_00


async def test_a_packet_larger_than_the_balance_is_refused(world):
    with pytest.raises(InsufficientFunds):
        await world.packets.order(world.people[BOB], "random", "1", 1)


async def test_a_burst_of_grabs_across_chats_is_blocked_by_the_guard_and_logged(world):
    world.guard.rules = RiskRules(grab_burst_grabs=2, grab_burst_chats=2)
    packets = []
    for n, chat in enumerate((-1, -2, -3)):
        order = await world.packets.order(world.people[ALICE], "random", "1", 1, chat_id=chat)
        packets.append((await world.packets.create(f"k{n}", order, authenticated=True)).packet)
    await world.packets.grab(packets[0].id, world.people[BOB])
    await world.packets.grab(packets[1].id, world.people[BOB])
    with pytest.raises(RedPacketGrabBlocked):
        await world.packets.grab(packets[2].id, world.people[BOB])
    assert await world.available(BOB) == 2_00
    events = [e async for e in world.store.security.events()]
    assert events[-1].event == "risk.block" and events[-1].details["kind"] == "redpacket_grab"


async def test_a_packet_that_could_not_be_shown_is_refunded_at_once(world, audit):
    packet = await world.packet(amount="20", count=4)
    expiry = await world.packets.refund_unshown(packet.id)
    assert expiry is not None and expiry.refunded == 20_00
    assert await world.available(ALICE) == 500_00 and await world.escrow() == 0
    assert await world.packets.refund_unshown(packet.id) is None  # once
    with pytest.raises(RedPacketExpired):
        await world.packets.grab(packet.id, world.people[BOB])
    assert (await audit()).ok


async def test_a_packet_someone_grabbed_is_not_refunded_early(world):
    packet = await world.packet(amount="20", count=4, key="confirm-2")
    await world.packets.grab(packet.id, world.people[BOB])
    assert await world.packets.refund_unshown(packet.id) is None
    assert await world.escrow() > 0


async def test_one_inline_message_carries_one_packet(world, audit):
    from dataclasses import replace

    from bot.domain.errors import RedPacketInlineUsed

    order = await world.packets.order(world.people[ALICE], "random", "10", 2)
    inline = replace(order, inline_message_id="inline-1")
    first = await world.packets.create("confirm-a", inline, authenticated=True)
    assert first.status == "created"
    with pytest.raises(RedPacketInlineUsed):
        await world.packets.create("confirm-b", inline, authenticated=True)
    assert await world.available(ALICE) == 500_00 - 10_00  # the second moved nothing
    assert (await audit()).ok
