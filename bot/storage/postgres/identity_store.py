"""Identities, bank cards and credentials on PostgreSQL: the ``IdentityStore``,
``TwoFactorStore`` and ``PasswordFreeStore`` of ``bot.domain.security_ports``."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from bot.domain.security_errors import AlreadyVerified, IdNumberTaken, TotpReplayed
from bot.domain.security_ports import (
    EncryptedCard,
    EncryptedIdentity,
    IdentityStore,
    PasswordFreeStore,
    TwoFactorStore,
)
from bot.storage.postgres.events import PgRecordsEvents

__all__ = ["CARD_COLUMNS", "IDENTITY_COLUMNS", "PgIdentity"]

IDENTITY_COLUMNS = "telegram_id, real_name, id_number, id_index, verified_at"
CARD_COLUMNS = "telegram_id, card_number, card_index, last4, bound_at"


async def _save_identity(conn: asyncpg.Connection, identity: EncryptedIdentity) -> None:
    # ON CONFLICT DO NOTHING: a concurrent save of the same person or ID number waits for
    # the other transaction, then inserts nothing; the look-ups below then say why.
    status = await conn.execute(
        f"INSERT INTO identities ({IDENTITY_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT DO NOTHING",
        identity.telegram_id,
        identity.real_name,
        identity.id_number,
        identity.id_index,
        identity.verified_at,
    )
    if status.endswith(" 1"):
        return
    if await conn.fetchval(
        "SELECT 1 FROM identities WHERE telegram_id = $1", identity.telegram_id
    ):
        raise AlreadyVerified(telegram_id=identity.telegram_id)
    raise IdNumberTaken()


async def _save_card(conn: asyncpg.Connection, card: EncryptedCard) -> None:
    await conn.execute(
        f"INSERT INTO bank_cards ({CARD_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (telegram_id) DO UPDATE SET card_number = excluded.card_number,"
        " card_index = excluded.card_index, last4 = excluded.last4,"
        " bound_at = excluded.bound_at",
        card.telegram_id,
        card.card_number,
        card.card_index,
        card.last4,
        card.bound_at,
    )


async def _set_totp(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    telegram_id: int,
    secret: str | None,
    enabled: bool,
) -> None:
    # a new secret starts a new replay history
    await conn.execute(
        "INSERT INTO credentials AS c (telegram_id, totp_secret, totp_enabled, updated_at)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (telegram_id) DO UPDATE SET"
        " totp_last_step = CASE WHEN c.totp_secret IS NOT DISTINCT FROM excluded.totp_secret"
        " THEN c.totp_last_step END,"
        " totp_secret = excluded.totp_secret, totp_enabled = excluded.totp_enabled,"
        " updated_at = excluded.updated_at",
        telegram_id,
        secret,
        enabled,
        clock(),
    )


async def _use_totp_step(conn: asyncpg.Connection, telegram_id: int, step: int) -> None:
    """Record that the code of ``step`` was used; refuse it if it (or a later) was."""
    status = await conn.execute(
        "UPDATE credentials SET totp_last_step = $1 WHERE telegram_id = $2"
        " AND (totp_last_step IS NULL OR totp_last_step < $1)",
        step,
        telegram_id,
    )
    if status != "UPDATE 1":
        raise TotpReplayed()


async def _set_password_free(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    telegram_id: int,
    per_payment: int,
    daily: int,
) -> None:
    await conn.execute(
        "UPDATE credentials SET nopin_per_payment = $1, nopin_daily = $2, updated_at = $3"
        " WHERE telegram_id = $4",
        per_payment,
        daily,
        clock(),
        telegram_id,
    )


class PgIdentity(PgRecordsEvents, IdentityStore, TwoFactorStore, PasswordFreeStore):
    # Real-name verification and the bound card ----------------------------------------

    async def save_identity(self, identity: EncryptedIdentity) -> None:
        await self._write(_save_identity, identity)

    async def get_identity(self, telegram_id: int) -> EncryptedIdentity | None:
        row = await self._fetchrow(
            f"SELECT {IDENTITY_COLUMNS} FROM identities WHERE telegram_id = $1", telegram_id
        )
        return EncryptedIdentity(*row) if row else None

    async def save_card(self, card: EncryptedCard) -> None:
        await self._write(_save_card, card)

    async def get_card(self, telegram_id: int) -> EncryptedCard | None:
        row = await self._fetchrow(
            f"SELECT {CARD_COLUMNS} FROM bank_cards WHERE telegram_id = $1", telegram_id
        )
        return EncryptedCard(*row) if row else None

    # Two-factor codes (TwoFactorStore) ---------------------------------------------------

    async def get_totp(self, telegram_id: int) -> tuple[str | None, bool, int | None]:
        """(encrypted secret, enabled, last used step)."""
        row = await self._fetchrow(
            "SELECT totp_secret, totp_enabled, totp_last_step FROM credentials"
            " WHERE telegram_id = $1",
            telegram_id,
        )
        return (row[0], bool(row[1]), row[2]) if row else (None, False, None)

    async def set_totp(self, telegram_id: int, secret: str | None, enabled: bool) -> None:
        await self._write(_set_totp, self._clock, telegram_id, secret, enabled)

    async def use_totp_step(self, telegram_id: int, step: int) -> None:
        await self._write(_use_totp_step, telegram_id, step)

    # Payments without a PIN (PasswordFreeStore) -----------------------------------------

    async def get_password_free(self, telegram_id: int) -> tuple[int, int]:
        row = await self._fetchrow(
            "SELECT nopin_per_payment, nopin_daily FROM credentials WHERE telegram_id = $1",
            telegram_id,
        )
        return (row[0], row[1]) if row else (0, 0)

    async def set_password_free(self, telegram_id: int, per_payment: int, daily: int) -> None:
        await self._write(_set_password_free, self._clock, telegram_id, per_payment, daily)
