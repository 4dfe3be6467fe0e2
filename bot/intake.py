"""Updates that bring money in are stored before Telegram is told the bot has them.

Telegram forgets an update once the bot confirms it: in polling, by asking for the next
ones (``getUpdates`` with a higher offset), which python-telegram-bot does as soon as it
has queued the last batch, before any handler ran; in webhook mode, by the HTTP 200. A
bot killed in between would lose the update, and a ``successful_payment`` lost is money
Telegram took and nobody credited. So the bot keeps each successful payment it receives
in the database first (``TopUps.keep``); the top-up handler marks it handled once the
credit is stored, and at start-up the ones still kept are handled again. The credit is
idempotent on the charge id, so a payment handled twice is credited once.

Other updates are not kept: a tap or a command lost in a crash is the person's to repeat,
and nothing of theirs moved.

Reading an update is also done here, faster than python-telegram-bot alone does it for a
busy group (:class:`UpdateReader`): every tap on a red packet carries the whole packet
message (its text, its buttons, the chat, the bot), and building that ``Message`` was
most of the CPU a tap cost. Taps on the same message, unchanged since, share one
``Message`` (PTB's objects are frozen, so sharing one is safe); a message that changed
(an edit) is read anew.
"""

from __future__ import annotations

import copy
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import Any

from telegram import Bot, Update
from telegram.error import NetworkError
from telegram.ext import Application, ExtBot

__all__ = ["KeepingBot", "UpdateReader", "brings_money", "handle_kept", "kept_of"]

log = logging.getLogger(__name__)

Keep = Callable[[Sequence[tuple[int, str]]], Awaitable[None]]

MESSAGES_KEPT = 256  # the tapped messages whose reading is kept (the latest used)


class UpdateReader:
    """``Update.de_json``, with the message a callback query carries read once for as long
    as it stays the same: the taps of a busy group on one packet share its ``Message``."""

    def __init__(self, kept: int = MESSAGES_KEPT) -> None:
        self._kept = kept
        # (chat id, message id) -> (the message's JSON as last read, its Message)
        self._messages: OrderedDict[tuple[Any, Any], tuple[dict, Any]] = OrderedDict()

    def read(self, data: dict, bot: Bot | None) -> Update:
        query = data.get("callback_query")
        message = query.get("message") if isinstance(query, dict) else None
        if not isinstance(message, dict):
            return Update.de_json(data, bot)
        chat = message.get("chat")
        key = (chat.get("id") if isinstance(chat, dict) else None, message.get("message_id"))
        known = self._messages.get(key)
        if known is None or known[0] != message:  # new, or edited since: read it
            update = Update.de_json(data, bot)
            read = update.callback_query.message
            self._messages[key] = (copy.deepcopy(message), read)
            if len(self._messages) > self._kept:
                self._messages.popitem(last=False)
            return update
        self._messages.move_to_end(key)
        without = {name: value for name, value in query.items() if name != "message"}
        update = Update.de_json({**data, "callback_query": without}, bot)
        with update.callback_query._unfrozen():  # set as PTB's own de_json would have
            update.callback_query.message = known[1]
        return update


_RAW: ContextVar[list | None] = ContextVar("raw_updates", default=None)


def brings_money(update: Update) -> bool:
    return update.message is not None and update.message.successful_payment is not None


def kept_of(updates: Sequence[Update]) -> list[tuple[int, str]]:
    """(update id, JSON) of the updates to keep."""
    return [(u.update_id, json.dumps(u.to_dict())) for u in updates if brings_money(u)]


class KeepingBot(ExtBot):
    """An ``ExtBot`` whose ``getUpdates`` keeps the payments it returns before returning
    them (so before the updater confirms them to Telegram)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._keep: Keep | None = None
        self._reader = UpdateReader()

    def keep_with(self, keep: Keep | None) -> None:
        self._keep = keep

    async def keep(self, updates: Sequence[Update]) -> None:
        """Keep what must survive a crash; raises if it cannot (the updates must then not
        be confirmed: Telegram sends them again)."""
        kept = kept_of(updates)
        if kept and self._keep is not None:
            await self._keep(kept)

    def read_update(self, data: dict) -> Update:
        """One update's JSON as an ``Update`` (see :class:`UpdateReader`)."""
        return self._reader.read(data, self)

    async def _post(self, endpoint: str, *args, **kwargs) -> Any:
        result = await super()._post(endpoint, *args, **kwargs)
        raw = _RAW.get()
        if endpoint == "getUpdates" and raw is not None and isinstance(result, list):
            raw.extend(result)  # read by get_updates below, not by PTB's Update.de_list
            return []
        return result

    async def get_updates(self, *args, **kwargs) -> tuple[Update, ...]:
        raw: list = []
        token = _RAW.set(raw)
        try:
            await super().get_updates(*args, **kwargs)  # PTB's timeouts and request
        finally:
            _RAW.reset(token)
        try:
            updates = tuple(self.read_update(data) for data in raw)
        except Exception:
            ids = [data.get("update_id") for data in raw if isinstance(data, dict)]
            # the ids only: an update's text may hold what the logs never do (a card number)
            log.critical("could not read the updates received: %s", ids, exc_info=True)
            raise
        for update in updates:
            self.insert_callback_data(update)  # as ExtBot.get_updates does
        try:
            await self.keep(updates)
        except Exception as exc:
            # a network error to the updater: it waits, then asks again from the same
            # offset, and Telegram, never told, sends the payment again
            log.error("could not keep the payments received; asking again: %r", exc)
            raise NetworkError("could not keep the payments received") from exc
        return updates


async def handle_kept(application: Application, kept: list[tuple[int, str]]) -> int:
    """Queue the payments a previous run kept and did not handle; how many."""
    for update_id, body in kept:
        update = Update.de_json(json.loads(body), application.bot)
        log.warning("handling again payment update %s kept by a run that stopped", update_id)
        await application.update_queue.put(update)
    return len(kept)
