"""What the wallet core needs from persistence (implemented in ``bot.storage``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from bot.wallet.model import Account, AccountKind, AccountStatus, Transfer, TransferSpec

__all__ = ["LedgerSnapshot", "LedgerStore"]


class LedgerSnapshot(Protocol):
    """A consistent read-only view of the whole ledger at one moment."""

    async def accounts(self) -> list[Account]: ...

    def transfers(self) -> AsyncIterator[Transfer]:
        """Every transfer in id order."""
        ...


class LedgerStore(Protocol):
    async def open_account(self, name: str, kind: AccountKind, currency: str) -> Account:
        """Create the account, or return it if ``(name, currency)`` exists already."""
        ...

    async def get_account(self, account_id: int) -> Account:
        """Raise ``AccountNotFound`` when there is no such account."""
        ...

    async def find_account(self, name: str, currency: str) -> Account | None: ...

    async def set_account_status(self, account_id: int, status: AccountStatus) -> Account: ...

    async def create_transfers(
        self, key: str, specs: Sequence[TransferSpec]
    ) -> tuple[Transfer, ...]:
        """Apply ``specs`` all or nothing in one database transaction.

        Transfer ``i`` gets the idempotency key ``key`` (i = 0) or ``key#i``. When ``key``
        exists already, return the stored transfers if they match ``specs``, else raise
        ``IdempotencyConflict``; nothing moves either way.
        """
        ...

    async def get_transfer(self, transfer_id: int) -> Transfer | None: ...

    async def history(self, account_id: int, before_id: int | None, limit: int) -> list[Transfer]:
        """Transfers touching the account, newest first, with ids below ``before_id``."""
        ...

    async def due_pending(self, now_ms: int, limit: int) -> list[Transfer]:
        """Open pending transfers whose timeout has passed at ``now_ms``."""
        ...

    def snapshot(self) -> AbstractAsyncContextManager[LedgerSnapshot]: ...

    def now_ms(self) -> int:
        """The store's clock, in unix milliseconds (injectable for tests)."""
        ...

    async def close(self) -> None: ...
