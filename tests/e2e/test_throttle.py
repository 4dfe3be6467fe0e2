"""Commands and taps faster than the limits are refused politely, and others go on."""

from __future__ import annotations

from bot.app import build_application
from bot.sandbox.testing import polling
from bot.security.ratelimit import BucketLimit, RateLimits

STRICT = RateLimits(
    command_user=BucketLimit(3, 0.01),
    callback_user=BucketLimit(2, 0.01),
)


async def test_a_flood_of_commands_gets_one_polite_warning(sandbox, settings, wallet):
    application = build_application(settings, wallet=wallet, rate_limits=STRICT)
    emulator = sandbox.emulator
    async with polling(application):
        mark = emulator.mark()
        for _ in range(6):
            await emulator.send_text("bob", "/balance")
        await emulator.wait_for(lambda e: "Slow down" in (e.text or ""), since=mark)
        await emulator.send_text("alice", "/balance")  # someone else is not affected
        await emulator.wait_for_message("alice", text="¥0.00")
    replies = [e.text for e in emulator.bot_events("message") if e.chat_id == 100_004]
    assert replies.count("余额 Balance: ¥0.00") == 3
    assert sum("Slow down" in t for t in replies) == 1


async def test_taps_past_the_limit_are_answered_but_do_nothing(sandbox, settings, wallet):
    application = build_application(settings, wallet=wallet, rate_limits=STRICT)
    emulator = sandbox.emulator
    async with polling(application):
        await emulator.send_text("bob", "/setpin")
        keypad = await emulator.wait_for_message("bob")
        ids = [await emulator.tap("bob", keypad, digit) for digit in "1234"]
        answers = [await emulator.wait_for_answer(i, since=0) for i in ids]
    assert [bool(a.text and "Slow down" in a.text) for a in answers] == [False, False, True, True]
    assert emulator.last_message("bob").text.endswith("●●○○○○")
