"""Run one person's updates in one chat in the order they were sent; all else at once.

A chat is read in order: a keypad whose taps were handled concurrently could show ●●
before ● (edits overtaking each other). So updates with the same key — the person and
the chat — run one after another, while different people, and one person's different
chats, run concurrently: a member's private ``/balance`` or tap on a red packet never
waits behind a reply the bot owes in some group. Money does not depend on this order:
every movement is atomic and idempotent in the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

__all__ = ["PersonChatUpdateProcessor", "ordering_key"]

INLINE_QUERIES = "inline"  # a person's inline queries, in their own line


Around = Callable[[object, Awaitable[Any]], Awaitable[Any]]


class PersonChatUpdateProcessor(BaseUpdateProcessor):
    """``around(update, coroutine)``, if given, runs each update's handling (it awaits
    the coroutine): the operations layer times, counts and logs updates there."""

    def __init__(self, max_concurrent_updates: int = 1024, *, around: Around | None = None) -> None:
        super().__init__(max_concurrent_updates)
        self._around = around
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._in_flight: dict[Hashable, int] = {}  # updates holding or awaiting each lock

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for the update's turn in its line first, then for one of the slots: an
        update waiting behind its own person's earlier ones holds no slot, so however many
        a person queues, everybody else's updates still run."""
        key = ordering_key(update)
        if key is None:
            await super().process_update(update, coroutine)
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        try:
            async with lock:
                await super().process_update(update, coroutine)
        finally:
            self._in_flight[key] -= 1
            if not self._in_flight[key]:
                del self._in_flight[key], self._locks[key]

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await (coroutine if self._around is None else self._around(update, coroutine))

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


def ordering_key(update: object) -> Hashable | None:
    """(person id, where) for updates that must keep their order; None: no order needed.

    *where* is the chat; for a button on an inline message (which has no chat, and may sit
    in any chat) that message, so its taps and its ``chosen_inline_result`` stay in order;
    for inline queries a line of their own. An update with a person but no chat (a
    pre-checkout query) belongs to their private chat, whose id is theirs; one with a chat
    but no person (a channel post) to the chat alone.
    """
    if not isinstance(update, Update):
        return None
    person = update.effective_user.id if update.effective_user is not None else None
    query, chosen = update.callback_query, update.chosen_inline_result
    if query is not None and query.message is None and query.inline_message_id:
        return person, ("inline_message", query.inline_message_id)
    if chosen is not None and chosen.inline_message_id:
        return person, ("inline_message", chosen.inline_message_id)
    if update.inline_query is not None or chosen is not None:
        return person, INLINE_QUERIES
    if update.effective_chat is not None:
        return person, update.effective_chat.id
    if person is not None:
        return person, person
    return None
