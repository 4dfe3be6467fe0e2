"""Keypad redraws that do not hold up the next tap.

A keypad's tap is answered at once, but its redraw (●●○○○○) is a message edit, which
waits its turn in the send queue (about 30 a second overall): in a crowd that is seconds.
Awaited by the handler, it would hold up that person's next tap too (their updates run
in order), so each digit would be answered seconds late. Instead the redraw is handed to
:class:`Redraws`: one task per message sends the newest text it was given, and a redraw
still waiting when a newer one comes is replaced by it (a PIN typed faster than the queue
moves shows its last dots, not every one).

Whatever ends the keypad (the outcome, ✖, ``/cancel``, a refusal) first calls
:meth:`Redraws.settle`, which drops the redraws still waiting and waits for the one
being sent, so the outcome is the message's last word.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from telegram import Bot, InlineKeyboardMarkup
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application

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

    async def settle(self, chat_id: int, message_id: int) -> None:
        """Drop the message's waiting redraws and wait for the one being sent: what is
        edited next is its last word."""
        where = (chat_id, message_id)
        self._waiting.pop(where, None)
        task = self._sending.get(where)
        if task is not None:
            await asyncio.wait({task})  # (a cancelled caller leaves the redraw its end)

    async def drain(self) -> None:
        """Wait until every redraw given has been sent (tests)."""
        while self._sending:
            await asyncio.wait(list(self._sending.values()))

    async def close(self, grace: float = CLOSE_TIMEOUT_S) -> None:
        """At a stop: drop the redraws still waiting (a PIN half typed is not kept over a
        restart, so its dots would only mislead) and give those being sent ``grace``
        seconds."""
        self._waiting.clear()
        if self._sending:
            await asyncio.wait(list(self._sending.values()), timeout=grace)

    async def _send(self, where: Where) -> None:
        while where in self._waiting:
            text, markup = self._waiting.pop(where)
            try:
                await self._bot.edit_message_text(
                    text, chat_id=where[0], message_id=where[1], reply_markup=markup
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
