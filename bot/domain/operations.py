"""What the operators of a wallet watch: figures read from the ledger, and a write probe.

The metrics of ``bot.ops`` come from here rather than from counters sprinkled through the
core: the journal is append-only, so the money moved by kind is counted exactly, once, by
reading the transfers written since the last look, and survives restarts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Figures", "Moved", "OperationsStore"]


@dataclass(frozen=True, slots=True)
class Moved:
    """Transfers that moved money (posted, or a reservation posted): how many, how much."""

    count: int
    amount: int  # minor units (fen)


@dataclass(frozen=True, slots=True)
class Figures:
    """The wallet's figures at one moment."""

    last_transfer_id: int  # the newest transfer read; pass it back to read only newer ones
    moved: Mapping[tuple[str, str], Moved] = field(default_factory=dict)  # (kind, currency)
    red_packets: Mapping[str, int] = field(default_factory=dict)  # by state: open, finished, …
    held_payments: int = 0  # payments waiting for an admin's review
    payouts_queued: int = 0  # withdrawals waiting in the manual payout queue


class OperationsStore(Protocol):
    async def figures(self, after_transfer_id: int) -> Figures:
        """The figures now; ``moved`` counts only the transfers after ``after_transfer_id``
        (ids follow commit order: a transfer with a lower id is never committed later)."""
        ...

    async def probe_write(self) -> None:
        """Commit one small write; raise ``StorageError`` if the database cannot take it."""
        ...
