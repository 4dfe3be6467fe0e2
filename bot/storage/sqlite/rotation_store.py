"""Key rotation's storage on SQLite (the ``RotationStore`` of ``bot.domain.security_ports``):
every encrypted value read out, and the rewritten ones and the new key check written back
in one transaction (``rotation_ops``)."""

from __future__ import annotations

from bot.domain.security_ports import RotationStore
from bot.storage.sqlite import rotation_ops
from bot.storage.sqlite.port import PortStore

__all__ = ["SqliteRotation"]


class SqliteRotation(PortStore, RotationStore):
    async def encrypted_values(self, table: str, column: str) -> list[tuple[int, str]]:
        if (table, column) not in rotation_ops.ALLOWED_COLUMNS:
            raise ValueError(f"not an encrypted column: {table}.{column}")
        return [
            (row[0], row[1])
            for row in await self._fetchall(
                f"SELECT telegram_id, {column} FROM {table} WHERE {column} IS NOT NULL", ()
            )
        ]

    async def rewrite_encrypted(
        self, updates: list[tuple[str, str, int, str]], key_check: str
    ) -> None:
        await self._writer.run(rotation_ops.rewrite_encrypted, updates, key_check)
