"""Payments held for an admin's review, and the day boundary the daily limits count from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.domain.risk import HOUR_MS, PaymentKind

__all__ = [
    "CHINA_UTC_OFFSET_MS",
    "DAY_MS",
    "HOLD_APPROVED",
    "HOLD_OPENED",
    "HOLD_REJECTED",
    "OUTGOING_KINDS",
    "Held",
    "HoldState",
    "PayerRecord",
    "day_start_ms",
]


DAY_MS = 24 * HOUR_MS
CHINA_UTC_OFFSET_MS = 8 * HOUR_MS
OUTGOING_KINDS = frozenset(k for k in PaymentKind if k is not PaymentKind.REDPACKET_GRAB)
HOLD_OPENED = "hold.opened"
HOLD_APPROVED = "admin.hold_approved"
HOLD_REJECTED = "admin.hold_rejected"


def day_start_ms(now_ms: int, offset_ms: int = CHINA_UTC_OFFSET_MS) -> int:
    """The first millisecond of the calendar day holding ``now_ms``, at UTC + ``offset_ms``."""
    return (now_ms + offset_ms) // DAY_MS * DAY_MS - offset_ms


class HoldState(StrEnum):
    OPEN = "open"
    APPROVED = "approved"  # the reservation was posted
    REJECTED = "rejected"  # the reservation was voided


@dataclass(frozen=True, slots=True)
class Held:
    """A payment waiting for (or past) an admin's review; its money is the pending transfer.

    The Telegram ids are those of the accounts' owners, None for a system or merchant
    account (a red packet's escrow, a withdrawal's gateway, a shop).
    """

    id: int
    pending_transfer_id: int
    payer_account_id: int
    credit_account_id: int
    payer_telegram_id: int | None
    recipient_telegram_id: int | None
    amount: int
    kind: str
    reasons: tuple[str, ...]  # risk reason codes, most severe first
    memo: str
    state: HoldState
    created_at: int  # unix ms
    decided_by: int | None  # the admin's Telegram id
    decided_at: int | None


@dataclass(frozen=True, slots=True)
class PayerRecord:
    """What the guard reads about a payer in one go; password-free limits 0 when off."""

    account_id: int
    account_created_at: int  # unix ms
    has_pin: bool
    has_2fa: bool
    password_free_limit_fen: int
    password_free_daily_limit_fen: int
