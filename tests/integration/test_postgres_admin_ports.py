"""Broadcasts and support tickets on PostgreSQL with two processes at once (each a
``PgDatabase`` of its own on one database): a recipient is sent a broadcast at most
once however many runs resume it, a broadcast is begun once per key, one dispute is
open per transfer, and a ticket is closed once."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.broadcasts import BROADCAST_EVENT
from bot.domain.errors import DisputeAlreadyOpen, TicketClosed
from bot.domain.support import TICKET_CLOSED, TICKET_REPLIED
from bot.domain.users import Profile
from bot.storage.postgres import PgDatabase
from bot.wallet.broadcasts import Broadcasts
from tests.integration.test_broadcasts import ADMIN, Recorder, no_report


@pytest.fixture
async def two(pg_url):
    first = await PgDatabase.open(pg_url, pool_size=4)
    second = await PgDatabase.open(pg_url, pool_size=4)
    yield first, second
    await first.close()
    await second.close()


async def test_two_processes_resuming_one_broadcast_send_each_person_it_once(two):
    first, second = two
    ours = list(range(1, 121))
    for telegram_id in ours:
        await first.users.upsert_user(Profile(telegram_id, None, "P"), "CNY", True)
    begun = await asyncio.gather(
        *(
            Broadcasts(db.broadcasts).begin("same", ADMIN, "hello")
            for db in (first, second) * 4
        )
    )
    assert len({b.id for b in begun}) == 1 and begun[0].total == 120
    events = [e async for e in first.security.events() if e.event == BROADCAST_EVENT]
    assert len(events) == 1  # begun once, logged once
    deliver = Recorder(delay=0.002)  # one recorder: every send of both processes
    runs = await asyncio.gather(
        *(
            Broadcasts(db.broadcasts, batch=7).run(begun[0].id, deliver, no_report)
            for db in (first, second, first, second)
        )
    )
    assert sorted(deliver.sent) == ours  # each exactly once
    assert any(run.finished for run in runs)
    final = await second.broadcasts.get_broadcast(begun[0].id)
    assert (final.sent, final.finished) == (120, True)
    assert await first.broadcasts.unfinished_broadcasts() == []


async def test_one_dispute_is_open_per_transfer_whichever_process_opens_it(two):
    first, second = two
    answers = await asyncio.gather(
        *(
            db.support.open_ticket(person, "not me", (), transfer_id=5)
            for person, db in enumerate((first, second) * 5, start=1)
        ),
        return_exceptions=True,
    )
    opened = [a for a in answers if not isinstance(a, Exception)]
    assert len(opened) == 1, answers
    refused = [a for a in answers if isinstance(a, Exception)]
    assert all(isinstance(a, DisputeAlreadyOpen) for a in refused)
    assert {a.params["ticket_id"] for a in refused} == {opened[0].id}
    assert [t.id for t in await second.support.open_tickets(10)] == [opened[0].id]


async def test_a_ticket_closed_from_two_processes_at_once_is_closed_once(two):
    first, second = two
    ticket = await first.support.open_ticket(1, "help", ())
    answers = await asyncio.gather(
        *(
            db.support.close_ticket(ticket.id, admin, TICKET_CLOSED)
            for admin, db in enumerate((first, second) * 3, start=900)
        ),
        *(
            db.support.add_message(ticket.id, 800, "answer", admin_event=TICKET_REPLIED)
            for db in (second, first)
        ),
        return_exceptions=True,
    )
    closes, replies = answers[:6], answers[6:]
    assert sum(not isinstance(a, Exception) for a in closes) == 1, answers
    assert all(isinstance(a, TicketClosed) for a in answers if isinstance(a, Exception))
    events = [e async for e in first.security.events()]
    (closing,) = [e for e in events if e.event == TICKET_CLOSED]
    answered = [e for e in events if e.event == TICKET_REPLIED]
    # a reply is written before the closing or refused: never onto a closed ticket
    assert len(answered) == sum(not isinstance(a, Exception) for a in replies)
    assert all(e.id < closing.id for e in answered)
    assert len(await first.support.messages(ticket.id)) == len(answered)
