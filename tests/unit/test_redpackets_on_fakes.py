"""Red packets on the in-memory stores: the whole amount in escrow, one share a person,
the rest back to the sender when it expires."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.errors import (
    InsufficientFunds,
    RedPacketAlreadyGrabbed,
    RedPacketCountNotANumber,
    RedPacketExhausted,
    RedPacketExpired,
    RedPacketGrabBlocked,
    RedPacketLimit,
    RedPacketNotForYou,
    RedPacketNotFound,
    RedPacketWrongPassword,
)
from bot.domain.model import SystemAccount
from bot.domain.redpackets import CreationStatus, PacketKind, PacketState, TapPlace
from bot.domain.risk import RiskRules
from bot.domain.users import Profile
from bot.wallet.redpackets import CLOSED_PHRASES_S
from tests.fakes.wallet import FakeWallet

ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4
GROUP = -100


@pytest.fixture
async def wallet() -> FakeWallet:
    return await FakeWallet.open()


async def send(wallet: FakeWallet, sender, kind=PacketKind.RANDOM, amount="1", count=3, **more):
    order = await wallet.redpackets.order(sender, kind, amount, count, chat_id=GROUP, **more)
    creation = await wallet.redpackets.create(wallet.key("rp"), order, authenticated=True)
    assert creation.status is CreationStatus.CREATED
    return creation.packet


async def escrow(wallet: FakeWallet) -> int:
    account_id = await wallet.ledger.system_account_id(SystemAccount.ESCROW_REDPACKETS)
    return (await wallet.ledger.balance(account_id)).available


async def test_an_order_refuses_what_the_sender_got_wrong(wallet):
    alice = await wallet.person(ALICE, funds=500_00)
    bob = await wallet.person(BOB)

    for kind, amount, count, more, code in [
        (PacketKind.RANDOM, "200.01", 3, {}, "red_packet_total_too_large"),
        (PacketKind.RANDOM, "0.02", 3, {}, "red_packet_share_too_small"),
        (PacketKind.RANDOM, "1", 101, {}, "red_packet_count_out_of_range"),
        (PacketKind.RANDOM, "1", 2, {"greeting": "x" * 61}, "red_packet_greeting_too_long"),
        (PacketKind.EXCLUSIVE, "1", 1, {"recipient": alice}, "red_packet_for_yourself"),
        (PacketKind.PASSWORD, "1", 2, {"password": "  "}, "red_packet_password_invalid"),
        (
            PacketKind.PASSWORD,  # its phrase is its greeting too: the phrase's limit speaks
            "5",
            2,
            {"password": "芝麻开门" * 75, "greeting": "芝麻开门" * 75},
            "red_packet_password_invalid",
        ),
        (PacketKind.EQUAL, "2.5", 100, {}, "red_packet_equal_total_too_large"),
        (PacketKind.PASSWORD, "1", 2, {"password": "/open"}, "red_packet_password_command"),
        (PacketKind.PASSWORD, "1", 2, {"password": " ／开门"}, "red_packet_password_command"),
    ]:
        with pytest.raises(RedPacketLimit) as refused:
            await wallet.redpackets.order(alice, kind, amount, count, **more)
        assert refused.value.code == code
    with pytest.raises(InsufficientFunds):
        await wallet.redpackets.order(bob, PacketKind.RANDOM, "1", 2)

    equal = await wallet.redpackets.order(alice, PacketKind.EQUAL, "0.5", "４")
    assert (equal.total, equal.count) == (200, 4)
    # decimal digits of any script, as an amount takes them ("٣" is ¥3 there)
    arabic = await wallet.redpackets.order(alice, PacketKind.EQUAL, "٠.٥", "٤")
    assert (arabic.total, arabic.count) == (200, 4)


@pytest.mark.parametrize(
    ("written", "shown"),
    [("abc", "abc"), ("2.5", "2.5"), ("-3", "-3"), ("᧚", "᧚"), ("x" * 40, "x" * 11 + "…")],
)
async def test_a_count_that_is_no_whole_number_is_told_apart_from_one_out_of_range(
    wallet, written, shown
):
    alice = await wallet.person(ALICE, funds=500_00)
    with pytest.raises(RedPacketCountNotANumber) as refused:
        await wallet.redpackets.order(alice, PacketKind.RANDOM, "10", written)
    assert refused.value.params == {"text": shown, "limit": 100}
    assert (await wallet.ledger.balance(alice.account_id)).available == 500_00


async def test_a_packet_escrows_its_total_once_per_confirmation(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    order = await wallet.redpackets.order(alice, PacketKind.RANDOM, "3", 3, chat_id=GROUP)

    first = await wallet.redpackets.create("confirm", order, authenticated=True)
    again = await wallet.redpackets.create("confirm", order, authenticated=True)

    assert again.packet == first.packet and first.packet.state is PacketState.OPEN
    shares = await wallet.db.redpackets.red_packet_shares(first.packet.id)
    assert sum(s.amount for s in shares) == 300 and len(shares) == 3
    assert min(s.amount for s in shares) >= 1
    assert (await wallet.available(alice), await escrow(wallet)) == (700, 300)


async def test_each_person_grabs_one_share_until_none_is_left(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB)
    carol = await wallet.person(CAROL)
    packet = await send(wallet, alice, amount="3", count=2)

    first = await wallet.redpackets.grab(packet.id, bob)
    with pytest.raises(RedPacketAlreadyGrabbed) as twice:
        await wallet.redpackets.grab(packet.id, bob)
    last = await wallet.redpackets.grab(packet.id, carol)
    with pytest.raises(RedPacketExhausted):
        await wallet.redpackets.grab(packet.id, alice)
    await asyncio.sleep(0)  # the finished packet is kept in memory in the background
    with pytest.raises(RedPacketAlreadyGrabbed):  # answered from memory, as the store would
        await wallet.redpackets.grab(packet.id, carol)

    assert twice.value.params["amount"] == first.amount
    assert (first.remaining, last.remaining, last.finished) == (1, 0, True)
    assert first.amount + last.amount == 300
    assert [await wallet.available(p) for p in (bob, carol)] == [first.amount, last.amount]
    assert (await wallet.redpackets.get(packet.id)).state is PacketState.FINISHED
    assert await escrow(wallet) == 0


async def test_a_newcomers_first_grab_registers_them_in_the_same_write(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    packet = await send(wallet, alice, count=1)
    newcomer = Profile(DAVE, "dave", "Dave")

    grab = await wallet.redpackets.grab(packet.id, newcomer)
    with pytest.raises(RedPacketAlreadyGrabbed):
        await wallet.redpackets.grab(packet.id, Profile(DAVE, "dave", "Dave"))

    dave = await wallet.users.get(DAVE)
    assert dave is not None and await wallet.available(dave) == grab.amount == 100
    assert wallet.users.known_as(newcomer) == dave


async def test_a_tap_outside_the_packets_group_finds_nothing(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB)
    packet = await send(wallet, alice)

    with pytest.raises(RedPacketNotFound):
        await wallet.redpackets.grab(packet.id, bob, place=TapPlace(-999, None))
    with pytest.raises(RedPacketNotFound):
        await wallet.redpackets.grab("no-such-packet", bob)
    grab = await wallet.redpackets.grab(packet.id, bob, place=TapPlace(GROUP, None))

    assert grab.remaining == 2


async def test_an_exclusive_packet_is_for_its_person_and_a_password_one_for_the_phrase(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB)
    carol = await wallet.person(CAROL)
    exclusive = await send(wallet, alice, PacketKind.EXCLUSIVE, recipient=carol)
    phrase = await send(wallet, alice, PacketKind.PASSWORD, count=2, password="Open  Sesame")

    with pytest.raises(RedPacketNotForYou):
        await wallet.redpackets.grab(exclusive.id, bob)
    mine = await wallet.redpackets.grab(exclusive.id, carol)
    with pytest.raises(RedPacketWrongPassword):
        await wallet.redpackets.grab(phrase.id, bob, "open sesam")
    opened = await wallet.redpackets.grab(phrase.id, bob, "ＯＰＥＮ sesame")

    assert mine.finished and mine.amount == 100
    assert opened.remaining == 1
    assert await wallet.redpackets.password_packets(GROUP) == [opened.packet]


async def test_a_closed_password_packet_is_still_found_for_a_day_so_a_late_phrase_hears_why(
    wallet,
):
    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB)
    phrase = await send(wallet, alice, PacketKind.PASSWORD, count=2, password="open sesame")
    wallet.clock.advance(seconds=wallet.redpackets.limits.expiry_s)
    await wallet.redpackets.expire_due()

    (found,) = await wallet.redpackets.password_packets(GROUP)
    assert (found.id, found.state) == (phrase.id, PacketState.EXPIRED)
    with pytest.raises(RedPacketExpired):  # what the person is told in private
        await wallet.redpackets.grab(phrase.id, bob, "open sesame")
    wallet.clock.advance(seconds=CLOSED_PHRASES_S + 1)
    assert await wallet.redpackets.password_packets(GROUP) == []  # old news: not looked at


async def test_an_open_password_packet_is_never_crowded_out_by_closed_ones(wallet):
    alice = await wallet.person(ALICE, funds=10_000)
    bob = await wallet.person(BOB)
    still_open = await send(wallet, alice, PacketKind.PASSWORD, count=2, password="first")
    for i in range(25):  # a busy group: many packets, by many people, emptied at once
        wallet.clock.advance(seconds=1)
        sender = await wallet.person(5_000 + i, funds=1_000)
        done = await send(wallet, sender, PacketKind.PASSWORD, count=1, password=f"p{i}")
        await wallet.redpackets.grab(done.id, bob, f"p{i}")

    found = await wallet.redpackets.password_packets(GROUP)
    assert found[0].id == still_open.id and len(found) == 20
    assert [p.state for p in found[1:]] == [PacketState.FINISHED] * 19


async def test_an_expired_packet_refunds_what_is_left_to_its_sender_once(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB)
    packet = await send(wallet, alice, amount="3", count=3)
    grab = await wallet.redpackets.grab(packet.id, bob)

    assert await wallet.redpackets.expire(packet.id) is None  # not due yet
    wallet.clock.advance(seconds=wallet.redpackets.limits.expiry_s)
    with pytest.raises(RedPacketExpired):
        await wallet.redpackets.grab(packet.id, await wallet.person(CAROL))
    (expiry,) = await wallet.redpackets.expire_due()
    again = await wallet.redpackets.expire(packet.id)

    assert expiry.refunded == 300 - grab.amount and again is None
    assert expiry.packet.state is PacketState.EXPIRED
    assert await wallet.available(alice) == 1_000 - grab.amount
    assert await escrow(wallet) == 0


async def test_a_packet_never_shown_is_refunded_at_once_unless_grabbed(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB)
    unseen = await send(wallet, alice)
    seen = await send(wallet, alice)
    await wallet.redpackets.grab(seen.id, bob)

    refunded = await wallet.redpackets.refund_unshown(unseen.id)
    kept = await wallet.redpackets.refund_unshown(seen.id)

    assert refunded.refunded == 100 and kept is None
    assert await wallet.available(alice) == 1_000 - 100


async def test_the_luckiest_grab_is_named_once_a_random_packet_is_done(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    packet = await send(wallet, alice, amount="5", count=3)
    grabs = [
        await wallet.redpackets.grab(packet.id, await wallet.person(n)) for n in (BOB, CAROL, DAVE)
    ]

    results = await wallet.redpackets.results(packet.id)

    assert [s.user_id for s in results.grabs] == [BOB, CAROL, DAVE]
    assert results.remaining == 0
    best = max(range(3), key=lambda i: (grabs[i].amount, -i))
    assert results.luckiest.user_id == (BOB, CAROL, DAVE)[best]


async def test_a_burst_of_grabs_across_groups_is_blocked_and_logged(wallet):
    wallet.guard.rules = RiskRules(grab_burst_grabs=2, grab_burst_chats=2)
    alice = await wallet.person(ALICE, funds=1_000)
    bob = await wallet.person(BOB)
    packets = []
    for chat in (-1, -2, -3):
        order = await wallet.redpackets.order(alice, PacketKind.RANDOM, "1", 2, chat_id=chat)
        creation = await wallet.redpackets.create(wallet.key(), order, authenticated=True)
        packets.append(creation.packet)

    first = await wallet.redpackets.grab(packets[0].id, bob)
    second = await wallet.redpackets.grab(packets[1].id, bob)
    with pytest.raises(RedPacketGrabBlocked):
        await wallet.redpackets.grab(packets[2].id, bob)

    assert await wallet.available(bob) == first.amount + second.amount
    untouched = await wallet.db.redpackets.red_packet_shares(packets[2].id)
    assert all(share.user_id is None for share in untouched)
    (blocked,) = await wallet.events("risk.block")
    assert blocked.details["reasons"] == ["grab_burst"]


async def test_a_packet_the_guard_would_hold_is_not_made(wallet):
    wallet.guard.rules = RiskRules(new_account_max_payment_fen=50)
    alice = await wallet.person(ALICE, funds=1_000, age_ms=60_000)
    order = await wallet.redpackets.order(alice, PacketKind.RANDOM, "1", 2, chat_id=GROUP)

    creation = await wallet.redpackets.create("confirm", order, authenticated=True)

    assert creation.status is CreationStatus.NEEDS_REVIEW and creation.packet is None
    assert await wallet.available(alice) == 1_000 and await wallet.guard.open_holds() == []


async def test_of_many_grabbers_at_once_exactly_as_many_as_there_are_shares_get_one(wallet):
    alice = await wallet.person(ALICE, funds=1_000)
    packet = await send(wallet, alice, amount="3", count=3)
    grabbers = [await wallet.person(10 + n) for n in range(5)]

    answers = await asyncio.gather(
        *(wallet.redpackets.grab(packet.id, g) for g in grabbers), return_exceptions=True
    )

    grabbed = [a for a in answers if not isinstance(a, Exception)]
    assert len(grabbed) == 3 and sum(g.amount for g in grabbed) == 300
    assert [type(a) for a in answers if isinstance(a, Exception)] == [RedPacketExhausted] * 2
    assert sorted(g.remaining for g in grabbed) == [0, 1, 2]
    assert await escrow(wallet) == 0
