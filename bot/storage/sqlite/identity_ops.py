"""Identity, card and 2FA writes for the writer thread (values arrive encrypted)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from bot.domain.security_errors import AlreadyVerified, IdNumberTaken, TotpReplayed
from bot.domain.security_ports import EncryptedCard, EncryptedIdentity

__all__ = [
    "CARD_COLUMNS",
    "IDENTITY_COLUMNS",
    "IdentityOps",
    "row_to_card",
    "row_to_identity",
]

IDENTITY_COLUMNS = "telegram_id, real_name, id_number, id_index, verified_at"
CARD_COLUMNS = "telegram_id, card_number, card_index, last4, bound_at"


def row_to_identity(row: Sequence) -> EncryptedIdentity:
    return EncryptedIdentity(*row)


def row_to_card(row: Sequence) -> EncryptedCard:
    return EncryptedCard(*row)


class IdentityOps:
    def __init__(self, clock: Callable[[], int]) -> None:
        self.clock = clock

    def save_identity(self, conn: sqlite3.Connection, identity: EncryptedIdentity) -> None:
        if conn.execute(
            "SELECT 1 FROM identities WHERE telegram_id = ?", (identity.telegram_id,)
        ).fetchone():
            raise AlreadyVerified(telegram_id=identity.telegram_id)
        if conn.execute(
            "SELECT 1 FROM identities WHERE id_index = ?", (identity.id_index,)
        ).fetchone():
            raise IdNumberTaken()
        conn.execute(
            f"INSERT INTO identities ({IDENTITY_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
            (
                identity.telegram_id,
                identity.real_name,
                identity.id_number,
                identity.id_index,
                identity.verified_at,
            ),
        )

    def save_card(self, conn: sqlite3.Connection, card: EncryptedCard) -> None:
        conn.execute(
            f"INSERT INTO bank_cards ({CARD_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (telegram_id) DO UPDATE SET card_number = excluded.card_number,"
            " card_index = excluded.card_index, last4 = excluded.last4,"
            " bound_at = excluded.bound_at",
            (card.telegram_id, card.card_number, card.card_index, card.last4, card.bound_at),
        )

    def set_totp(
        self, conn: sqlite3.Connection, telegram_id: int, secret: str | None, enabled: bool
    ) -> None:
        # a new secret starts a new replay history
        conn.execute(
            "INSERT INTO credentials (telegram_id, totp_secret, totp_enabled, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (telegram_id) DO UPDATE SET"
            " totp_last_step = CASE WHEN totp_secret IS excluded.totp_secret"
            " THEN totp_last_step END,"
            " totp_secret = excluded.totp_secret, totp_enabled = excluded.totp_enabled,"
            " updated_at = excluded.updated_at",
            (telegram_id, secret, int(enabled), self.clock()),
        )

    def use_totp_step(self, conn: sqlite3.Connection, telegram_id: int, step: int) -> None:
        """Record that the code of ``step`` was used; refuse it if it (or a later) was."""
        used = conn.execute(
            "UPDATE credentials SET totp_last_step = ? WHERE telegram_id = ?"
            " AND (totp_last_step IS NULL OR totp_last_step < ?)",
            (step, telegram_id, step),
        )
        if used.rowcount != 1:
            raise TotpReplayed()

    def set_password_free(
        self, conn: sqlite3.Connection, telegram_id: int, per_payment: int, daily: int
    ) -> None:
        conn.execute(
            "UPDATE credentials SET nopin_per_payment = ?, nopin_daily = ?, updated_at = ?"
            " WHERE telegram_id = ?",
            (per_payment, daily, self.clock(), telegram_id),
        )
