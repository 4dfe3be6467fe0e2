"""Updates run in order per person and chat, and concurrently otherwise."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

from telegram import (
    CallbackQuery,
    Chat,
    ChosenInlineResult,
    InlineQuery,
    Message,
    PreCheckoutQuery,
    Update,
    User,
)

from bot.handlers.ordering import PersonChatUpdateProcessor, ordering_key

GROUP = Chat(-100_123, Chat.SUPERGROUP)
CHANNEL = Chat(-100_999, Chat.CHANNEL)
NOW = datetime.now(UTC)
_ids = iter(range(1, 1_000_000))


def person(n: int) -> User:
    return User(n, f"P{n}", False)


def text_in(chat: Chat, user: User | None, text: str = "/balance") -> Update:
    return Update(next(_ids), message=Message(next(_ids), NOW, chat, from_user=user, text=text))


def private(user: User, text: str = "/balance") -> Update:
    return text_in(Chat(user.id, Chat.PRIVATE), user, text)


def tap(user: User, chat: Chat | None = None, inline_message_id: str | None = None) -> Update:
    message = Message(next(_ids), NOW, chat, from_user=user) if chat is not None else None
    query = CallbackQuery(
        str(next(_ids)), user, "ci", message=message, inline_message_id=inline_message_id, data="g"
    )
    return Update(next(_ids), callback_query=query)


# Keys ---------------------------------------------------------------------------------


def test_a_message_is_keyed_by_its_person_and_chat():
    alice = person(1)
    assert ordering_key(text_in(GROUP, alice)) == (1, GROUP.id)
    assert ordering_key(private(alice)) == (1, 1)


def test_a_tap_on_a_message_is_keyed_by_the_messages_chat():
    assert ordering_key(tap(person(1), GROUP)) == (1, GROUP.id)
    assert ordering_key(tap(person(1), Chat(1, Chat.PRIVATE))) == (1, 1)


def test_taps_on_an_inline_message_and_its_choice_share_that_messages_line():
    alice = person(1)
    chosen = ChosenInlineResult("rp1", alice, "20 5", inline_message_id="im-1")
    key = ordering_key(tap(alice, inline_message_id="im-1"))
    assert key == ordering_key(Update(next(_ids), chosen_inline_result=chosen))
    assert key != ordering_key(tap(alice, inline_message_id="im-2"))
    assert key not in {ordering_key(private(alice)), ordering_key(text_in(GROUP, alice))}


def test_inline_queries_have_a_line_of_their_own():
    alice = person(1)
    typed = Update(next(_ids), inline_query=InlineQuery("q1", alice, "20 5", ""))
    assert ordering_key(typed) == (1, "inline")
    assert ordering_key(typed) != ordering_key(private(alice))


def test_a_pre_checkout_query_belongs_to_the_private_chat():
    query = PreCheckoutQuery("pc1", person(7), "CNY", 500, "topup:1")
    assert ordering_key(Update(next(_ids), pre_checkout_query=query)) == (7, 7)


def test_updates_with_no_person_are_keyed_by_chat_or_not_at_all():
    assert ordering_key(Update(next(_ids), channel_post=Message(1, NOW, CHANNEL, text="hi"))) == (
        None,
        CHANNEL.id,
    )
    assert ordering_key(Update(next(_ids))) is None  # e.g. a poll's new state
    assert ordering_key("not an update") is None


# Concurrency ----------------------------------------------------------------------------


async def test_one_persons_updates_in_one_chat_run_one_at_a_time_in_order():
    processor = PersonChatUpdateProcessor()
    people, per_person = 40, 15
    started: dict[int, list[int]] = {n: [] for n in range(1, people + 1)}
    running: dict[int, int] = dict.fromkeys(started, 0)
    overlap, most_at_once, now_running = [], 0, 0

    async def handle(n: int, seq: int) -> None:
        nonlocal most_at_once, now_running
        running[n] += 1
        now_running += 1
        most_at_once = max(most_at_once, now_running)
        if running[n] > 1:
            overlap.append((n, seq))
        started[n].append(seq)
        await asyncio.sleep(random.uniform(0, 0.003))
        running[n] -= 1
        now_running -= 1

    tasks = [
        asyncio.create_task(processor.process_update(text_in(GROUP, person(n)), handle(n, seq)))
        for seq in range(per_person)
        for n in range(1, people + 1)
    ]
    await asyncio.gather(*tasks)
    assert overlap == []
    assert all(seqs == list(range(per_person)) for seqs in started.values())
    assert most_at_once >= people // 2  # different people at once
    assert processor._locks == {} and processor._in_flight == {}


async def test_one_persons_different_chats_run_at_the_same_time():
    processor = PersonChatUpdateProcessor()
    people = range(1, 101)
    replied = {n: asyncio.Event() for n in people}

    async def waiting_in_group(n: int) -> None:  # a group reply that waits its turn...
        await replied[n].wait()

    async def in_private(n: int) -> None:  # ...while the same person's /balance goes on
        replied[n].set()

    tasks = [
        asyncio.create_task(processor.process_update(update, coroutine))
        for n in people
        for update, coroutine in (
            (text_in(GROUP, person(n)), waiting_in_group(n)),
            (tap(person(n), GROUP), asyncio.sleep(0)),  # same chat: waits its turn
            (private(person(n)), in_private(n)),
        )
    ]
    await asyncio.wait_for(asyncio.gather(*tasks), 5)


async def test_a_tap_on_an_inline_message_does_not_wait_for_the_private_chat():
    processor = PersonChatUpdateProcessor()
    alice = person(1)
    tapped = asyncio.Event()
    busy = asyncio.create_task(processor.process_update(private(alice), tapped.wait()))
    grab = processor.process_update(tap(alice, inline_message_id="im-1"), asyncio.sleep(0))
    await asyncio.wait_for(grab, 1)
    tapped.set()
    await busy


async def test_different_people_in_one_chat_run_at_the_same_time():
    processor = PersonChatUpdateProcessor()
    people = 200
    everyone_in = asyncio.Barrier(people)  # passes only when all are handled at once

    tasks = [
        asyncio.create_task(processor.process_update(tap(person(n), GROUP), everyone_in.wait()))
        for n in range(1, people + 1)
    ]
    await asyncio.wait_for(asyncio.gather(*tasks), 5)


async def test_a_person_queueing_many_updates_holds_no_slot_others_need():
    """Updates waiting behind their own person's earlier one take no slot: with every
    slot's worth queued by one person, another person's tap still runs at once."""
    processor = PersonChatUpdateProcessor(max_concurrent_updates=8)
    alice, bob = person(1), person(2)
    stuck = asyncio.Event()
    queued = [
        asyncio.create_task(processor.process_update(text_in(GROUP, alice), stuck.wait()))
        for _ in range(20)
    ]
    await asyncio.sleep(0.01)
    await asyncio.wait_for(processor.process_update(tap(bob, GROUP), asyncio.sleep(0)), 1)
    stuck.set()
    await asyncio.gather(*queued)
    assert processor._locks == {} and processor._in_flight == {}
