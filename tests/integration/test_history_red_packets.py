"""A red packet's lines in a person's history and statement name the packet, not the escrow
account that held its money: who sent a share one grabbed, where one's own packet went,
its refund (on SQLite, then on PostgreSQL)."""

from __future__ import annotations

import csv
import io
import sqlite3
from dataclasses import replace

import pytest

from bot.domain.history import PacketFacts, PacketRole
from bot.domain.redpackets import RedPacketLimits, packet_id_of
from bot.domain.risk import RiskRules
from bot.domain.users import Profile
from bot.render.labels import packet_label
from bot.render.statement_csv import BOM, statement_csv
from bot.security.cipher import Keyring
from bot.security.guard import PaymentGuard
from bot.security.identity import Identity
from bot.storage.sqlite import history_store as sqlite_history
from bot.wallet.history import History
from bot.wallet.redpackets import RedPackets
from bot.wallet.statements import Month, Statements
from bot.wallet.users import Users

ALICE, BOB, CAROL = 101, 202, 303
GROUP = -100_555
EXPIRY_S = 60
MONTH_MS = 30 * 24 * 3600 * 1000


@pytest.fixture
def store(both_store):
    return both_store


class World:
    def __init__(self, store, ledger, clock, external) -> None:
        self.store, self.ledger, self.clock, self.external = store, ledger, clock, external
        self.users = Users(store.users, "CNY")
        guard = PaymentGuard(
            store.holds,
            Identity(store.identity, Keyring(bytes(range(32)))),
            rules=RiskRules(grab_burst_grabs=10_000),
        )
        limits = RedPacketLimits(expiry_s=EXPIRY_S)
        self.packets = RedPackets(store.redpackets, ledger, self.users, guard, limits)
        self.history = History(store.history)
        self.people = {}

    async def person(self, telegram_id: int, username: str | None, first_name: str, funds=0):
        now = self.clock.now_ms
        self.clock.now_ms = now - MONTH_MS  # an old wallet: no new-account rule
        user = await self.users.seen(Profile(telegram_id, username, first_name))
        self.clock.now_ms = now
        if funds:
            await self.ledger.transfer(
                f"fund-{telegram_id}", self.external, user.account_id, funds, "topup"
            )
        self.people[telegram_id] = user
        return user

    async def packet(self, key: str, kind="random", amount="10", count=2, **more):
        order = await self.packets.order(self.people[ALICE], kind, amount, count, **more)
        creation = await self.packets.create(key, order, authenticated=True)
        assert creation.status == "created"
        return creation.packet

    async def lines(self, telegram_id: int):
        return (await self.history.page(self.people[telegram_id].account_id)).lines


@pytest.fixture
async def world(store, ledger, clock, external) -> World:
    world = World(store, ledger, clock, external)
    await world.person(ALICE, "alice", "Alice", funds=100_00)
    await world.person(BOB, "bob", "Bob")
    await world.person(CAROL, "carol_w", "王芳")
    return world


async def test_a_grabber_sees_the_sender_and_the_sender_sees_the_group(world):
    packet = await world.packet("confirm-group", chat_id=GROUP, greeting="新年快乐")
    grab = await world.packets.grab(packet.id, world.people[BOB])

    (got,) = await world.lines(BOB)
    assert got.packet is not None and got.packet.role is PacketRole.GRABBED
    assert got.packet.packet == PacketFacts(packet.id, "Alice", in_group=True)
    assert (got.amount, got.memo) == (grab.amount, "新年快乐")
    assert got.counterparty.name == "escrow:redpackets"  # the account is still the pool

    sent, _topup = await world.lines(ALICE)
    assert sent.packet is not None and sent.packet.role is PacketRole.SENT
    assert sent.packet.packet == PacketFacts(packet.id, "Alice", in_group=True)
    assert sent.amount == -10_00 and _topup.packet is None

    detail = await world.history.detail(world.people[BOB].account_id, str(got.transfer_id))
    assert detail.line.packet == got.packet


async def test_the_refund_exclusive_and_inline_packets_say_what_they_were(world):
    for_carol = await world.packet(
        "confirm-exclusive", kind="exclusive", amount="3", recipient=world.people[CAROL]
    )
    order = await world.packets.order(world.people[ALICE], "random", "4", 2)
    inline = await world.packets.create(
        "confirm-inline", replace(order, inline_message_id="inline-1"), authenticated=True
    )
    await world.packets.grab(for_carol.id, world.people[CAROL])
    world.clock.advance(seconds=EXPIRY_S)
    (expiry,) = await world.packets.expire_due()
    assert expiry.packet.id == inline.packet.id and expiry.refunded == 4_00

    refund, to_chat, to_carol, _topup = await world.lines(ALICE)
    assert (refund.packet.role, refund.packet.packet.packet_id) == (
        PacketRole.REFUNDED,
        inline.packet.id,
    )
    assert refund.amount == 4_00
    assert to_chat.packet.packet == PacketFacts(inline.packet.id, "Alice", in_group=False)
    assert to_carol.packet.packet == PacketFacts(
        for_carol.id, "Alice", in_group=False, recipient="王芳"
    )
    (grabbed,) = await world.lines(CAROL)
    assert grabbed.packet.role is PacketRole.GRABBED and grabbed.packet.packet.sender == "Alice"


async def test_the_sender_sees_the_title_the_group_had_when_the_packet_was_posted(world):
    title = "<b>邻里</b> & {friends} =1+1"  # a group's own words: shown as they are
    titled = await world.packet("confirm-titled", chat_id=GROUP)
    await world.packets.attach_message(titled.id, chat_id=GROUP, message_id=7, chat_title=title)
    await world.packets.attach_message(titled.id, chat_id=GROUP, message_id=9)  # title kept
    older = await world.packet("confirm-older", amount="2", chat_id=GROUP)
    await world.packets.attach_message(older.id, chat_id=GROUP, message_id=8)  # no title
    long = await world.packet("confirm-long", amount="3", chat_id=GROUP)
    await world.packets.attach_message(long.id, chat_id=GROUP, message_id=10, chat_title="群" * 300)
    await world.packets.grab(titled.id, world.people[BOB])

    to_long, to_older, to_titled, _topup = await world.lines(ALICE)
    assert to_titled.packet.packet == PacketFacts(
        titled.id, "Alice", in_group=True, chat_title=title
    )
    assert to_older.packet.packet == PacketFacts(older.id, "Alice", in_group=True)
    assert to_long.packet.packet.chat_title == "群" * 128
    assert packet_label("en", to_titled.packet) == f"Red packet to {title}"
    assert packet_label("zh", to_titled.packet) == f"发到「{title}」的红包"
    assert packet_label("en", to_older.packet) == "Red packet to a group"
    assert packet_label("zh", to_older.packet) == "发到群里的红包"
    (grabbed,) = await world.lines(BOB)  # the grabber is told who sent it, as before
    assert packet_label("en", grabbed.packet) == "Red packet from Alice"

    month = Month.containing(world.store.now_ms())
    alice = await Statements(world.store.history).for_month(world.people[ALICE].account_id, month)
    text = statement_csv(alice, "zh").decode("utf-8").removeprefix(BOM)
    cells = [row[3] for row in csv.reader(io.StringIO(text))][1:]
    assert cells[1:] == [f"发到「{title}」的红包", "发到群里的红包", f"发到「{'群' * 128}」的红包"]


async def test_a_sender_without_a_first_name_is_shown_as_elsewhere(world):
    dave = await world.person(404, "dave_k", "", funds=10_00)
    order = await world.packets.order(dave, "equal", "1", 2, chat_id=GROUP)
    packet = (await world.packets.create("confirm-dave", order, authenticated=True)).packet
    await world.packets.grab(packet.id, world.people[BOB])
    (got,) = await world.lines(BOB)
    assert got.packet.packet.sender == "@dave_k" == dave.display_name


async def test_one_read_of_packets_a_page_and_none_without_red_packets(world, store, monkeypatch):
    for i in range(3):
        packet = await world.packet(f"confirm-{i}", amount="1", count=1, chat_id=GROUP)
        await world.packets.grab(packet.id, world.people[BOB])
    reads = []
    real = store.history.packet_facts

    async def counted(packet_ids):
        reads.append(sorted(packet_ids))
        return await real(packet_ids)

    monkeypatch.setattr(store.history, "packet_facts", counted)
    lines = await world.lines(BOB)
    assert [line.packet.packet.sender for line in lines] == ["Alice"] * 3
    assert len(reads) == 1 and len(reads[0]) == 3
    await world.history.page(world.people[CAROL].account_id)  # nothing at all
    await world.ledger.transfer("tip", world.external, world.people[CAROL].account_id, 5, "tip")
    await world.history.page(world.people[CAROL].account_id)  # no red packet
    assert len(reads) == 1
    monkeypatch.undo()
    assert await store.history.packet_facts(["no-such-packet"]) == {}
    assert await store.history.packet_facts([]) == {}


async def test_the_statement_and_its_csv_name_the_packet_too(world):
    packet = await world.packet("confirm-csv", chat_id=GROUP)
    await world.packets.grab(packet.id, world.people[BOB])
    month = Month.containing(world.store.now_ms())
    bob = await Statements(world.store.history).for_month(world.people[BOB].account_id, month)
    alice = await Statements(world.store.history).for_month(world.people[ALICE].account_id, month)
    assert [row.packet.role for row in bob.rows] == [PacketRole.GRABBED]
    assert [row.packet and row.packet.role for row in alice.rows] == [None, PacketRole.SENT]

    def counterparties(statement, language):
        text = statement_csv(statement, language).decode("utf-8").removeprefix(BOM)
        return [row[3] for row in csv.reader(io.StringIO(text))][1:]

    assert counterparties(bob, "zh") == ["来自 Alice 的红包"]
    assert counterparties(bob, "en") == ["Red packet from Alice"]
    assert counterparties(alice, "zh")[1] == "发到群里的红包"
    assert counterparties(alice, "en")[1] == "Red packet to a group"


async def test_only_red_packet_transfers_name_a_packet(world, store):
    packet = await world.packet("confirm-keys", chat_id=GROUP)
    await world.packets.grab(packet.id, world.people[BOB])
    async with store.snapshot() as snapshot:
        journal = [t async for t in snapshot.transfers()]
    named = {t.kind: packet_id_of(t.kind, t.key, t.ref) for t in journal}
    assert named == {"topup": None, "red_packet": packet.id, "redpacket_grab": packet.id}


async def test_the_packets_read_searches_by_primary_keys(world, db_path):
    if not db_path.exists():
        pytest.skip("the query plan is SQLite's")
    check = sqlite3.connect(db_path)
    try:
        sql = sqlite_history._PACKETS.format(marks="?, ?")
        plan = [row[-1] for row in check.execute(f"EXPLAIN QUERY PLAN {sql}", ("a", "b"))]
    finally:
        check.close()
    assert plan and not [step for step in plan if step.startswith("SCAN")], plan


async def test_a_history_page_searches_every_side_by_an_index(world, db_path):
    """Each side of a page (debits, credits, the voucher legs of the person's shop
    payments and their refunds) is read through an index: a page costs the same with a
    long journal."""
    if not db_path.exists():
        pytest.skip("the query plan is SQLite's")
    check = sqlite3.connect(db_path)
    try:
        params = {"a": 2, "b": 100, "n": 11}
        plans = [
            [row[-1] for row in check.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
            for sql in (sqlite_history._VISIBLE_BEFORE, sqlite_history._VISIBLE_AFTER)
        ]
    finally:
        check.close()
    for plan in plans:  # (a subquery's rows are read as they come: "SCAN (subquery-N)")
        tables = [step for step in plan if step.startswith("SCAN") and "subquery" not in step]
        assert plan and not tables, plan
        assert any("merchant_payments_by_payer" in step for step in plan), plan
        assert any("transfers_refunds" in step for step in plan), plan  # their refunds
