"""Top-ups by Telegram Payments: the invoice, the payment, the checks, and their port."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.domain.errors import (
    TopUpAlreadyPaid,
    TopUpAmountMismatch,
    TopUpCurrencyMismatch,
    TopUpExpired,
    TopUpNotFound,
    TopUpNotYours,
)
from bot.domain.ledger_rules import key_error
from bot.domain.model import Transfer, TransferSpec

__all__ = [
    "Checkout",
    "Credit",
    "Payment",
    "TopUp",
    "TopUpState",
    "TopUpStore",
    "charge_key",
    "payment_details",
    "verify",
]


class TopUpState(StrEnum):
    OPEN = "open"
    PAID = "paid"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class TopUp:
    """A pending top-up: what one invoice asks for, and how it ended."""

    id: str  # the invoice payload
    telegram_id: int
    amount: int  # minor units (fen)
    currency: str
    state: TopUpState
    created_at: int  # unix ms
    expires_at: int
    telegram_charge_id: str | None = None
    provider_charge_id: str | None = None
    transfer_id: int | None = None
    paid_at: int | None = None


@dataclass(frozen=True, slots=True)
class Checkout:
    """A pre-checkout query: Telegram asks whether it may take this money."""

    payer_id: int
    payload: str
    currency: str
    total_amount: int


@dataclass(frozen=True, slots=True)
class Payment:
    """A successful payment: Telegram took the money."""

    payer_id: int
    payload: str
    currency: str
    total_amount: int
    telegram_charge_id: str
    provider_charge_id: str = ""


@dataclass(frozen=True, slots=True)
class Credit:
    """What a successful payment did.

    ``transfer`` is None only when the payment could not be credited (``problem`` says
    why; the admins are to refund it). ``replayed``: the charge was credited before and
    nothing moved now. ``problem`` is the code of the rule the payment broke, if any.
    """

    payment: Payment
    transfer: Transfer | None
    topup: TopUp | None
    replayed: bool = False
    problem: str | None = None


class TopUpStore(Protocol):
    def now_ms(self) -> int: ...

    async def create_topup(self, topup: TopUp) -> None:
        """Save a new open top-up; mark the person's open ones past expiry expired."""
        ...

    async def get_topup(self, topup_id: str) -> TopUp | None: ...

    async def expire_topup(self, topup_id: str) -> TopUp | None:
        """Mark an open top-up expired (no invoice of it may be paid any more)."""
        ...

    async def record_topup_payment(
        self, key: str, spec: TransferSpec, payment: Payment, event: str
    ) -> Credit:
        """In one transaction: the transfer ``spec`` under ``key``; the payload's top-up
        marked paid when :func:`verify` passes or says only ``topup_expired``; ``event`` in
        the security log when :func:`verify` refuses. Replaying ``key`` moves nothing and
        returns the first transfer with ``replayed`` set."""
        ...

    async def record_event(
        self, actor_id: int | None, event: str, subject_id: int | None, details: dict
    ) -> object: ...

    async def keep_payments(self, updates: Sequence[tuple[int, str]]) -> None:
        """Keep (update id, the update's JSON) of payments received and not yet handled;
        an update kept already stays as it was."""
        ...

    async def payment_handled(self, update_id: int) -> None:
        """The kept payment of ``update_id`` was handled (credited, or reported)."""
        ...

    async def kept_payments(self) -> list[tuple[int, str]]:
        """The payments kept and not handled, oldest first."""
        ...


def verify(
    topup: TopUp | None, payer_id: int, currency: str, total_amount: int, now_ms: int
) -> TopUp:
    """The rule a payment of ``total_amount`` by ``payer_id`` must meet; raise why not."""
    if topup is None:
        raise TopUpNotFound()
    if topup.telegram_id != payer_id:
        raise TopUpNotYours(topup_id=topup.id)
    if topup.currency != currency:
        raise TopUpCurrencyMismatch(expected=topup.currency, actual=currency)
    if topup.amount != total_amount:
        raise TopUpAmountMismatch(expected=topup.amount, actual=total_amount)
    if topup.state is TopUpState.PAID:
        raise TopUpAlreadyPaid(topup_id=topup.id)
    if topup.state is TopUpState.EXPIRED or now_ms >= topup.expires_at:
        # An invoice withdrawn before its time (it could not be sent) ended no later than now.
        raise TopUpExpired(topup_id=topup.id, expired_at=min(topup.expires_at, now_ms))
    return topup


def charge_key(telegram_charge_id: str) -> str:
    """The ledger idempotency key of a charge: one charge id, one credit."""
    if not isinstance(telegram_charge_id, str) or not telegram_charge_id:
        raise ValueError("a successful payment has a telegram_payment_charge_id")
    key = f"{_KEY_PREFIX}{telegram_charge_id}"
    if key_error(key) is None and key.isprintable():
        return key
    digest = hashlib.sha256(telegram_charge_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{_KEY_PREFIX}sha256:{digest}"


def payment_details(payment: Payment) -> dict:
    """A payment as the security log keeps it."""
    return {
        "payload": payment.payload,
        "currency": payment.currency,
        "total_amount": payment.total_amount,
        "telegram_charge_id": payment.telegram_charge_id,
        "provider_charge_id": payment.provider_charge_id,
    }


def describe_payment(payment: Payment) -> str:
    return (
        f"payer {payment.payer_id}, {payment.total_amount} {payment.currency} minor units,"
        f" payload {payment.payload!r}, charge {payment.telegram_charge_id!r}"
        f" (provider {payment.provider_charge_id!r})"
    )


_KEY_PREFIX = "topup:"
