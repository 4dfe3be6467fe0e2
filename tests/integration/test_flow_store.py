"""The ``FlowStore`` of ``bot.domain.guided`` keeps one contract in memory, on SQLite and
on PostgreSQL, and the ``Guides`` service over it expires, replaces and remembers as it
says."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.domain.errors import StorageError
from bot.domain.guided import Flow, FlowEnded, FlowExpired, FlowStale
from bot.wallet.guided import Guides
from tests.fakes import ManualClock


@pytest.fixture
def clock(manual_clock) -> ManualClock:
    return manual_clock  # the clock of ``db``


async def test_a_person_has_one_flow_kept_with_its_data_as_json(db, clock):
    flows = db.flows
    first = Flow(7, "aaaa", "send", "amount", {"recipient_id": 9, "memo": "午饭"}, 12, 5_000)
    await flows.save_flow(first)
    assert await flows.get_flow(7) == first
    second = replace(first, flow_id="bbbb", kind="request", data={}, message_id=None)
    await flows.save_flow(second)
    assert await flows.get_flow(7) == second
    assert await flows.get_flow(8) is None
    assert not await flows.drop_flow(7, "aaaa")  # not the current one: kept
    assert await flows.drop_flow(7, "bbbb")
    assert not await flows.drop_flow(7, "bbbb")
    assert await flows.get_flow(7) is None


async def test_expired_flows_are_listed_soonest_deadline_first(db):
    for person, deadline in ((1, 300), (2, 100), (3, 900), (4, 200)):
        await db.flows.save_flow(Flow(person, f"f{person}", "send", "amount", {}, None, deadline))
    due = await db.flows.expired_flows(300, 10)
    assert [f.telegram_id for f in due] == [2, 4, 1]
    assert [f.telegram_id for f in await db.flows.expired_flows(300, 2)] == [2, 4]


async def test_recent_recipients_are_the_latest_first_and_amounts_the_most_used(db):
    flows = db.flows
    await flows.remember_recipient(1, 20, 100)
    await flows.remember_recipient(1, 30, 200)
    await flows.remember_recipient(1, 20, 300)
    await flows.remember_recipient(2, 40, 400)
    assert await flows.recent_recipients(1, 5) == [20, 30]
    assert await flows.recent_recipients(1, 1) == [20]
    for amount, at in ((500, 1), (2000, 2), (500, 3), (1000, 4)):
        await flows.remember_amount(1, "send", amount, at)
    await flows.remember_amount(1, "packet", 9900, 5)
    assert await flows.favourite_amounts(1, "send", 5) == [500, 1000, 2000]
    assert await flows.favourite_amounts(1, "packet", 5) == [9900]
    with pytest.raises(StorageError):
        await flows.remember_amount(1, "send", 0, 6)


async def test_a_flow_expires_when_left_and_lives_on_while_touched(db, clock):
    guides = Guides(db.flows, ttl_s=60)
    flow = await guides.begin(7, "send", "recipient")
    clock.advance(seconds=50)
    flow = await guides.move(flow, step="amount", recipient_id=9)
    clock.advance(seconds=50)  # 100 s since it began, 50 since it was touched
    touched = await guides.touch(7, flow.flow_id)
    assert touched.step == "amount" and touched.data == {"recipient_id": 9}
    clock.advance(seconds=60)
    assert await guides.current(7) is None
    with pytest.raises(FlowExpired):
        await guides.touch(7, flow.flow_id)
    assert [f.flow_id for f in await guides.due()] == [flow.flow_id]
    assert await guides.end(flow) and await guides.due() == []


async def test_a_button_of_a_replaced_flow_is_stale_and_cannot_end_the_new_one(db):
    guides = Guides(db.flows)
    old = await guides.begin(7, "send", "recipient")
    new = await guides.begin(7, "packet", "amount")
    with pytest.raises(FlowStale):
        await guides.touch(7, old.flow_id)
    assert not await guides.end(old)
    assert (await guides.touch(7, new.flow_id)).kind == "packet"
    with pytest.raises(FlowEnded):  # a button of a flow that is over (or never was)
        await guides.touch(8, "nothing")
    with pytest.raises(FlowExpired):
        await guides.touch(8)
    assert await guides.end(new)
    with pytest.raises(FlowEnded):
        await guides.touch(7, new.flow_id)


async def test_moving_a_flow_adds_and_removes_its_answers(db):
    guides = Guides(db.flows)
    flow = await guides.begin(7, "send", "amount", entry="12")
    flow = await guides.move(flow, entry=None, amount=1200, message_id=5)
    assert flow.data == {"amount": 1200} and flow.message_id == 5
    flow = await guides.move(flow, step="memo")
    assert (await guides.current(7)) == flow and flow.message_id == 5


async def test_a_finished_flow_remembers_its_recipient_and_amount(db, clock):
    guides = Guides(db.flows)
    await guides.remember(7, "send", 2000, 9)
    clock.advance(seconds=1)
    await guides.remember(7, "send", 2000, 10)
    await guides.remember(7, "request", 500)
    assert await guides.recents(7) == [10, 9]
    assert await guides.favourites(7, "send") == [2000]
    assert await guides.favourites(7, "request") == [500]


async def test_only_an_expired_flow_is_ended_when_touched_late(db, clock):
    guides = Guides(db.flows, ttl_s=60)
    await guides.begin(7, "send", "amount")
    await guides.end_expired(7)
    assert await guides.current(7) is not None  # still open: kept
    clock.advance(seconds=61)
    await guides.end_expired(7)
    assert await db.flows.get_flow(7) is None
