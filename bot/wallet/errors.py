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
    ├── MemoTooLong
    ├── StorageError                the database failed; nothing was moved
    └── SecurityError
        ├── PinFormatInvalid
        ├── PinTooWeak
        ├── PinLocked
        ├── IdNumberInvalid         code: id_number_format | _birth_date | _check_digit
        ├── RealNameInvalid         code: real_name_length | real_name_characters
        ├── CardNumberInvalid       code: card_number_format | card_number_checksum
        ├── PinNotSet
        ├── PinWrong                params: remaining (tries before the lock)
        ├── PinMismatch             the two entries of a new PIN differ
        ├── ActionError             a button's server-side action cannot be used
        │   ├── ActionNotFound      forged or unknown
        │   ├── ActionNotYours      another person's button
        │   ├── ActionExpired
        │   └── ActionAlreadyUsed   replayed or double-tapped
        ├── AlreadyVerified
        ├── IdNumberTaken           the ID number verifies another wallet
        ├── VerificationRequired
        ├── TotpInvalid             a wrong 2FA code
        ├── TotpReplayed            a 2FA code that was used already
        ├── TotpNotEnabled
        ├── TotpAlreadyEnabled
        ├── HeldPaymentNotFound     no payment held for review has this id
        ├── HeldPaymentAlreadyDecided  approved or rejected before; params: state
        ├── DecryptionFailed        tampered, moved to another row, or unknown key
        └── MasterKeyError          start-up: the key cannot be used
            ├── MasterKeyFileUnsafe
            └── WrongMasterKey
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AccountFrozen",
    "AccountNotFound",
    "AccountsMustBeDifferent",
    "ActionAlreadyUsed",
    "ActionError",
    "ActionExpired",
    "ActionNotFound",
    "ActionNotYours",
    "AlreadyVerified",
    "AmountError",
    "CardNumberInvalid",
    "CurrencyMismatch",
    "DecryptionFailed",
    "HeldPaymentAlreadyDecided",
    "HeldPaymentNotFound",
    "IdNumberInvalid",
    "IdNumberTaken",
    "IdempotencyConflict",
    "InsufficientFunds",
    "LedgerError",
    "MasterKeyError",
    "MasterKeyFileUnsafe",
    "MemoTooLong",
    "PendingTransferAlreadyResolved",
    "PendingTransferExpired",
    "PendingTransferNotExpired",
    "PendingTransferNotFound",
    "PinFormatInvalid",
    "PinLocked",
    "PinMismatch",
    "PinNotSet",
    "PinTooWeak",
    "PinWrong",
    "RealNameInvalid",
    "SecurityError",
    "StorageError",
    "TotpAlreadyEnabled",
    "TotpInvalid",
    "TotpNotEnabled",
    "TotpReplayed",
    "UserNotFound",
    "VerificationRequired",
    "WalletError",
    "WrongMasterKey",
]


class WalletError(Exception):
    """Base of every error the wallet raises on purpose."""

    code: ClassVar[str] = "wallet_error"
    money_params: ClassVar[tuple[str, ...]] = ()  # params that are amounts of fen

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
    money_params = ("maximum",)

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
    money_params = ("available", "amount")


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


class MemoTooLong(WalletError):
    code = "memo_too_long"


class StorageError(WalletError):
    code = "storage_failed"


# --- Security: PINs, identity data, bank cards, field encryption (bot.security) ---------


class SecurityError(WalletError):
    code = "security_error"


class PinFormatInvalid(SecurityError):
    """A payment PIN is exactly six ASCII digits, typed on the keypad."""

    code = "pin_must_be_six_digits"


class PinTooWeak(SecurityError):
    """The new PIN is one people guess first (``111111``, ``123456``, ``121212``)."""

    code = "pin_too_weak"


class PinLocked(SecurityError):
    """Too many wrong PINs; ``params`` has ``locked_until_ms`` and ``retry_after_s``."""

    code = "pin_locked"


class _ReasonedSecurityError(SecurityError):
    """An input refusal whose per-instance ``code`` names the check that failed.

    The code must be one of ``codes``, so a typo cannot reach the message catalogs.
    """

    codes: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, code: str, message: str = "", **params: Any) -> None:
        if code not in self.codes:
            raise ValueError(f"{type(self).__name__} has no code {code!r}")
        self.code = code  # type: ignore[misc]  # per-instance reason
        super().__init__(message or code, **params)

    def __reduce__(self):  # the code is not the message when a message was given
        return (_rebuild_reasoned, (type(self), self.code, str(self), self.params))


def _rebuild_reasoned(
    cls: type[_ReasonedSecurityError], code: str, message: str, params: dict[str, Any]
) -> _ReasonedSecurityError:
    return cls(code, message, **params)


class IdNumberInvalid(_ReasonedSecurityError):
    """Not a resident ID number; ``code`` says whether the format, date or check digit failed."""

    code = "id_number_invalid"
    codes = frozenset({"id_number_format", "id_number_birth_date", "id_number_check_digit"})


class RealNameInvalid(_ReasonedSecurityError):
    """Not a usable real name: too short or long, or a character a name cannot hold."""

    code = "real_name_invalid"
    codes = frozenset({"real_name_length", "real_name_characters"})


class CardNumberInvalid(_ReasonedSecurityError):
    """Not a bank card number: wrong length or characters, or the Luhn check fails."""

    code = "card_number_invalid"
    codes = frozenset({"card_number_format", "card_number_checksum"})


class PinNotSet(SecurityError):
    code = "pin_not_set"


class PinWrong(SecurityError):
    """A wrong PIN; ``params['remaining']`` tries are left before the lock."""

    code = "pin_wrong"


class PinMismatch(SecurityError):
    code = "pin_confirmation_mismatch"


class ActionError(SecurityError):
    """A button's server-side action cannot be used; nothing was done."""

    code = "action_invalid"


class ActionNotFound(ActionError):
    code = "action_not_found"


class ActionNotYours(ActionError):
    code = "action_not_yours"


class ActionExpired(ActionError):
    code = "action_expired"


class ActionAlreadyUsed(ActionError):
    code = "action_already_used"


class AlreadyVerified(SecurityError):
    code = "already_verified"


class IdNumberTaken(SecurityError):
    code = "id_number_taken"


class VerificationRequired(SecurityError):
    code = "verification_required"


class TotpInvalid(SecurityError):
    code = "totp_code_invalid"


class TotpReplayed(SecurityError):
    code = "totp_code_used"


class TotpNotEnabled(SecurityError):
    code = "totp_not_enabled"


class TotpAlreadyEnabled(SecurityError):
    code = "totp_already_enabled"


class DecryptionFailed(SecurityError):
    """A stored encrypted value was altered, moved to another row, or its key is missing."""

    code = "encrypted_value_invalid"


class MasterKeyError(SecurityError):
    """The master key cannot be used; the message tells the operator what to change."""

    code = "master_key_invalid"


class MasterKeyFileUnsafe(MasterKeyError):
    """The key file may be read by other users of the machine."""

    code = "master_key_file_unsafe"


class WrongMasterKey(MasterKeyError):
    """The key does not match the key check saved with the data it encrypted."""

    code = "master_key_wrong"


class HeldPaymentNotFound(SecurityError):
    """No payment held for review has this id; ``params['held_id']``."""

    code = "held_payment_not_found"


class HeldPaymentAlreadyDecided(SecurityError):
    """An admin approved or rejected this held payment before; ``params['state']`` says which."""

    code = "held_payment_already_decided"
