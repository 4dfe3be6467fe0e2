"""The payment gateway that pays withdrawals out to bank cards: what the wallet needs of it.

A gateway adapter implements :class:`PayoutGateway`. The wallet relies on three promises,
which every real payout API offers in some form and an adapter must keep:

1. **Idempotent on ``request_id``.** A second ``payout`` with a request id the gateway
   has seen pays nothing more and answers with the first request's outcome.
2. **A status for every request id.** ``status(request_id)`` says what became of a
   request whose answer was lost (a timeout, a crash of the bot).
3. **Asking closes.** When the gateway has no record of the request id, ``status``
   answers ``failed`` (reason :data:`NOT_RECEIVED`) *and* the id is closed: a delayed
   delivery of that request is refused from then on, never paid. Only this makes it
   safe to give the money back after a status query (Alipay calls this closing an
   order; card APIs cancel by idempotency key).

``payout`` raises :class:`GatewayTimeout` when no answer came in time and
:class:`GatewayUnavailable` when the gateway could not be asked; in both cases the
request may or may not have been paid, and the wallet asks ``status`` later.

A gateway may say how it pays with a ``mode`` attribute (:class:`PayoutMode`): one that
pays nothing real (the sandbox) says ``pretend``, and the wallet then tells every user
so; one whose payouts an admin makes by hand says ``manual``. Without the attribute a
gateway pays automatically (a bank's or a payment provider's API).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

__all__ = [
    "NOT_RECEIVED",
    "GatewayError",
    "GatewayTimeout",
    "GatewayUnavailable",
    "PayoutGateway",
    "PayoutMode",
    "PayoutResult",
    "PayoutStatus",
    "payout_mode",
]

NOT_RECEIVED = "not_received"  # the reason of a status query that closed an unknown id


class PayoutMode(StrEnum):
    """How a gateway's payouts reach the card."""

    AUTOMATIC = "automatic"  # a bank's or payment provider's API pays
    MANUAL = "manual"  # an admin pays each one by bank transfer, then records it
    PRETEND = "pretend"  # nothing real is paid (the sandbox)


def payout_mode(gateway: object) -> PayoutMode:
    """The gateway's :class:`PayoutMode`: its ``mode`` attribute, else automatic."""
    return PayoutMode(getattr(gateway, "mode", PayoutMode.AUTOMATIC))


class PayoutStatus(StrEnum):
    SUCCEEDED = "succeeded"  # the money is on its way to the card: final
    FAILED = "failed"  # nothing was paid, and nothing will be: final
    PENDING = "pending"  # accepted, not settled yet: ask again later


@dataclass(frozen=True, slots=True)
class PayoutResult:
    request_id: str
    status: PayoutStatus
    reason: str = ""  # the gateway's code for a failure (``card_declined``, …)

    @property
    def final(self) -> bool:
        return self.status is not PayoutStatus.PENDING


class GatewayError(Exception):
    """The gateway's answer is unknown: the payout may or may not have happened."""


class GatewayTimeout(GatewayError):
    """No answer in time."""


class GatewayUnavailable(GatewayError):
    """The gateway could not be reached or answered with an error of its own."""


class PayoutGateway(Protocol):
    async def payout(
        self, request_id: str, card_number: str, amount: int, currency: str
    ) -> PayoutResult:
        """Pay ``amount`` minor units to the card, once per ``request_id``."""
        ...

    async def status(self, request_id: str) -> PayoutResult:
        """What became of ``request_id``; an unknown id is closed and reported failed."""
        ...
