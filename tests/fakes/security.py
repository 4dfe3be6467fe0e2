"""Pending actions, PINs, the security log, identities, cards, 2FA and key rotation in
memory: the ``SecurityStore``, ``IdentityStore``, ``TwoFactorStore``, ``PasswordFreeStore``
and ``RotationStore`` of ``bot.domain.security_ports``, as ``security_ops``,
``identity_ops`` and ``rotation_ops`` keep them.

As in the SQLite schema, credentials, identities and cards belong to a known person (a
row for anyone else is refused as a broken reference), and the password-free limits are
kept only for someone who has credentials already (a PIN or a 2FA secret).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace

from bot.domain.security_errors import (
    ActionAlreadyUsed,
    ActionCancelled,
    ActionExpired,
    ActionNotFound,
    ActionNotYours,
    AlreadyVerified,
    IdNumberTaken,
    TotpReplayed,
)
from bot.domain.security_ports import (
    ENCRYPTED_FIELDS,
    MAX_TRIES,
    Action,
    EncryptedCard,
    EncryptedIdentity,
    IdentityStore,
    PasswordFreeStore,
    PinRecord,
    PinState,
    RotationStore,
    SecurityEvent,
    SecurityStore,
    TwoFactorStore,
)
from tests.fakes.port import MemoryPort, RecordsEvents
from tests.fakes.state import Credentials, IntegrityError, MemoryState

__all__ = ["MemoryIdentity", "MemoryRotation", "MemorySecurity"]


def _pin_record(credentials: Credentials | None) -> PinRecord:
    if credentials is None:
        return PinRecord(None, None, PinState())
    c = credentials
    return PinRecord(
        c.pin_hash, c.pin_key_id, PinState(c.pin_failed, c.pin_locked_until, c.pin_lockouts)
    )


# Writes -------------------------------------------------------------------------------


def _create_action(state: MemoryState, action: Action) -> None:
    if action.id in state.actions:
        raise IntegrityError("UNIQUE constraint failed: pending_actions.id")
    # kept as the JSON the SQLite store keeps: what is read back is what JSON gives back
    payload = json.loads(json.dumps(action.payload, ensure_ascii=False))
    state.actions[action.id] = replace(action, payload=payload)


def _finish_action(
    state: MemoryState, action_id: str, telegram_id: int, new_state: str, now: int
) -> Action:
    action = state.actions.get(action_id)
    if action is None:
        raise ActionNotFound(action_id=action_id)
    if action.telegram_id == telegram_id and action.state == "open" and action.expires_at > now:
        state.actions[action_id] = action = replace(action, state=new_state)
        return action
    if action.telegram_id != telegram_id:
        raise ActionNotYours(action_id=action_id)
    if action.state == "cancelled":
        raise ActionCancelled(action_id=action_id)
    if action.state != "open":
        raise ActionAlreadyUsed(action_id=action_id)
    raise ActionExpired(action_id=action_id)


def _purge_actions(state: MemoryState, before_ms: int) -> int:
    gone = [a.id for a in state.actions.values() if a.expires_at < before_ms]
    for action_id in gone:
        del state.actions[action_id]
    return len(gone)


def _credentials(state: MemoryState, telegram_id: int) -> Credentials:
    """The person's credentials, a new row if they have none (a known person only)."""
    found = state.credentials.get(telegram_id)
    if found is None:
        state.require_user(telegram_id)
        found = Credentials()
    return found


def _set_pin(state: MemoryState, telegram_id: int, pin_hash: str, key_id: str) -> None:
    state.credentials[telegram_id] = replace(
        _credentials(state, telegram_id),
        pin_hash=pin_hash,
        pin_key_id=key_id,
        pin_failed=0,
        pin_locked_until=0,
    )


def _begin_pin_attempt(state: MemoryState, telegram_id: int, now: int) -> PinRecord:
    found = state.credentials.get(telegram_id)
    before = _pin_record(found)
    after = before.state.after_failure(now)  # raises PinLocked while locked
    if found is not None:
        state.credentials[telegram_id] = replace(
            found,
            pin_failed=after.failed,
            pin_locked_until=after.locked_until_ms,
            pin_lockouts=after.lockouts,
        )
    return before


def _pin_attempt_succeeded(state: MemoryState, telegram_id: int, before: PinRecord) -> None:
    found = state.credentials.get(telegram_id)
    if found is None:
        return
    if before.state.failed == MAX_TRIES - 1:  # counting this try locked: undo that lock
        found = replace(
            found,
            pin_locked_until=before.state.locked_until_ms,
            pin_lockouts=before.state.lockouts,
        )
    state.credentials[telegram_id] = replace(found, pin_failed=0)


def _save_identity(state: MemoryState, identity: EncryptedIdentity) -> None:
    if identity.telegram_id in state.identities:
        raise AlreadyVerified(telegram_id=identity.telegram_id)
    if any(i.id_index == identity.id_index for i in state.identities.values()):
        raise IdNumberTaken()
    state.require_user(identity.telegram_id)
    state.identities[identity.telegram_id] = identity


def _save_card(state: MemoryState, card: EncryptedCard) -> None:
    state.require_user(card.telegram_id)
    state.cards[card.telegram_id] = card


def _set_totp(state: MemoryState, telegram_id: int, secret: str | None, enabled: bool) -> None:
    found = _credentials(state, telegram_id)
    # a new secret starts a new replay history
    last_step = found.totp_last_step if found.totp_secret == secret else None
    state.credentials[telegram_id] = replace(
        found, totp_secret=secret, totp_enabled=enabled, totp_last_step=last_step
    )


def _use_totp_step(state: MemoryState, telegram_id: int, step: int) -> None:
    found = state.credentials.get(telegram_id)
    if found is None or (found.totp_last_step is not None and found.totp_last_step >= step):
        raise TotpReplayed()
    state.credentials[telegram_id] = replace(found, totp_last_step=step)


def _set_password_free(state: MemoryState, telegram_id: int, per_payment: int, daily: int) -> None:
    found = state.credentials.get(telegram_id)
    if found is not None:  # an UPDATE: nothing for someone without credentials
        state.credentials[telegram_id] = replace(
            found, nopin_per_payment=per_payment, nopin_daily=daily
        )


# Stores -------------------------------------------------------------------------------


class MemorySecurity(RecordsEvents, MemoryPort, SecurityStore):
    async def create_action(self, action: Action) -> None:
        await self._state.write(_create_action, self._state, action)

    async def get_action(self, action_id: str) -> Action | None:
        return self._db.actions.get(action_id)

    async def finish_action(
        self, action_id: str, telegram_id: int, state: str, now_ms: int
    ) -> Action:
        return await self._state.write(
            _finish_action, self._state, action_id, telegram_id, state, now_ms
        )

    async def purge_actions(self, before_ms: int) -> int:
        return await self._state.write(_purge_actions, self._state, before_ms)

    async def open_actions(self, purpose: str) -> list[Action]:
        found = [a for a in self._db.actions.values() if a.state == "open" and a.purpose == purpose]
        return sorted(found, key=lambda a: (a.created_at, a.id))

    async def get_pin(self, telegram_id: int) -> PinRecord:
        return _pin_record(self._db.credentials.get(telegram_id))

    async def set_pin(self, telegram_id: int, pin_hash: str, key_id: str) -> None:
        await self._state.write(_set_pin, self._state, telegram_id, pin_hash, key_id)

    async def begin_pin_attempt(self, telegram_id: int, now_ms: int) -> PinRecord:
        return await self._state.write(_begin_pin_attempt, self._state, telegram_id, now_ms)

    async def pin_attempt_succeeded(self, telegram_id: int, before: PinRecord) -> None:
        await self._state.write(_pin_attempt_succeeded, self._state, telegram_id, before)

    async def events(self) -> AsyncIterator[SecurityEvent]:
        for event in list(self._db.events):
            yield event


class MemoryIdentity(RecordsEvents, MemoryPort, IdentityStore, TwoFactorStore, PasswordFreeStore):
    async def save_identity(self, identity: EncryptedIdentity) -> None:
        await self._state.write(_save_identity, self._state, identity)

    async def get_identity(self, telegram_id: int) -> EncryptedIdentity | None:
        return self._db.identities.get(telegram_id)

    async def save_card(self, card: EncryptedCard) -> None:
        await self._state.write(_save_card, self._state, card)

    async def get_card(self, telegram_id: int) -> EncryptedCard | None:
        return self._db.cards.get(telegram_id)

    async def get_totp(self, telegram_id: int) -> tuple[str | None, bool, int | None]:
        """(encrypted secret, enabled, last used step)."""
        found = self._db.credentials.get(telegram_id)
        if found is None:
            return None, False, None
        return found.totp_secret, found.totp_enabled, found.totp_last_step

    async def set_totp(self, telegram_id: int, secret: str | None, enabled: bool) -> None:
        await self._state.write(_set_totp, self._state, telegram_id, secret, enabled)

    async def use_totp_step(self, telegram_id: int, step: int) -> None:
        await self._state.write(_use_totp_step, self._state, telegram_id, step)

    async def get_password_free(self, telegram_id: int) -> tuple[int, int]:
        found = self._db.credentials.get(telegram_id)
        return (found.nopin_per_payment, found.nopin_daily) if found else (0, 0)

    async def set_password_free(self, telegram_id: int, per_payment: int, daily: int) -> None:
        await self._state.write(_set_password_free, self._state, telegram_id, per_payment, daily)


# the SQLite table -> the state's table (its rows' fields are named as the columns are)
_TABLES = {"identities": "identities", "bank_cards": "cards", "credentials": "credentials"}
ALLOWED_COLUMNS = {
    (table, name)
    for table, column, index, _ in ENCRYPTED_FIELDS
    for name in (column, index)
    if name is not None
}


def _rewrite(state: MemoryState, updates: list[tuple[str, str, int, str]], key_check: str) -> None:
    for table, column, owner, value in updates:
        if (table, column) not in ALLOWED_COLUMNS:
            raise ValueError(f"not an encrypted column: {table}.{column}")
        rows = getattr(state, _TABLES[table])
        if owner in rows:
            rows[owner] = replace(rows[owner], **{column: value})
    state.meta["key_check"] = key_check


class MemoryRotation(MemoryPort, RotationStore):
    async def encrypted_values(self, table: str, column: str) -> list[tuple[int, str]]:
        if (table, column) not in ALLOWED_COLUMNS:
            raise ValueError(f"not an encrypted column: {table}.{column}")
        rows = getattr(self._db, _TABLES[table])
        return [
            (owner, getattr(row, column))
            for owner, row in sorted(rows.items())  # by rowid, as the table is scanned
            if getattr(row, column) is not None
        ]

    async def rewrite_encrypted(
        self, updates: list[tuple[str, str, int, str]], key_check: str
    ) -> None:
        await self._state.write(_rewrite, self._state, list(updates), key_check)
