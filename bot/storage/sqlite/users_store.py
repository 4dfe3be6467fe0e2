"""People on SQLite (the ``UserStore`` of ``bot.domain.ports``; writes in ``users_ops``)."""

from __future__ import annotations

from bot.domain.ports import UserStore
from bot.domain.users import Profile, User
from bot.storage.sqlite.port import PortStore
from bot.storage.sqlite.users_ops import USER_COLUMNS, row_to_user

__all__ = ["SqliteUsers"]


class SqliteUsers(PortStore, UserStore):
    async def upsert_user(self, profile: Profile, currency: str, private_chat: bool) -> User:
        return await self._writer.run(self._users.upsert, profile, currency, private_chat)

    async def set_user_language(self, telegram_id: int, language: str | None) -> User:
        return await self._writer.run(self._users.set_language, telegram_id, language)

    async def get_user(self, telegram_id: int) -> User | None:
        row = await self._fetchone(
            f"SELECT {USER_COLUMNS} FROM users WHERE telegram_id = ?", (telegram_id,)
        )
        return row_to_user(row) if row else None

    async def find_user_by_username(self, username: str) -> User | None:
        row = await self._fetchone(
            f"SELECT {USER_COLUMNS} FROM users"
            " WHERE username IS NOT NULL AND lower(username) = lower(?)",  # by the index
            (username,),
        )
        return row_to_user(row) if row else None
