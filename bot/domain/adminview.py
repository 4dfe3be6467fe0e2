"""What an admin sees of one wallet (``/user``) and of the last days (``/stats``' chart),
and the port that reads it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from bot.domain.history import HistoryLine
from bot.domain.merchants import Merchant
from bot.domain.model import Balance
from bot.domain.users import User

__all__ = [
    "ACTIVITY_DAYS",
    "RECENT_DAYS",
    "SHOWN_TRANSFERS",
    "VIEW_USER",
    "Activity",
    "AdminViewStore",
    "DayActivity",
    "RiskFlags",
    "WalletView",
]

ACTIVITY_DAYS = 30  # the days /stats draws
RECENT_DAYS = 30  # how far back "recent" holds and PIN lockouts reach in /user
SHOWN_TRANSFERS = 5  # the latest transfers /user lists
VIEW_USER = "admin.view_user"  # the audit event (and the 2FA confirmation) of /user


@dataclass(frozen=True, slots=True)
class RiskFlags:
    holds_recent: int  # payments held for review in the last RECENT_DAYS
    holds_open: int  # of all time, still waiting for an admin
    pin_lockouts_recent: int  # PIN lockouts in the last RECENT_DAYS
    pin_locked_now: bool
    two_factor: bool
    password_free_per_payment: int  # fen; 0 when password-free payments are off
    password_free_daily: int


@dataclass(frozen=True, slots=True)
class WalletView:
    """One wallet as an admin sees it. Personal data arrive masked, never in full."""

    user: User
    balance: Balance
    frozen: bool
    tier: int  # 0 unverified, 1 real name, 2 real name and a bank card
    real_name: str | None  # masked: 张*
    id_number: str | None  # masked: 1101**********002X
    card: str | None  # masked: **** 1234
    risk: RiskFlags
    transfers: tuple[HistoryLine, ...]  # the latest, newest first
    open_tickets: int | None = None  # None where the wallet keeps no support tickets
    shop: Merchant | None = None  # the shop the person runs, if any
    shop_balance: int = 0  # what the shop's account holds (fen)


@dataclass(frozen=True, slots=True)
class DayActivity:
    """One calendar day (China time) of the wallet."""

    start_ms: int
    volume_by_kind: dict[str, int] = field(default_factory=dict)  # fen moved, by kind
    new_users: int = 0

    @property
    def volume(self) -> int:
        return sum(self.volume_by_kind.values())


@dataclass(frozen=True, slots=True)
class Activity:
    """The last days of the wallet, oldest first, one entry per day (also empty days)."""

    days: tuple[DayActivity, ...]


class AdminViewStore(Protocol):
    def now_ms(self) -> int: ...

    async def holds_of(self, account_id: int, since_ms: int) -> tuple[int, int]:
        """(payments of ``account_id`` held since ``since_ms``, holds of it still open)."""
        ...

    async def pin_lockouts(self, telegram_id: int, since_ms: int) -> int:
        """How many times the PIN of ``telegram_id`` was locked since ``since_ms``."""
        ...

    async def pin_locked_until(self, telegram_id: int) -> int:
        """Until when (unix ms) the PIN is locked; 0 when it is not."""
        ...

    async def open_tickets(self, telegram_id: int) -> int | None:
        """How many support tickets of ``telegram_id`` are open; None where the wallet
        keeps no tickets."""
        ...

    async def daily_activity(
        self, since_ms: int, day_ms: int, offset_ms: int
    ) -> tuple[list[tuple[int, str, int]], list[tuple[int, int]]]:
        """Money moved (posted transfers) as (day index, kind, fen) and users registered as
        (day index, count) since ``since_ms``; a day index is
        ``(created_at + offset_ms) // day_ms``."""
        ...

    async def record_event(
        self, actor_id: int | None, event: str, subject_id: int | None, details: dict
    ) -> object: ...
