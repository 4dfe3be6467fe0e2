"""Identities, bank cards and credentials on SQLite: the ``IdentityStore``,
``TwoFactorStore`` and ``PasswordFreeStore`` of ``bot.domain.security_ports`` (the same
person's secrets; writes in ``identity_ops``)."""

from __future__ import annotations

from bot.domain.security_ports import (
    EncryptedCard,
    EncryptedIdentity,
    IdentityStore,
    PasswordFreeStore,
    TwoFactorStore,
)
from bot.storage.sqlite.identity_ops import (
    CARD_COLUMNS,
    IDENTITY_COLUMNS,
    row_to_card,
    row_to_identity,
)
from bot.storage.sqlite.port import PortStore, RecordsEvents

__all__ = ["SqliteIdentity"]


class SqliteIdentity(RecordsEvents, PortStore, IdentityStore, TwoFactorStore, PasswordFreeStore):
    # Real-name verification and the bound card ----------------------------------------

    async def save_identity(self, identity: EncryptedIdentity) -> None:
        await self._writer.run(self._identity.save_identity, identity)

    async def get_identity(self, telegram_id: int) -> EncryptedIdentity | None:
        row = await self._fetchone(
            f"SELECT {IDENTITY_COLUMNS} FROM identities WHERE telegram_id = ?", (telegram_id,)
        )
        return row_to_identity(row) if row else None

    async def save_card(self, card: EncryptedCard) -> None:
        await self._writer.run(self._identity.save_card, card)

    async def get_card(self, telegram_id: int) -> EncryptedCard | None:
        row = await self._fetchone(
            f"SELECT {CARD_COLUMNS} FROM bank_cards WHERE telegram_id = ?", (telegram_id,)
        )
        return row_to_card(row) if row else None

    # Two-factor codes (TwoFactorStore) ---------------------------------------------------

    async def get_totp(self, telegram_id: int) -> tuple[str | None, bool, int | None]:
        """(encrypted secret, enabled, last used step)."""
        row = await self._fetchone(
            "SELECT totp_secret, totp_enabled, totp_last_step FROM credentials"
            " WHERE telegram_id = ?",
            (telegram_id,),
        )
        return (row[0], bool(row[1]), row[2]) if row else (None, False, None)

    async def set_totp(self, telegram_id: int, secret: str | None, enabled: bool) -> None:
        await self._writer.run(self._identity.set_totp, telegram_id, secret, enabled)

    async def use_totp_step(self, telegram_id: int, step: int) -> None:
        await self._writer.run(self._identity.use_totp_step, telegram_id, step)

    # Payments without a PIN (PasswordFreeStore) -----------------------------------------

    async def get_password_free(self, telegram_id: int) -> tuple[int, int]:
        row = await self._fetchone(
            "SELECT nopin_per_payment, nopin_daily FROM credentials WHERE telegram_id = ?",
            (telegram_id,),
        )
        return (row[0], row[1]) if row else (0, 0)

    async def set_password_free(self, telegram_id: int, per_payment: int, daily: int) -> None:
        await self._writer.run(self._identity.set_password_free, telegram_id, per_payment, daily)
