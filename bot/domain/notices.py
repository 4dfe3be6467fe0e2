"""Notices: what the bot owes one person's private chat, written down before it is sent.

A notice says one thing to one person: the vouchers or the coupon they were given, what
became of their withdrawal. It is written with a ``key`` (a second write of the key is
nothing new), its ``kind`` (what it says) and ``params`` (a JSON object: what the text
needs); the text itself is made when it is sent, in the person's language then.

Each notice goes ``pending`` → ``sending`` (claimed, just before it is sent) → ``sent`` |
``blocked`` | ``failed`` (written as soon as Telegram answers), as a broadcast's
recipient does (``bot.domain.broadcasts``). A claim is held until ``claimed_until``: a
sender in any process takes only pending notices and claims whose holder's time ran out,
so two senders never send one notice at once. A claim that ran out (its process
stopped, or died, before it recorded an answer) is an uncertain send: **it is sent once
more** (a repeated notice is harmless next to a missed one) and closed ``failed`` rather
than sent a third time. Any other refusal of Telegram's is tried again later, up to the
same number of attempts. A 403 (the person blocked the bot, or never opened its chat)
closes the notice ``blocked``: what it tells of stands all the same.

A message to a person's chat that Telegram refused with a 403 before it was written
down as a notice (a transfer's "you received") is kept as one, closed ``blocked``, of
kind :data:`UNREACHED` (its text as it was made). When the person opens the chat (the
first time, or again after blocking the bot), what ended ``blocked`` for them in the
last 30 days (``bot.wallet.notices.REDELIVER_DAYS``) is sent after all: each such
notice gets one copy, keyed ``again:<its id>`` (:func:`again_key`), so it is sent once
however many ``/start`` come at once, and the original stays final.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

__all__ = [
    "AGAIN",
    "UNREACHED",
    "NewNotice",
    "Notice",
    "NoticeState",
    "NoticeStore",
    "again_key",
]

UNREACHED = "unreached"  # a message Telegram refused (403), kept: params {"text": ...}
AGAIN = "again:"  # the key prefix of a blocked notice's copy, sent when the chat opens


def again_key(notice_id: int) -> str:
    """The key of the copy that sends the notice ``notice_id`` (closed blocked) again."""
    return f"{AGAIN}{notice_id}"


class NoticeState(StrEnum):
    PENDING = "pending"  # not sent yet (or to be tried again)
    SENDING = "sending"  # claimed by a sender until its claimed_until
    SENT = "sent"
    BLOCKED = "blocked"  # 403: the person blocked the bot, or never opened its chat
    FAILED = "failed"  # refused too often, or left uncertain twice

    @property
    def final(self) -> bool:
        return self in (NoticeState.SENT, NoticeState.BLOCKED, NoticeState.FAILED)


@dataclass(frozen=True, slots=True)
class NewNotice:
    """A notice to write: once per ``key``."""

    key: str
    telegram_id: int
    kind: str  # what it says: "voucher.received", "withdrawal.settled", ...
    params: dict = field(default_factory=dict)  # a JSON object


@dataclass(frozen=True, slots=True)
class Notice:
    id: int
    key: str
    telegram_id: int
    kind: str
    params: dict
    state: NoticeState
    attempts: int  # how many times it was claimed
    created_at: int  # unix ms


class NoticeStore(Protocol):
    """Notices and their claims. A write is acknowledged once committed; a claim is one
    write, so of two senders (in any processes) one takes a notice and the other not."""

    def now_ms(self) -> int: ...

    async def add_notices(self, notices: Sequence[NewNotice]) -> int:
        """Write each notice whose key is new, pending; how many were new."""
        ...

    async def add_blocked(self, notices: Sequence[NewNotice]) -> int:
        """Write each notice whose key is new already closed ``blocked`` (a message
        Telegram refused with a 403 before it was a notice); how many were new."""
        ...

    async def claim_blocked(self, telegram_id: int, since_ms: int, claim_ms: int) -> list[Notice]:
        """The person's chat is open now: for each of their notices closed ``blocked``
        and created since ``since_ms`` whose copy (:func:`again_key`) is not written
        yet, write that copy (same kind, params and created_at) claimed for ``claim_ms``
        as its first attempt. The copies written, oldest first; a copy is written once,
        so of callers at once (in any processes) one gets each."""
        ...

    async def owes_blocked(self, telegram_id: int, since_ms: int) -> bool:
        """Whether :meth:`claim_blocked` would write a copy now (a read: the common
        ``/start`` of someone owed nothing costs no write)."""
        ...

    async def get_notice(self, key: str) -> Notice | None: ...

    async def claim_notices(
        self, limit: int, claim_ms: int, max_attempts: int, key: str | None = None
    ) -> list[Notice]:
        """Claim up to ``limit`` notices (only the one of ``key``, when given), lowest id
        first, for ``claim_ms``: the pending ones that are due, and the claims whose
        time ran out.
        A claim that ran out after ``max_attempts`` claims is closed ``failed`` instead.
        Each claimed notice counts one more attempt."""
        ...

    async def record_notices(
        self, results: dict[int, NoticeState], max_attempts: int, retry_ms: int
    ) -> None:
        """What became of claimed notices (by id): ``sent`` and ``blocked`` are final;
        ``failed`` puts a notice back to ``pending``, due ``retry_ms`` from now, while
        it has had fewer than ``max_attempts`` attempts; ``pending`` hands an unsent
        claim back, due now (its attempt not counted). A notice no longer claimed is
        left as it is."""
        ...
