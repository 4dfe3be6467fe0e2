"""Broadcasts on a real database (SQLite, PostgreSQL): written once with their recipients
and audit event, claimed so that concurrent or restarted runs never send anyone the same
broadcast twice, unreachable people left out of later broadcasts, text checked."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.broadcasts import BROADCAST_EVENT, RecipientState
from bot.domain.errors import BroadcastNobody, BroadcastNotFound, BroadcastTextInvalid
from bot.domain.users import Profile
from bot.wallet.broadcasts import Broadcasts, check_text
from bot.wallet.users import Users
from tests.integration import raw

ADMIN = 900_001


@pytest.fixture
def store(both_store):
    return both_store


async def people(store, count: int, *, private: bool = True, first: int = 1) -> list[int]:
    users = Users(store.users, "CNY")
    ids = list(range(first, first + count))
    for telegram_id in ids:
        await users.seen(Profile(telegram_id, None, f"P{telegram_id}", "en"), private_chat=private)
    return ids


class Recorder:
    """A deliver that remembers every send and answers as told, after a little while."""

    def __init__(self, blocked: frozenset[int] = frozenset(), delay: float = 0.001) -> None:
        self.sent: list[int] = []
        self.blocked, self.delay = blocked, delay

    async def __call__(self, telegram_id: int, text: str) -> RecipientState:
        await asyncio.sleep(self.delay)
        self.sent.append(telegram_id)
        return RecipientState.BLOCKED if telegram_id in self.blocked else RecipientState.SENT


async def no_report(broadcast) -> None:
    pass


async def test_a_broadcast_goes_to_those_in_private_chat_and_is_logged_once_per_key(store):
    ours = await people(store, 5)
    await people(store, 3, private=False, first=100)  # seen only in groups
    broadcasts = Broadcasts(store.broadcasts)
    assert await broadcasts.audience() == 5
    begun = await broadcasts.begin("key-1", ADMIN, "hello")
    assert (begun.total, begun.done, begun.finished) == (5, 0, False)
    assert await broadcasts.begin("key-1", ADMIN, "hello") == begun  # a repeat: the first
    events = [e async for e in store.security.events() if e.event == BROADCAST_EVENT]
    assert [(e.actor_id, e.details["recipients"]) for e in events] == [(ADMIN, 5)]
    deliver = Recorder()
    done = await broadcasts.run(begun.id, deliver, no_report)
    assert sorted(deliver.sent) == ours and (done.sent, done.finished) == (5, True)
    assert await broadcasts.unfinished() == []


async def test_concurrent_runs_and_begins_never_send_anyone_twice(store):
    ours = await people(store, 200)
    broadcasts = Broadcasts(store.broadcasts, batch=7)
    begun = await asyncio.gather(*(broadcasts.begin("same", ADMIN, "hi") for _ in range(10)))
    assert len({b.id for b in begun}) == 1
    deliver = Recorder(delay=0.002)
    runs = await asyncio.gather(
        *(broadcasts.run(begun[0].id, deliver, no_report) for _ in range(4))
    )
    assert sorted(deliver.sent) == ours  # each exactly once
    assert any(r.finished for r in runs)  # the last run to send finishes it
    final = await broadcasts.get(begun[0].id)
    assert (final.sent, final.finished) == (200, True)


async def test_a_run_stopped_between_batches_is_continued_and_nobody_is_missed(store):
    ours = await people(store, 50)
    broadcasts = Broadcasts(store.broadcasts, batch=10)
    begun = await broadcasts.begin("k", ADMIN, "hi")
    stopping = asyncio.Event()
    deliver = Recorder()

    async def report(broadcast) -> None:
        if broadcast.done >= 20:
            stopping.set()

    broadcasts.report_every_s = 0
    stopped = await broadcasts.run(begun.id, deliver, report, stopping)
    assert not stopped.finished and stopped.sent == len(deliver.sent) == 20
    # a clean stop leaves nobody claimed: the next run sends to the rest, once each
    assert await broadcasts.reopen_stale_claims(begun.id) == (0, 0)
    done = await broadcasts.run(begun.id, deliver, no_report)
    assert (done.sent, done.failed, done.finished) == (50, 0, True)
    assert sorted(deliver.sent) == ours


class Crashing(Recorder):
    """A deliver whose process dies (the run is cancelled) once ``after`` sends are out,
    with the next ``in_flight`` sends under way: sent or not, nobody can tell."""

    def __init__(self, after: int, in_flight: int) -> None:
        super().__init__()
        self.after, self.in_flight = after, in_flight
        self.hanging: set[int] = set()
        self.calls = 0
        self.crash = asyncio.Event()

    async def __call__(self, telegram_id: int, text: str) -> RecipientState:
        self.calls += 1
        if self.calls > self.after:
            self.hanging.add(telegram_id)
            if len(self.hanging) >= self.in_flight:
                self.crash.set()
            await asyncio.Event().wait()  # never answered: the process dies first
        return await super().__call__(telegram_id, text)


async def crash_a_run(broadcasts, broadcast_id: int, deliver: Crashing) -> None:
    run = asyncio.ensure_future(broadcasts.run(broadcast_id, deliver, no_report))
    await asyncio.wait_for(deliver.crash.wait(), 5)
    await asyncio.sleep(0.05)  # the claims of the sends under way are written
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run


async def test_after_a_crash_the_uncertain_sends_are_made_once_more_and_nobody_is_missed(
    store, reopen
):
    async with store:
        ours = await people(store, 40)
        broadcasts = Broadcasts(store.broadcasts, batch=10)
        begun = await broadcasts.begin("k", ADMIN, "hi")
        first = Crashing(after=15, in_flight=5)  # sends 15, then dies with 5 under way
        await crash_a_run(broadcasts, begun.id, first)
        stood = await broadcasts.get(begun.id)
        assert (stood.sent, stood.failed, stood.finished) == (15, 0, False)

    async with await reopen() as store:  # the restart
        broadcasts = Broadcasts(store.broadcasts, batch=10)
        uncertain = first.hanging
        assert await broadcasts.reopen_stale_claims(begun.id) == (len(uncertain), 0)
        second = Recorder()
        done = await broadcasts.run(begun.id, second, no_report)
        assert (done.sent, done.failed, done.finished) == (40, 0, True)
        # nobody missed; a send that answered is never made again; the uncertain ones
        # (which may have arrived before the crash) are sent once more
        assert sorted(first.sent + second.sent) == ours
        assert len(uncertain) == 5 and set(second.sent) >= uncertain


async def test_a_send_left_uncertain_by_two_crashes_is_counted_failed_not_made_a_third_time(
    store,
):
    await people(store, 12)
    broadcasts = Broadcasts(store.broadcasts, batch=4)
    begun = await broadcasts.begin("k", ADMIN, "hi")
    first = Crashing(after=0, in_flight=4)
    await crash_a_run(broadcasts, begun.id, first)
    assert await broadcasts.reopen_stale_claims(begun.id) == (4, 0)
    second = Crashing(after=0, in_flight=4)  # the same four first, and it dies again
    await crash_a_run(broadcasts, begun.id, second)
    assert second.hanging == first.hanging
    assert await broadcasts.reopen_stale_claims(begun.id) == (0, 4)
    third = Recorder()
    done = await broadcasts.run(begun.id, third, no_report)
    assert (done.sent, done.failed, done.finished) == (8, 4, True)
    assert not set(third.sent) & first.hanging


async def test_people_refused_once_are_left_out_of_later_broadcasts(store):
    ours = await people(store, 6)
    broadcasts = Broadcasts(store.broadcasts)
    first = await broadcasts.begin("a", ADMIN, "one")
    done = await broadcasts.run(first.id, Recorder(blocked=frozenset(ours[:2])), no_report)
    assert (done.sent, done.blocked) == (4, 2)
    assert await broadcasts.audience() == 4
    second = await broadcasts.begin("b", ADMIN, "two")
    deliver = Recorder()
    await broadcasts.run(second.id, deliver, no_report)
    assert sorted(deliver.sent) == ours[2:]


async def test_text_is_checked_and_nobody_to_send_to_is_refused(store, database_url):
    broadcasts = Broadcasts(store.broadcasts)
    for text, code in [("", "broadcast_text_missing"), (" \n ", "broadcast_text_missing")]:
        with pytest.raises(BroadcastTextInvalid) as refused:
            check_text(text)
        assert refused.value.code == code
    with pytest.raises(BroadcastTextInvalid) as refused:
        check_text("x" * 4097)
    assert refused.value.params == {"limit": 4096, "length": 4097}
    assert check_text("  <b>x</b> *y*\n") == "  <b>x</b> *y*\n"  # as written
    with pytest.raises(BroadcastNobody):
        await broadcasts.begin("k", ADMIN, "hi")
    with pytest.raises(BroadcastNotFound):
        await broadcasts.get(42)
    await people(store, 1)
    begun = await broadcasts.begin("k", ADMIN, "y" * 4096)
    await broadcasts.run(begun.id, Recorder(), no_report)
    refusal = await raw.refused(database_url, "UPDATE broadcast_recipients SET state = 'pending'")
    assert "once" in refusal


async def test_someone_who_unblocks_the_bot_gets_later_broadcasts_again(store):
    ours = await people(store, 3)
    broadcasts = Broadcasts(store.broadcasts)
    await broadcasts.set_reachable(ours[0], False)  # Telegram said they blocked the bot
    first = await broadcasts.begin("a", ADMIN, "one")
    await broadcasts.run(first.id, Recorder(blocked=frozenset({ours[1]})), no_report)
    assert await broadcasts.audience() == 1
    await broadcasts.set_reachable(ours[0], True)
    await broadcasts.set_reachable(ours[1], True)
    assert await broadcasts.audience() == 3
