"""Open questions and pending deletions on SQLite (the ``FollowUpStore`` of
``bot.domain.followups``): each write one operation of the group-commit writer."""

from __future__ import annotations

import json
import sqlite3

from bot.domain.followups import FollowUpStore, OpenQuestion, PendingDeletion
from bot.storage.sqlite.port import PortStore

__all__ = ["SqliteFollowUps"]


def _ask(conn: sqlite3.Connection, question: OpenQuestion) -> None:
    conn.execute(
        "INSERT INTO open_questions (topic, telegram_id, payload, expires_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (topic, telegram_id) DO UPDATE"
        " SET payload = excluded.payload, expires_at = excluded.expires_at",
        (
            question.topic,
            question.telegram_id,
            json.dumps(question.payload, separators=(",", ":")),
            question.expires_at,
        ),
    )


def _drop(conn: sqlite3.Connection, topic: str, telegram_id: int) -> None:
    conn.execute(
        "DELETE FROM open_questions WHERE topic = ? AND telegram_id = ?", (topic, telegram_id)
    )


def _delete_later(conn: sqlite3.Connection, deletion: PendingDeletion) -> None:
    conn.execute(
        "INSERT INTO pending_deletions (chat_id, message_id, delete_at, purpose, owner_id)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (chat_id, message_id) DO UPDATE"
        " SET delete_at = max(delete_at, excluded.delete_at)",
        (
            deletion.chat_id,
            deletion.message_id,
            deletion.delete_at,
            deletion.purpose,
            deletion.owner_id,
        ),
    )


def _deleted(conn: sqlite3.Connection, chat_id: int, message_id: int) -> None:
    conn.execute(
        "DELETE FROM pending_deletions WHERE chat_id = ? AND message_id = ?", (chat_id, message_id)
    )


class SqliteFollowUps(PortStore, FollowUpStore):
    async def ask_question(self, question: OpenQuestion) -> None:
        await self._writer.run(_ask, question)

    async def drop_question(self, topic: str, telegram_id: int) -> None:
        await self._writer.run(_drop, topic, telegram_id)

    async def open_questions(self, topic: str) -> list[OpenQuestion]:
        rows = await self._fetchall(
            "SELECT topic, telegram_id, payload, expires_at FROM open_questions"
            " WHERE topic = ? ORDER BY telegram_id",
            (topic,),
        )
        return [OpenQuestion(row[0], row[1], json.loads(row[2]), row[3]) for row in rows]

    async def delete_later(self, deletion: PendingDeletion) -> None:
        await self._writer.run(_delete_later, deletion)

    async def deleted(self, chat_id: int, message_id: int) -> None:
        await self._writer.run(_deleted, chat_id, message_id)

    async def pending_deletions(self) -> list[PendingDeletion]:
        rows = await self._fetchall(
            "SELECT chat_id, message_id, delete_at, purpose, owner_id FROM pending_deletions"
            " ORDER BY delete_at, chat_id, message_id",
            (),
        )
        return [PendingDeletion(*row) for row in rows]
