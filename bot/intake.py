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
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence

from telegram import Update
from telegram.error import NetworkError
from telegram.ext import Application, ExtBot

__all__ = ["KeepingBot", "brings_money", "handle_kept", "kept_of"]

log = logging.getLogger(__name__)

Keep = Callable[[Sequence[tuple[int, str]]], Awaitable[None]]


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

    def keep_with(self, keep: Keep | None) -> None:
        self._keep = keep

    async def keep(self, updates: Sequence[Update]) -> None:
        """Keep what must survive a crash; raises if it cannot (the updates must then not
        be confirmed: Telegram sends them again)."""
        kept = kept_of(updates)
        if kept and self._keep is not None:
            await self._keep(kept)

    async def get_updates(self, *args, **kwargs) -> tuple[Update, ...]:
        updates = await super().get_updates(*args, **kwargs)
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
