"""A busy neighbourhood through the real application: hundreds of people at the same moment.

Each burst is queued in one go, as if it all arrived within the same instant; nobody may
get the apology (an exception that escaped a handler), and the money must add up.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest

from bot.app import stop_sending
from bot.handlers.outbox import outbox
from bot.handlers.redpacket_live import editor
from bot.sandbox.testing import tap_burst
from tests.e2e.test_redpacket import edits, escrow, fen_of, send_packet
from tests.e2e.test_send import (
    ALICE,
    BOB,
    XIAOMING,
    available,
    enter_pin,
    fund,
    start_private,
    tap_and_wait,
)

NEWCOMERS = 200
TAPPERS = 1_000
SHARES = 200


@pytest.fixture
def settings(settings):
    return replace(settings, redpacket_max_shares=SHARES)


def handler_errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.both_back_ends
async def test_a_burst_of_newcomers_each_get_a_welcome_with_their_balance(emulator, wallet, caplog):
    people = [emulator.add_user(f"N{i}", f"newcomer{i}", "en") for i in range(NEWCOMERS)]
    mark = emulator.mark()
    await asyncio.gather(*(emulator.send_text(person, "/start") for person in people))
    replies = await asyncio.gather(
        *(emulator.wait_for_message(person, since=mark, timeout=60) for person in people)
    )
    assert [
        r.text.startswith(f"Welcome to the community wallet, N{i}!") for i, r in enumerate(replies)
    ] == [True] * NEWCOMERS
    assert all("¥0.00" in r.text for r in replies)
    assert handler_errors(caplog) == []
    for person in people[:5]:
        assert (await wallet.users.get(person.id)).private_chat


@pytest.mark.both_back_ends
async def test_a_thousand_members_tap_a_200_share_packet_at_once(emulator, wallet, running, caplog):
    await fund(wallet, ALICE, 200_00)
    await start_private(emulator, "alice")
    members = []
    for i in range(TAPPERS):
        member = emulator.add_user(f"M{i}", f"member{i}", "en")
        emulator.group.member_ids.append(member.id)
        members.append(member)
    _, posted = await send_packet(emulator, f"/redpacket 200 {SHARES} 恭喜发财")
    mark = emulator.mark()

    burst = await tap_burst(emulator, members, posted, "Grab", timeout=90)

    assert burst.unanswered == 0
    answers = {
        e.data["callback_query_id"]: e.text
        for e in emulator.events[mark:]
        if e.kind == "callback_answer"
    }
    texts = list(answers.values())
    won = [t for t in texts if "You grabbed ¥" in t]
    assert len(won) == SHARES
    refused = [t for t in texts if t not in won]
    assert len(refused) == TAPPERS - SHARES
    assert set(refused) == {"Too late: this red packet is finished."}
    assert sum(fen_of(t) for t in won) == 200_00
    assert await escrow(wallet) == 0
    assert await available(wallet, ALICE) == 0
    balances = [await available(wallet, m.id) for m in members]
    assert sum(balances) == 200_00 and sum(1 for b in balances if b) == SHARES
    assert handler_errors(caplog) == []
    await emulator.wait_for(  # the coalesced edits end with the results
        lambda e: edits(e, posted) and f"{SHARES}/{SHARES} grabbed" in e.text,
        timeout=15,
    )
    await asyncio.sleep(0.5)  # the last answered taps touch the editor
    await editor(running).drain()
    assert emulator.errors() == []  # nothing twice: no edit refused as "not modified"


async def test_an_edit_that_would_change_nothing_is_not_sent(emulator, wallet, running):
    """Every edit counts against the group's 20 messages a minute."""
    await fund(wallet, ALICE, 10_00)
    await start_private(emulator, "alice")
    _, posted = await send_packet(emulator, "/redpacket 10 2")
    await tap_burst(emulator, ["bob"], posted, "Grab")
    await emulator.wait_for(lambda e: edits(e, posted) and "1/2" in e.text)
    await editor(running).drain()
    edit_count = len(emulator.bot_events("edit"))
    packet_id = (await wallet.redpackets.open_packets())[0].id
    editor(running).touch(packet_id)  # nothing changed since the last edit
    await editor(running).drain()
    assert len(emulator.bot_events("edit")) == edit_count
    assert emulator.errors() == []


async def held_password_packet(emulator, wallet, running, monkeypatch, grabbers):
    """Alice's password packet of 2 shares, its post held back from the group's outbox
    (a busy group's), grabbed meanwhile by its phrase by each of ``grabbers`` (name, id);
    the held post's (send, then), once the edits the grabs asked for found no message."""
    await fund(wallet, ALICE, 10_00)
    await start_private(emulator, "alice")
    box, held = outbox(running), []
    put = box.put

    def hold_the_post(chat_id, send, *, then=None, **options):
        if chat_id == emulator.group.id and then is not None and not held:  # the post
            held.append((send, then))
            return True
        return put(chat_id, send, then=then, **options)

    monkeypatch.setattr(box, "put", hold_the_post)
    monkeypatch.setattr(emulator, "privacy_mode", False)  # the bot sees plain group text
    await emulator.send_text("alice", "/redpacket_pwd 2 2 芝麻开门", emulator.group)
    card = await emulator.wait_for_message("alice")
    await tap_and_wait(emulator, "alice", card, "Confirm")
    await enter_pin(emulator, "alice", card)
    for _ in range(500):  # the post is queued once the keypad's work is done
        if held:
            break
        await asyncio.sleep(0.01)
    for member, telegram_id in grabbers:
        await emulator.send_text(member, "芝麻开门", emulator.group)
        for _ in range(500):  # no reply in the group: the share is in the wallet
            if await available(wallet, telegram_id):
                break
            await asyncio.sleep(0.01)
        assert await available(wallet, telegram_id) > 0
    await asyncio.sleep(0.2)
    await editor(running).drain()  # the edits the grabs asked for found no message yet
    ((send, then),) = held
    return send, then


async def test_a_post_that_waited_in_a_busy_outbox_catches_up_with_the_grabs(
    emulator, wallet, running, monkeypatch
):
    """A password packet can be grabbed by its phrase before its post leaves a busy
    group's outbox: once posted, the message is brought up to date."""
    send, then = await held_password_packet(
        emulator, wallet, running, monkeypatch, (("bob", BOB), ("xiaoming", XIAOMING))
    )
    posted = await send()  # the outbox's turn came at last
    assert "0/2" in posted.text
    await then(posted)
    caught_up = await emulator.wait_for(lambda e: edits(e, posted), timeout=10)
    assert "2/2" in caught_up.text


async def test_stopping_sends_the_owed_post_and_then_its_catch_up_edit(
    emulator, wallet, running, monkeypatch
):
    """A packet's post still in a group's outbox when the bot stops is sent, and the edit
    it asks for (the grabs made meanwhile) is made before the wallet closes, not after."""
    send, then = await held_password_packet(emulator, wallet, running, monkeypatch, (("bob", BOB),))
    outbox(running).put(emulator.group.id, send, then=then)  # owed when the bot stops
    await stop_sending(running)  # post_stop

    (post,) = [
        e
        for e in emulator.bot_events("message")
        if e.chat_id == emulator.group.id and "芝麻开门" in (e.text or "")
    ]
    edits = [
        e
        for e in emulator.bot_events("edit")
        if (e.chat_id, e.message_id) == (post.chat_id, post.message_id)
    ]
    assert [("1/2" in e.text) for e in edits] == [True]  # made already, once
    assert not editor(running)._running


async def test_a_group_reply_whose_message_was_deleted_meanwhile_still_arrives(
    emulator, wallet, running, monkeypatch
):
    """In a busy group a reply may wait a minute; the message it answers may be gone."""
    box, held = outbox(running), []
    put = box.put

    def hold(chat_id, send, *, then=None, droppable=False):
        held.append(send)
        return True

    monkeypatch.setattr(box, "put", hold)
    said = await emulator.send_text("bob", "/send 5", emulator.group)  # not a reply: usage
    for _ in range(500):
        if held:
            break
        await asyncio.sleep(0.01)
    said.deleted = True  # Bob deleted his command before the bot's turn came
    monkeypatch.setattr(box, "put", put)
    box.put(emulator.group.id, held[0])
    answer = await emulator.wait_for_message(emulator.group)
    assert answer.text.startswith("To tip someone, reply to their message")
    assert emulator.errors() == []
