"""The security layer's errors: PINs, identity data, bank cards, 2FA, held payments,
field encryption.

    WalletError (bot.domain.errors)
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
        │   └── ActionAlreadyUsed   replayed, double-tapped, or its message was replaced
        │       └── ActionCancelled the button's action was cancelled
        ├── AlreadyVerified
        ├── HolderTooYoung          params: minimum_age (the ID number's holder is younger)
        ├── IdNumberTaken           the ID number verifies another wallet
        ├── VerificationRequired
        ├── CardNotBound            a withdrawal needs a bound bank card (/bindcard)
        ├── TotpInvalid             a wrong 2FA code
        ├── TotpReplayed            a 2FA code that was used already
        ├── TotpNotEnabled
        ├── TotpAlreadyEnabled
        ├── HeldPaymentNotFound     no payment held for review has this id
        ├── HeldPaymentAlreadyDecided  approved or rejected before; params: state
        ├── HeldPaymentOwn          an admin may not approve a payment they pay or receive
        ├── PasswordFreeSpentToday  without the PIN it would pass today's password-free limit
        ├── DecryptionFailed        tampered, moved to another row, or unknown key
        └── MasterKeyError          start-up: the key cannot be used
            ├── MasterKeyFileUnsafe
            └── WrongMasterKey
"""

from __future__ import annotations

from typing import Any, ClassVar

from bot.domain.errors import WalletError

__all__ = [
    "ActionAlreadyUsed",
    "ActionCancelled",
    "ActionError",
    "ActionExpired",
    "ActionNotFound",
    "ActionNotYours",
    "AlreadyVerified",
    "CardChangeNeedsPin",
    "CardNotBound",
    "CardNumberInvalid",
    "DecryptionFailed",
    "HeldPaymentAlreadyDecided",
    "HeldPaymentNotFound",
    "HeldPaymentOwn",
    "HolderTooYoung",
    "IdNumberInvalid",
    "IdNumberTaken",
    "MasterKeyError",
    "MasterKeyFileUnsafe",
    "PasswordFreeSpentToday",
    "PinFormatInvalid",
    "PinKeyRetired",
    "PinLocked",
    "PinMismatch",
    "PinNotSet",
    "PinTooWeak",
    "PinWrong",
    "RealNameInvalid",
    "SecurityError",
    "TotpAlreadyEnabled",
    "TotpInvalid",
    "TotpNotEnabled",
    "TotpReplayed",
    "VerificationRequired",
    "WrongMasterKey",
]


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
    until_params = ("locked_until_ms",)  # "try again after 18:31"


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


class PinKeyRetired(SecurityError):
    """The PIN was hashed under a master key no longer in the keyring (removed before its
    holder entered the PIN again): it cannot be checked, and no try was counted."""

    code = "pin_key_retired"


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
    """The button's action ended: done, or its message was replaced by what came next."""

    code = "action_already_used"


class ActionCancelled(ActionAlreadyUsed):
    code = "action_cancelled"


class AlreadyVerified(SecurityError):
    code = "already_verified"


class HolderTooYoung(SecurityError):
    """The ID number is well formed, but its holder is under ``minimum_age``: a wallet
    is verified by an adult's ID (its limits and withdrawals are theirs)."""

    code = "verify_too_young"


class IdNumberTaken(SecurityError):
    code = "id_number_taken"


class VerificationRequired(SecurityError):
    code = "verification_required"


class CardChangeNeedsPin(SecurityError):
    """Another card is bound already: replacing it is confirmed with the PIN (and the
    2FA code when on), so a phone left unlocked cannot redirect withdrawals; ``params``:
    ``card`` (the new one, masked), ``bound`` (the one bound, masked)."""

    code = "card_change_needs_pin"


class CardNotBound(SecurityError):
    """Money can leave the wallet only to a bank card bound with /bindcard."""

    code = "card_not_bound"


class TotpInvalid(SecurityError):
    code = "totp_code_invalid"


class TotpReplayed(SecurityError):
    code = "totp_code_used"


class TotpNotEnabled(SecurityError):
    code = "totp_not_enabled"


class TotpAlreadyEnabled(SecurityError):
    code = "totp_already_enabled"


class PasswordFreeSpentToday(SecurityError):
    """Paying without the PIN would pass the payer's daily password-free limit (other
    payments went through meanwhile): nothing moved, this one needs the PIN."""

    code = "password_free_spent_today"


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


class HeldPaymentOwn(SecurityError):
    """An admin tried to approve a held payment they pay or receive: another admin must
    (a review its party could pass would hold nothing); rejecting it stays theirs to do."""

    code = "held_payment_own"


class HeldPaymentAlreadyDecided(SecurityError):
    """An admin approved or rejected this held payment before; ``params['state']`` says which."""

    code = "held_payment_already_decided"
