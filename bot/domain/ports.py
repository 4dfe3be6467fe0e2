"""What the wallet core needs from persistence (implemented in ``bot.storage``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol

from bot.domain.model import Account, AccountKind, AccountStatus, Transfer, TransferSpec
from bot.domain.security_ports import SecurityEvent
from bot.domain.users import User

if TYPE_CHECKING:
    from bot.domain.users import Profile, User

__all__ = [
    "AuditSnapshot",
    "Database",
    "LedgerSnapshot",
    "LedgerStore",
    "UserStore",
]


class LedgerSnapshot(Protocol):
    """A consistent read-only view of the whole ledger at one moment."""

    async def accounts(self) -> list[Account]: ...

    def transfers(self) -> AsyncIterator[Transfer]:
        """Every transfer in id order."""
        ...

    async def live_voucher_value(self) -> dict[str, int]:
        """The remaining value of the live (unexpired) consumption vouchers, by currency."""
        ...


class AuditSnapshot(LedgerSnapshot, Protocol):
    """The ledger and the security log at one moment, read-only."""

    def events(self) -> AsyncIterator[SecurityEvent]: ...


class Database(Protocol):
    """One open database. The store of each port is one of its attributes (``ledger``,
    ``users``, …, see ``bot.storage``); what is left here belongs to the whole file."""

    def now_ms(self) -> int:
        """The database's clock, in unix milliseconds (injectable for tests)."""
        ...

    async def meta(self, name: str) -> str | None: ...

    async def set_meta_once(self, name: str, value: str) -> str:
        """Store ``value`` unless the name has one already; return the stored value."""
        ...

    def snapshot(self) -> AbstractAsyncContextManager[AuditSnapshot]: ...

    async def close(self) -> None:
        """Finish the writes queued, then close; closing twice is harmless."""
        ...


class LedgerStore(Protocol):
    """The ledger's storage. Every implementation keeps two promises:

    - a write is acknowledged (its call returns) only once it is durably committed;
    - read your writes: a read that starts after a write was acknowledged to its caller
      sees that write, under any concurrency (no read runs on a snapshot older than
      the moment it started).
    """

    async def open_account(self, name: str, kind: AccountKind, currency: str) -> Account:
        """Create the account, or return it if ``(name, currency)`` exists already."""
        ...

    async def get_account(self, account_id: int) -> Account:
        """Raise ``AccountNotFound`` when there is no such account."""
        ...

    async def find_account(self, name: str, currency: str) -> Account | None: ...

    async def set_account_status(self, account_id: int, status: AccountStatus) -> Account: ...

    async def change_account_status(self, account_id: int, status: AccountStatus) -> bool:
        """Set the status unless it is so already, in one write: True when it changed (of
        two callers at once, one changes it); ``AccountNotFound`` when there is no such
        account."""
        ...

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

    def now_ms(self) -> int:
        """The store's clock, in unix milliseconds (injectable for tests)."""
        ...


class UserStore(Protocol):
    async def upsert_user(self, profile: Profile, currency: str, private_chat: bool) -> User:
        """Create or update the person (and open their account), in one transaction.

        A username belongs to one person: whoever held it before loses it.
        ``private_chat`` only ever turns on.
        """
        ...

    async def get_user(self, telegram_id: int) -> User | None: ...

    async def find_user_by_username(self, username: str) -> User | None:
        """Case-insensitive, as Telegram usernames are."""
        ...

    async def set_user_language(self, telegram_id: int, language: str | None) -> User: ...
