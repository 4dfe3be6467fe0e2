"""Open questions and pending deletions on PostgreSQL (the ``FollowUpStore`` of
``bot.domain.followups``): each write one upsert or delete, safe from any process."""

from __future__ import annotations

import json

import asyncpg

from bot.domain.followups import FollowUpStore, OpenQuestion, PendingDeletion
from bot.storage.postgres.port import PgPortStore

__all__ = ["PgFollowUps"]


async def _ask(conn: asyncpg.Connection, question: OpenQuestion) -> None:
    await conn.execute(
        "INSERT INTO open_questions (topic, telegram_id, payload, expires_at)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (topic, telegram_id) DO UPDATE"
        " SET payload = excluded.payload, expires_at = excluded.expires_at",
        question.topic,
        question.telegram_id,
        json.dumps(question.payload, separators=(",", ":")),
        question.expires_at,
    )


async def _drop(conn: asyncpg.Connection, topic: str, telegram_id: int) -> None:
    await conn.execute(
        "DELETE FROM open_questions WHERE topic = $1 AND telegram_id = $2", topic, telegram_id
    )


async def _delete_later(conn: asyncpg.Connection, deletion: PendingDeletion) -> None:
    await conn.execute(
        "INSERT INTO pending_deletions AS d (chat_id, message_id, delete_at, purpose, owner_id)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (chat_id, message_id) DO UPDATE"
        " SET delete_at = greatest(d.delete_at, excluded.delete_at)",
        deletion.chat_id,
        deletion.message_id,
        deletion.delete_at,
        deletion.purpose,
        deletion.owner_id,
    )


async def _deleted(conn: asyncpg.Connection, chat_id: int, message_id: int) -> None:
    await conn.execute(
        "DELETE FROM pending_deletions WHERE chat_id = $1 AND message_id = $2",
        chat_id,
        message_id,
    )


class PgFollowUps(PgPortStore, FollowUpStore):
    async def ask_question(self, question: OpenQuestion) -> None:
        await self._write(_ask, question)

    async def drop_question(self, topic: str, telegram_id: int) -> None:
        await self._write(_drop, topic, telegram_id)

    async def open_questions(self, topic: str) -> list[OpenQuestion]:
        rows = await self._fetch(
            "SELECT topic, telegram_id, payload, expires_at FROM open_questions"
            " WHERE topic = $1 ORDER BY telegram_id",
            topic,
        )
        return [OpenQuestion(row[0], row[1], json.loads(row[2]), row[3]) for row in rows]

    async def delete_later(self, deletion: PendingDeletion) -> None:
        await self._write(_delete_later, deletion)

    async def deleted(self, chat_id: int, message_id: int) -> None:
        await self._write(_deleted, chat_id, message_id)

    async def pending_deletions(self) -> list[PendingDeletion]:
        rows = await self._fetch(
            "SELECT chat_id, message_id, delete_at, purpose, owner_id FROM pending_deletions"
            " ORDER BY delete_at, chat_id, message_id"
        )
        return [PendingDeletion(*row) for row in rows]
