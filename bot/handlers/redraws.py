"""Keypad redraws that do not hold up the next tap.

A keypad's tap is answered at once, but its redraw (●●○○○○) is a message edit, which
waits its turn in the send queue (about 30 a second overall): in a crowd that is seconds.
Awaited by the handler, it would hold up that person's next tap too (their updates run
in order), so each digit would be answered seconds late. Instead the redraw is handed to
:class:`Redraws`: one task per message sends the newest text it was given, and a redraw
still waiting when a newer one comes is replaced by it (a PIN typed faster than the queue
moves shows its last dots, not every one).

Whatever ends the keypad (the outcome, ✖, ``/cancel``, a refusal) first calls
:meth:`Redraws.settle`, which drops the redraws still waiting, and the one being sent
while the send queue has not let it out yet (the send limiter's ``Admission`` says),
or else waits for it, so the outcome is the message's last word and
does not wait a turn in the queue behind needless dots.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from telegram import Bot, InlineKeyboardMarkup
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application

from bot.handlers.send_limits import Admission, SendLimiter

__all__ = ["Redraws", "redraws"]

log = logging.getLogger(__name__)

_KEY = "keypad.redraws"  # bot_data
Where = tuple[int, int]  # (chat id, message id)
CLOSE_TIMEOUT_S = 5.0


class Redraws:
    """The newest redraw of each keypad message, sent by one task per message."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot
        self._waiting: dict[Where, tuple[str, InlineKeyboardMarkup | None]] = {}
        self._sending: dict[Where, asyncio.Task] = {}
        # the redraw each task is sending, when the send limiter says when it goes out
        self._admissions: dict[Where, Admission] = {}
        self._marked = isinstance(getattr(bot, "rate_limiter", None), SendLimiter)

    def put(
        self, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None
    ) -> None:
        """Show ``text`` with ``markup`` on the message, in place of any redraw of it that
        is still waiting; returns at once."""
        where = (chat_id, message_id)
        self._waiting[where] = (text, markup)
        sending = self._sending.get(where)
        if sending is None or sending.done():  # (done: its last loop was before this put)
            task = asyncio.get_running_loop().create_task(self._send(where))
            self._sending[where] = task
            task.add_done_callback(partial(self._forget, where))

    def _forget(self, where: Where, task: asyncio.Task) -> None:
        if self._sending.get(where) is task:  # not a newer one that took its place
            del self._sending[where]
            self._admissions.pop(where, None)

    async def settle(self, chat_id: int, message_id: int) -> None:
        """Drop the message's waiting redraws, and the one being sent while it still
        waits its turn in the send queue (nothing of it went out), or else wait for it:
        what is edited next is its last word."""
        where = (chat_id, message_id)
        self._waiting.pop(where, None)
        task = self._sending.get(where)
        if task is None:
            return
        self._cancel_unsent(where, task)
        await asyncio.wait({task})  # (a cancelled caller leaves the redraw its end)

    def _cancel_unsent(self, where: Where, task: asyncio.Task) -> None:
        admission = self._admissions.get(where)
        if admission is not None and not admission.admitted:
            task.cancel()

    async def drain(self) -> None:
        """Wait until every redraw given has been sent (tests)."""
        while self._sending:
            await asyncio.wait(list(self._sending.values()))

    async def close(self, grace: float = CLOSE_TIMEOUT_S) -> None:
        """At a stop: drop the redraws still waiting (a PIN half typed is not kept over a
        restart, so its dots would only mislead) and give those being sent ``grace``
        seconds."""
        self._waiting.clear()
        for where, task in list(self._sending.items()):
            self._cancel_unsent(where, task)
        if self._sending:
            await asyncio.wait(list(self._sending.values()), timeout=grace)

    async def _send(self, where: Where) -> None:
        while where in self._waiting:
            text, markup = self._waiting.pop(where)
            marked = {}
            if self._marked:
                marked["rate_limit_args"] = self._admissions[where] = Admission()
            try:
                await self._bot.edit_message_text(
                    text, chat_id=where[0], message_id=where[1], reply_markup=markup, **marked
                )
            except BadRequest as exc:  # the same text twice (⌫ on an empty entry)
                if "not modified" not in str(exc).lower():
                    log.warning("could not redraw the keypad %s: %s", where, exc)
            except TelegramError:
                log.warning("could not redraw the keypad %s", where, exc_info=True)
            except Exception:  # a defect: logged, and the keypad's outcome still shown
                log.exception("redrawing the keypad %s failed", where)


def redraws(application: Application) -> Redraws:
    """The application's :class:`Redraws`."""
    found = application.bot_data.get(_KEY)
    if found is None:
        found = application.bot_data[_KEY] = Redraws(application.bot)
    return found
