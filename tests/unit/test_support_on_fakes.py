"""Support tickets and disputes, on the in-memory stores: what a ticket carries, whose
transfers can be disputed, one open dispute per transfer under concurrent taps."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain.errors import DisputeAlreadyOpen, TicketClosed, TicketNotFound, TransferNotFound
from bot.domain.kinds import TransferKind
from bot.domain.support import TICKET_CLOSED, TICKET_REPLIED
from bot.wallet.support import Support
from tests.fakes.wallet import FakeWallet

ALICE, BOB, ADMIN = 1, 2, 9


@pytest.fixture
async def wallet() -> FakeWallet:
    return await FakeWallet.open()


@pytest.fixture
def support(wallet) -> Support:
    return Support(wallet.db.support, wallet.history)


async def test_a_ticket_carries_the_newest_transfers_of_its_opener(wallet, support):
    alice = await wallet.person(ALICE, funds=10_00)
    ticket = await support.open(alice, "where did it go?")
    assert [(a.amount, a.kind) for a in ticket.attached] == [(10_00, "topup")]
    assert (await support.view(ticket.id)).thread == ()


async def test_only_a_party_to_a_transfer_may_dispute_it_once_at_a_time(wallet, support):
    alice = await wallet.person(ALICE, funds=10_00)
    bob = await wallet.person(BOB)
    [line] = (await wallet.history.page(alice.account_id)).lines
    with pytest.raises(TransferNotFound):
        await support.dispute(bob, line.transfer_id, "not mine")
    results = await asyncio.gather(
        *(support.dispute(alice, line.transfer_id, "twice?") for _ in range(10)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert sum(isinstance(r, DisputeAlreadyOpen) for r in results) == 9


async def test_the_other_party_disputing_the_same_transfer_gets_a_ticket_of_their_own(
    wallet, support
):
    """Bob, paid by Alice, disputes what Alice disputes already: not "reply to that
    ticket" (it is hers, he has no message of it) but a ticket of his own, the transfer
    attached; Alice's second try is still refused."""
    alice = await wallet.person(ALICE, funds=10_00)
    bob = await wallet.person(BOB)
    await wallet.ledger.transfer(
        wallet.key(), alice.account_id, bob.account_id, 4_00, TransferKind.TRANSFER
    )
    [paid] = (await wallet.history.page(bob.account_id)).lines
    hers = await support.dispute(alice, paid.transfer_id, "never got the goods")
    his = await support.dispute(bob, paid.transfer_id, "I sent them")
    assert his.id != hers.id and his.telegram_id == BOB and his.transfer_id is None
    assert [a.transfer_id for a in his.attached] == [paid.transfer_id]
    with pytest.raises(DisputeAlreadyOpen):
        await support.dispute(alice, paid.transfer_id, "again")


async def test_answers_and_closing_are_logged_and_a_closed_ticket_takes_nothing(wallet, support):
    alice = await wallet.person(ALICE)
    bob = await wallet.person(BOB)
    ticket = await support.open(alice, "help")
    with pytest.raises(TicketNotFound):
        await support.add(bob, ticket.id, "me too")
    await support.answer(ADMIN, ticket.id, "on it")
    await support.close(ADMIN, ticket.id)
    with pytest.raises(TicketClosed):
        await support.add(alice, ticket.id, "thanks")
    with pytest.raises(TicketClosed):
        await support.get_open(ticket.id)
    assert [e.event for e in await wallet.events("admin.ticket")] == [
        TICKET_REPLIED,
        TICKET_CLOSED,
    ]
