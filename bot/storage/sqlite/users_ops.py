"""Users: write operations for the writer thread, and row mapping."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from bot.domain.errors import UserNotFound
from bot.domain.model import AccountKind
from bot.domain.users import Profile, User

__all__ = ["USER_COLUMNS", "UsersOps", "row_to_user"]

USER_COLUMNS = (
    "telegram_id, account_id, username, first_name, language_code, language, private_chat"
)


def row_to_user(row: Sequence) -> User:
    return User(
        telegram_id=row[0],
        account_id=row[1],
        username=row[2],
        first_name=row[3],
        language_code=row[4],
        language=row[5],
        private_chat=bool(row[6]),
    )


class UsersOps:
    def __init__(self, clock: Callable[[], int]) -> None:
        self.clock = clock

    def upsert(
        self, conn: sqlite3.Connection, profile: Profile, currency: str, private_chat: bool
    ) -> User:
        now = self.clock()
        conn.execute(
            "INSERT INTO accounts (name, kind, currency, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name, currency) DO NOTHING",
            (f"user:{profile.telegram_id}", AccountKind.USER.value, currency, now),
        )
        (account_id,) = conn.execute(
            "SELECT id FROM accounts WHERE name = ? AND currency = ?",
            (f"user:{profile.telegram_id}", currency),
        ).fetchone()
        if profile.username:
            conn.execute(
                "UPDATE users SET username = NULL, updated_at = ?"
                " WHERE username IS NOT NULL AND lower(username) = lower(?)"  # by the index
                " AND telegram_id <> ?",
                (now, profile.username, profile.telegram_id),
            )
        row = conn.execute(
            "INSERT INTO users (telegram_id, account_id, username, first_name, language_code,"
            " private_chat, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (telegram_id) DO UPDATE SET username = excluded.username,"
            " first_name = excluded.first_name, language_code = excluded.language_code,"
            " private_chat = max(private_chat, excluded.private_chat),"
            " updated_at = excluded.updated_at"
            f" RETURNING {USER_COLUMNS}",
            (
                profile.telegram_id,
                account_id,
                profile.username,
                profile.first_name,
                profile.language_code,
                int(private_chat),
                now,
                now,
            ),
        ).fetchall()
        return row_to_user(row[0])

    def set_language(
        self, conn: sqlite3.Connection, telegram_id: int, language: str | None
    ) -> User:
        row = conn.execute(
            f"UPDATE users SET language = ?, updated_at = ? WHERE telegram_id = ?"
            f" RETURNING {USER_COLUMNS}",
            (language, self.clock(), telegram_id),
        ).fetchall()
        if not row:
            raise UserNotFound(telegram_id=telegram_id)
        return row_to_user(row[0])
