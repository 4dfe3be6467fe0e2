"""Notices: what the bot owes one person's private chat, sent once, also after a restart.

A feature writes its notices (:meth:`Notices.add`, once per key) as soon as what they
tell of is written; :meth:`Notices.run` sends what is due batch by batch through
``deliver`` (the chat layer's send, in the person's language then, within Telegram's
limits). Each notice is claimed for ``claim_s`` in a write just before it is sent, and
what Telegram answered is written just after, so senders in several processes never
send one notice twice, and a sender stopped between notices hands its unsent claims
back. A claim whose time ran out (its process died) is sent once more, never a third
time (``bot.domain.notices``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from bot.domain.notices import NewNotice, Notice, NoticeState, NoticeStore

__all__ = ["BATCH", "CLAIM_S", "MAX_ATTEMPTS", "Notices"]

log = logging.getLogger(__name__)

BATCH = 20  # notices claimed at once (the limiter paces their sends)
CLAIM_S = 300  # how long a claim holds: far longer than a batch takes to send
MAX_ATTEMPTS = 3  # claims of one notice: an uncertain or refused send is tried again
RETRY_S = 60  # a send Telegram refused (not a 403) is tried again after this

Deliver = Callable[[Notice], Awaitable[NoticeState]]


class Notices:
    def __init__(
        self,
        store: NoticeStore,
        *,
        batch: int = BATCH,
        claim_s: float = CLAIM_S,
        retry_s: float = RETRY_S,
    ) -> None:
        self.store = store
        self.batch = batch
        self.claim_ms = int(claim_s * 1000)
        self.retry_ms = int(retry_s * 1000)
        self._added = asyncio.Event()

    async def add(self, notices: Sequence[NewNotice], *, wake: bool = True) -> int:
        """Write the notices whose keys are new; how many were. ``wake``: this process's
        sender sends them now (else a caller sends one itself with :meth:`send_one`)."""
        added = await self.store.add_notices(list(notices)) if notices else 0
        if added and wake:
            self._added.set()
        return added

    async def get(self, key: str) -> Notice | None:
        return await self.store.get_notice(key)

    def wake(self) -> None:
        """Let :meth:`wait` return now (notices were added, or the sender stops)."""
        self._added.set()

    async def wait(self, timeout: float) -> None:  # noqa: ASYNC109
        """Until notices are added in this process, or ``timeout`` seconds pass."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._added.wait(), timeout)
        self._added.clear()

    async def send_one(self, key: str, deliver: Deliver) -> NoticeState | None:
        """Send the notice of ``key`` now, if it is due and nobody else claimed it: what
        became of it (None: already sent, or being sent by another sender)."""
        claimed = await self.store.claim_notices(1, self.claim_ms, MAX_ATTEMPTS, key)
        if not claimed:
            return None
        return (await self._send(claimed, deliver))[claimed[0].id]

    async def run(self, deliver: Deliver, stopping: asyncio.Event | None = None) -> int:
        """Send every due notice; stop between batches once ``stopping`` is set. How
        many were claimed."""
        done = 0
        while stopping is None or not stopping.is_set():
            claimed = await self.store.claim_notices(self.batch, self.claim_ms, MAX_ATTEMPTS)
            if not claimed:
                break
            await self._send(claimed, deliver, stopping)
            done += len(claimed)
        return done

    async def _send(
        self, claimed: list[Notice], deliver: Deliver, stopping: asyncio.Event | None = None
    ) -> dict[int, NoticeState]:
        async def one(notice: Notice) -> NoticeState:
            if stopping is not None and stopping.is_set():
                return NoticeState.PENDING  # handed back unsent, for the next sender
            try:
                answer = await deliver(notice)
            except Exception:
                log.error("notice %s to %s failed", notice.key, notice.telegram_id, exc_info=True)
                answer = NoticeState.FAILED
            await self.store.record_notices(
                {notice.id: answer}, MAX_ATTEMPTS, self.retry_ms
            )
            return answer

        answers = await asyncio.gather(*(one(notice) for notice in claimed))
        return {notice.id: answer for notice, answer in zip(claimed, answers, strict=True)}
