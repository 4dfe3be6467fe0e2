"""An admin's open question is stored: a new process takes it back with its deadline."""

from __future__ import annotations

from types import SimpleNamespace

from telegram import Update

from bot.handlers.payouts import PROMPT_TTL_S, Prompt
from bot.handlers.questions import Questions, restored_first
from tests.fakes import MemoryDatabase


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def payout_questions(clock) -> Questions[Prompt]:
    return Questions(
        PROMPT_TTL_S,
        clock,
        topic="payout_note",
        encode=lambda p: [p.payout_id, p.paid, p.message_id],
        decode=lambda v: Prompt(*v),
    )


async def test_a_question_asked_before_a_restart_is_open_after_it_until_its_deadline():
    db, clock = MemoryDatabase(), Clock()
    before = payout_questions(clock)
    await before.restore(db.followups)
    await before.ask(7, Prompt(payout_id=3, paid=True, message_id=40))
    await before.ask(8, Prompt(payout_id=4, paid=False, message_id=41))
    await before.drop(8)  # answered

    clock.now += PROMPT_TTL_S - 2
    after = payout_questions(clock)  # the new process knows nothing yet
    assert after.open_for(7) is None
    await after.restore(db.followups)
    assert after.open_for(7) == Prompt(payout_id=3, paid=True, message_id=40)
    assert after.open_for(8) is None
    clock.now += 2
    assert after.open_for(7) is None  # the same deadline as before the restart


async def test_questions_expired_while_the_bot_was_down_are_dropped_from_the_store():
    db, clock = MemoryDatabase(), Clock()
    before = payout_questions(clock)
    await before.restore(db.followups)
    await before.ask(7, Prompt(payout_id=3, paid=True, message_id=40))
    clock.now += PROMPT_TTL_S
    after = payout_questions(clock)
    await after.restore(db.followups)
    assert after.open_for(7) is None
    assert await db.followups.open_questions("payout_note") == []


async def test_each_feature_takes_back_only_its_own_topic():
    db, clock = MemoryDatabase(), Clock()
    tickets: Questions[int] = Questions(PROMPT_TTL_S, clock, topic="ticket_answer")
    await tickets.restore(db.followups)
    await tickets.ask(7, 12)
    payouts = payout_questions(clock)
    await payouts.restore(db.followups)
    assert payouts.open_for(7) is None
    again: Questions[int] = Questions(PROMPT_TTL_S, clock, topic="ticket_answer")
    await again.restore(db.followups)
    assert again.open_for(7) == 12


async def test_the_restoring_handler_matches_until_the_questions_are_back_then_never():
    db, clock = MemoryDatabase(), Clock()
    before = payout_questions(clock)
    await before.restore(db.followups)
    await before.ask(7, Prompt(payout_id=3, paid=True, message_id=40))
    after, tickets = payout_questions(clock), Questions(PROMPT_TTL_S, clock, topic="ticket")
    handler = restored_first(after, tickets)
    update = Update(1)
    assert handler.check_update(update)
    context = SimpleNamespace(wallet=SimpleNamespace(store=SimpleNamespace(followups=db.followups)))
    await handler.callback(update, context)
    assert after.open_for(7) == Prompt(payout_id=3, paid=True, message_id=40)
    assert after.restored and tickets.restored
    assert not handler.check_update(update)  # a busy group's updates no longer call it
