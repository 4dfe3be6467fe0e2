"""Token buckets that keep one person, or one busy group, from flooding the bot.

A bucket holds up to ``capacity`` tokens and gains ``refill_per_s`` of them every second;
each request takes one. A full bucket allows a burst, then requests pass at the refill rate.
A refused request takes nothing, so tapping faster does not push the wait further out.

:class:`RateLimiter` keeps a bucket per user and per group chat, with separate limits for
commands and for button taps: red packets make people tap fast, so taps are more generous.
A bucket that has filled up again is the same as a new one, so it is forgotten; memory
follows the people active in the last few seconds, not everyone ever seen.

Times are seconds from a monotonic clock (``time.monotonic()``), passed in by the caller,
so tests need no sleeping. Nothing here locks: it is meant for one asyncio event loop, and
sharing one limiter between threads needs a lock around :meth:`RateLimiter.check`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = ["BucketLimit", "RateLimiter", "RateLimits", "TokenBucket"]

Kind = Literal["command", "callback"]
Scope = Literal["user", "chat"]

# Slack for float rounding: waiting exactly the advertised retry-after must be enough.
_EPSILON = 1e-9


def _check_rate(capacity: float, refill_per_s: float) -> None:
    if not (math.isfinite(capacity) and capacity > 0):
        raise ValueError(f"a bucket's capacity is a positive number, not {capacity!r}")
    if not (math.isfinite(refill_per_s) and refill_per_s > 0):
        raise ValueError(f"a bucket's refill rate is a positive number, not {refill_per_s!r}")


class TokenBucket:
    """``capacity`` tokens at most, ``refill_per_s`` more each second; it starts full."""

    __slots__ = ("_at_s", "_tokens", "capacity", "refill_per_s")

    def __init__(self, capacity: float, refill_per_s: float) -> None:
        _check_rate(capacity, refill_per_s)
        self.capacity = capacity
        self.refill_per_s = refill_per_s
        self._tokens = float(capacity)
        self._at_s: float | None = None  # set by the first take: a full bucket needs no time

    def tokens(self, now_s: float) -> float:
        """Tokens available at ``now_s``, without changing anything."""
        if self._at_s is None:
            return float(self.capacity)
        elapsed = max(0.0, now_s - self._at_s)  # a clock stepping back gives nothing
        return min(float(self.capacity), self._tokens + elapsed * self.refill_per_s)

    def is_full(self, now_s: float) -> bool:
        return self.tokens(now_s) >= self.capacity - _EPSILON

    def wait_s(self, now_s: float, cost: float = 1) -> float:
        """Seconds until ``cost`` tokens are there: 0.0 if now; nothing is taken.

        Asking again exactly that much later succeeds: float rounding of ``now_s + wait``
        could otherwise leave a sliver of a token missing and refuse once more.
        """
        self._check_cost(cost)
        missing = cost - self.tokens(now_s)
        if missing <= _EPSILON:
            return 0.0
        start_s = now_s if self._at_s is None else max(now_s, self._at_s)
        wait = start_s - now_s + missing / self.refill_per_s
        for _ in range(64):  # one or two rounds in practice
            if cost - self.tokens(now_s + wait) <= _EPSILON:
                break
            wait += math.ulp(now_s + wait)
        return wait

    def take(self, now_s: float, cost: float = 1) -> float:
        """Take ``cost`` tokens and return 0.0, or return the seconds to wait and take none.

        A cost above the capacity could never be paid, so it raises :class:`ValueError`
        instead of asking the caller to wait forever.
        """
        wait = self.wait_s(now_s, cost)
        if wait == 0.0:
            self._spend(now_s, cost)
        return wait

    def _spend(self, now_s: float, cost: float) -> None:
        """Take ``cost`` tokens that :meth:`wait_s` just said are there."""
        self._tokens = max(0.0, self.tokens(now_s) - cost)
        self._at_s = now_s if self._at_s is None else max(self._at_s, now_s)

    def _check_cost(self, cost: float) -> None:
        if not (math.isfinite(cost) and cost >= 0):
            raise ValueError(f"a cost is a number of tokens >= 0, not {cost!r}")
        if cost > self.capacity:
            raise ValueError(f"a cost of {cost} can never fit a bucket of {self.capacity}")

    def __repr__(self) -> str:
        return (
            f"TokenBucket(capacity={self.capacity}, refill_per_s={self.refill_per_s}, "
            f"tokens={self._tokens:.3f}, at_s={self._at_s})"
        )


@dataclass(frozen=True, slots=True)
class BucketLimit:
    """A burst of ``capacity`` requests, then ``refill_per_s`` a second."""

    capacity: float
    refill_per_s: float

    def __post_init__(self) -> None:
        _check_rate(self.capacity, self.refill_per_s)

    def new_bucket(self) -> TokenBucket:
        return TokenBucket(self.capacity, self.refill_per_s)


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The limits per kind of request and per scope.

    A group's commands are not held to Telegram's 20 messages a minute per group: their
    answers leave through the group's outbox, which keeps that pace itself (usage notes
    and refusals go to the person's private chat once the group is busy). Holding the
    commands to it instead refused a member's red packet ("slow down") after two dozen
    others had typed a bad command. A group's command bucket only stops a flood: a
    crowd's minute of commands, then one a second.
    """

    command_user: BucketLimit = BucketLimit(8, 0.5)
    command_chat: BucketLimit = BucketLimit(60, 1)
    callback_user: BucketLimit = BucketLimit(20, 5)  # a PIN typed twice is 12 quick taps
    # a red packet in a busy group draws a thousand taps within a second: each must be
    # answered with its share or "finished", never "slow down"; a flood from one person
    # meets callback_user first
    callback_chat: BucketLimit = BucketLimit(2_000, 500)

    def of(self, kind: Kind, scope: Scope) -> BucketLimit:
        return getattr(self, f"{kind}_{scope}")


class RateLimiter:
    """Per-user and per-chat buckets for commands and callbacks.

    :meth:`check` answers 0.0 (go ahead) or the seconds to wait. Buckets that are full
    again are dropped every ``prune_interval_s`` and whenever the map grows past
    ``max_buckets``; after a prune the size threshold is at least twice the buckets still
    in use, so a crowd of active users costs amortised constant time, not a scan per request.

    Not thread-safe: one asyncio event loop, no awaits inside, so no lock is needed.
    """

    def __init__(
        self,
        limits: RateLimits | None = None,
        *,
        max_buckets: int = 10_000,
        prune_interval_s: float = 60.0,
    ) -> None:
        if max_buckets < 1 or not prune_interval_s > 0:
            raise ValueError("max_buckets must be at least 1 and prune_interval_s positive")
        self.limits = limits or RateLimits()
        self.max_buckets = max_buckets
        self.prune_interval_s = prune_interval_s
        self._buckets: dict[tuple[Kind, Scope], dict[int, TokenBucket]] = {
            (kind, scope): {} for kind in ("command", "callback") for scope in ("user", "chat")
        }
        self._size = 0
        self._prune_above = max_buckets
        self._last_prune_s: float | None = None

    def __len__(self) -> int:
        """How many buckets are kept (full ones not yet pruned included)."""
        return self._size

    def check(
        self, user_id: int, chat_id: int | None, now_s: float, kind: Kind = "command"
    ) -> float:
        """0.0 and one token taken from each bucket, or the longest wait and nothing taken.

        ``chat_id`` None (an inline message) or equal to ``user_id`` (a private chat, whose
        only member is the user) checks the user's bucket alone.
        """
        if kind not in ("command", "callback"):
            raise ValueError(f"kind is 'command' or 'callback', not {kind!r}")
        self._maybe_prune(now_s)
        user = self._bucket(kind, "user", user_id)
        if chat_id is None or chat_id == user_id:
            return user.take(now_s)
        chat = self._bucket(kind, "chat", chat_id)
        wait = max(user.wait_s(now_s), chat.wait_s(now_s))
        if wait == 0.0:  # each bucket is asked once per request: a tap in a busy group
            user._spend(now_s, 1)
            chat._spend(now_s, 1)
        return wait

    def prune(self, now_s: float) -> int:
        """Forget every bucket that is full at ``now_s``; returns how many were dropped."""
        dropped = 0
        for buckets in self._buckets.values():
            full = [key for key, bucket in buckets.items() if bucket.is_full(now_s)]
            for key in full:
                del buckets[key]
            dropped += len(full)
        self._size -= dropped
        self._last_prune_s = now_s
        self._prune_above = max(self.max_buckets, 2 * self._size)
        return dropped

    def _maybe_prune(self, now_s: float) -> None:
        if self._last_prune_s is None:
            self._last_prune_s = now_s
        if self._size >= self._prune_above or now_s - self._last_prune_s >= self.prune_interval_s:
            self.prune(now_s)

    def _bucket(self, kind: Kind, scope: Scope, key: int) -> TokenBucket:
        buckets = self._buckets[kind, scope]
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = self.limits.of(kind, scope).new_bucket()
            self._size += 1
        return bucket
