"""Messages into groups leave through a queue per chat, never awaited by a handler.

Telegram lets a bot post about 20 messages a minute into one group, so in a busy group a
reply may wait a minute for its turn (:mod:`bot.handlers.send_limits`). A handler that
awaited it would hold up everything else its person does in that chat. Instead it puts
the reply in the group's outbox and returns: one task per chat sends its queue in order
through the bot (and so through the rate limiter), logs what fails, and hands the sent
message — or the error — to the continuation given with it (a red packet's post attaches
its message id that way, or refunds the packet). ``droppable`` messages (courtesy notes
whose content the person also gets privately) are left out while the chat is busy.
Chatter (droppable messages, and answers such as how to write a command: see
:func:`reply_chatter`) never holds up what matters: any other message is queued ahead
of the chatter still waiting, and droppable messages are left out once a chat had
``CHATTER_PER_MINUTE`` of chatter, so a paid red packet is not posted a minute late
behind two dozen usage notes that used up the group's 20 messages a minute.

The queues are drained when the application stops (``post_stop``), for a bounded time;
what is still unsent then is dropped, and its continuations get :class:`OutboxClosed`.

A notice to one person's private chat goes at once instead, through :func:`tell`: they
may never have opened that chat, or have blocked the bot, and what they are told about
stands all the same. A plain text Telegram refused that way is kept by the bot
(``WalletBot.keep_unreached``), to be sent when they open the chat.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from enum import Enum
from functools import partial
from typing import Any

from telegram import Bot, Message, Update
from telegram.constants import ChatType
from telegram.error import Forbidden, TelegramError
from telegram.ext import Application, CallbackContext

from bot.domain.users import User
from bot.i18n import translate

__all__ = [
    "Outbox",
    "OutboxClosed",
    "Told",
    "keep_unreached",
    "outbox",
    "reply",
    "reply_chatter",
    "tell",
    "tell_message",
]

log = logging.getLogger(__name__)

BUSY_AT = 3  # queued messages from which a chat counts as busy
# chatter queued in a chat's last minute from which it counts as busy too: the rest of
# Telegram's 20 a minute is kept for what matters
CHATTER_PER_MINUTE = 6
MINUTE_S = 60.0
ONCE_WITHIN_S = MINUTE_S  # chatter said once (``once``) is not queued again in this time
QUOTED_MAX = 40  # characters of a command quoted back in a private aside
DRAIN_TIMEOUT_S = 10.0
CONTINUE_TIMEOUT_S = 10.0  # at close: for continuations already running to finish
_KEY = "outbox"

Send = Callable[[], Awaitable[Any]]
Then = Callable[[Any], Awaitable[None]]  # called with the sent Message, or the error
Item = tuple[Send, Then | None, bool]  # the send, its continuation, whether it is chatter


class OutboxClosed(Exception):
    """The application stopped before this message was sent."""


class Outbox:
    """A send queue and a task per chat; chats are independent of each other."""

    def __init__(self) -> None:
        self._queues: dict[int, deque[Item]] = {}
        self._workers: dict[int, asyncio.Task] = {}
        self._sending: dict[int, Item] = {}  # sending, not yet sent
        self._delivering: dict[int, asyncio.Task] = {}  # a chat's send and continuation
        self._said: dict[tuple[int, Hashable], float] = {}  # ``once`` keys: when queued
        self._chatter: dict[int, deque[float]] = {}  # when each chat's chatter was queued

    def put(
        self,
        chat_id: int,
        send: Send,
        *,
        then: Then | None = None,
        droppable=False,
        chatter=False,
        once: Hashable | None = None,
    ) -> bool:
        """Queue ``send`` (a coroutine function) for ``chat_id``; False if it was dropped.

        ``droppable``: left out while the chat is busy (and chatter). ``chatter``: sent
        after every other message queued, even a later one. ``once``: chatter that is
        left out when chatter with the same key was queued in this chat within
        ``ONCE_WITHIN_S`` (the same answer to many people, given once).
        """
        chatter = chatter or droppable
        if droppable and self.busy(chat_id):
            log.debug("chat %s is busy: a droppable message is left out", chat_id)
            return False
        if once is not None and not self._first_time(chat_id, once):
            log.debug("chat %s was given this answer just now: not again", chat_id)
            return False
        if chatter:
            self._chatter.setdefault(chat_id, deque()).append(time.monotonic())
        queue = self._queues.setdefault(chat_id, deque())
        ahead_of = len(queue)
        if not chatter:  # ahead of the chatter still waiting, behind what matters
            ahead_of = next((i for i, item in enumerate(queue) if item[2]), len(queue))
        queue.insert(ahead_of, (send, then, chatter))
        if chat_id not in self._workers:
            self._workers[chat_id] = asyncio.get_running_loop().create_task(self._work(chat_id))
        return True

    def busy(self, chat_id: int) -> bool:
        """Whether ``chat_id`` has ``BUSY_AT`` messages waiting, or has had its minute's
        share of chatter."""
        if self.pending(chat_id) >= BUSY_AT:
            return True
        recent = self._chatter.get(chat_id)
        if recent is None:
            return False
        while recent and recent[0] <= time.monotonic() - MINUTE_S:
            recent.popleft()
        if not recent:
            del self._chatter[chat_id]
        return len(recent) >= CHATTER_PER_MINUTE

    def _first_time(self, chat_id: int, key: Hashable) -> bool:
        """Whether ``key`` was not queued in ``chat_id`` recently (and note it now)."""
        now = time.monotonic()
        self._said = {k: t for k, t in self._said.items() if t > now - ONCE_WITHIN_S}
        if (chat_id, key) in self._said:
            return False
        self._said[(chat_id, key)] = now
        return True

    def pending(self, chat_id: int | None = None) -> int:
        """Messages not yet sent (in ``chat_id``, or in all chats), the one sending included."""
        chats = self._queues if chat_id is None else [chat_id]
        return sum(len(self._queues.get(c, ())) + (c in self._sending) for c in chats)

    async def drain(self, within: float | None = None) -> bool:
        """Wait until every queue is sent (True), or ``within`` seconds pass (False)."""
        loop = asyncio.get_running_loop()
        deadline = None if within is None else loop.time() + within
        while self._workers:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                return False
            await asyncio.wait(list(self._workers.values()), timeout=left)
        return True

    async def close(self, grace: float = DRAIN_TIMEOUT_S) -> None:
        """Drain for up to ``grace`` seconds, then drop what is left (continuations told)."""
        if await self.drain(grace):
            return
        workers = list(self._workers.values())
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        # a send still under way is given up (its continuation is told below); one whose
        # continuation runs is let finish, within bounds
        for chat_id, delivery in list(self._delivering.items()):
            if chat_id in self._sending:
                delivery.cancel()
        if self._delivering:
            await asyncio.wait(list(self._delivering.values()), timeout=CONTINUE_TIMEOUT_S)
        self._delivering.clear()
        left = list(self._sending.values())
        for queue in self._queues.values():
            left.extend(queue)
        self._queues.clear()
        self._sending.clear()
        log.warning("stopping with %d messages to groups unsent", len(left))
        for _, then, _ in left:
            await _continue(then, OutboxClosed())

    async def _work(self, chat_id: int) -> None:
        queue = self._queues[chat_id]
        try:
            while queue:
                item = self._sending[chat_id] = queue.popleft()
                delivery = asyncio.get_running_loop().create_task(self._deliver(chat_id, *item))
                self._delivering[chat_id] = delivery
                try:
                    # its own task: stopping the worker neither cuts a continuation short
                    # (a red packet's message id half attached) nor loses its answer
                    await asyncio.shield(delivery)
                finally:
                    if delivery.done():
                        del self._delivering[chat_id]
        finally:
            self._workers.pop(chat_id, None)
            if not queue and chat_id not in self._sending:
                self._queues.pop(chat_id, None)

    async def _deliver(self, chat_id: int, send: Send, then: Then | None, _chatter) -> None:
        """Send one message, then hand the result to its continuation."""
        try:
            result = await send()
        except TelegramError as error:
            log.warning("could not send to chat %s: %s", chat_id, error)
            result = error
        except Exception as error:
            log.error("sending to chat %s failed", chat_id, exc_info=error)
            result = error
        del self._sending[chat_id]  # sent (or refused): from here on it is not "unsent"
        await _continue(then, result)

    def send_message(
        self,
        bot,
        chat_id: int,
        text: str,
        *,
        then: Then | None = None,
        droppable=False,
        chatter=False,
        once: Hashable | None = None,
        **options,
    ) -> bool:
        """Queue ``bot.send_message(chat_id, text, **options)``."""
        send = partial(bot.send_message, chat_id, text, **options)
        return self.put(chat_id, send, then=then, droppable=droppable, chatter=chatter, once=once)


async def _continue(then: Then | None, result: Any) -> None:
    if then is None:
        return
    try:
        await then(result)
    except Exception:
        log.error("a continuation of a group message failed", exc_info=True)


def outbox(application: Application) -> Outbox:
    """The application's outbox (made on first use)."""
    found = application.bot_data.get(_KEY)
    if found is None:
        found = application.bot_data[_KEY] = Outbox()
    return found


async def reply(
    update: Update, context: CallbackContext, text: str, *, droppable=False, **options
) -> None:
    """Reply to the update's message: at once in a private chat, through the outbox in a group."""
    message = update.effective_message
    if message.chat.type == ChatType.PRIVATE:
        await message.reply_text(text, **options)
        return
    # its turn may come after the message it answers was deleted: then it goes unquoted
    options.setdefault("allow_sending_without_reply", True)
    send = partial(message.reply_text, text, **options)
    outbox(context.application).put(message.chat_id, send, droppable=droppable)


async def reply_chatter(
    update: Update, context: CallbackContext, person: User, text: str, **options
) -> None:
    """Reply to ``person`` with an answer the group can do without (how to write a
    command, why it was refused): a reply in the group while it is quiet; while it is
    busy, their private chat if they opened it (saying which command it answers), else
    the group after all, as chatter, and once for everyone given the same answer within a
    minute (they read it above)."""
    message = update.effective_message
    if message.chat.type == ChatType.PRIVATE:
        await message.reply_text(text, **options)
        return
    box = outbox(context.application)
    send = partial(message.reply_text, text, allow_sending_without_reply=True, **options)
    if box.put(message.chat_id, send, droppable=True):
        return
    if person.private_chat:
        typed = message.text or ""
        typed = typed if len(typed) <= QUOTED_MAX else typed[: QUOTED_MAX - 1] + "…"
        aside = translate(
            person.effective_language,
            "group.answer_in_private",
            text=typed,
            chat=message.chat.title,
        )
        told = await tell(
            context.bot,
            person.telegram_id,
            f"{aside}\n{text}",
            about="an answer",
            keep=False,
            **options,
        )
        if told is Told.SENT:
            return
    box.put(message.chat_id, send, chatter=True, once=text)


class Told(Enum):
    """What became of a notice to a person's private chat."""

    SENT = "sent"
    BLOCKED = "blocked"  # 403: they never opened the chat with the bot, or blocked it
    FAILED = "failed"  # any other refusal of Telegram's; logged


async def tell(
    bot: Bot, chat_id: int, text: str, *, about: str, keep: bool = True, **options
) -> Told:
    """Send ``text`` to a person's (or an admin's) private chat; never raises for it.

    What they are told about stands whether or not the message arrives (the money waits
    in the wallet, a hold in the review queue), so a person the bot may not write to is
    no error and is not logged; any other failure is logged as a warning naming
    ``about``. The answer lets a caller do more: tell a person it cannot reach another
    way, or try again later. A plain text (no ``options``: no buttons of the moment)
    refused with a 403 is kept, unless ``keep`` is false, to be sent when the person
    opens the chat (``bot.wallet.notices``).
    """
    told, _ = await tell_message(bot, chat_id, text, about=about, keep=keep, **options)
    return told


async def tell_message(
    bot: Bot, chat_id: int, text: str, *, about: str, keep: bool = True, **options
) -> tuple[Told, Message | None]:
    """:func:`tell`, with the message sent (None when it was not), for a caller that
    edits it later."""
    try:
        sent = await bot.send_message(chat_id, text, **options)
    except Forbidden:
        if keep and not options:
            await keep_unreached(bot, chat_id, text, about)
        return Told.BLOCKED, None
    except TelegramError:
        log.warning("could not tell %s about %s", chat_id, about, exc_info=True)
        return Told.FAILED, None
    return Told.SENT, sent


async def keep_unreached(bot: Bot, chat_id: int, text: str, about: str) -> None:
    """Keep ``text`` for the person to read when they next open the chat (a WalletBot's
    notices; nothing with another bot)."""
    keep = getattr(bot, "keep_unreached", None)  # a WalletBot's (bot.botclient)
    if keep is None:
        return
    try:
        await keep(chat_id, text)
    except Exception:
        log.warning("could not keep %s for %s to read later", about, chat_id, exc_info=True)
