"""Payment requests and split bills: the request, its states and rules, and their port."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.domain.errors import (
    PaymentRequestAlreadyPaid,
    PaymentRequestCancelled,
    PaymentRequestExpired,
    PaymentRequestForSomeoneElse,
    PaymentRequestIsYours,
    WalletError,
)
from bot.domain.holds import PasswordFreePayment
from bot.domain.model import Transfer, TransferSpec
from bot.domain.risk import RiskDecision
from bot.domain.users import User

__all__ = [
    "KEY_PREFIX",
    "PaymentRequest",
    "PaymentStatus",
    "RequestPayment",
    "RequestState",
    "RequestStore",
    "SplitBill",
    "SplitShare",
    "check_payable",
    "request_key",
]


KEY_PREFIX = "request:"


def request_key(token: str) -> str:
    """The idempotency key of the one transfer that pays the request ``token``."""
    return KEY_PREFIX + token


class RequestState(StrEnum):
    OPEN = "open"
    PAID = "paid"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    token: str
    requester_id: int  # Telegram id
    amount: int  # fen
    memo: str
    state: RequestState
    created_at: int  # unix ms
    paid_by: int | None = None  # the payer's Telegram id
    transfer_key: str | None = None  # the key of the transfer that paid it
    settled_at: int | None = None  # when it was paid or cancelled, unix ms
    expires_at: int = 0  # unix ms; from then on an open request can no longer be paid
    payer_for: int | None = None  # a split bill's share: the one person who may pay it

    @property
    def key(self) -> str:
        return request_key(self.token)

    def expired(self, now_ms: int) -> bool:
        """Still open, but past its validity: nobody can pay it any more."""
        return self.state is RequestState.OPEN and now_ms >= self.expires_at


class PaymentStatus(StrEnum):
    """What became of one attempt to pay a request (see :class:`RequestPayment`)."""

    PAID = "paid"
    PAID_BEFORE = "paid_before"
    BLOCKED = "blocked"
    NEEDS_REVIEW = "needs_review"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class RequestPayment:
    """What became of one attempt to pay a request.

    ``status``: ``paid`` (the money moved now), ``paid_before`` (this payer had paid it:
    nothing more moved), ``blocked`` or ``needs_review`` (the risk guard's decision: nothing
    moved), ``refused`` (``error`` says why: paid by someone else, cancelled, not enough
    money…; nothing moved).
    """

    status: PaymentStatus
    request: PaymentRequest
    payer: User
    requester: User
    decision: RiskDecision | None = None
    transfer: Transfer | None = None
    error: WalletError | None = None

    def __post_init__(self) -> None:  # a status given as text is the member it names
        object.__setattr__(self, "status", PaymentStatus(self.status))


@dataclass(frozen=True, slots=True)
class SplitShare:
    name: str  # as the sender wrote it
    amount: int  # fen
    user: User  # whom the name names (a split names no one the wallet does not know)
    request: PaymentRequest  # asking them for ``amount``


@dataclass(frozen=True, slots=True)
class SplitBill:
    total: int
    own_share: int  # the sender's, which nobody is asked for
    shares: tuple[SplitShare, ...]  # in the order named
    memo: str

    @property
    def people(self) -> int:
        return len(self.shares) + 1


class RequestStore(Protocol):
    def now_ms(self) -> int: ...

    async def create_requests(self, requests: Sequence[PaymentRequest]) -> None:
        """Save new open requests, all in one transaction."""
        ...

    async def get_request(self, token: str) -> PaymentRequest | None: ...

    async def pay_request(
        self,
        token: str,
        payer_id: int,
        spec: TransferSpec,
        *,
        password_free: PasswordFreePayment | None,
    ) -> tuple[PaymentRequest, Transfer, bool]:
        """In one transaction: find the request open, move ``spec`` under its key, mark it
        paid by ``payer_id`` (and, paid without the PIN, the transfer password-free, checked
        against the daily limit: ``PasswordFreeSpentToday``, nothing moved). Returns the request as
        paid, its transfer, and whether this was a replay (it was paid by this payer before:
        nothing moved). Raises ``PaymentRequestNotFound``, ``PaymentRequestAlreadyPaid``
        (someone else paid it), ``PaymentRequestCancelled``, ``PaymentRequestExpired`` (its
        ``expires_at`` has come by the store's clock) or the ledger's refusal."""
        ...

    async def cancel_request(self, token: str, requester_id: int) -> PaymentRequest:
        """Move an open request of ``requester_id`` to cancelled, once; raise
        ``PaymentRequestNotFound``, ``PaymentRequestNotYours``, ``PaymentRequestAlreadyPaid``,
        ``PaymentRequestCancelled`` or ``PaymentRequestExpired`` otherwise."""
        ...


def check_payable(request: PaymentRequest, payer_id: int, now_ms: int) -> None:
    """Raise why ``payer_id`` cannot pay ``request`` at ``now_ms`` (the store's rule too)."""
    if request.state is RequestState.PAID:
        raise PaymentRequestAlreadyPaid(token=request.token)
    if request.state is RequestState.CANCELLED:
        raise PaymentRequestCancelled(token=request.token)
    if request.expired(now_ms):
        raise PaymentRequestExpired(
            token=request.token, expired_at=request.expires_at, amount=request.amount
        )
    if request.requester_id == payer_id:
        raise PaymentRequestIsYours(token=request.token)
    if request.payer_for is not None and request.payer_for != payer_id:
        raise PaymentRequestForSomeoneElse(token=request.token)
