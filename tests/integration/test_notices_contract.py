"""The ``NoticeStore`` keeps one contract on SQLite, PostgreSQL and in memory: a notice
is written once per key, claimed by one sender at a time, sent once; a claim whose time
ran out is sent once more, never a third time; a refusal is tried again later, a 403 is
final. And with real concurrency (two senders at once, on PostgreSQL two connection
pools as two processes would have), each notice is sent exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from bot.domain.errors import StorageError
from bot.domain.notices import UNREACHED, NewNotice, NoticeState, NoticeStore
from bot.storage.postgres import PgDatabase
from bot.wallet.notices import MAX_ATTEMPTS, Notices
from tests.fakes.state import ManualClock

CLAIM_MS, RETRY_MS = 60_000, 5_000


@pytest.fixture
def clock(manual_clock) -> ManualClock:
    return manual_clock  # the clock of ``db``


def notice(n: int, person: int = 7, kind: str = "voucher.received") -> NewNotice:
    return NewNotice(f"voucher:1:{n}", person, kind, {"amount": 500, "categories": ["food"]})


async def claim(db, limit: int = 10, key: str | None = None) -> list:
    return await db.notices.claim_notices(limit, CLAIM_MS, MAX_ATTEMPTS, key)


async def record(db, results: dict) -> None:
    await db.notices.record_notices(results, MAX_ATTEMPTS, RETRY_MS)


def test_every_store_defines_the_whole_port(db):
    members = {m for m in vars(NoticeStore) if not m.startswith("_")}
    for name in members:
        assert getattr(type(db.notices), name) is not getattr(NoticeStore, name, None), name


async def test_a_notice_is_written_once_per_key_and_kept_as_written(db, clock):
    assert await db.notices.add_notices([notice(1), notice(2, person=8)]) == 2
    clock.advance(seconds=1)
    assert await db.notices.add_notices([notice(1, person=9), notice(3)]) == 1

    first = await db.notices.get_notice("voucher:1:1")
    assert (first.telegram_id, first.kind, first.state, first.attempts) == (
        7,
        "voucher.received",
        NoticeState.PENDING,
        0,
    )
    assert first.params == {"amount": 500, "categories": ["food"]}
    assert first.created_at == clock() - 1000
    assert await db.notices.get_notice("voucher:1:404") is None
    assert await db.notices.add_notices([]) == 0


async def test_a_claimed_notice_is_not_claimed_again_until_its_claim_runs_out(db, clock):
    await db.notices.add_notices([notice(n) for n in range(1, 6)])

    first = await claim(db, limit=3)
    second = await claim(db, limit=3)
    assert [n.key for n in first] == ["voucher:1:1", "voucher:1:2", "voucher:1:3"]
    assert [n.key for n in second] == ["voucher:1:4", "voucher:1:5"]
    assert {(n.state, n.attempts) for n in first + second} == {(NoticeState.SENDING, 1)}
    assert await claim(db) == []

    clock.advance(ms=CLAIM_MS)  # their senders died: each is sent once more
    again = await claim(db)
    assert [(n.key, n.attempts) for n in again] == [(f"voucher:1:{n}", 2) for n in range(1, 6)]


async def test_sent_and_blocked_are_final_and_a_claim_left_twice_fails(db, clock):
    await db.notices.add_notices([notice(n) for n in range(1, 4)])
    one, two, three = await claim(db)
    await record(db, {one.id: NoticeState.SENT, two.id: NoticeState.BLOCKED})
    await record(db, {one.id: NoticeState.FAILED})  # no longer claimed: nothing changes

    assert (await db.notices.get_notice(one.key)).state is NoticeState.SENT
    assert (await db.notices.get_notice(two.key)).state is NoticeState.BLOCKED
    for _ in range(MAX_ATTEMPTS - 1):
        clock.advance(ms=CLAIM_MS)
        assert [n.key for n in await claim(db)] == [three.key]
    clock.advance(ms=CLAIM_MS)
    assert await claim(db) == []  # uncertain MAX_ATTEMPTS times: closed, not sent again
    left = await db.notices.get_notice(three.key)
    assert (left.state, left.attempts) == (NoticeState.FAILED, MAX_ATTEMPTS)


async def test_a_refused_send_is_tried_again_later_up_to_its_attempts(db, clock):
    await db.notices.add_notices([notice(1)])
    for attempt in range(1, MAX_ATTEMPTS + 1):
        [claimed] = await claim(db)
        assert claimed.attempts == attempt
        await record(db, {claimed.id: NoticeState.FAILED})
        assert await claim(db) == []  # not due yet
        clock.advance(ms=RETRY_MS)
    assert await claim(db) == []
    assert (await db.notices.get_notice("voucher:1:1")).state is NoticeState.FAILED


async def test_an_unsent_claim_handed_back_is_due_at_once_without_an_attempt(db):
    await db.notices.add_notices([notice(1), notice(2)])
    one, two = await claim(db)
    await record(db, {two.id: NoticeState.PENDING})

    [again] = await claim(db)
    assert (again.key, again.attempts) == (two.key, 1)
    with pytest.raises((ValueError, StorageError)):
        await record(db, {one.id: NoticeState.SENDING})


async def test_a_claim_of_one_key_takes_that_notice_only(db):
    await db.notices.add_notices([notice(1), notice(2)])

    [only] = await claim(db, key="voucher:1:2")
    assert only.key == "voucher:1:2"
    assert await claim(db, key="voucher:1:2") == []
    assert [n.key for n in await claim(db)] == ["voucher:1:1"]


async def _send_all(notices: Notices, sent: Counter) -> int:
    async def deliver(claimed) -> NoticeState:
        sent[claimed.key] += 1
        await asyncio.sleep(0.001)  # the send's round trip: the other sender runs meanwhile
        return NoticeState.SENT

    return await notices.run(deliver)


async def _two_senders_send_each_once(first, second) -> None:
    people = 300
    await first.add_notices([notice(n, person=n) for n in range(people)])
    sent: Counter = Counter()
    senders = [Notices(first, batch=7), Notices(second, batch=5)]

    claimed = await asyncio.gather(*(_send_all(s, sent) for s in senders))

    assert sum(claimed) == people
    assert all(count > 0 for count in claimed)  # both took part
    assert sorted(sent) == sorted(f"voucher:1:{n}" for n in range(people))
    assert set(sent.values()) == {1}
    assert await first.claim_notices(10, CLAIM_MS, MAX_ATTEMPTS) == []


async def test_two_senders_at_once_send_each_notice_exactly_once(db):
    await _two_senders_send_each_once(db.notices, db.notices)


async def test_two_processes_on_postgresql_send_each_notice_exactly_once(pg_url):
    """Two databases opened on one PostgreSQL database: two pools, as two processes."""
    first = await PgDatabase.open(pg_url)
    second = await PgDatabase.open(pg_url)
    try:
        await _two_senders_send_each_once(first.notices, second.notices)
    finally:
        await first.close()
        await second.close()


# What ended blocked is sent when the person opens the chat ----------------------------

DAY_MS = 86_400_000


async def test_a_message_refused_with_a_403_is_kept_closed_blocked(db):
    told = NewNotice("unreached:1", 7, UNREACHED, {"text": "Alice tipped you ¥5.00"})
    assert await db.notices.add_blocked([told]) == 1
    assert await db.notices.add_blocked([told]) == 0

    kept = await db.notices.get_notice("unreached:1")
    assert (kept.state, kept.kind, kept.params) == (
        NoticeState.BLOCKED,
        UNREACHED,
        {"text": "Alice tipped you ¥5.00"},
    )
    assert await claim(db) == []  # final: the sender never takes it


async def test_blocked_notices_of_the_window_are_copied_once_oldest_first(db, clock):
    await db.notices.add_blocked([NewNotice("unreached:old", 7, UNREACHED, {"text": "old"})])
    clock.advance(seconds=10 * DAY_MS // 1000)
    await db.notices.add_notices([notice(1), notice(2), notice(3), notice(4, person=8)])
    one, two, three, other = await claim(db)
    blocked, sent = NoticeState.BLOCKED, NoticeState.SENT
    await record(db, {one.id: blocked, two.id: sent, three.id: blocked, other.id: blocked})
    clock.advance(seconds=1)
    await db.notices.add_blocked([NewNotice("unreached:1", 7, UNREACHED, {"text": "hi"})])
    clock.advance(seconds=25 * DAY_MS // 1000)  # "old" is 35 days old now, the rest 25

    window = clock() - 30 * DAY_MS
    assert await db.notices.owes_blocked(7, window) and await db.notices.owes_blocked(8, window)
    assert not await db.notices.owes_blocked(9, 0)  # nobody refused them anything
    copies = await db.notices.claim_blocked(7, clock() - 30 * DAY_MS, CLAIM_MS)
    hi = await db.notices.get_notice("unreached:1")
    assert [c.key for c in copies] == [f"again:{one.id}", f"again:{three.id}", f"again:{hi.id}"]
    assert [(c.kind, c.state, c.attempts) for c in copies] == [
        ("voucher.received", NoticeState.SENDING, 1),
        ("voucher.received", NoticeState.SENDING, 1),
        (UNREACHED, NoticeState.SENDING, 1),
    ]
    assert (copies[0].params, copies[0].created_at) == (one.params, one.created_at)
    assert copies[2].params == {"text": "hi"}
    assert await db.notices.claim_blocked(7, clock() - 30 * DAY_MS, CLAIM_MS) == []  # once
    assert not await db.notices.owes_blocked(7, window)  # copied: nothing owed in the window
    assert await db.notices.owes_blocked(7, 0)  # "old", in a wider one
    assert [c.key for c in await db.notices.claim_blocked(7, 0, CLAIM_MS)] == [
        f"again:{(await db.notices.get_notice('unreached:old')).id}"  # a wider window
    ]
    assert await claim(db) == []  # the copies are claimed by whoever wrote them
    assert (await db.notices.get_notice(one.key)).state is NoticeState.BLOCKED  # still final

    await record(db, {copies[0].id: NoticeState.SENT, copies[1].id: NoticeState.BLOCKED})
    assert await db.notices.owes_blocked(7, 0)  # its copy was refused too
    [again] = await db.notices.claim_blocked(7, 0, CLAIM_MS)  # blocked again: once more
    assert (again.key, again.params) == (f"again:{copies[1].id}", three.params)
    clock.advance(ms=CLAIM_MS)  # whoever claimed the rest died: the sender takes them
    assert {n.key for n in await claim(db)} == {copies[2].key, again.key} | {
        f"again:{(await db.notices.get_notice('unreached:old')).id}"
    }


async def _open_chat_at_once(stores, person: int = 7, times: int = 8) -> Counter:
    await stores[0].add_notices([notice(n, person=person) for n in range(1, 13)])
    claimed = await stores[0].claim_notices(20, CLAIM_MS, MAX_ATTEMPTS)
    await stores[0].record_notices(
        {n.id: NoticeState.BLOCKED for n in claimed}, MAX_ATTEMPTS, RETRY_MS
    )
    await stores[0].add_blocked(
        [NewNotice(f"unreached:{n}", person, UNREACHED, {"text": str(n)}) for n in range(5)]
    )
    sent: Counter = Counter()
    order: list[list[str]] = []

    async def open_chat(notices: Notices) -> None:
        seen: list[str] = []

        async def deliver(copy) -> NoticeState:
            sent[copy.key] += 1
            seen.append(copy.key)
            await asyncio.sleep(0.001)
            return NoticeState.SENT

        await notices.redeliver(person, deliver)
        order.append(seen)

    senders = [Notices(stores[i % len(stores)]) for i in range(times)]
    await asyncio.gather(*(open_chat(s) for s in senders))
    assert len(sent) == 17 and set(sent.values()) == {1}
    for seen in order:  # whoever sent them, in the order they happened
        ids = [int(key.removeprefix("again:")) for key in seen]
        assert ids == sorted(ids)
    assert await stores[0].claim_blocked(person, 0, CLAIM_MS) == []
    return sent


async def test_several_starts_at_once_send_each_blocked_notice_once(db):
    await _open_chat_at_once([db.notices])


async def test_starts_in_two_processes_on_postgresql_send_each_blocked_notice_once(pg_url):
    first = await PgDatabase.open(pg_url)
    second = await PgDatabase.open(pg_url)
    try:
        await _open_chat_at_once([first.notices, second.notices])
    finally:
        await first.close()
        await second.close()
