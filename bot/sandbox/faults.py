"""A fault plan for the emulated Bot API: Telegram at its worst, on demand.

A test names what should go wrong, for which method, how many times or by chance::

    emulator.faults.add("sendMessage", "429", retry_after=2, times=3)
    emulator.faults.add("getUpdates", "5xx", chance=0.2, times=None)
    emulator.faults.add("answerCallbackQuery", "too_old")

Kinds:

- ``429``: ``Too Many Requests`` with ``retry_after`` (the call did nothing);
- ``5xx``: a server error with ``status`` (502 Bad Gateway by default; the call did nothing);
- ``slow``: the call takes effect, then its answer waits ``delay`` seconds (a client whose
  read timeout is shorter gives up although the call was done, as with Telegram);
- ``reset``: the connection is closed without an answer (the call did nothing);
- ``duplicate``: the call takes effect, and the updates it returns are delivered again,
  once (as when Telegram never heard that the bot had them), or only those of the kind
  ``update`` names; chosen when the call has its answer, so a long poll that began
  before the fault was added is spoiled too, and one that returns none of them is not;
- ``too_old``: ``answerCallbackQuery`` is refused with "query is too old", as when the
  answer came after Telegram's 15 s.

Each call that a fault hit is listed in :attr:`Faults.hits` as (method, kind).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["AFTER", "BEFORE", "KINDS", "Fault", "Faults"]

KINDS = frozenset({"429", "5xx", "slow", "reset", "duplicate", "too_old"})
AFTER = frozenset({"duplicate"})  # chosen when the call has its answer
BEFORE = KINDS - AFTER  # chosen when the call comes in


@dataclass
class Fault:
    """One planned fault; ``times`` None: every call it matches (by ``chance``) until removed."""

    method: str | None  # a Bot API method, any case; None: every method
    kind: str
    times: int | None = 1
    chance: float = 1.0
    retry_after: int = 1
    status: int = 502
    delay: float = 6.0
    update: str | None = None  # duplicate: only updates of this kind ("message", …)
    hits: int = 0

    def matches(self, method: str) -> bool:
        return self.method is None or self.method.lower() == method.lower()

    @property
    def spent(self) -> bool:
        return self.times is not None and self.hits >= self.times


class Faults:
    """The plan: the first matching fault with calls left hits (if its chance says so)."""

    def __init__(self, seed: int | None = None) -> None:
        self.plan: list[Fault] = []
        self.hits: list[tuple[str, str]] = []
        self._random = random.Random(seed)

    def add(
        self,
        method: str | None,
        kind: str,
        *,
        times: int | None = 1,
        chance: float = 1.0,
        retry_after: int = 1,
        status: int = 502,
        delay: float = 6.0,
        update: str | None = None,
    ) -> Fault:
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(sorted(KINDS))}")
        if kind in AFTER and method is not None and method.lower() != "getupdates":
            raise ValueError("only getUpdates delivers updates twice")
        if not 0.0 < chance <= 1.0:
            raise ValueError("chance must be in (0, 1]")
        if not 500 <= status <= 599:
            raise ValueError("a server error's status is 5xx")
        fault = Fault(method, kind, times, chance, retry_after, status, delay, update)
        self.plan.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        if fault in self.plan:
            self.plan.remove(fault)

    def clear(self) -> None:
        self.plan.clear()

    def take(
        self,
        method: str,
        kinds: frozenset[str] = BEFORE,
        fits: Callable[[Fault], bool] = lambda fault: True,
    ) -> Fault | None:
        """The fault of one of ``kinds`` (and that ``fits``) hitting this call, if any."""
        for fault in self.plan:
            if fault.spent or fault.kind not in kinds or not fault.matches(method):
                continue
            if not fits(fault):
                continue
            if fault.chance < 1.0 and self._random.random() >= fault.chance:
                return None
            fault.hits += 1
            self.hits.append((method, fault.kind))
            if fault.spent:
                self.plan.remove(fault)
            return fault
        return None

    def count(self, method: str | None = None, kind: str | None = None) -> int:
        """How many calls were hit (of ``method`` and of ``kind``, when given)."""
        return sum(
            1
            for m, k in self.hits
            if (method is None or m.lower() == method.lower()) and (kind is None or k == kind)
        )
