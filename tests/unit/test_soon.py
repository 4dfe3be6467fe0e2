"""Work handed on by a handler runs beside its answer, is waited for at a stop, and an
error in it is logged, never raised to the handler."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

from bot.handlers.soon import finish, soon


def application(*, running: bool = True):
    return SimpleNamespace(running=running, bot_data={})


async def test_handed_on_work_runs_beside_the_caller_and_a_stop_waits_for_it():
    app, gate, done = application(), asyncio.Event(), []

    async def tell(who: str) -> None:
        await gate.wait()
        done.append(who)

    await soon(app, tell("bob"), what="telling bob")  # returns at once
    await soon(app, tell("shop"), what="telling the shop")
    assert done == []
    finishing = asyncio.ensure_future(finish(app))
    await asyncio.sleep(0.01)
    assert not finishing.done()  # the stop waits for them
    gate.set()
    await finishing
    assert sorted(done) == ["bob", "shop"] and not app.bot_data["handlers.soon"]


async def test_an_error_in_handed_on_work_is_logged_not_raised(caplog):
    app = application()

    async def broken() -> None:
        raise RuntimeError("the Bot API went away")

    await soon(app, broken(), what="telling bob of a transfer")
    await finish(app)
    [record] = [r for r in caplog.records if r.name == "bot.handlers.soon"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "telling bob of a transfer failed"


async def test_when_the_application_is_not_running_the_work_is_done_inline(caplog):
    app, done = application(running=False), []

    async def tell() -> None:
        await asyncio.sleep(0)
        done.append("told")

    await soon(app, tell(), what="telling the admins")
    assert done == ["told"] and "handlers.soon" not in app.bot_data


async def test_a_stop_waits_for_handed_on_work_for_a_while_only(caplog):
    app, stuck = application(), asyncio.Event()
    await soon(app, stuck.wait(), what="telling bob (the send queue held back)")
    async with asyncio.timeout(2):
        await finish(app, grace=0.05)
    assert [r.getMessage() for r in caplog.records if r.name == "bot.handlers.soon"] == [
        "stopping with notices still being sent: 1"
    ]
    stuck.set()
    await finish(app)
