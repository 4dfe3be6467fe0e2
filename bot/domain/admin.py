"""What the admin console reads of the wallet: its figures, and the port that counts them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

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

    def now_ms(self) -> int: ...
