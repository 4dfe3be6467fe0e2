"""The wallet's error tree.

Every error a user can cause has a stable ``code`` (snake case, stating a fact in
TigerBeetle's style) that the chat layer maps to a localized message, and ``params``
with the values that message may show. Lower-level errors (sqlite3, asyncpg) are
translated at the storage boundary with ``raise ... from``.

    WalletError
    ├── AmountError                 the text is not a usable amount of money
    ├── LedgerError
    │   ├── AccountNotFound
    │   ├── AccountFrozen
    │   ├── InsufficientFunds
    │   ├── AccountsMustBeDifferent
    │   ├── CurrencyMismatch
    │   ├── IdempotencyConflict
    │   ├── PendingTransferNotFound
    │   ├── PendingTransferAlreadyResolved
    │   ├── PendingTransferExpired
    │   └── PendingTransferNotExpired
    ├── UserNotFound
    └── StorageError                the database failed; nothing was moved
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AccountFrozen",
    "AccountNotFound",
    "AccountsMustBeDifferent",
    "AmountError",
    "CurrencyMismatch",
    "IdempotencyConflict",
    "InsufficientFunds",
    "LedgerError",
    "PendingTransferAlreadyResolved",
    "PendingTransferExpired",
    "PendingTransferNotExpired",
    "PendingTransferNotFound",
    "StorageError",
    "UserNotFound",
    "WalletError",
]


class WalletError(Exception):
    """Base of every error the wallet raises on purpose."""

    code: ClassVar[str] = "wallet_error"

    def __init__(self, message: str = "", **params: Any) -> None:
        self.params = params
        super().__init__(message or self.code)

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and other.code == self.code  # type: ignore[attr-defined]
            and other.params == self.params  # type: ignore[attr-defined]
        )

    def __hash__(self) -> int:
        return hash((type(self), self.code))

    def __reduce__(self):  # keeps params across pickling (subprocess tests)
        return (_rebuild, (type(self), str(self), self.params))


def _rebuild(cls: type[WalletError], message: str, params: dict[str, Any]) -> WalletError:
    return cls(message, **params)


class AmountError(WalletError):
    """The text is not a usable amount; ``code`` says exactly why."""

    code = "amount_invalid"

    def __init__(self, code: str, message: str = "", **params: Any) -> None:
        self.code = code  # type: ignore[misc]  # per-instance reason
        super().__init__(message or code, **params)


class LedgerError(WalletError):
    code = "ledger_error"


class AccountNotFound(LedgerError):
    code = "account_not_found"


class AccountFrozen(LedgerError):
    code = "account_frozen"


class InsufficientFunds(LedgerError):
    code = "exceeds_balance"


class AccountsMustBeDifferent(LedgerError):
    code = "accounts_must_be_different"


class CurrencyMismatch(LedgerError):
    code = "accounts_must_have_the_same_currency"


class IdempotencyConflict(LedgerError):
    """The key was used before for a different request."""

    code = "idempotency_key_reused_with_different_request"


class PendingTransferNotFound(LedgerError):
    code = "pending_transfer_not_found"


class PendingTransferAlreadyResolved(LedgerError):
    """The reservation was already posted, voided or expired."""

    code = "pending_transfer_already_resolved"


class PendingTransferExpired(LedgerError):
    """The reservation ran past its timeout and can no longer be posted."""

    code = "pending_transfer_expired"


class PendingTransferNotExpired(LedgerError):
    code = "pending_transfer_not_expired"


class UserNotFound(WalletError):
    code = "user_not_found"


class StorageError(WalletError):
    code = "storage_failed"
