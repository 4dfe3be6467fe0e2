"""Notices: what the bot owes one person's private chat, sent once, also after a restart.

A feature writes its notices (:meth:`Notices.add`, once per key) as soon as what they
tell of is written; :meth:`Notices.run` sends what is due batch by batch through
``deliver`` (the chat layer's send, in the person's language then, within Telegram's
limits). Each notice is claimed for ``claim_s`` in a write just before it is sent, and
what Telegram answered is written just after, so senders in several processes never
send one notice twice, and a sender stopped between notices hands its unsent claims
back. A claim whose time ran out (its process died) is sent once more, never a third
time (``bot.domain.notices``).

What ended ``blocked`` (a 403: the person had never opened the chat, or had blocked
the bot) is sent when they open it: :meth:`Notices.redeliver`, after the welcome, the
last ``REDELIVER_DAYS`` days' worth, oldest first, each once (a copy per notice,
written once). A message the chat layer sent itself and Telegram refused with a 403
is kept for that (:meth:`Notices.keep_unreached`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence

from bot.domain.notices import UNREACHED, NewNotice, Notice, NoticeState, NoticeStore

__all__ = ["BATCH", "CLAIM_S", "MAX_ATTEMPTS", "REDELIVER_DAYS", "Notices"]

log = logging.getLogger(__name__)

BATCH = 20  # notices claimed at once (the limiter paces their sends)
CLAIM_S = 300  # how long a claim holds: far longer than a batch takes to send
MAX_ATTEMPTS = 3  # claims of one notice: an uncertain or refused send is tried again
RETRY_S = 60  # a send Telegram refused (not a 403) is tried again after this
REDELIVER_DAYS = 30  # what ended blocked this long ago or less is sent when the chat opens
DAY_MS = 86_400_000

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

    async def keep_unreached(self, telegram_id: int, text: str) -> None:
        """Keep a message Telegram refused with a 403 (closed ``blocked``), to be sent
        when the person opens the chat (:meth:`redeliver`)."""
        key = f"{UNREACHED}:{uuid.uuid4().hex}"
        params = {"text": text, "at": self.store.now_ms()}  # when it was meant for them
        await self.store.add_blocked([NewNotice(key, telegram_id, UNREACHED, params)])

    async def redeliver(self, telegram_id: int, deliver: Deliver) -> list[NoticeState]:
        """The person opened the chat: send, one after the other and oldest first, what
        ended ``blocked`` for them in the last ``REDELIVER_DAYS`` days and was not sent
        again yet; what became of each. Of callers at once, one sends each."""
        since = self.store.now_ms() - REDELIVER_DAYS * DAY_MS
        if not await self.store.owes_blocked(telegram_id, since):  # most /start: no write
            return []
        copies = await self.store.claim_blocked(telegram_id, since, self.claim_ms)
        return [await self._one(copy, deliver) for copy in copies]

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
        answers = await asyncio.gather(*(self._one(n, deliver, stopping) for n in claimed))
        return {notice.id: answer for notice, answer in zip(claimed, answers, strict=True)}

    async def _one(
        self, notice: Notice, deliver: Deliver, stopping: asyncio.Event | None = None
    ) -> NoticeState:
        """Send one claimed notice and write what became of it."""
        if stopping is not None and stopping.is_set():
            return NoticeState.PENDING  # handed back unsent, for the next sender
        try:
            answer = await deliver(notice)
        except Exception:
            log.error("notice %s to %s failed", notice.key, notice.telegram_id, exc_info=True)
            answer = NoticeState.FAILED
        await self.store.record_notices({notice.id: answer}, MAX_ATTEMPTS, self.retry_ms)
        return answer
