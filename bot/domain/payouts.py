"""The admin payout queue: withdrawals an admin pays out by hand, and its port.

With ``WALLET_PAYOUT_GATEWAY=manual`` the payout gateway (``bot.gateways.manual``) puts
every payout request in this queue instead of sending it to a bank. An admin pays it by
bank transfer and marks it **paid** with the bank's reference, or **rejects** it with a
reason; the gateway's ``status`` then answers with that decision, and the withdrawal is
settled the usual way (the reservation posted, or voided and the money given back).

A decision is one conditional write (``queued`` → ``paid`` | ``rejected``) together with
the admin's audit event: of two admins deciding at once, one wins and the other is told
it was decided already. A request id the gateway is asked about but never received is
recorded ``closed``: a late delivery of it is refused, never queued (the gateway's
promise that asking closes an unknown id).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

__all__ = [
    "CARD_REVEALED",
    "PAYOUT_PAID",
    "PAYOUT_REJECTED",
    "PayoutQueueStore",
    "PayoutState",
    "QueuedPayout",
]

PAYOUT_PAID = "admin.payout_paid"  # the security log's events of the decisions
PAYOUT_REJECTED = "admin.payout_rejected"
CARD_REVEALED = "admin.payout_card_revealed"  # an admin was shown a payout's full card


class PayoutState(StrEnum):
    QUEUED = "queued"  # waiting for an admin
    PAID = "paid"  # an admin paid it by bank transfer: final
    REJECTED = "rejected"  # an admin refused it, nothing was paid: final
    CLOSED = "closed"  # asked about before it arrived: it never will be paid

    @property
    def final(self) -> bool:
        return self is not PayoutState.QUEUED


@dataclass(frozen=True, slots=True)
class QueuedPayout:
    """One payout request as the queue holds it.

    ``withdrawal_id`` and ``telegram_id`` are those of the withdrawal whose request it is
    (None for a request no withdrawal made). A closed request has no card or amount.
    ``note`` is the bank's reference of a paid one, the admin's reason for a rejected one.
    """

    id: int
    request_id: str
    card_last4: str
    amount: int
    currency: str
    state: PayoutState
    note: str
    created_at: int  # unix ms
    decided_by: int | None  # the admin's Telegram id
    decided_at: int | None
    withdrawal_id: int | None = None
    telegram_id: int | None = None

    @property
    def card(self) -> str:
        return f"**** {self.card_last4}"


class PayoutQueueStore(Protocol):
    def now_ms(self) -> int: ...

    async def enqueue(
        self, request_id: str, card_last4: str, amount: int, currency: str
    ) -> QueuedPayout:
        """Queue the request unless its id is known; return what the queue holds for it
        (a repeat gets the first request, whatever its state)."""
        ...

    async def close_unknown(self, request_id: str) -> QueuedPayout:
        """What the queue holds for the id; an id it never received is recorded closed."""
        ...

    async def decide(
        self, payout_id: int, paid: bool, admin_id: int, note: str, event: str
    ) -> QueuedPayout:
        """queued → paid or rejected with ``note``, and the admin's ``event`` in the
        security log, in one transaction. Raises ``PayoutNotFound``, or
        ``PayoutAlreadyDecided`` when it is not queued (any more)."""
        ...

    async def get_payout(self, payout_id: int) -> QueuedPayout | None: ...

    async def find_payout(self, request_id: str) -> QueuedPayout | None: ...

    async def queued(self, limit: int) -> list[QueuedPayout]:
        """The requests waiting for an admin, oldest first."""
        ...
