"""Support tickets and disputes on a real database (SQLite, PostgreSQL): a ticket keeps
its attached transfers and its thread, a transfer has one open dispute however many taps
race, a ticket is closed once however many admins race, and the admins' actions are in
the security log's chain."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.errors import (
    DisputeAlreadyOpen,
    SupportTextInvalid,
    TicketClosed,
    TicketIdInvalid,
    TicketNotFound,
    TransferNotFound,
)
from bot.domain.events import verify_events
from bot.domain.history import EntryState
from bot.domain.support import (
    TICKET_CLOSED,
    TICKET_REPLIED,
    AttachedTransfer,
    TicketState,
)
from bot.domain.users import Profile
from bot.wallet.history import History
from bot.wallet.support import ATTACHED, TEXT_MAX, Support, check_text, parse_ticket_id
from bot.wallet.users import Users
from tests.integration.raw import fetch, refused

BOB, CAROL, ADMIN = 100_004, 100_005, 900_001


@pytest.fixture
def store(both_store):
    return both_store


async def test_a_ticket_keeps_its_attached_transfers_and_its_thread(store, clock):
    attached = (
        AttachedTransfer(9, 20_00, "withdraw", EntryState.RELEASED),  # not money in
        AttachedTransfer(7, -12_50, "transfer"),
        AttachedTransfer(3, 50_00, "topup"),
    )
    ticket = await store.support.open_ticket(BOB, "where is my money?", attached)
    assert ticket.state is TicketState.OPEN and ticket.transfer_id is None
    assert ticket.attached == attached
    clock.advance(seconds=60)
    await store.support.add_message(ticket.id, BOB, "any news?")
    await store.support.add_message(ticket.id, ADMIN, "looking", admin_event=TICKET_REPLIED)
    thread = await store.support.messages(ticket.id)
    assert [(m.author_id, m.from_admin, m.text) for m in thread] == [
        (BOB, False, "any news?"),
        (ADMIN, True, "looking"),
    ]
    assert await store.support.get_ticket(ticket.id) == ticket
    assert await store.support.get_ticket(999) is None


async def test_open_tickets_are_listed_oldest_first_and_closed_ones_left_out(store, clock):
    first = await store.support.open_ticket(BOB, "one", ())
    clock.advance(seconds=1)
    second = await store.support.open_ticket(CAROL, "two", ())
    clock.advance(seconds=1)
    third = await store.support.open_ticket(BOB, "three", ())
    await store.support.close_ticket(second.id, ADMIN, TICKET_CLOSED)
    assert [t.id for t in await store.support.open_tickets(10)] == [first.id, third.id]
    assert [t.id for t in await store.support.open_tickets(1)] == [first.id]


async def test_a_transfer_has_one_open_dispute_however_many_taps_race(store):
    results = await asyncio.gather(
        *(store.support.open_ticket(BOB, "twice?", (), transfer_id=42) for _ in range(20)),
        return_exceptions=True,
    )
    opened = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, DisputeAlreadyOpen)]
    assert len(opened) == 1 and len(refused) == 19
    assert {r.params["ticket_id"] for r in refused} == {opened[0].id}
    # once closed, the transfer may be disputed again
    await store.support.close_ticket(opened[0].id, ADMIN, TICKET_CLOSED)
    again = await store.support.open_ticket(BOB, "still wrong", (), transfer_id=42)
    assert again.transfer_id == 42 and again.id != opened[0].id


async def test_a_ticket_is_closed_once_however_many_admins_race(store):
    ticket = await store.support.open_ticket(BOB, "help", ())
    results = await asyncio.gather(
        *(store.support.close_ticket(ticket.id, 900_000 + i, TICKET_CLOSED) for i in range(10)),
        return_exceptions=True,
    )
    closed = [r for r in results if not isinstance(r, Exception)]
    assert len(closed) == 1 and closed[0].state is TicketState.CLOSED
    assert sum(isinstance(r, TicketClosed) for r in results) == 9
    events = [e async for e in store.security.events() if e.event == TICKET_CLOSED]
    assert len(events) == 1 and events[0].actor_id == closed[0].closed_by
    assert events[0].subject_id == BOB


async def test_a_closed_or_unknown_ticket_takes_no_message(store):
    ticket = await store.support.open_ticket(BOB, "help", ())
    await store.support.close_ticket(ticket.id, ADMIN, TICKET_CLOSED)
    with pytest.raises(TicketClosed):
        await store.support.add_message(ticket.id, BOB, "hello?")
    with pytest.raises(TicketClosed):
        await store.support.add_message(ticket.id, ADMIN, "hi", admin_event=TICKET_REPLIED)
    with pytest.raises(TicketNotFound):
        await store.support.add_message(12345, BOB, "hello?")
    with pytest.raises(TicketNotFound):
        await store.support.close_ticket(12345, ADMIN, TICKET_CLOSED)
    assert await store.support.messages(ticket.id) == []
    replied = [e async for e in store.security.events() if e.event == TICKET_REPLIED]
    assert replied == []  # the refused answer left no event


async def test_admin_answers_and_closings_are_in_the_security_chain(store):
    ticket = await store.support.open_ticket(BOB, "help", (), transfer_id=9)
    await store.support.add_message(ticket.id, ADMIN, "refund coming", admin_event=TICKET_REPLIED)
    await store.support.close_ticket(ticket.id, ADMIN, TICKET_CLOSED)
    events = [e async for e in store.security.events()]
    assert [(e.event, e.actor_id, e.subject_id) for e in events] == [
        (TICKET_REPLIED, ADMIN, BOB),
        (TICKET_CLOSED, ADMIN, BOB),
    ]
    assert events[0].details == {"ticket_id": ticket.id, "transfer_id": 9, "text": "refund coming"}
    count, problems = await verify_events(store.security.events())
    assert count == 2 and problems == []


async def test_tickets_and_their_messages_are_kept(store, database_url):
    ticket = await store.support.open_ticket(BOB, "help", ())
    await store.support.add_message(ticket.id, BOB, "more")
    await refused(database_url, "DELETE FROM support_tickets")
    await refused(database_url, "DELETE FROM support_messages")
    assert await fetch(database_url, "SELECT count(*) FROM support_messages") == [(1,)]


async def test_the_service_attaches_the_newest_transfers_and_disputes_only_ones_own(
    store, ledger, external
):
    users = Users(store.users, "CNY")
    bob = await users.seen(Profile(BOB, "bob", "Bob", "en"))
    carol = await users.seen(Profile(CAROL, "carol", "Carol", "en"))
    for i in range(ATTACHED + 2):
        await ledger.transfer(f"t{i}", external, bob.account_id, (i + 1) * 100, "topup")
    carols = await ledger.transfer("c", external, carol.account_id, 5_00, "topup")
    support = Support(store.support, History(store.history))

    ticket = await support.open(bob, "  my   balance\n\n looks wrong ")
    assert ticket.text == "my balance\nlooks wrong"
    assert [a.amount for a in ticket.attached] == [700, 600, 500, 400, 300]  # newest first
    assert all(a.kind == "topup" for a in ticket.attached)

    with pytest.raises(TransferNotFound):
        await support.dispute(bob, str(carols.id), "not mine")
    with pytest.raises(TransferNotFound):
        await support.dispute(bob, "999999", "nothing")
    dispute = await support.dispute(bob, f"#{ticket.attached[0].transfer_id}", "double?")
    assert dispute.is_dispute and dispute.attached[0].amount == 700
    with pytest.raises(DisputeAlreadyOpen):
        await support.dispute(bob, str(dispute.transfer_id), "again")
    with pytest.raises(TicketNotFound):  # Carol cannot write into Bob's ticket
        await support.add(carol, ticket.id, "hi")
    assert [t.id for t in await support.open_tickets()] == [ticket.id, dispute.id]


@pytest.mark.parametrize("text", ["", "   ", "\u200b\x00", "\n\n"])
def test_an_empty_text_is_refused(text):
    with pytest.raises(SupportTextInvalid) as refused:
        check_text(text)
    assert refused.value.code == "support_text_missing"


def test_a_too_long_text_is_refused():
    assert len(check_text("字" * TEXT_MAX)) == TEXT_MAX
    with pytest.raises(SupportTextInvalid) as refused:
        check_text("字" * (TEXT_MAX + 1))
    assert refused.value.code == "support_text_too_long"


@pytest.mark.parametrize("text", ["", "abc", "-1", "0", "1.5", "#", "9" * 20, "１２a"])
def test_a_bad_ticket_number_is_refused(text):
    with pytest.raises(TicketIdInvalid):
        parse_ticket_id(text)


def test_a_ticket_number_may_be_written_with_a_hash_or_full_width_digits():
    assert parse_ticket_id("#12") == parse_ticket_id("１２") == 12
