"""The ledger's values: accounts, transfers and what is asked of the ledger.

Vocabulary after TigerBeetle. A transfer moves ``amount`` fen from ``debit_account_id``
to ``credit_account_id``. An account's balance is ``credits_posted - debits_posted``;
money reserved by open pending transfers is ``debits_pending``, and what the owner may
spend is ``balance - debits_pending``. Σ of all balances is always zero: system
accounts (the payment gateway's ``external``, escrow, promotions, fees) go negative
where user money came from outside.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_TRANSFER_AMOUNT",
    "MAY_GO_NEGATIVE",
    "MAY_SEND",
    "Account",
    "AccountKind",
    "AccountStatus",
    "Balance",
    "HistoryEntry",
    "HistoryPage",
    "SystemAccount",
    "Transfer",
    "TransferFlag",
    "TransferSpec",
]


class AccountKind(StrEnum):
    USER = "user"
    MERCHANT = "merchant"
    SYSTEM = "system"

    @property
    def may_go_negative(self) -> bool:
        """Whether accounts of this kind may spend more than they hold (:data:`MAY_GO_NEGATIVE`)."""
        return self in MAY_GO_NEGATIVE


class AccountStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"  # may receive, may not send

    @property
    def may_send(self) -> bool:
        """Whether an account in this status may be debited (:data:`MAY_SEND`)."""
        return self in MAY_SEND


# The one place each of these is decided; the ledger's rules (``ledger_rules``) and the
# database's conditional updates (built from these sets) both read them. Only the system
# accounts may go negative: where user money came from outside, they owe it (Σ = 0).
MAY_GO_NEGATIVE: frozenset[AccountKind] = frozenset({AccountKind.SYSTEM})
MAY_SEND: frozenset[AccountStatus] = frozenset({AccountStatus.ACTIVE})


class SystemAccount(StrEnum):
    """Names of the system accounts every ledger (currency) has."""

    EXTERNAL = "external"  # the payment gateway's clearing account
    ESCROW_REDPACKETS = "escrow:redpackets"
    PROMOTIONS = "promotions"
    FEES = "fees"


class TransferFlag(StrEnum):
    POSTED = "posted"  # an ordinary transfer: moves money at once
    PENDING = "pending"  # reserves money on the debit account
    POST_PENDING = "post_pending"  # completes a pending transfer
    VOID_PENDING = "void_pending"  # releases a pending transfer
    EXPIRE_PENDING = "expire_pending"  # releases a pending transfer past its timeout

    @property
    def resolves_pending(self) -> bool:
        return self in _RESOLVING

    @property
    def moves_posted_balance(self) -> bool:
        return self in _MOVING_POSTED


# As sets, looked up once: every transfer asks (an enum's members are slow attributes).
_RESOLVING = frozenset(
    {TransferFlag.POST_PENDING, TransferFlag.VOID_PENDING, TransferFlag.EXPIRE_PENDING}
)
_MOVING_POSTED = frozenset({TransferFlag.POSTED, TransferFlag.POST_PENDING})


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    kind: AccountKind
    currency: str
    status: AccountStatus
    debits_posted: int
    credits_posted: int
    debits_pending: int
    created_at: int  # unix milliseconds

    @property
    def balance(self) -> int:
        return self.credits_posted - self.debits_posted

    @property
    def available(self) -> int:
        return self.balance - self.debits_pending

    @property
    def may_go_negative(self) -> bool:
        return self.kind in MAY_GO_NEGATIVE

    @property
    def may_send(self) -> bool:
        return self.status in MAY_SEND


@dataclass(frozen=True, slots=True)
class Balance:
    account_id: int
    currency: str
    available: int
    reserved: int

    @property
    def total(self) -> int:
        return self.available + self.reserved


@dataclass(frozen=True, slots=True)
class TransferSpec:
    """One transfer asked of the ledger, before it has an id.

    ``pending_id`` names the pending transfer that a post/void/expire resolves; the
    accounts, amount and kind of such a transfer are taken from the pending one (use
    :meth:`resolving`).
    ``timeout_ms`` (pending transfers only) is how long the reservation may stay open.
    """

    debit_account_id: int
    credit_account_id: int
    amount: int
    kind: str
    flag: TransferFlag = TransferFlag.POSTED
    pending_id: int | None = None
    ref: str = ""
    memo: str = ""
    timeout_ms: int = 0

    @classmethod
    def resolving(
        cls, pending_id: int, flag: TransferFlag, *, ref: str = "", memo: str = ""
    ) -> TransferSpec:
        """A post, void or expiry of the pending transfer ``pending_id``."""
        if not flag.resolves_pending:
            raise ValueError(f"{flag} does not resolve a pending transfer")
        return cls(0, 0, 0, "", flag=flag, pending_id=pending_id, ref=ref, memo=memo)


@dataclass(frozen=True, slots=True)
class Transfer:
    id: int
    key: str
    debit_account_id: int
    credit_account_id: int
    amount: int
    currency: str
    kind: str
    flag: TransferFlag
    pending_id: int | None
    ref: str
    memo: str
    timeout_ms: int
    created_at: int  # unix milliseconds
    prev_hash: str
    hash: str

    def matches(self, spec: TransferSpec) -> bool:
        """Whether ``spec`` asks for exactly this transfer (idempotent replay)."""
        if spec.flag.resolves_pending:
            return (
                self.flag == spec.flag
                and self.pending_id == spec.pending_id
                and self.ref == spec.ref
                and self.memo == spec.memo
            )
        return (
            self.debit_account_id == spec.debit_account_id
            and self.credit_account_id == spec.credit_account_id
            and self.amount == spec.amount
            and self.kind == spec.kind
            and self.flag == spec.flag
            and self.pending_id == spec.pending_id
            and self.ref == spec.ref
            and self.memo == spec.memo
            and self.timeout_ms == spec.timeout_ms
        )


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """A transfer seen from one account: ``amount`` is signed (+ in, - out)."""

    transfer: Transfer
    amount: int
    counterparty_account_id: int


@dataclass(frozen=True, slots=True)
class HistoryPage:
    entries: tuple[HistoryEntry, ...]
    next_cursor: int | None  # pass back to get the next (older) page; None at the end


MAX_KEY_LENGTH = 128
MAX_TRANSFER_AMOUNT = 10**15  # ¥10 trillion: far above any real payment, far below 2**63
