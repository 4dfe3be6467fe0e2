"""The outbox sends each chat's messages in order, chats independently, and never raises."""

from __future__ import annotations

import asyncio
import logging

from telegram.error import BadRequest

from bot.handlers.outbox import BUSY_AT, CHATTER_PER_MINUTE, Outbox, OutboxClosed

GROUP, OTHER_GROUP = -100_1, -100_2


def recorder(sent: list):
    def message(text: str, gate: asyncio.Event | None = None):
        async def send():
            if gate is not None:
                await gate.wait()
            sent.append(text)
            return f"message:{text}"

        return send

    return message


async def test_one_chats_messages_leave_in_order_and_other_chats_do_not_wait():
    sent: list[str] = []
    message = recorder(sent)
    gate = asyncio.Event()
    outbox = Outbox()
    outbox.put(GROUP, message("g1", gate))  # a group whose turn has not come
    for n in range(2, 30):
        outbox.put(GROUP, message(f"g{n}"))
    for n in range(1, 30):
        outbox.put(OTHER_GROUP, message(f"o{n}"))
    await asyncio.sleep(0.01)
    assert sent == [f"o{n}" for n in range(1, 30)]
    assert outbox.pending(GROUP) == 29 and outbox.pending() == 29
    gate.set()
    assert await outbox.drain(within=1)
    assert [t for t in sent if t.startswith("g")] == [f"g{n}" for n in range(1, 30)]
    assert outbox.pending() == 0


async def test_the_continuation_gets_the_sent_message_or_the_error(caplog):
    sent: list[str] = []
    message = recorder(sent)
    outcomes = []

    async def then(result) -> None:
        outcomes.append(result)

    async def refused():
        raise BadRequest("Chat not found")

    outbox = Outbox()
    outbox.put(GROUP, message("first"), then=then)
    outbox.put(GROUP, refused, then=then)
    outbox.put(GROUP, message("after"), then=then)
    assert await outbox.drain(within=1)
    assert outcomes[0] == "message:first" and outcomes[2] == "message:after"
    assert isinstance(outcomes[1], BadRequest)
    assert sent == ["first", "after"]
    assert "Chat not found" in caplog.text  # logged as a warning, never raised
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_failing_send_or_continuation_is_logged_and_the_queue_goes_on(caplog):
    sent: list[str] = []
    message = recorder(sent)

    async def bug():
        raise RuntimeError("bug in a send")

    async def broken(result) -> None:
        raise RuntimeError("bug in a continuation")

    outbox = Outbox()
    outbox.put(GROUP, bug)
    outbox.put(GROUP, message("one"), then=broken)
    outbox.put(GROUP, message("two"))
    assert await outbox.drain(within=1)
    assert sent == ["one", "two"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2 and all(r.exc_info for r in errors)


async def test_droppable_messages_are_left_out_while_the_chat_is_busy():
    sent: list[str] = []
    message = recorder(sent)
    gate = asyncio.Event()
    outbox = Outbox()
    assert outbox.put(GROUP, message("note while quiet"), droppable=True)
    await outbox.drain(within=1)
    for n in range(BUSY_AT):
        outbox.put(GROUP, message(f"reply {n}", gate))
    assert not outbox.put(GROUP, message("note while busy"), droppable=True)
    assert outbox.put(OTHER_GROUP, message("note elsewhere"), droppable=True)
    gate.set()
    await outbox.drain(within=1)
    assert "note while busy" not in sent and {"note while quiet", "note elsewhere"} <= set(sent)


async def test_a_message_that_matters_goes_ahead_of_the_chatter_still_waiting():
    sent: list[str] = []
    message = recorder(sent)
    gate = asyncio.Event()
    outbox = Outbox()
    outbox.put(GROUP, message("reply", gate))  # being sent: its turn is not taken away
    outbox.put(GROUP, message("usage 1"), chatter=True)
    outbox.put(GROUP, message("note"), droppable=True)
    outbox.put(GROUP, message("red packet"))
    outbox.put(GROUP, message("usage 2"), chatter=True)
    outbox.put(GROUP, message("tip"))
    gate.set()
    await outbox.drain(within=1)
    assert sent == ["reply", "red packet", "tip", "usage 1", "note", "usage 2"]


async def test_droppable_messages_are_left_out_once_a_chat_had_its_minutes_chatter():
    """Chatter sent at once still uses up the group's 20 messages a minute."""
    sent: list[str] = []
    message = recorder(sent)
    outbox = Outbox()
    for n in range(CHATTER_PER_MINUTE):
        assert outbox.put(GROUP, message(f"usage {n}"), droppable=True)
        await outbox.drain(within=1)
    assert not outbox.put(GROUP, message("one usage too many"), droppable=True)
    assert outbox.put(GROUP, message("red packet"))
    await outbox.drain(within=1)
    assert sent[-1] == "red packet" and "one usage too many" not in sent


async def test_chatter_said_once_is_not_queued_again_in_that_chat_for_a_while():
    sent: list[str] = []
    message = recorder(sent)
    outbox = Outbox()
    assert outbox.put(GROUP, message("usage"), chatter=True, once="usage")
    assert not outbox.put(GROUP, message("usage"), chatter=True, once="usage")
    assert outbox.put(OTHER_GROUP, message("usage elsewhere"), chatter=True, once="usage")
    assert outbox.put(GROUP, message("other usage"), chatter=True, once="other")
    await outbox.drain(within=1)
    assert not outbox.put(GROUP, message("usage"), chatter=True, once="usage")  # sent just now
    await outbox.drain(within=1)
    assert sorted(sent) == ["other usage", "usage", "usage elsewhere"]


async def test_closing_drains_then_drops_the_rest_and_tells_their_continuations(caplog):
    sent: list[str] = []
    message = recorder(sent)
    never = asyncio.Event()
    told = []

    async def then(result) -> None:
        told.append(result)

    outbox = Outbox()
    outbox.put(GROUP, message("stuck", never), then=then)  # e.g. waiting out a 429
    outbox.put(GROUP, message("queued"), then=then)
    outbox.put(OTHER_GROUP, message("quick"), then=then)
    assert not await outbox.drain(within=0.05)
    await outbox.close(grace=0.05)
    assert sent == ["quick"]
    assert told[0] == "message:quick"
    assert len(told) == 3 and all(isinstance(r, OutboxClosed) for r in told[1:])
    assert outbox.pending() == 0
    assert "2 messages to groups unsent" in caplog.text


async def test_closing_lets_a_running_continuation_finish():
    """A red packet's post went out and its message id is being attached when the bot
    stops: that write is not cut short, and its continuation is not told "unsent"."""
    sent: list[str] = []
    message = recorder(sent)
    writing, told = asyncio.Event(), []

    async def attach(result) -> None:
        told.append(("started", result))
        writing.set()
        await asyncio.sleep(0.2)  # the write waits its turn at the database
        told.append(("done", result))

    async def queued_then(result) -> None:
        told.append(("queued", type(result).__name__))

    outbox = Outbox()
    outbox.put(GROUP, message("post"), then=attach)
    outbox.put(GROUP, message("later", asyncio.Event()), then=queued_then)  # never leaves
    await writing.wait()
    await outbox.close(grace=0.05)
    assert ("done", "message:post") in told
    assert ("queued", "OutboxClosed") in told
    assert [t for t in told if t[0] == "started"] == [("started", "message:post")]
