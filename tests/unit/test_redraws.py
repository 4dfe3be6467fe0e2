"""A keypad's redraws: the newest one is sent, one at a time per message, and whatever
ends the keypad waits for the one being sent and drops the rest."""

from __future__ import annotations

import asyncio
import logging

from telegram.error import BadRequest, TimedOut

from bot.handlers.redraws import Redraws
from bot.handlers.send_limits import Admission, SendLimiter

CHAT, MESSAGE, OTHER = 100_001, 7, 8


class GatedBot:
    """Records each edit; an edit waits for ``gate`` (open unless closed by a test)."""

    def __init__(self) -> None:
        self.edits: list[tuple[int, str]] = []
        self.started: list[tuple[int, str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_with: Exception | None = None

    async def edit_message_text(self, text, *, chat_id, message_id, reply_markup):
        self.started.append((message_id, text))
        await self.gate.wait()
        self._done(message_id, text)

    def _done(self, message_id: int, text: str) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.edits.append((message_id, text))


class QueuedBot(GatedBot):
    """As the bot with the send limiter: an edit waits its turn (``turn``, closed until a
    test opens it), is marked admitted, then goes out (``gate``)."""

    def __init__(self) -> None:
        super().__init__()
        self.rate_limiter = SendLimiter()
        self.turn = asyncio.Event()
        self.admissions: list[Admission] = []

    async def edit_message_text(self, text, *, chat_id, message_id, reply_markup, **marked):
        admission = marked["rate_limit_args"]
        self.admissions.append(admission)
        await self.turn.wait()
        admission.admitted = True
        self.started.append((message_id, text))
        await self.gate.wait()
        self._done(message_id, text)


async def test_a_redraw_waiting_behind_one_being_sent_is_replaced_by_the_newest():
    bot = GatedBot()
    bot.gate.clear()
    redraws = Redraws(bot)
    redraws.put(CHAT, MESSAGE, "●○○", None)
    await asyncio.sleep(0)  # the first is on its way
    redraws.put(CHAT, MESSAGE, "●●○", None)
    redraws.put(CHAT, MESSAGE, "●●●", None)
    redraws.put(CHAT, OTHER, "●", None)  # another keypad goes its own way
    await asyncio.sleep(0)
    assert bot.started == [(MESSAGE, "●○○"), (OTHER, "●")]
    bot.gate.set()
    await redraws.drain()
    assert [text for message, text in bot.edits if message == MESSAGE] == ["●○○", "●●●"]
    assert [text for message, text in bot.edits if message == OTHER] == ["●"]


async def one_being_sent_one_waiting() -> tuple[GatedBot, Redraws]:
    """"●○○" on its way (its edit held at the gate), "●●○" waiting behind it."""
    bot = GatedBot()
    bot.gate.clear()
    redraws = Redraws(bot)
    redraws.put(CHAT, MESSAGE, "●○○", None)
    await asyncio.sleep(0)
    redraws.put(CHAT, MESSAGE, "●●○", None)
    return bot, redraws


async def test_settling_waits_for_the_redraw_being_sent_and_drops_the_waiting_ones():
    bot, redraws = await one_being_sent_one_waiting()
    settling = asyncio.ensure_future(redraws.settle(CHAT, MESSAGE))
    await asyncio.sleep(0.01)
    assert not settling.done()  # "●○○" is still being sent
    bot.gate.set()
    await settling
    assert bot.edits == [(MESSAGE, "●○○")]  # "●●○" never came: the outcome is next
    await redraws.drain()
    assert bot.edits == [(MESSAGE, "●○○")]
    await redraws.settle(CHAT, OTHER)  # nothing to wait for


async def test_a_failed_redraw_is_logged_and_never_reaches_the_outcome(caplog):
    bot = GatedBot()
    redraws = Redraws(bot)
    for failure, level in (
        (BadRequest("Message is not modified"), None),  # ⌫ on an empty entry: nothing said
        (BadRequest("Message to edit not found"), logging.WARNING),
        (TimedOut(), logging.WARNING),
        (RuntimeError("a defect"), logging.ERROR),
    ):
        caplog.clear()
        bot.fail_with = failure
        redraws.put(CHAT, MESSAGE, "●○○", None)
        await asyncio.sleep(0)  # on its way (else settling drops it unsent)
        await redraws.settle(CHAT, MESSAGE)  # raises nothing
        assert bot.started[-1] == (MESSAGE, "●○○")
        assert [r.levelno for r in caplog.records if r.name == "bot.handlers.redraws"] == (
            [] if level is None else [level]
        ), failure
    assert not redraws._sending  # every task ended and was forgotten


async def test_closing_drops_the_waiting_redraws_and_gives_those_being_sent_a_grace():
    bot, redraws = await one_being_sent_one_waiting()
    await redraws.close(grace=0.05)  # the edit under way is stuck: close does not wait on
    assert bot.edits == []
    bot.gate.set()
    await redraws.drain()
    assert bot.edits == [(MESSAGE, "●○○")]  # the waiting dots were dropped


async def test_a_redraw_given_as_the_last_one_was_ending_is_sent_too():
    """A put in the moment between a message's task ending and its being forgotten still
    gets a task of its own."""
    bot = GatedBot()
    redraws = Redraws(bot)
    redraws.put(CHAT, MESSAGE, "●○○", None)
    first = redraws._sending[(CHAT, MESSAGE)]
    await asyncio.wait({first})
    redraws._sending[(CHAT, MESSAGE)] = first  # as before its done-callback runs
    redraws.put(CHAT, MESSAGE, "●●○", None)
    async with asyncio.timeout(5):
        await redraws.drain()
    assert bot.edits == [(MESSAGE, "●○○"), (MESSAGE, "●●○")]
    assert not redraws._sending


async def test_settling_drops_a_redraw_still_waiting_its_turn_in_the_send_queue():
    """Nothing of it went out, so the outcome does not wait a turn behind it."""
    bot = QueuedBot()
    redraws = Redraws(bot)
    redraws.put(CHAT, MESSAGE, "●○○", None)
    await asyncio.sleep(0)
    assert len(bot.admissions) == 1 and not bot.admissions[0].admitted
    async with asyncio.timeout(1):
        await redraws.settle(CHAT, MESSAGE)  # at once, although the queue has not moved
    bot.turn.set()
    await asyncio.sleep(0.01)
    assert bot.started == [] and bot.edits == [] and not redraws._sending


async def test_settling_waits_for_a_redraw_the_send_queue_let_out():
    bot = QueuedBot()
    bot.turn.set()
    bot.gate.clear()
    redraws = Redraws(bot)
    redraws.put(CHAT, MESSAGE, "●○○", None)
    await asyncio.sleep(0)
    assert bot.admissions[0].admitted  # on the wire: it may land, so the outcome waits
    settling = asyncio.ensure_future(redraws.settle(CHAT, MESSAGE))
    await asyncio.sleep(0.01)
    assert not settling.done()
    bot.gate.set()
    await settling
    assert bot.edits == [(MESSAGE, "●○○")]


async def test_closing_drops_a_redraw_still_waiting_its_turn_at_once():
    bot = QueuedBot()
    redraws = Redraws(bot)
    redraws.put(CHAT, MESSAGE, "●○○", None)
    await asyncio.sleep(0)
    async with asyncio.timeout(1):
        await redraws.close(grace=30)
    assert bot.edits == [] and not redraws._sending
