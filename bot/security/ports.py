"""What the security services need from persistence (implemented in ``bot.storage``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from bot.security.pin import PinState

__all__ = [
    "Action",
    "EncryptedCard",
    "EncryptedIdentity",
    "IdentityStore",
    "PinRecord",
    "SecurityEvent",
    "SecurityStore",
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
