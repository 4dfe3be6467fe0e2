"""Key rotation's storage on PostgreSQL (the ``RotationStore`` of
``bot.domain.security_ports``): every encrypted value read out, and the rewritten ones and
the new key check written back in one transaction."""

from __future__ import annotations

import asyncpg

from bot.domain.security_ports import ENCRYPTED_FIELDS, RotationStore
from bot.storage.postgres.port import PgPortStore

__all__ = ["ALLOWED_COLUMNS", "PgRotation"]

ALLOWED_COLUMNS = {
    (table, name)
    for table, column, index, _ in ENCRYPTED_FIELDS
    for name in (column, index)
    if name is not None
}


def _check(table: str, column: str) -> None:
    if (table, column) not in ALLOWED_COLUMNS:  # names go into SQL: only known ones
        raise ValueError(f"not an encrypted column: {table}.{column}")


async def _rewrite(
    conn: asyncpg.Connection, updates: list[tuple[str, str, int, str]], key_check: str
) -> None:
    for table, column, owner, value in updates:
        _check(table, column)
        await conn.execute(f"UPDATE {table} SET {column} = $1 WHERE telegram_id = $2", value, owner)
    await conn.execute(
        "INSERT INTO wallet_meta (name, value) VALUES ('key_check', $1)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        key_check,
    )


class PgRotation(PgPortStore, RotationStore):
    async def encrypted_values(self, table: str, column: str) -> list[tuple[int, str]]:
        _check(table, column)
        rows = await self._fetch(
            f"SELECT telegram_id, {column} FROM {table} WHERE {column} IS NOT NULL"
            " ORDER BY telegram_id"
        )
        return [(row[0], row[1]) for row in rows]

    async def rewrite_encrypted(
        self, updates: list[tuple[str, str, int, str]], key_check: str
    ) -> None:
        await self._write(_rewrite, updates, key_check)
