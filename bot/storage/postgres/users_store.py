"""People on PostgreSQL (the ``UserStore`` of ``bot.domain.ports``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import asyncpg

from bot.domain.errors import UserNotFound
from bot.domain.model import AccountKind
from bot.domain.ports import UserStore
from bot.domain.users import Profile, User
from bot.storage.postgres.ledger_store import is_bigint
from bot.storage.postgres.port import (
    RETRY_SQLSTATES,
    UNIQUE_VIOLATION,
    USERNAME_LOCK,
    PgPortStore,
)

__all__ = ["USER_COLUMNS", "PgUsers", "row_to_user", "upsert_user"]

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


async def upsert_user(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    profile: Profile,
    currency: str,
    private_chat: bool,
) -> User:
    """Create or update the person and open their account, in the caller's transaction.

    Two processes registering the same person at once meet on the primary keys (the
    second waits, then updates); the claims of one username are taken one after the
    other under its advisory lock (:data:`USERNAME_LOCK`, held to the commit), so the
    later claim sees the earlier one committed and takes the name from it, as it would
    one after the other. (Without the lock, each of many claimants could lose the
    unique index's race again on every retry.) A unique violation left (a username
    changed by a path that takes no lock) runs the transaction again (``PgUsers``).
    """
    now = clock()
    name = f"user:{profile.telegram_id}"
    await conn.execute(
        "INSERT INTO accounts (name, kind, currency, created_at) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (name, currency) DO NOTHING",
        name,
        AccountKind.USER.value,
        currency,
        now,
    )
    account_id = await conn.fetchval(
        "SELECT id FROM accounts WHERE name = $1 AND currency = $2", name, currency
    )
    if profile.username:
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext(lower($2)))",
            USERNAME_LOCK,
            profile.username,
        )
        await conn.execute(
            "UPDATE users SET username = NULL, updated_at = $1"
            " WHERE username IS NOT NULL AND lower(username) = lower($2)"  # by the index
            " AND telegram_id <> $3",
            now,
            profile.username,
            profile.telegram_id,
        )
    row = await conn.fetchrow(
        "INSERT INTO users AS u (telegram_id, account_id, username, first_name, language_code,"
        " private_chat, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)"
        " ON CONFLICT (telegram_id) DO UPDATE SET username = excluded.username,"
        " first_name = excluded.first_name, language_code = excluded.language_code,"
        " private_chat = u.private_chat OR excluded.private_chat,"
        " updated_at = excluded.updated_at"
        f" RETURNING {USER_COLUMNS}",
        profile.telegram_id,
        account_id,
        profile.username,
        profile.first_name,
        profile.language_code,
        private_chat,
        now,
    )
    return row_to_user(row)


async def _set_language(
    conn: asyncpg.Connection, clock: Callable[[], int], telegram_id: int, language: str | None
) -> User:
    row = None
    if is_bigint(telegram_id):
        row = await conn.fetchrow(
            f"UPDATE users SET language = $1, updated_at = $2 WHERE telegram_id = $3"
            f" RETURNING {USER_COLUMNS}",
            language,
            clock(),
            telegram_id,
        )
    if row is None:
        raise UserNotFound(telegram_id=telegram_id)
    return row_to_user(row)


class PgUsers(PgPortStore, UserStore):
    async def upsert_user(self, profile: Profile, currency: str, private_chat: bool) -> User:
        return await self._write(
            upsert_user,
            self._clock,
            profile,
            currency,
            private_chat,
            retry=RETRY_SQLSTATES | {UNIQUE_VIOLATION},  # a username claimed at once
        )

    async def set_user_language(self, telegram_id: int, language: str | None) -> User:
        return await self._write(_set_language, self._clock, telegram_id, language)

    async def get_user(self, telegram_id: int) -> User | None:
        if not is_bigint(telegram_id):
            return None
        row = await self._fetchrow(
            f"SELECT {USER_COLUMNS} FROM users WHERE telegram_id = $1", telegram_id
        )
        return row_to_user(row) if row else None

    async def find_user_by_username(self, username: str) -> User | None:
        row = await self._fetchrow(
            f"SELECT {USER_COLUMNS} FROM users"
            " WHERE username IS NOT NULL AND lower(username) = lower($1)",  # by the index
            username,
        )
        return row_to_user(row) if row else None
