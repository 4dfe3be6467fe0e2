"""Rewriting encrypted columns in place, for key rotation."""

from __future__ import annotations

import sqlite3

from bot.domain.security_ports import ENCRYPTED_FIELDS

__all__ = ["ALLOWED_COLUMNS", "rewrite_encrypted"]

ALLOWED_COLUMNS = {
    (table, name)
    for table, column, index, _ in ENCRYPTED_FIELDS
    for name in (column, index)
    if name is not None
}


def rewrite_encrypted(
    conn: sqlite3.Connection, updates: list[tuple[str, str, int, str]], key_check: str
) -> None:
    for table, column, owner, value in updates:
        if (table, column) not in ALLOWED_COLUMNS:  # names go into SQL: only known ones
            raise ValueError(f"not an encrypted column: {table}.{column}")
        conn.execute(f"UPDATE {table} SET {column} = ? WHERE telegram_id = ?", (value, owner))
    conn.execute(
        "INSERT INTO wallet_meta (name, value) VALUES ('key_check', ?)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (key_check,),
    )
