"""Broadcasts: an admin's message to everyone who opened the bot's private chat.

:meth:`Broadcasts.begin` writes the broadcast and its recipients (and the admin's audit
event) once, keyed by the admin's confirmation. :meth:`Broadcasts.run` then sends it
batch by batch through ``deliver`` (the chat layer's send, which keeps within Telegram's
limits): each person is claimed (``sending``) in a write just before the message to them,
and what Telegram answered is written just after, so a run stopped between batches is
continued by the next one without sending anybody anything twice or missing anyone.
After a crash, the people left ``sending`` are sent it once more (see
``bot.domain.broadcasts``: a repeat is better than a miss; never a third time).
``report`` is given the broadcast as it stands every few seconds and once at the end.
"""

from __future__ import annotations

import asyncio
import logging
import time
import unicodedata
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.domain.broadcasts import (
    BROADCAST_EVENT,
    BROADCAST_TEXT_MAX,
    Broadcast,
    BroadcastStore,
    RecipientState,
)
from bot.domain.errors import BroadcastNobody, BroadcastNotFound, BroadcastTextInvalid
from bot.security.pin_entry import ConfirmationResult

if TYPE_CHECKING:
    from bot.domain.security_ports import Action

__all__ = [
    "BATCH",
    "CONFIRMATION",
    "MAX_ATTEMPTS",
    "REPORT_EVERY_S",
    "Broadcasts",
    "check_text",
]

log = logging.getLogger(__name__)

CONFIRMATION = "broadcast"  # the keypad's confirmation for an admin with 2FA
BATCH = 25  # recipients sent to at once (the limiter paces them)
MAX_ATTEMPTS = 2  # a send a crash left uncertain is made once more, never a third time
REPORT_EVERY_S = 3.0  # how often the progress is reported while sending

Deliver = Callable[[int, str], Awaitable[RecipientState]]
Report = Callable[[Broadcast], Awaitable[None]]


# letters Unicode counts as such that show as blank space (Hangul fillers, a blank braille
# cell): a message of these alone would reach everyone as an empty bubble
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _visible(character: str) -> bool:
    """Whether the character shows: not a space, a control or a format character (a
    zero-width space or joiner, a direction mark), a combining mark alone, nor a blank
    letter."""
    return unicodedata.category(character)[0] not in "CZM" and character not in _BLANK_LETTERS


def check_text(text: str) -> str:
    """The text as it will be sent, or BroadcastTextInvalid (empty or nothing anyone would
    see, or over Telegram's limit). Nothing is changed in it: it is sent exactly as
    written, as plain text."""
    if not any(_visible(character) for character in text):
        raise BroadcastTextInvalid("broadcast_text_missing")
    if len(text) > BROADCAST_TEXT_MAX:
        raise BroadcastTextInvalid(
            "broadcast_text_too_long", limit=BROADCAST_TEXT_MAX, length=len(text)
        )
    return text


class Broadcasts:
    def __init__(
        self, store: BroadcastStore, *, batch: int = BATCH, report_every_s: float = REPORT_EVERY_S
    ) -> None:
        self.store = store
        self.batch = batch
        self.report_every_s = report_every_s

    async def audience(self) -> int:
        """How many people a broadcast begun now would reach."""
        return await self.store.audience_size()

    async def begin(self, key: str, admin_id: int, text: str) -> Broadcast:
        """Write the broadcast (once per ``key``) with its recipients and audit event."""
        text = check_text(text)
        if await self.store.audience_size() == 0:
            raise BroadcastNobody()
        return await self.store.create_broadcast(key, admin_id, text, BROADCAST_EVENT)

    async def confirm(self, action: Action) -> ConfirmationResult:
        """Run by the keypad after an admin with 2FA entered a code."""
        broadcast = await self.begin(action.id, action.telegram_id, action.payload["text"])
        return ConfirmationResult("broadcast.begun", outcome=broadcast)

    async def get(self, broadcast_id: int) -> Broadcast:
        broadcast = await self.store.get_broadcast(broadcast_id)
        if broadcast is None:
            raise BroadcastNotFound(broadcast_id=broadcast_id)
        return broadcast

    async def unfinished(self) -> list[Broadcast]:
        return await self.store.unfinished_broadcasts()

    async def reopen_stale_claims(self, broadcast_id: int) -> tuple[int, int]:
        """Claims a crashed run left unanswered (call only when no run of this broadcast
        is under way): whether they arrived cannot be known, so they are sent once more;
        claimed ``MAX_ATTEMPTS`` times already, they are counted failed. (reopened, failed)"""
        reopened, failed = await self.store.reopen_stale_claims(broadcast_id, MAX_ATTEMPTS)
        if reopened or failed:
            log.warning(
                "broadcast %s: %d uncertain sends of a stopped run are made again,"
                " %d counted failed",
                broadcast_id,
                reopened,
                failed,
            )
        return reopened, failed

    async def set_reachable(self, telegram_id: int, reachable: bool) -> None:
        """The person blocked the bot (left out of later broadcasts) or unblocked it."""
        await self.store.set_reachable(telegram_id, reachable)

    async def set_progress_message(self, broadcast_id: int, chat_id: int, message_id: int):
        await self.store.set_progress_message(broadcast_id, chat_id, message_id)

    async def run(
        self,
        broadcast_id: int,
        deliver: Deliver,
        report: Report,
        stopping: asyncio.Event | None = None,
    ) -> Broadcast:
        """Send the broadcast to its pending recipients; stop between batches once
        ``stopping`` is set (what was claimed is sent and recorded first)."""
        broadcast = await self.get(broadcast_id)
        reported = time.monotonic()
        await report(broadcast)
        while stopping is None or not stopping.is_set():
            batch = await self.store.pending_recipients(broadcast_id, self.batch)
            if not batch:
                broadcast = await self.store.finish_broadcast(broadcast_id)
                if broadcast.finished:  # else another run still sends, and finishes it
                    await report(broadcast)
                return broadcast
            await asyncio.gather(*(self._send(broadcast, person, deliver) for person in batch))
            if time.monotonic() - reported >= self.report_every_s:
                reported = time.monotonic()
                await report(await self.get(broadcast_id))
        return await self.get(broadcast_id)


    async def _send(self, broadcast: Broadcast, person: int, deliver: Deliver) -> None:
        """Claim ``person``, send, record the answer (another run's claim: nothing)."""
        if not await self.store.claim_recipient(broadcast.id, person):
            return
        answer = await _deliver_safely(deliver, person, broadcast.text)
        await self.store.record_deliveries(broadcast.id, {person: answer})


async def _deliver_safely(deliver: Deliver, telegram_id: int, text: str) -> RecipientState:
    try:
        return await deliver(telegram_id, text)
    except Exception:
        log.error("a broadcast's send to %s failed", telegram_id, exc_info=True)
        return RecipientState.FAILED
