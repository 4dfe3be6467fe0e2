"""Payment PINs: set, change, verify, with lockout and an audit trail.

A try is counted *before* the PIN is checked (see ``SecurityStore.begin_pin_attempt``),
so guesses sent in parallel cannot get past the limit of five. Hashing runs off the event
loop. The pepper comes from the master key; each hash remembers which key's pepper it
used, and a correct PIN under an old key is re-hashed under the current one.
"""

from __future__ import annotations

import logging

from bot.domain.security_errors import PinKeyRetired, PinLocked, PinNotSet, PinWrong
from bot.domain.security_ports import MAX_TRIES, SecurityStore
from bot.security.cipher import Keyring
from bot.security.pin import (
    DEFAULT_PARAMS,
    ScryptParams,
    check_new_pin,
    check_pin_format,
    hash_pin_async,
    needs_rehash,
    verify_pin_async,
)

__all__ = ["Pins"]

log = logging.getLogger(__name__)


class Pins:
    def __init__(
        self, store: SecurityStore, keyring: Keyring, params: ScryptParams = DEFAULT_PARAMS
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.params = params

    async def has_pin(self, telegram_id: int) -> bool:
        return (await self.store.get_pin(telegram_id)).pin_hash is not None

    async def check_unlocked(self, telegram_id: int) -> None:
        """Raise :class:`PinLocked` while wrong tries keep the PIN locked (a keypad shown
        then could take no digit)."""
        (await self.store.get_pin(telegram_id)).state.check(self.store.now_ms())

    async def set_pin(self, telegram_id: int, pin: str, *, reset: bool = False) -> None:
        """Store a new PIN and lift any lock.

        The caller has checked the old PIN, or a 2FA code (``reset``), or the user has none.
        """
        check_new_pin(pin)
        had = await self.has_pin(telegram_id)
        await self._store_hash(telegram_id, pin)
        event = "pin.reset" if reset else "pin.changed" if had else "pin.set"
        await self.store.record_event(telegram_id, event, telegram_id, {})

    async def _store_hash(self, telegram_id: int, pin: str) -> None:
        key_id = self.keyring.current_key_id
        stored = await hash_pin_async(pin, self.keyring.pin_pepper(key_id), params=self.params)
        await self.store.set_pin(telegram_id, stored, key_id)

    async def verify(self, telegram_id: int, pin: str) -> None:
        """Return if ``pin`` is right; else raise PinWrong, PinLocked or PinNotSet (or
        PinKeyRetired: the key its hash needs was removed; no try is counted then)."""
        check_pin_format(pin)
        record = await self.store.get_pin(telegram_id)
        if record.pin_hash is None:
            raise PinNotSet(telegram_id=telegram_id)
        if record.key_id not in self.keyring.key_ids:
            log.error(
                "a PIN was hashed under master key %s, which is no longer in the keyring:"
                " put that key back among the old keys until every PIN was entered again",
                record.key_id,
            )
            raise PinKeyRetired()
        now = self.store.now_ms()
        before = await self.store.begin_pin_attempt(telegram_id, now)  # may raise PinLocked
        pepper = self.keyring.pin_pepper(before.key_id)
        if await verify_pin_async(before.pin_hash, pin, pepper):
            await self.store.pin_attempt_succeeded(telegram_id, before)
            if before.key_id != self.keyring.current_key_id or needs_rehash(
                before.pin_hash, self.params
            ):
                await self._store_hash(telegram_id, pin)
            return
        after = before.state.after_failure(now)
        if after.is_locked(now):
            await self.store.record_event(
                telegram_id, "pin.locked", telegram_id, {"until_ms": after.locked_until_ms}
            )
            raise PinLocked(
                locked_until_ms=after.locked_until_ms, retry_after_s=after.retry_after_s(now)
            )
        await self.store.record_event(
            telegram_id, "pin.wrong", telegram_id, {"failed": after.failed}
        )
        raise PinWrong(remaining=MAX_TRIES - after.failed)
