"""Notices survive a restart: an admin issues vouchers to many residents, the bot is
stopped after a few were told, and the next start tells the rest; every holder is told
exactly once, in their language, and nobody who blocked the bot is an error."""

from __future__ import annotations

import asyncio
import logging

from bot.app import build_application
from bot.domain.users import Profile
from bot.handlers import notices
from bot.handlers.outbox import outbox
from bot.sandbox.testing import polling
from bot.security.ratelimit import BucketLimit, RateLimits
from tests.e2e.test_send import tap_and_wait

HOLDERS = 60
FAST = BucketLimit(1_000, 1_000)
LIMITS = RateLimits(command_user=FAST, command_chat=FAST, callback_user=FAST)
TOLD = {"en": "You received a consumption voucher", "zh": "你获得一张 ¥5.00 的消费券"}


async def residents(emulator, wallet, count: int) -> list:
    """``count`` people who opened the bot, every third of them reading Chinese."""
    people = []
    for n in range(count):
        language = "zh" if n % 3 == 0 else "en"
        user = emulator.add_user(f"Resident {n}", f"resident{n}", language, started=True)
        await wallet.users.seen(
            Profile(user.id, user.username, user.first_name, language), private_chat=True
        )
        people.append((user, language))
    return people


def told(emulator, chat_id: int | None = None) -> list:
    return [
        e
        for e in emulator.bot_events("message")
        if (chat_id is None or e.chat_id == chat_id)
        and any(text in (e.text or "") for text in TOLD.values())
    ]


def errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_restart_half_way_tells_every_holder_exactly_once(
    sandbox, settings, wallet, caplog
):
    emulator = sandbox.emulator
    people = await residents(emulator, wallet, HOLDERS)
    blocked, _ = people[-1]
    blocked.blocked = True  # a 403: closed without an error
    names = ",".join(f"@{user.username}" for user, _ in people)
    first = build_application(settings, wallet=wallet, rate_limits=LIMITS)
    async with polling(first):
        await emulator.send_text("alice", f"/voucher_issue 5 30 food {names}")
        card = await emulator.wait_for_message("alice", text="consumption voucher")
        done = await tap_and_wait(emulator, "alice", card, "Confirm")
        assert f"Issued {HOLDERS} vouchers of ¥5.00" in done.text
        await emulator.wait_for(lambda e: len(told(emulator)) >= 5, 30)
        await notices.stop(first)  # what the application does when it stops (post_stop)
        await outbox(first).close(grace=5)
    before = len(told(emulator))
    assert 5 <= before < HOLDERS - 1, before
    await asyncio.sleep(1)
    assert len(told(emulator)) == before  # the stopped process sends nothing more

    second = build_application(settings, wallet=wallet, rate_limits=LIMITS)
    async with polling(second):  # sends what is left at start-up
        await emulator.wait_for(lambda e: len(told(emulator)) >= HOLDERS - 1, 30)
        await asyncio.sleep(1)  # and nothing more
        await outbox(second).close(grace=5)
    for user, language in people[:-1]:
        [message] = told(emulator, user.id)
        assert TOLD[language] in message.text, (user.id, message.text)
    assert told(emulator, blocked.id) == []
    states = [
        (await wallet.notices.get(f"voucher:1:{user.id}")).state.value for user, _ in people
    ]
    assert states == ["sent"] * (HOLDERS - 1) + ["blocked"]
    assert errors(caplog) == []
