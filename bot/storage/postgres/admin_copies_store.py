"""Copies of one notice sent to several admins on PostgreSQL (the ``AdminCopyStore`` of
``bot.domain.admin_copies``): each write one insert or delete, safe from any process."""

from __future__ import annotations

import asyncpg

from bot.domain.admin_copies import AdminCopy, AdminCopyStore
from bot.storage.postgres.port import PgPortStore

__all__ = ["PgAdminCopies"]


async def _keep(conn: asyncpg.Connection, copy: AdminCopy) -> None:
    await conn.execute(
        "INSERT INTO admin_copies (subject, admin_id, message_id, text) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (subject, admin_id, message_id) DO NOTHING",
        copy.subject,
        copy.admin_id,
        copy.message_id,
        copy.text,
    )


async def _take_one(conn: asyncpg.Connection, copy: AdminCopy) -> bool:
    status = await conn.execute(
        "DELETE FROM admin_copies WHERE subject = $1 AND admin_id = $2 AND message_id = $3",
        copy.subject,
        copy.admin_id,
        copy.message_id,
    )
    return status == "DELETE 1"


async def _take(conn: asyncpg.Connection, subject: str) -> list[AdminCopy]:
    rows = await conn.fetch(
        "DELETE FROM admin_copies WHERE subject = $1"
        " RETURNING subject, admin_id, message_id, text",
        subject,
    )
    return sorted((AdminCopy(*row) for row in rows), key=lambda c: (c.admin_id, c.message_id))


class PgAdminCopies(PgPortStore, AdminCopyStore):
    async def keep_copy(self, copy: AdminCopy) -> None:
        await self._write(_keep, copy)

    async def copies(self, subject: str) -> list[AdminCopy]:
        rows = await self._fetch(
            "SELECT subject, admin_id, message_id, text FROM admin_copies"
            " WHERE subject = $1 ORDER BY admin_id, message_id",
            subject,
        )
        return [AdminCopy(*row) for row in rows]

    async def take_copy(self, copy: AdminCopy) -> bool:
        return await self._write(_take_one, copy)

    async def take_copies(self, subject: str) -> list[AdminCopy]:
        return await self._write(_take, subject)
