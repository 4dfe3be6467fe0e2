"""Prometheus metrics of one bot process (``prometheus_client``, a registry of its own).

Counted as they happen: updates by type and the time each took, unhandled errors,
Telegram's 429 answers, the risk engine's decisions. Read from the ledger at each scrape
(:meth:`Metrics.refresh`): the money moved by transfer kind (append-only, so read once
each, and the totals carry over restarts), red packets by state, the grabs, payments held
for review and the manual payout queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.domain.kinds import TransferKind
from bot.domain.operations import Figures, Moved, OperationsStore

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
disable_created_metrics()  # no ``*_created`` series beside each counter: only noise here
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PACKET_STATES = ("open", "finished", "expired")


@dataclass(eq=False)  # hashable: the registry keeps collectors in a dict
class _Ledger(Collector):
    """The figures read from the ledger, kept between scrapes."""

    last_transfer_id: int = 0
    moved: dict[tuple[str, str], Moved] = field(default_factory=dict)
    latest: Figures | None = None

    def add(self, figures: Figures) -> None:
        for key, more in figures.moved.items():
            had = self.moved.get(key, Moved(0, 0))
            self.moved[key] = Moved(had.count + more.count, had.amount + more.amount)
        self.last_transfer_id = figures.last_transfer_id
        self.latest = figures

    def collect(self) -> Iterator[Metric]:
        count = CounterMetricFamily(
            "wallet_transfers", "Transfers that moved money, by kind", labels=["kind", "currency"]
        )
        volume = CounterMetricFamily(
            "wallet_transfer_volume_fen",
            "Money moved by transfers, in minor units (fen), by kind",
            labels=["kind", "currency"],
        )
        for (kind, currency), moved in sorted(self.moved.items()):
            count.add_metric([kind, currency], moved.count)
            volume.add_metric([kind, currency], moved.amount)
        grabs = CounterMetricFamily("wallet_redpacket_grabs", "Red packet shares grabbed")
        grabs.add_metric(
            [],
            sum(m.count for (k, _), m in self.moved.items() if k == TransferKind.RED_PACKET_GRAB),
        )
        yield from (count, volume, grabs)
        if self.latest is None:
            return
        packets = GaugeMetricFamily("wallet_red_packets", "Red packets by state", labels=["state"])
        for state in sorted({*PACKET_STATES, *self.latest.red_packets}):
            packets.add_metric([state], self.latest.red_packets.get(state, 0))
        yield packets
        yield GaugeMetricFamily(
            "wallet_held_payments",
            "Payments held for an admin's review",
            value=self.latest.held_payments,
        )
        yield GaugeMetricFamily(
            "wallet_payout_queue",
            "Withdrawals waiting in the manual payout queue",
            value=self.latest.payouts_queued,
        )


class Metrics:
    """The metrics of one application."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.updates = Counter(
            "wallet_updates", "Updates handled, by type", ["type"], registry=registry
        )
        self.latency = Histogram(
            "wallet_update_seconds",
            "Time to handle one update, by type",
            ["type"],
            buckets=_SECONDS,
            registry=registry,
        )
        self.errors = Counter(
            "wallet_errors",
            "Unhandled errors in handlers and jobs, by exception type",
            ["error"],
            registry=registry,
        )
        self.retry_after = Counter(
            "wallet_telegram_429",
            "Bot API calls Telegram answered with 429 (retried after its wait), by method",
            ["method"],
            registry=registry,
        )
        self.risk = Counter(
            "wallet_risk_decisions",
            "Risk engine decisions on payments and grabs, by kind and outcome",
            ["kind", "outcome"],
            registry=registry,
        )
        self.backups = Counter(
            "wallet_backups", "Scheduled backups, by outcome", ["outcome"], registry=registry
        )
        self.last_backup = Gauge(
            "wallet_last_backup_timestamp_seconds",
            "When the last scheduled backup was written (Unix time)",
            registry=registry,
        )
        self._by_kind: dict[str, tuple] = {}  # the children of updates and latency
        self._ledger = _Ledger()
        self._reading = asyncio.Lock()  # two scrapes at once must not count a transfer twice
        registry.register(self._ledger)

    def count_update(self, kind: str, seconds: float) -> None:
        children = self._by_kind.get(kind)
        if children is None:  # once per kind of update: ``labels`` costs more than counting
            children = self._by_kind[kind] = (self.updates.labels(kind), self.latency.labels(kind))
        children[0].inc()
        children[1].observe(seconds)

    def count_error(self, error: BaseException | None) -> None:
        self.errors.labels(type(error).__name__ if error is not None else "unknown").inc()

    def count_429(self, method: str) -> None:
        self.retry_after.labels(method).inc()

    def count_backup(self, *, ok: bool) -> None:
        self.backups.labels("ok" if ok else "failed").inc()
        if ok:
            self.last_backup.set_to_current_time()

    def count_decision(self, kind: str, outcome: str) -> None:
        self.risk.labels(kind, outcome).inc()

    async def refresh(self, store: OperationsStore) -> None:
        """Read the figures written since the last scrape."""
        async with self._reading:
            self._ledger.add(await store.figures(self._ledger.last_transfer_id))

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)
