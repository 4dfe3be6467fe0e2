"""Copies of one notice sent to several admins on SQLite (the ``AdminCopyStore`` of
``bot.domain.admin_copies``): each write one operation of the group-commit writer."""

from __future__ import annotations

import sqlite3

from bot.domain.admin_copies import AdminCopy, AdminCopyStore
from bot.storage.sqlite.port import PortStore

__all__ = ["SqliteAdminCopies"]


def _keep(conn: sqlite3.Connection, copy: AdminCopy) -> None:
    conn.execute(
        "INSERT INTO admin_copies (subject, admin_id, message_id, text) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (subject, admin_id, message_id) DO NOTHING",
        (copy.subject, copy.admin_id, copy.message_id, copy.text),
    )


def _take_one(conn: sqlite3.Connection, copy: AdminCopy) -> bool:
    return (
        conn.execute(
            "DELETE FROM admin_copies WHERE subject = ? AND admin_id = ? AND message_id = ?",
            (copy.subject, copy.admin_id, copy.message_id),
        ).rowcount
        == 1
    )


def _take(conn: sqlite3.Connection, subject: str) -> list[AdminCopy]:
    rows = conn.execute(
        "DELETE FROM admin_copies WHERE subject = ?"
        " RETURNING subject, admin_id, message_id, text",
        (subject,),
    ).fetchall()
    return sorted((AdminCopy(*row) for row in rows), key=_order)


def _order(copy: AdminCopy) -> tuple[int, int]:
    return copy.admin_id, copy.message_id


class SqliteAdminCopies(PortStore, AdminCopyStore):
    async def keep_copy(self, copy: AdminCopy) -> None:
        await self._writer.run(_keep, copy)

    async def copies(self, subject: str) -> list[AdminCopy]:
        rows = await self._fetchall(
            "SELECT subject, admin_id, message_id, text FROM admin_copies"
            " WHERE subject = ? ORDER BY admin_id, message_id",
            (subject,),
        )
        return [AdminCopy(*row) for row in rows]

    async def take_copy(self, copy: AdminCopy) -> bool:
        return await self._writer.run(_take_one, copy)

    async def take_copies(self, subject: str) -> list[AdminCopy]:
        return await self._writer.run(_take, subject)
