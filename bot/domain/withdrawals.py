"""Withdrawals to a bound bank card: the request, its states, and their port."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Protocol

from bot.domain.errors import WalletError
from bot.domain.holds import Held
from bot.domain.model import TransferSpec
from bot.domain.risk import RiskDecision

__all__ = [
    "Withdrawal",
    "WithdrawalOrder",
    "WithdrawalOutcome",
    "WithdrawalState",
    "WithdrawalStatus",
    "WithdrawalStore",
]


class WithdrawalState(StrEnum):
    HELD = "held"
    REQUESTED = "requested"
    UNKNOWN = "unknown"
    PAID = "paid"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (WithdrawalState.PAID, WithdrawalState.FAILED)


@dataclass(frozen=True, slots=True)
class Withdrawal:
    id: int
    telegram_id: int
    account_id: int
    amount: int
    currency: str
    card_last4: str
    pending_transfer_id: int
    request_id: str  # the gateway's idempotency key
    state: WithdrawalState
    reason: str  # why it failed, in the gateway's words
    settled_transfer_id: int | None  # the post, void or refund
    told: bool  # the owner was told of the final state
    created_at: int  # unix ms
    updated_at: int

    @property
    def card(self) -> str:
        return f"**** {self.card_last4}"


@dataclass(frozen=True, slots=True)
class WithdrawalOrder:
    telegram_id: int
    amount: int
    card_last4: str

    @property
    def card(self) -> str:
        return f"**** {self.card_last4}"

    def to_payload(self) -> dict:
        return asdict(self)

    @classmethod
    def from_payload(cls, payload: dict) -> WithdrawalOrder:
        return cls(**{k: payload[k] for k in cls.__slots__})


class WithdrawalStatus(StrEnum):
    """What became of a confirmed withdrawal (see :class:`WithdrawalOutcome`)."""

    PAID = "paid"
    FAILED = "failed"
    UNKNOWN = "unknown"
    HELD = "held"
    BLOCKED = "blocked"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class WithdrawalOutcome:
    """What became of a confirmed withdrawal.

    ``status``: ``paid``, ``failed``, ``unknown`` (the money stays reserved until the
    gateway's answer is known), ``held`` (waits for an admin), ``blocked`` (the guard
    refused; nothing moved) or ``refused`` (``error`` says why; nothing moved).
    """

    status: WithdrawalStatus
    order: WithdrawalOrder
    decision: RiskDecision | None = None
    withdrawal: Withdrawal | None = None
    held: Held | None = None
    error: WalletError | None = None

    def __post_init__(self) -> None:  # a status given as text is the member it names
        object.__setattr__(self, "status", WithdrawalStatus(self.status))


class WithdrawalStore(Protocol):
    def now_ms(self) -> int: ...

    async def open_withdrawal(
        self, key: str, spec: TransferSpec, telegram_id: int, card_last4: str, request_id: str
    ) -> Withdrawal:
        """Reserve ``spec`` (pending) under ``key`` and record the withdrawal (requested),
        in one transaction; a replayed key returns the same record."""
        ...

    async def open_held_withdrawal(
        self,
        key: str,
        spec: TransferSpec,
        reasons: Sequence[str],
        event: str,
        telegram_id: int,
        card_last4: str,
        request_id: str,
    ) -> tuple[Held, Withdrawal]:
        """Like ``open_withdrawal`` (state held), with the guard's review item and its
        ``event``, all in one transaction."""
        ...

    async def advance_held(self, withdrawal_id: int) -> tuple[Withdrawal, bool]:
        """After the review: approved → requested, rejected → failed (told, as the review
        told the owner); open → unchanged. True when this call moved it."""
        ...

    async def mark_checked(self, withdrawal_id: int) -> None:
        """Record that the gateway was asked and gave no final answer (sweep order)."""
        ...

    async def mark_unknown(self, withdrawal_id: int) -> Withdrawal:
        """requested → unknown; any other state stays."""
        ...

    async def settle(
        self, withdrawal_id: int, paid: bool, reason: str, told: bool, refund_kind: str
    ) -> tuple[Withdrawal, bool]:
        """requested/unknown → paid (post the reservation) or failed (void it, or refund
        a posted one with a ``refund_kind`` transfer), in one transaction. True when this
        call settled it; a settled one is returned as it is."""
        ...

    async def open_withdrawals(self, updated_before_ms: int, limit: int) -> list[Withdrawal]:
        """Held ones whose review is decided, and requested/unknown ones not updated since
        ``updated_before_ms``; oldest first."""
        ...

    async def untold(self, limit: int) -> list[Withdrawal]:
        """Settled withdrawals whose owner was not told yet, oldest first."""
        ...

    async def mark_told(self, withdrawal_id: int) -> None: ...

    async def get_withdrawal(self, withdrawal_id: int) -> Withdrawal | None: ...

    async def find_withdrawal(self, request_id: str) -> Withdrawal | None:
        """The withdrawal whose gateway request id is ``request_id``, or None."""
        ...
