"""Telegram's send limits, kept per chat; answers to taps and inline queries never wait.

Telegram refuses an excess with 429 and ``retry_after``: about 30 messages a second
overall and 20 a minute into one group. :class:`SendLimiter` keeps the bot within both
and retries a 429 after the wait, so a reply is late, never lost.

Why not PTB's ``AIORateLimiter``: it leaves ``answerCallbackQuery`` unthrottled (it has no
``chat_id``), but after any 429 it holds back *every* request, answers and private
messages included, for the whole ``retry_after`` — up to a minute when one group is over
its limit — and by default it does not retry at all (the 429 reaches the handler). Here:

- answers (callback and inline queries, pre-checkout, shipping) are never queued or held:
  Telegram does not count them against the send limits, and a tap is answerable for only
  15 s. A 429 on one is retried after its own wait.
- a 429 holds back only its own chat: one group's limit says nothing of other chats; for
  a while after it, that chat's requests go one at a time, each keeping its turn through
  its own retries, so the wait's end does not let a storm of refused retries loose.
- a server error (5xx) or a connection lost before any answer is tried again twice, after
  a short wait: the call did not go through, or (a connection lost after Telegram took
  it) a message shows twice, which is better than a payment's confirmation never shown.
  A timeout is not: the call may have been done, and the answer was only late.
- a group's limit is a sliding window (at most ``group_max_rate`` messages sent or edited
  in any ``group_time_period``, counted from when each request finished), not a leaky
  bucket: a bucket allows a burst of 20 and then one every 3 s, 40 in the first minute.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Callable, Coroutine
from datetime import timedelta
from functools import partial
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

__all__ = ["ANSWERS", "Admission", "SendLimiter", "Window"]

log = logging.getLogger(__name__)

ANSWERS = frozenset(
    {
        "answerCallbackQuery",
        "answerInlineQuery",
        "answerPreCheckoutQuery",
        "answerShippingQuery",
        "answerWebAppQuery",
    }
)
_POSTING = ("send", "edit", "copy", "forward", "stop")  # methods that post or change messages
_RETRY_SLACK_S = 0.1
_COOL_FACTOR = 5  # a chat goes one request at a time for this many of its waits
_AGAIN_AFTER_S = (0.5, 1.5)  # the waits before each new try after a 5xx or a lost connection


class Window:
    """At most ``limit`` requests in any ``period`` seconds, first come first served.

    A request counts from its admission until ``period`` seconds after it finished: when
    Telegram counted it lies somewhere in between.
    """

    def __init__(self, limit: int, period: float) -> None:
        self.limit, self.period = limit, period
        self._finished: list[float] = []  # monotonic times of the requests in the window
        self._in_flight = 0
        self._turn = asyncio.Lock()  # FIFO: only the first in line watches the window
        self._freed = asyncio.Event()

    async def admit(self) -> None:
        async with self._turn:
            while True:
                now = time.monotonic()
                self._finished = [t for t in self._finished if t > now - self.period]
                if len(self._finished) + self._in_flight < self.limit:
                    self._in_flight += 1
                    return
                self._freed.clear()
                timer = None
                if self._finished:  # else a request in flight frees a place when it ends
                    wait = min(self._finished) + self.period - now
                    timer = asyncio.get_running_loop().call_later(wait, self._freed.set)
                try:
                    await self._freed.wait()
                finally:
                    if timer is not None:
                        timer.cancel()

    def release(self) -> None:
        self._in_flight -= 1
        self._finished.append(time.monotonic())
        self._freed.set()

    def idle(self) -> bool:
        now = time.monotonic()
        return not (self._in_flight or self._turn.locked()) and all(
            t <= now - self.period for t in self._finished
        )


class Admission:
    """Given as a call's ``rate_limit_args``: ``admitted`` turns true once the call has
    its turn and goes to Telegram. Until then nothing was sent, so cancelling the caller
    costs nothing (a keypad's redraw that its outcome makes needless)."""

    __slots__ = ("admitted",)

    def __init__(self) -> None:
        self.admitted = False


class SendLimiter(BaseRateLimiter[int | Admission]):
    """Throttle sends overall and per group; retry a 429 after ``retry_after``.

    ``rate_limit_args`` of a call overrides ``max_retries`` for that call (an int), or is
    an :class:`Admission` the limiter marks when the call goes out.
    """

    def __init__(
        self,
        overall_max_rate: int = 30,
        overall_time_period: float = 1.0,
        group_max_rate: int = 20,
        group_time_period: float = 60.0,
        max_retries: int = 5,
    ) -> None:
        self.overall = Window(overall_max_rate, overall_time_period) if overall_max_rate else None
        self.group_max_rate, self.group_time_period = group_max_rate, group_time_period
        self.max_retries = max_retries
        self._groups: dict[int | str, Window] = {}
        self._held_until: dict[int | str | None, float] = {}  # after a 429, per chat
        # after a 429, per chat: until when its requests go one at a time, and their turn
        self._cooling: dict[int | str | None, tuple[float, asyncio.Lock]] = {}
        self.on_retry_after: Callable[[str], object] | None = None  # told of each 429

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | Admission | None,
    ) -> Any:
        admission = rate_limit_args if isinstance(rate_limit_args, Admission) else None
        retries = self.max_retries if not isinstance(rate_limit_args, int) else rate_limit_args
        call = partial(_again_if_not_through, endpoint, partial(callback, *args, **kwargs))
        if admission is not None:
            call = _marking(admission, call)
        call = self._told_of_429(endpoint, call)
        if endpoint in ANSWERS:
            return await self._answer(endpoint, call, retries)
        chat = _chat(data.get("chat_id"))
        if time.monotonic() >= self._cooling.get(chat, (0.0, None))[0]:
            self._cooling.pop(chat, None)
            try:
                return await self._send(endpoint, chat, call)
            except RetryAfter as refused:
                if retries < 1:
                    raise
                self._refused(endpoint, chat, refused)
                retries -= 1
        # After a 429 a chat's requests go one at a time, each keeping its turn through its
        # own retries: were they all let go when the wait ends, Telegram would refuse all
        # but one again, and a request could run out of retries and its message be lost.
        async with self._cooling[chat][1]:
            while True:
                try:
                    return await self._send(endpoint, chat, call)
                except RetryAfter as refused:
                    if retries < 1:
                        log.warning("%s to %s still refused: giving up", endpoint, chat)
                        raise
                    self._refused(endpoint, chat, refused)
                    retries -= 1

    def _told_of_429(self, endpoint: str, call: Callable) -> Callable:
        """``call``, telling ``on_retry_after`` of each 429 Telegram answers it with."""
        if self.on_retry_after is None:
            return call

        async def told() -> Any:
            try:
                return await call()
            except RetryAfter:
                self.on_retry_after(endpoint)
                raise

        return told

    async def _answer(self, endpoint: str, call: Callable, retries: int) -> Any:
        """An answer goes at once; a 429 on it waits its own time, holding nothing back."""
        while True:
            try:
                return await call()
            except RetryAfter as refused:
                if retries < 1:
                    raise
                retries -= 1
                log.info("%s: 429, retrying", endpoint)
                await asyncio.sleep(_seconds(refused) + _RETRY_SLACK_S)

    def _refused(self, endpoint: str, chat, refused: RetryAfter) -> None:
        """Hold ``chat`` back for the wait Telegram asked, and cool it down for a while."""
        wait = _seconds(refused) + _RETRY_SLACK_S
        log.info("%s to %s: 429, retrying in %.1f s", endpoint, chat, wait)
        now = time.monotonic()
        if len(self._cooling) > 1_000:  # forget chats that cooled down and wait for nobody
            for key in [
                k for k, (t, turn) in self._cooling.items() if t < now and not turn.locked()
            ]:
                del self._cooling[key]
        self._held_until[chat] = max(now + wait, self._held_until.get(chat, 0.0))
        until, turn = self._cooling.get(chat, (0.0, None))
        self._cooling[chat] = (max(until, now + _COOL_FACTOR * wait), turn or asyncio.Lock())

    async def _send(self, endpoint: str, chat, call: Callable) -> Any:
        while True:  # a 429 came for this chat: nothing goes there until the wait is over
            held = self._held_until.get(chat, 0.0) - time.monotonic()
            if held <= 0:
                break
            await asyncio.sleep(held)
        self._held_until.pop(chat, None)
        windows = []
        if _is_group(chat) and endpoint.startswith(_POSTING) and self.group_max_rate:
            windows.append(self._group(chat))
        if self.overall is not None and (chat is not None or endpoint.startswith(_POSTING)):
            windows.append(self.overall)  # inline messages' edits name no chat, yet count
        admitted = []
        try:
            for window in windows:  # the group's turn first: waiting there holds no slot
                await window.admit()
                admitted.append(window)
            return await call()
        finally:
            for window in admitted:
                window.release()

    def _group(self, chat: int | str) -> Window:
        if len(self._groups) > 512:
            for key in [k for k, w in self._groups.items() if k != chat and w.idle()]:
                del self._groups[key]
        window = self._groups.get(chat)
        if window is None:
            window = self._groups[chat] = Window(self.group_max_rate, self.group_time_period)
        return window


def _marking(admission: Admission, call: Callable) -> Callable:
    """``call``, marking ``admission`` as it starts (it has its turn then)."""

    async def marked() -> Any:
        admission.admitted = True
        return await call()

    return marked


async def _again_if_not_through(endpoint: str, call: Callable) -> Any:
    """``call()``, tried again after a 5xx or a connection lost before any answer."""
    tries = 0
    while True:
        try:
            return await call()
        except NetworkError as exc:
            if type(exc) is not NetworkError:  # a timeout, or Telegram's refusal (400)
                if tries and isinstance(exc, BadRequest) and "not modified" in exc.message:
                    return True  # the edit went through before its answer was lost
                raise
            if tries == len(_AGAIN_AFTER_S):
                raise
            wait = _AGAIN_AFTER_S[tries]
            log.warning("%s failed (%s); trying again in %.1f s", endpoint, exc.message, wait)
        tries += 1
        await asyncio.sleep(wait)


def _chat(chat_id: object) -> int | str | None:
    if chat_id is None:
        return None
    try:
        return int(chat_id)
    except (TypeError, ValueError):
        return str(chat_id)  # @channelusername


def _is_group(chat: int | str | None) -> bool:
    return isinstance(chat, str) or (isinstance(chat, int) and chat < 0)


def _seconds(refused: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = refused.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
