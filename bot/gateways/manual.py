"""A payout gateway whose payouts an admin makes by hand: the admin payout queue.

``payout`` puts the request in the queue (``bot.domain.payouts``) and answers
``pending``; an admin pays it by bank transfer and marks it paid with the bank's
reference, or rejects it with a reason (``/payouts``, :class:`bot.wallet.payouts.Payouts`).
``status`` reads that decision. It keeps the promises of :mod:`bot.wallet.gateway`:

1. idempotent on the request id: a repeat queues nothing and answers as the first did;
2. a status for every request id: queued → ``pending``, paid → ``succeeded``,
   rejected → ``failed`` (:data:`REJECTED`);
3. asking closes: an id the queue never received is recorded closed and reported
   ``failed`` (:data:`~bot.wallet.gateway.NOT_RECEIVED`); a late request with it is
   refused the same way, never queued.

The queue keeps the card's last four digits, never its number. ``on_queued`` (set by
the chat's wiring) hears of each payout queued, to tell the admins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.domain.errors import StorageError
from bot.domain.payouts import PayoutQueueStore, PayoutState, QueuedPayout
from bot.wallet.gateway import (
    NOT_RECEIVED,
    GatewayUnavailable,
    PayoutMode,
    PayoutResult,
    PayoutStatus,
)

__all__ = ["REJECTED", "ManualGateway"]

REJECTED = "rejected_by_admin"  # the reason of a payout an admin rejected


class ManualGateway:
    mode = PayoutMode.MANUAL

    def __init__(
        self,
        store: PayoutQueueStore,
        on_queued: Callable[[QueuedPayout], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.on_queued = on_queued

    async def payout(
        self, request_id: str, card_number: str, amount: int, currency: str
    ) -> PayoutResult:
        """Queue the request for an admin (once per request id) and say where it stands."""
        try:
            queued = await self.store.enqueue(request_id, card_number[-4:], amount, currency)
        except StorageError as exc:
            raise GatewayUnavailable(f"the payout queue cannot be written: {exc}") from exc
        if queued.state is not PayoutState.CLOSED and (
            (queued.card_last4, queued.amount, queued.currency)
            != (card_number[-4:], amount, currency)
        ):
            raise GatewayUnavailable(f"request id {request_id} was used for another payout")
        if queued.state is PayoutState.QUEUED and self.on_queued is not None:
            await self.on_queued(queued)  # a repeat too: the hook tells of each payout once
        return _result(queued)

    async def status(self, request_id: str) -> PayoutResult:
        """The admin's decision; an id the queue never received is closed now."""
        try:
            known = await self.store.find_payout(request_id)  # a read: the sweep asks often
            return _result(known or await self.store.close_unknown(request_id))
        except StorageError as exc:
            raise GatewayUnavailable(f"the payout queue cannot be read: {exc}") from exc


def _result(queued: QueuedPayout) -> PayoutResult:
    if queued.state is PayoutState.QUEUED:
        return PayoutResult(queued.request_id, PayoutStatus.PENDING)
    if queued.state is PayoutState.PAID:
        return PayoutResult(queued.request_id, PayoutStatus.SUCCEEDED)
    reason = REJECTED if queued.state is PayoutState.REJECTED else NOT_RECEIVED
    return PayoutResult(queued.request_id, PayoutStatus.FAILED, reason)
