"""What the admin console reads of the wallet: its figures, and the port that counts them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.domain.model import AccountStatus

__all__ = [
    "AdminStore",
    "WalletStats",
]


@dataclass(frozen=True, slots=True)
class WalletStats:
    users: int
    users_in_private_chat: int
    frozen_accounts: int
    transfers: int
    transfers_today: int
    money_held: int  # Σ user and merchant balances, fen
    open_reservations: int


class AdminStore(Protocol):
    async def stats(self, since_ms: int) -> WalletStats: ...

    async def record_event(
        self, actor_id: int | None, event: str, subject_id: int | None, details: dict
    ) -> object: ...

    async def change_status_logged(
        self, actor_id: int, account_id: int, subject_id: int, status: AccountStatus, event: str
    ) -> bool:
        """Set the account's status and, if that changed it, append ``event`` to the
        security log, in one write: True when this call changed it (False: it was so
        already, and nothing is logged). ``AccountNotFound`` for an unknown account."""
        ...

    def now_ms(self) -> int: ...
