"""Helpers for end-to-end tests: a PTB ``Bot`` or ``Application`` wired to a sandbox.

async with await start_sandbox() as sandbox:
    application = application_builder(sandbox).build()
    application.add_handler(CommandHandler("start", start))
    async with polling(application):
        await sandbox.emulator.send_text("alice", "/start")
        reply = await sandbox.emulator.wait_for_message("alice")

``tap_burst`` has many residents tap one button at once and times each answer, and
``message_burst`` has many write to the bot in private at once and times each reply, for
load tests and benches (``bench/e2e.py``, ``bench/balance.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from telegram import Bot
from telegram.ext import Application, ApplicationBuilder

from bot.sandbox.emulator import Emulator, UserRef
from bot.sandbox.models import BotEvent, Message
from bot.sandbox.server import SandboxServer

__all__ = ["Burst", "application_builder", "make_bot", "message_burst", "polling", "tap_burst"]

POLL_TIMEOUT = 5  # seconds a getUpdates call may wait; stopping never waits for it


def make_bot(sandbox: SandboxServer) -> Bot:
    """A python-telegram-bot ``Bot`` that talks to the sandbox."""
    return Bot(sandbox.token, base_url=sandbox.bot_api_url, base_file_url=sandbox.bot_file_url)


def application_builder(sandbox: SandboxServer) -> ApplicationBuilder:
    """An ``ApplicationBuilder`` already pointed at the sandbox (add more, then ``build()``)."""
    return (
        Application.builder()
        .token(sandbox.token)
        .base_url(sandbox.bot_api_url)
        .base_file_url(sandbox.bot_file_url)
    )


_POLLING: list[Application] = []  # what ``polling`` runs in this process now


@asynccontextmanager
async def polling(application: Application) -> AsyncIterator[Application]:
    """Run ``application`` with long polling for the duration of the block; at its end
    stop it as ``run_polling`` does (its ``post_stop`` included)."""
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(timeout=POLL_TIMEOUT)
        _POLLING.append(application)
        try:
            yield application
        finally:
            _POLLING.remove(application)
            await application.updater.stop()
            await application.stop()
            if application.post_stop is not None:
                await application.post_stop(application)


def polling_applications() -> list[Application]:
    """The applications that ``polling`` runs in this process now."""
    return list(_POLLING)


@dataclass(frozen=True)
class Burst:
    """How a burst of taps went; times are seconds on the emulator's monotonic clock."""

    latencies: list[float]  # the burst to each answerCallbackQuery, one per answered tap, sorted
    span: float  # the burst to the last answer (or to the timeout)
    unanswered: int

    def percentile(self, share: float) -> float:
        """The latency below which ``share`` (0..1) of the answered taps fall."""
        if not self.latencies:
            return float("nan")
        return self.latencies[min(len(self.latencies) - 1, int(len(self.latencies) * share))]


async def tap_burst(
    emulator: Emulator,
    users: Iterable[UserRef],
    message: Message | BotEvent,
    button: str | None = None,
    *,
    data: str | None = None,
    timeout: float = 60.0,  # noqa: ASYNC109
) -> Burst:
    """Every one of ``users`` taps ``button`` on ``message`` at once; wait for the answers.

    The taps are queued in one go, so the bot gets them all together as if they came within
    the same instant, and every latency runs from that instant (the last tap queued, so the
    emulator's own time to make the taps counts for no bot) to the bot's answerCallbackQuery
    for that tap as the emulator handled it.
    """
    # tap() never suspends, so no update leaves before the last tap is queued
    queries = [await emulator.tap(user, message, button, data=data) for user in users]
    queued = time.monotonic()
    pending = set(queries)
    seen = emulator.mark()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending and loop.time() < deadline:
        for event in emulator.events[seen:]:
            if event.kind == "callback_answer":
                pending.discard(event.data.get("callback_query_id"))
        seen = len(emulator.events)
        if pending:
            await emulator.event_pulse.wait(deadline - loop.time())
    answered = [emulator.callbacks[query].get("answered_at") for query in queries]
    latencies = sorted(at - queued for at in answered if at is not None)
    span = time.monotonic() - queued if pending else latencies[-1] if latencies else 0.0
    return Burst(latencies, span, len(pending))


async def message_burst(
    emulator: Emulator,
    users: Iterable[UserRef],
    text: str,
    *,
    timeout: float = 60.0,  # noqa: ASYNC109
) -> Burst:
    """Every one of ``users`` sends ``text`` to the bot in private at once; wait for the
    bot's first message back in each of those chats.

    As with ``tap_burst`` the messages are queued in one go and every latency runs from the
    last one queued to the moment this task saw the reply recorded (the same event loop as
    the emulator's server, so at most one turn of the loop late).
    """
    # send_text() never suspends, so no update leaves before the last message is queued
    pending = {(await emulator.send_text(user, text)).chat_id for user in users}
    queued = time.monotonic()
    seen = emulator.mark()
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending and loop.time() < deadline:
        now = time.monotonic()
        for event in emulator.events[seen:]:
            if event.by_bot and event.kind == "message" and event.chat_id in pending:
                pending.discard(event.chat_id)
                latencies.append(now - queued)
        seen = len(emulator.events)
        if pending:
            await emulator.event_pulse.wait(deadline - loop.time())
    latencies.sort()
    span = time.monotonic() - queued if pending else latencies[-1] if latencies else 0.0
    return Burst(latencies, span, len(pending))
