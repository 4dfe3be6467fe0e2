"""Payments held for an admin's review, and the day boundary the daily limits count from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.domain.model import Transfer, TransferSpec
from bot.domain.risk import HOUR_MS, RecentGrab, RecentPayment, holding_codes
from bot.domain.security_ports import SecurityEvent

__all__ = [
    "CHINA_UTC_OFFSET_MS",
    "DAY_MS",
    "HELD_REF",
    "HOLD_APPROVED",
    "HOLD_OPENED",
    "HOLD_REJECTED",
    "GuardStore",
    "Held",
    "HoldDecision",
    "HoldState",
    "PasswordFreePayment",
    "PayerRecord",
    "day_start_ms",
]


DAY_MS = 24 * HOUR_MS
CHINA_UTC_OFFSET_MS = 8 * HOUR_MS
HOLD_OPENED = "hold.opened"
HOLD_APPROVED = "admin.hold_approved"
HOLD_REJECTED = "admin.hold_rejected"


def day_start_ms(now_ms: int, offset_ms: int = CHINA_UTC_OFFSET_MS) -> int:
    """The first millisecond of the calendar day holding ``now_ms``, at UTC + ``offset_ms``."""
    return (now_ms + offset_ms) // DAY_MS * DAY_MS - offset_ms


HELD_REF = "hold:"  # the ref (and key) of a hold's decision: hold:<held id>


class HoldState(StrEnum):
    OPEN = "open"
    APPROVED = "approved"  # the reservation was posted
    REJECTED = "rejected"  # the reservation was voided


@dataclass(frozen=True, slots=True)
class Held:
    """A payment waiting for (or past) an admin's review; its money is the pending transfer.

    The Telegram ids are those of the accounts' owners, None for a system or merchant
    account (a red packet's escrow, a withdrawal's gateway, a shop). ``reasons`` are only
    the codes of rules that hold a payment (:func:`bot.domain.risk.holding_codes`), however
    the stored hold listed them.
    """

    id: int
    pending_transfer_id: int
    payer_account_id: int
    credit_account_id: int
    payer_telegram_id: int | None
    recipient_telegram_id: int | None
    amount: int
    kind: str
    reasons: tuple[str, ...]  # codes of the rules that held it (RiskDecision.hold_reasons)
    memo: str
    state: HoldState
    created_at: int  # unix ms
    decided_by: int | None  # the admin's Telegram id
    decided_at: int | None
    # the transfer that posted (approved) or voided (rejected) it, as its decision
    # returned it: the number /history shows the payment by (None when read back later)
    resolved_transfer_id: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "reasons", holding_codes(self.reasons))


@dataclass(frozen=True, slots=True)
class PayerRecord:
    """What the guard reads about a payer in one go; password-free limits 0 when off."""

    account_id: int
    account_created_at: int  # unix ms
    has_pin: bool
    has_2fa: bool
    password_free_limit_fen: int
    password_free_daily_limit_fen: int


@dataclass(frozen=True, slots=True)
class PasswordFreePayment:
    """A payment going ahead without the PIN, as its own write sees it: the write marks
    the payment's key password-free and, once its money moved, counts the payer's
    password-free payments from ``day_start_ms`` on (this one included, and every one
    committed before, however concurrent): above ``daily_limit_fen`` the write raises
    ``PasswordFreeSpentToday`` and nothing of it stays."""

    telegram_id: int
    account_id: int
    daily_limit_fen: int
    day_start_ms: int


class GuardStore(Protocol):
    def now_ms(self) -> int: ...

    async def payer_record(self, telegram_id: int) -> PayerRecord | None: ...

    async def outgoing_totals(self, account_id: int, since_ms: int) -> tuple[int, int]:
        """(Σ live outgoing payments, Σ of those marked password-free) from ``since_ms`` on."""
        ...

    async def recent_outgoing(self, account_id: int, since_ms: int) -> list[RecentPayment]:
        """Live outgoing payments created after ``since_ms``, oldest first."""
        ...

    async def recent_grabs(self, account_id: int, since_ms: int) -> list[RecentGrab]:
        """Red-packet grabs credited after ``since_ms``, oldest first."""
        ...

    async def mark_password_free(self, key: str, telegram_id: int) -> None:
        """Remember that the transfer with idempotency key ``key`` needs no PIN (once)."""
        ...

    async def transfer_password_free(
        self, key: str, specs: Sequence[TransferSpec], payment: PasswordFreePayment
    ) -> tuple[Transfer, ...]:
        """The ledger's ``create_transfers(key, specs)`` for a payment without the PIN,
        marked and checked in the same transaction (see :class:`PasswordFreePayment`).
        Replaying ``key`` answers from the journal and checks nothing again."""
        ...

    async def open_hold(
        self, key: str, spec: TransferSpec, reasons: Sequence[str], event: str
    ) -> Held:
        """Reserve ``spec`` (a pending transfer) under ``key``, open its review item and log
        ``event``, all in one transaction. Replaying ``key`` returns the same item."""
        ...

    async def decide_hold(self, held_id: int, approve: bool, admin_id: int, event: str) -> Held:
        """Move an open item to approved (post) or rejected (void) and log ``event``, at
        once; raise ``HeldPaymentNotFound`` or ``HeldPaymentAlreadyDecided`` otherwise."""
        ...

    async def get_hold(self, held_id: int) -> Held | None: ...

    async def open_holds(self, limit: int) -> list[Held]:
        """Open items, oldest first."""
        ...

    async def record_event(
        self, actor_id: int | None, event: str, subject_id: int | None, details: dict
    ) -> SecurityEvent: ...


def event_details(held: Held, **more: object) -> dict:
    """What the security log keeps of a held payment's opening and decision."""
    return {
        "held_id": held.id,
        "pending_transfer_id": held.pending_transfer_id,
        "amount": held.amount,
        "kind": held.kind,
        "reasons": list(held.reasons),
        "recipient_id": held.recipient_telegram_id,
        **more,
    }


@dataclass(frozen=True, slots=True)
class HoldDecision:
    """An admin's decision on a held payment, taken after their 2FA code (the keypad's
    outcome): the hold as decided, and which way."""

    held: Held
    approved: bool

