"""The ``TicketStore`` keeps one contract on SQLite, PostgreSQL and in memory: the same answers and
refusals, and the same security events, for the same story."""

from __future__ import annotations

import pytest

from bot.domain.errors import DisputeAlreadyOpen, TicketClosed, TicketNotFound
from bot.domain.support import TICKET_CLOSED, TICKET_REPLIED, AttachedTransfer, TicketState


async def test_a_ticket_story_is_told_alike(db):
    attached = (AttachedTransfer(5, -3_00, "transfer"),)
    first = await db.support.open_ticket(1, "help", attached)
    dispute = await db.support.open_ticket(2, "not me", (), transfer_id=5)
    assert (first.id, dispute.id) == (1, 2)
    assert first.attached == attached and first.state is TicketState.OPEN
    with pytest.raises(DisputeAlreadyOpen) as twice:
        await db.support.open_ticket(2, "again", (), transfer_id=5)
    assert twice.value.params == {"transfer_id": 5, "ticket_id": 2}

    await db.support.add_message(1, 1, "more")
    await db.support.add_message(1, 900, "answer", admin_event=TICKET_REPLIED)
    closed = await db.support.close_ticket(2, 900, TICKET_CLOSED)
    assert closed.state is TicketState.CLOSED and closed.closed_by == 900
    with pytest.raises(TicketClosed):
        await db.support.close_ticket(2, 901, TICKET_CLOSED)
    with pytest.raises(TicketClosed):
        await db.support.add_message(2, 2, "hello?")
    with pytest.raises(TicketNotFound):
        await db.support.add_message(3, 2, "hello?")
    reopened = await db.support.open_ticket(2, "still", (), transfer_id=5)

    assert [t.id for t in await db.support.open_tickets(10)] == [1, reopened.id]
    assert [(m.author_id, m.from_admin, m.text) for m in await db.support.messages(1)] == [
        (1, False, "more"),
        (900, True, "answer"),
    ]
    assert await db.support.get_ticket(99) is None
    events = [e async for e in db.security.events()]
    assert [(e.event, e.actor_id, e.subject_id, e.details) for e in events] == [
        (TICKET_REPLIED, 900, 1, {"ticket_id": 1, "transfer_id": None, "text": "answer"}),
        (TICKET_CLOSED, 900, 2, {"ticket_id": 2, "transfer_id": 5}),
    ]
