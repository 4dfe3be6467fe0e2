"""A payout gateway that pays nothing real, for development, the sandbox and tests.

It keeps the promises of :mod:`bot.wallet.gateway` (idempotent on the request id, a
status for every id, asking closes an unknown id) and can misbehave on purpose:

- ``latency_s``: every call waits this long before it answers;
- ``failure_rate``: the share of payouts the "bank" declines (``card_declined``);
- ``timeout_rate``: the share of payouts whose answer never comes: after ``timeout_s``
  the call raises :class:`GatewayTimeout`. Half of those requests reached the gateway
  (and were paid or declined), half were lost on the way; ``status`` tells which.

With a ``seed`` every request's fate is a function of the seed and its request id, so a
test replays exactly. The requests are kept in a small SQLite file (``state_path``), so
a bot that was killed finds them again after a restart; without one they live in memory.
The file holds the last four digits of a card, never the number.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bot.wallet.gateway import (
    NOT_RECEIVED,
    GatewayTimeout,
    GatewayUnavailable,
    PayoutMode,
    PayoutResult,
    PayoutStatus,
)

__all__ = ["DECLINED", "SandboxGateway", "SandboxPayout"]

DECLINED = "card_declined"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS payouts ("
    " request_id TEXT PRIMARY KEY, card_last4 TEXT, amount INTEGER, currency TEXT,"
    " status TEXT NOT NULL, reason TEXT NOT NULL, created_at REAL NOT NULL)"
)


@dataclass(frozen=True, slots=True)
class SandboxPayout:
    """A request as the sandbox recorded it; ``amount`` is None for a closed unknown id."""

    request_id: str
    card_last4: str | None
    amount: int | None
    currency: str | None
    status: PayoutStatus
    reason: str


class SandboxGateway:
    mode = PayoutMode.PRETEND  # the wallet tells users that no real money is paid

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        failure_rate: float = 0.0,
        timeout_rate: float = 0.0,
        timeout_s: float = 5.0,
        seed: int | str | None = None,
        state_path: str | Path | None = None,
    ) -> None:
        for name, rate in (("failure_rate", failure_rate), ("timeout_rate", timeout_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} is a share between 0 and 1, not {rate}")
        if latency_s < 0 or timeout_s < 0:
            raise ValueError("latency_s and timeout_s are not negative")
        self.latency_s = latency_s
        self.failure_rate = failure_rate
        self.timeout_rate = timeout_rate
        self.timeout_s = timeout_s
        self.seed = seed
        self.payout_calls = 0  # how often payout was called (paid or not), in this process
        self.status_calls = 0
        if state_path is not None:
            Path(state_path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(state_path, os.O_RDWR | os.O_CREAT, 0o600))
        target = ":memory:" if state_path is None else str(state_path)
        self._conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout = 10000")
        if state_path is not None:
            self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _fate(self, request_id: str) -> tuple[bool, bool, bool]:
        """(times out, reached the gateway, declined) for this request."""
        rng = random.Random(f"{self.seed}:{request_id}") if self.seed is not None else random
        times_out = rng.random() < self.timeout_rate
        reached = rng.random() < 0.5 if times_out else True
        declined = rng.random() < self.failure_rate
        return times_out, reached, declined

    def _record(self, row: tuple) -> SandboxPayout:
        """Insert the row unless its request id exists; return what is stored."""
        with self._lock:
            self._conn.execute(
                "INSERT INTO payouts VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", row
            )
            stored = self._conn.execute(
                "SELECT request_id, card_last4, amount, currency, status, reason"
                " FROM payouts WHERE request_id = ?",
                (row[0],),
            ).fetchone()
        return SandboxPayout(*stored[:4], PayoutStatus(stored[4]), stored[5])

    async def payout(
        self, request_id: str, card_number: str, amount: int, currency: str
    ) -> PayoutResult:
        """Pay (pretend to) once per request id; a repeat answers the first outcome."""
        self.payout_calls += 1
        await asyncio.sleep(self.latency_s)
        times_out, reached, declined = self._fate(request_id)
        if reached:
            status = PayoutStatus.FAILED if declined else PayoutStatus.SUCCEEDED
            row = (
                request_id,
                card_number[-4:],
                amount,
                currency,
                status.value,
                DECLINED if declined else "",
                time.time(),
            )
            stored = await asyncio.to_thread(self._record, row)
            if stored.amount is not None and (
                (stored.card_last4, stored.amount, stored.currency)
                != (card_number[-4:], amount, currency)
            ):
                raise GatewayUnavailable(f"request id {request_id} was used for another payout")
        if times_out:  # reached or lost on the way, the answer never comes
            await asyncio.sleep(self.timeout_s)
            raise GatewayTimeout(f"no answer for {request_id} within {self.timeout_s} s")
        return PayoutResult(request_id, stored.status, stored.reason)

    async def status(self, request_id: str) -> PayoutResult:
        """The stored outcome; an id never received is closed now and reported failed."""
        self.status_calls += 1
        await asyncio.sleep(self.latency_s)
        closed = (
            request_id,
            None,
            None,
            None,
            PayoutStatus.FAILED.value,
            NOT_RECEIVED,
            time.time(),
        )
        stored = await asyncio.to_thread(self._record, closed)
        return PayoutResult(request_id, stored.status, stored.reason)

    def requests(self) -> list[SandboxPayout]:
        """Every request the sandbox holds, oldest first (for tests and the curious)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT request_id, card_last4, amount, currency, status, reason FROM payouts"
                " ORDER BY created_at, request_id"
            ).fetchall()
        return [SandboxPayout(*r[:4], PayoutStatus(r[4]), r[5]) for r in rows]

    def paid(self) -> list[SandboxPayout]:
        """The payouts that succeeded: each request id appears once, however often sent."""
        return [r for r in self.requests() if r.status is PayoutStatus.SUCCEEDED]
