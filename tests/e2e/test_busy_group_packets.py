"""A red packet in a busy group, within Telegram's 20 messages a minute per group: its post
is not held up by answers the group can do without, and the sender's card says what
became of it (being posted, then in the group, or refunded)."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.app import build_application
from bot.security.ratelimit import RateLimits
from tests.e2e.test_busy_group import handler_errors
from tests.e2e.test_redpacket import escrow
from tests.e2e.test_send import ALICE, available, enter_pin, fund, start_private, tap_and_wait

MEMBERS = 25
USAGE = "在群里发送 /redpacket <总金额> <个数>"  # the start of /hb's usage, in Chinese


@pytest.fixture
def application(settings, wallet):
    """The limits the bot ships with: the crowd's commands do not use up the group's
    command bucket, so a member's packet after them is not refused "slow down"; the
    group's send limit is Telegram's, as the emulator keeps it."""
    assert RateLimits().command_chat.capacity > MEMBERS + 1
    return build_application(settings, wallet=wallet, rate_limits=RateLimits())


@pytest.fixture
async def alice(emulator, wallet):
    await fund(wallet, ALICE, 300_00)
    await start_private(emulator, "alice")


def crowd(emulator, language: str = "zh-hans") -> list:
    members = [emulator.add_user(f"N{i}", f"n{i}", language) for i in range(MEMBERS)]
    emulator.group.member_ids.extend(m.id for m in members)
    return members


def in_group(emulator, since: int, text: str) -> list:
    return [
        e
        for e in emulator.events[since:]
        if e.by_bot and e.kind == "message" and e.chat_id == emulator.group.id and text in e.text
    ]


async def confirm(emulator, command: str):
    """Alice asks for a packet in the group and confirms it with her PIN: her card as the
    keypad left it, and the card itself."""
    mark = emulator.mark()
    await emulator.send_text("alice", command, emulator.group)
    card = await emulator.wait_for_message("alice", since=mark, timeout=15)
    await tap_and_wait(emulator, "alice", card, "Confirm")
    return await enter_pin(emulator, "alice", card), card


async def test_a_packet_is_posted_at_once_after_two_dozen_bad_commands(
    emulator, wallet, alice, caplog
):
    mark = emulator.mark()
    members = crowd(emulator)
    await asyncio.gather(*(emulator.send_text(m, "/hb 1", emulator.group) for m in members))
    await emulator.wait_for_message(emulator.group, text=USAGE, since=mark, timeout=15)
    await asyncio.sleep(1)  # every bad command handled

    done, card = await confirm(emulator, "/redpacket 10 5 busy")
    told = time.monotonic()
    assert "is being posted in the group" in done.text  # not "is in the group" yet
    await emulator.wait_for(
        lambda e: e.kind == "message" and e.chat_id == emulator.group.id and "🧧 Alice" in e.text,
        timeout=10,
        since=mark,
    )
    assert time.monotonic() - told < 5  # not a minute later, behind the usage notes
    where = (card.chat_id, card.message_id)
    final = await emulator.wait_for(
        lambda e: e.kind == "edit" and (e.chat_id, e.message_id) == where,
        since=emulator.events.index(done) + 1,
    )
    assert final.text == "🧧 Your red packet of ¥10.00 is in the group."
    # nobody of the crowd could be written to in private: the same answer went to the
    # group a few times, not 25 times
    assert 1 <= len(in_group(emulator, mark, USAGE)) < 10
    assert handler_errors(caplog) == []
    assert emulator.errors() == []  # not one private chat tried that was never opened


async def test_in_a_busy_group_a_member_who_opened_the_bot_gets_the_usage_in_private(
    emulator, wallet, alice
):
    members = crowd(emulator, "en")
    for member in members:
        await start_private(emulator, member)
    mark = emulator.mark()
    await asyncio.gather(*(emulator.send_text(m, "/hb 1", emulator.group) for m in members))
    usage = "Write /redpacket <total> <count> [greeting] in a group"
    ids = {m.id for m in members}

    def in_private() -> list:
        return [
            e
            for e in emulator.events[mark:]
            if e.by_bot and e.kind == "message" and e.chat_id in ids and usage in e.text
        ]

    for _ in range(150):  # each of them is answered, in the group or in private
        if len(in_group(emulator, mark, usage)) + len(in_private()) == MEMBERS:
            break
        await asyncio.sleep(0.1)
    assert len(in_group(emulator, mark, usage)) + len(in_private()) == MEMBERS
    assert len(in_group(emulator, mark, usage)) < 10  # the rest of the minute is kept
    assert in_private()[0].text.startswith("📩 About your “/hb 1” in “Neighbourhood”")


async def test_a_post_that_fails_corrects_the_card_and_refunds(emulator, wallet, alice):
    await emulator.send_text("alice", "/hb 7 2 removed", emulator.group)
    card = await emulator.wait_for_message("alice")
    emulator.group.bot_is_member = False  # removed from the group before the PIN
    await tap_and_wait(emulator, "alice", card, "Confirm")
    done = await enter_pin(emulator, "alice", card)
    where = (card.chat_id, card.message_id)
    final = await emulator.wait_for(
        lambda e: e.kind == "edit" and (e.chat_id, e.message_id) == where,
        since=emulator.events.index(done) + 1,
    )
    refunded = (
        "🧧 Your red packet of ¥7.00 could not be posted in the group, "
        "so it was refunded to your wallet."
    )
    assert final.text == refunded
    assert await available(wallet, ALICE) == 300_00 and await escrow(wallet) == 0
