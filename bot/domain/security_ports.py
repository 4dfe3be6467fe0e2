"""What the security services need from persistence (implemented in ``bot.storage``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Protocol

from bot.domain.security_errors import PinLocked

__all__ = [
    "ENCRYPTED_FIELDS",
    "LOCKOUT_DELAYS_S",
    "MAX_TRIES",
    "Action",
    "EncryptedCard",
    "EncryptedIdentity",
    "IdentityStore",
    "PasswordFreeStore",
    "PinRecord",
    "PinState",
    "RotationStore",
    "SecurityEvent",
    "SecurityStore",
    "TwoFactorStore",
]


@dataclass(frozen=True, slots=True)
class Action:
    """A server-side pending action: all a button carries is its ``id``."""

    id: str
    telegram_id: int
    purpose: str
    payload: dict
    state: str  # open | done | cancelled
    expires_at: int  # unix ms
    created_at: int


@dataclass(frozen=True, slots=True)
class PinRecord:
    pin_hash: str | None
    key_id: str | None
    state: PinState


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    id: int
    at: int  # unix ms
    actor_id: int | None
    event: str
    subject_id: int | None
    details: dict
    prev_hash: str
    hash: str


class SecurityStore(Protocol):
    def now_ms(self) -> int: ...

    # pending actions
    async def create_action(self, action: Action) -> None: ...

    async def get_action(self, action_id: str) -> Action | None: ...

    async def finish_action(
        self, action_id: str, telegram_id: int, state: str, now_ms: int
    ) -> Action:
        """Move an open, unexpired action of this person to ``state``, exactly once.

        Raises the ``ActionError`` that says why not (unknown, foreign, expired, used).
        """
        ...

    async def purge_actions(self, before_ms: int) -> int:
        """Delete actions whose expiry is before ``before_ms``; return how many."""
        ...

    async def open_actions(self, purpose: str) -> list[Action]:
        """The actions of ``purpose`` still open, expired ones included (until purged),
        oldest first."""
        ...

    # PINs
    async def get_pin(self, telegram_id: int) -> PinRecord: ...

    async def set_pin(self, telegram_id: int, pin_hash: str, key_id: str) -> None: ...

    async def begin_pin_attempt(self, telegram_id: int, now_ms: int) -> PinRecord:
        """Count a try before it is checked, atomically; refuse while locked.

        Returns the record as it was before this try. Counting first means that many
        guesses sent at once still meet the limit.
        """
        ...

    async def pin_attempt_succeeded(self, telegram_id: int, before: PinRecord) -> None:
        """Forget the failures (and a lock this very try set) after a correct PIN."""
        ...

    # audit log
    async def record_event(
        self, actor_id: int | None, event: str, subject_id: int | None, details: dict
    ) -> SecurityEvent: ...

    def events(self) -> AsyncIterator[SecurityEvent]: ...


@dataclass(frozen=True, slots=True)
class EncryptedIdentity:
    telegram_id: int
    real_name: str  # AES-GCM tokens
    id_number: str
    id_index: str
    verified_at: int


@dataclass(frozen=True, slots=True)
class EncryptedCard:
    telegram_id: int
    card_number: str  # AES-GCM token
    card_index: str
    last4: str
    bound_at: int


class IdentityStore(Protocol):
    def now_ms(self) -> int: ...

    async def save_identity(self, identity: EncryptedIdentity) -> None:
        """Raise ``AlreadyVerified`` or ``IdNumberTaken`` instead of overwriting."""
        ...

    async def get_identity(self, telegram_id: int) -> EncryptedIdentity | None: ...

    async def save_card(self, card: EncryptedCard) -> None:
        """Bind the card, replacing a card bound before."""
        ...

    async def get_card(self, telegram_id: int) -> EncryptedCard | None: ...

    async def record_event(
        self, actor_id: int | None, event: str, subject_id: int | None, details: dict
    ) -> SecurityEvent: ...


MAX_TRIES = 5


# Lock length after the 1st, 2nd, ... lockout; every later one lasts as long as the last.
LOCKOUT_DELAYS_S = (60, 5 * 60, 30 * 60, 2 * 3600, 24 * 3600)


@dataclass(frozen=True)
class PinState:
    """Wrong-PIN counting and lockout, as a value the caller stores with the user.

    Times are integer **milliseconds** since the Unix epoch, like the store's
    ``now_ms()``. ``failed`` counts wrong tries since the last correct PIN or lockout;
    the fifth locks the PIN until ``locked_until_ms`` and counts one more in
    ``lockouts``, which makes the next lock longer (:data:`LOCKOUT_DELAYS_S`). A correct
    PIN clears ``failed`` but not ``lockouts``: someone who keeps guessing between
    correct entries by the owner still meets ever longer locks.

    Use: ``state.check(now_ms)`` before verifying (raises :class:`PinLocked`), then store
    ``state.after_success()`` or ``state.after_failure(now_ms)``.
    """

    failed: int = 0
    locked_until_ms: int = 0
    lockouts: int = 0

    def __post_init__(self) -> None:
        if min(self.failed, self.locked_until_ms, self.lockouts) < 0:
            raise ValueError("PinState counters and times are never negative")
        if self.failed >= MAX_TRIES:
            raise ValueError(f"PinState.failed is below {MAX_TRIES}; the last try locks")

    def is_locked(self, now_ms: int) -> bool:
        return now_ms < self.locked_until_ms

    def retry_after_s(self, now_ms: int) -> int:
        """Whole seconds until the lock ends, rounded up; 0 when not locked."""
        return max(0, -(-(self.locked_until_ms - now_ms) // 1000))

    def remaining_tries(self, now_ms: int) -> int:
        """Wrong tries left before the next lock; 0 while locked."""
        return 0 if self.is_locked(now_ms) else MAX_TRIES - self.failed

    def check(self, now_ms: int) -> None:
        """Raise :class:`PinLocked` if no PIN may be tried at ``now_ms``."""
        if self.is_locked(now_ms):
            raise PinLocked(
                locked_until_ms=self.locked_until_ms, retry_after_s=self.retry_after_s(now_ms)
            )

    def after_failure(self, now_ms: int) -> PinState:
        """The state after a wrong PIN at ``now_ms``; the fifth in a row locks.

        Raises :class:`PinLocked` while locked: a try then must not have been made at
        all, and counting it would let a caller's bug pass unnoticed.
        """
        self.check(now_ms)
        if self.failed + 1 < MAX_TRIES:
            return replace(self, failed=self.failed + 1)
        delay_s = LOCKOUT_DELAYS_S[min(self.lockouts, len(LOCKOUT_DELAYS_S) - 1)]
        return PinState(
            failed=0, locked_until_ms=now_ms + delay_s * 1000, lockouts=self.lockouts + 1
        )

    def after_success(self) -> PinState:
        """The state after a correct PIN: failures forgotten, lockout history kept."""
        return replace(self, failed=0)


# (table, column, blind index column or None, blind index purpose)
ENCRYPTED_FIELDS = (
    ("identities", "real_name", None, None),
    ("identities", "id_number", "id_index", "id_number"),
    ("bank_cards", "card_number", "card_index", "card_number"),
    ("credentials", "totp_secret", None, None),
)


class RotationStore(Protocol):
    async def encrypted_values(self, table: str, column: str) -> list[tuple[int, str]]:
        """(owner telegram id, token) of every non-empty value of the column."""
        ...

    async def rewrite_encrypted(
        self, updates: list[tuple[str, str, int, str]], key_check: str
    ) -> None:
        """Apply (table, column, owner, value) updates and the new key check, atomically."""
        ...


class TwoFactorStore(Protocol):
    def now_ms(self) -> int: ...

    async def get_totp(self, telegram_id: int) -> tuple[str | None, bool, int | None]: ...

    async def set_totp(self, telegram_id: int, secret: str | None, enabled: bool) -> None: ...

    async def use_totp_step(self, telegram_id: int, step: int) -> None: ...

    async def record_event(
        self, actor_id: int | None, event: str, subject_id: int | None, details: dict
    ) -> SecurityEvent: ...


class PasswordFreeStore(Protocol):
    async def get_password_free(self, telegram_id: int) -> tuple[int, int]: ...

    async def set_password_free(self, telegram_id: int, per_payment: int, daily: int) -> None: ...

    async def record_event(
        self, actor_id: int | None, event: str, subject_id: int | None, details: dict
    ) -> SecurityEvent: ...
