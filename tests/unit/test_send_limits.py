"""Sends keep Telegram's limits per group and overall; answers never wait; a 429 is retried.

Also why the bot does not use PTB's AIORateLimiter: after a group's 429 it holds back the
answer to a tap as well.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter

from bot.handlers.send_limits import Admission, SendLimiter

GROUP, OTHER_GROUP, ALICE = -100_1, -100_2, 42

# RetryAfter warns about its own int/timedelta attribute whenever one is made
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


class Calls:
    """A fake Bot API: records when each request started and finished."""

    def __init__(self, refusals: int = 0, retry_after: float = 0.2) -> None:
        self.started: list[float] = []
        self.finished: list[float] = []
        self.refusals = refusals
        self.retry_after = retry_after

    async def __call__(self) -> bool:
        self.started.append(time.monotonic())
        await asyncio.sleep(0.001)
        self.finished.append(time.monotonic())
        if self.refusals:
            self.refusals -= 1
            raise RetryAfter(timedelta(seconds=self.retry_after))
        return True


def request(limiter, calls, endpoint: str, chat_id: int | None = None, retries=None):
    data = {} if chat_id is None else {"chat_id": chat_id}
    return limiter.process_request(calls, (), {}, endpoint, data, retries)


async def timed(awaitable) -> float:
    start = time.monotonic()
    await awaitable
    return time.monotonic() - start


async def test_a_group_gets_at_most_its_limit_in_any_window():
    limiter = SendLimiter(group_max_rate=3, group_time_period=0.3)
    calls = Calls()
    await asyncio.gather(*(request(limiter, calls, "sendMessage", GROUP) for _ in range(8)))
    assert len(calls.started) == 8
    for i in range(len(calls.started) - 3):  # the 4th after any 3 waits out their window
        assert calls.started[i + 3] >= calls.finished[i] + 0.3 - 0.01


async def test_answers_private_messages_and_other_groups_do_not_wait_for_a_full_group():
    limiter = SendLimiter(group_max_rate=2, group_time_period=30)
    calls = Calls()
    await asyncio.gather(*(request(limiter, calls, "sendMessage", GROUP) for _ in range(2)))
    waiting = asyncio.create_task(request(limiter, calls, "sendMessage", GROUP))
    await asyncio.sleep(0.01)
    assert await timed(request(limiter, calls, "answerCallbackQuery")) < 0.05
    assert await timed(request(limiter, calls, "sendMessage", ALICE)) < 0.05
    assert await timed(request(limiter, calls, "sendMessage", OTHER_GROUP)) < 0.05
    assert await timed(request(limiter, calls, "deleteMessage", GROUP)) < 0.05  # posts nothing
    assert not waiting.done()
    waiting.cancel()


async def test_a_429_is_retried_after_its_wait_and_holds_back_only_its_chat():
    limiter = SendLimiter()
    refused_once = Calls(refusals=1, retry_after=0.3)
    retried = asyncio.create_task(request(limiter, refused_once, "sendMessage", GROUP))
    await asyncio.sleep(0.05)  # the group is held now
    calls = Calls()
    assert await timed(request(limiter, calls, "answerCallbackQuery")) < 0.05
    assert await timed(request(limiter, calls, "sendMessage", ALICE)) < 0.05
    assert await timed(request(limiter, calls, "sendMessage", OTHER_GROUP)) < 0.05
    next_in_group = await timed(request(limiter, calls, "sendMessage", GROUP))
    assert await retried is True  # late, not lost
    assert len(refused_once.started) == 2
    assert refused_once.started[1] - refused_once.finished[0] >= 0.3
    assert next_in_group >= 0.2


async def test_an_answer_refused_with_429_is_retried_on_its_own():
    limiter = SendLimiter()
    calls = Calls(refusals=1, retry_after=0.1)
    assert await request(limiter, calls, "answerCallbackQuery") is True
    assert len(calls.started) == 2


async def test_retries_stop_after_max_retries():
    limiter = SendLimiter(max_retries=2)
    calls = Calls(refusals=10, retry_after=0.01)
    with pytest.raises(RetryAfter):
        await request(limiter, calls, "sendMessage", GROUP)
    assert len(calls.started) == 3
    calls = Calls(refusals=10, retry_after=0.01)
    with pytest.raises(RetryAfter):
        await request(limiter, calls, "sendMessage", GROUP, retries=0)  # rate_limit_args
    assert len(calls.started) == 1


async def test_the_overall_limit_spreads_a_burst_of_chat_messages_but_not_answers():
    limiter = SendLimiter(overall_max_rate=5, overall_time_period=0.2)
    calls = Calls()
    burst = await timed(
        asyncio.gather(*(request(limiter, calls, "sendMessage", 1000 + n) for n in range(12)))
    )
    assert burst >= 0.4  # 5, then 5 more a window later, then 2
    answers = await timed(
        asyncio.gather(*(request(limiter, calls, "answerCallbackQuery") for _ in range(100)))
    )
    assert answers < 0.1


@pytest.mark.parametrize(
    ("make", "tap_waits"),
    [
        (lambda: AIORateLimiter(max_retries=1), True),
        (SendLimiter, False),
    ],
    ids=["AIORateLimiter", "SendLimiter"],
)
async def test_a_groups_429_holds_back_tap_answers_only_with_ptbs_limiter(make, tap_waits):
    limiter = make()
    group = asyncio.create_task(
        request(limiter, Calls(refusals=1, retry_after=0.5), "sendMessage", GROUP)
    )
    await asyncio.sleep(0.05)
    answered_in = await timed(request(limiter, Calls(), "answerCallbackQuery"))
    await group
    assert (answered_in >= 0.3) is tap_waits


async def test_after_a_429_a_chats_messages_go_one_at_a_time_and_none_is_lost():
    """Telegram takes one message every 0.2 s in this chat and refuses the rest: 12 sent at
    once all arrive, each asking at most twice, instead of a storm of retries at once."""
    limiter = SendLimiter()
    calls, last = [], {"at": -9.0}

    async def telegram():
        now = time.monotonic()
        calls.append(now)
        if now - last["at"] < 0.2:
            raise RetryAfter(0.1)
        last["at"] = now
        return "sent"

    results = await asyncio.wait_for(
        asyncio.gather(
            *(
                limiter.process_request(telegram, (), {}, "sendMessage", {"chat_id": 4242}, None)
                for _ in range(12)
            ),
            return_exceptions=True,
        ),
        30,
    )
    assert results == ["sent"] * 12
    assert len(calls) <= 12 * 2 + 12  # the first burst, then at most a retry or two each


async def test_edits_of_inline_messages_keep_the_overall_limit_too():
    """An inline red packet's edits name no chat, but Telegram counts them all the same."""
    limiter = SendLimiter(overall_max_rate=5, overall_time_period=0.2)
    calls = Calls()
    burst = await timed(
        asyncio.gather(*(request(limiter, calls, "editMessageText") for _ in range(12)))
    )
    assert burst >= 0.4


async def test_an_admission_is_marked_as_its_call_goes_out_and_one_cancelled_before_is_not_made():
    limiter = SendLimiter(overall_max_rate=1, overall_time_period=0.3)
    calls = Calls()
    await request(limiter, calls, "editMessageText", ALICE)  # the window is full for 0.3 s
    waiting, going = Admission(), Admission()
    queued = asyncio.ensure_future(request(limiter, calls, "editMessageText", ALICE, waiting))
    await asyncio.sleep(0.05)
    assert not waiting.admitted and len(calls.started) == 1
    queued.cancel()  # (a keypad's outcome makes this redraw needless)
    await asyncio.wait({queued})
    assert await request(limiter, calls, "editMessageText", ALICE, going) is True
    assert going.admitted and not waiting.admitted and len(calls.started) == 2
