"""Notices on PostgreSQL (the ``NoticeStore`` of ``bot.domain.notices``).

Several processes may send at once: a claim picks its rows with ``FOR UPDATE SKIP
LOCKED`` and marks them claimed in the same statement, so a row another sender is
claiming is skipped and one it claimed (committed) no longer matches; a trigger keeps a
final state final. A blocked notice's copy (``again:<id>``) is written by one ``INSERT …
ON CONFLICT DO NOTHING``: of several ``/start`` at once (in any processes), one writes
each copy and the others wait for it on the unique key, then skip it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import asyncpg

from bot.domain.notices import AGAIN, NewNotice, Notice, NoticeState, NoticeStore
from bot.storage.postgres.port import PgPortStore

__all__ = ["PgNotices", "add_notices"]

_COLUMNS = "id, key, telegram_id, kind, params, state, attempts, created_at"


def _row_to_notice(row: Sequence) -> Notice:
    return Notice(
        row[0], row[1], row[2], row[3], json.loads(row[4]), NoticeState(row[5]), *row[6:8]
    )


async def add_notices(
    conn: asyncpg.Connection, now: int, notices: Sequence[NewNotice], *, blocked: bool = False
) -> int:
    """Write each notice whose key is new (inside the caller's transaction), pending, or
    with ``blocked`` already closed so (a message refused before it was a notice); how many."""
    state, attempts, sent_at = ("blocked", 1, now) if blocked else ("pending", 0, None)
    added = 0
    for notice in notices:
        status = await conn.execute(
            "INSERT INTO notices (key, telegram_id, kind, params, state, attempts, due_at,"
            " created_at, sent_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)"
            " ON CONFLICT (key) DO NOTHING",
            notice.key,
            notice.telegram_id,
            notice.kind,
            json.dumps(notice.params, sort_keys=True),
            state,
            attempts,
            now,
            sent_at,
        )
        added += int(status.rsplit(" ", 1)[-1])
    return added


async def _add(
    conn: asyncpg.Connection, clock: Callable[[], int], notices, blocked: bool = False
) -> int:
    return await add_notices(conn, clock(), notices, blocked=blocked)


async def _claim_blocked(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    telegram_id: int,
    since: int,
    claim_ms: int,
) -> list[Notice]:
    now = clock()
    rows = await conn.fetch(
        "INSERT INTO notices (key, telegram_id, kind, params, state, attempts, due_at,"
        " claimed_until, created_at)"
        " SELECT $1::text || id, telegram_id, kind, params, 'sending', 1, $2, $3, created_at"
        " FROM notices WHERE telegram_id = $4 AND state = 'blocked' AND created_at >= $5"
        f" ORDER BY id ON CONFLICT (key) DO NOTHING RETURNING {_COLUMNS}",
        AGAIN,
        now,
        now + claim_ms,
        telegram_id,
        since,
    )
    return sorted((_row_to_notice(row) for row in rows), key=lambda n: (n.created_at, n.id))


async def _claim(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    limit: int,
    claim_ms: int,
    max_attempts: int,
    key: str | None,
) -> list[Notice]:
    now = clock()
    await conn.execute(
        "UPDATE notices SET state = 'failed', claimed_until = NULL WHERE id IN"
        " (SELECT id FROM notices WHERE state = 'sending' AND claimed_until <= $1"
        "  AND attempts >= $2 AND ($3::text IS NULL OR key = $3) FOR UPDATE SKIP LOCKED)",
        now,
        max_attempts,
        key,
    )
    rows = await conn.fetch(
        "UPDATE notices SET state = 'sending', attempts = attempts + 1, claimed_until = $2"
        " WHERE id IN (SELECT id FROM notices"
        "  WHERE ((state = 'pending' AND due_at <= $1)"
        "   OR (state = 'sending' AND claimed_until <= $1))"
        "  AND ($4::text IS NULL OR key = $4)"
        "  ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)"
        f" RETURNING {_COLUMNS}",
        now,
        now + claim_ms,
        limit,
        key,
    )
    return sorted((_row_to_notice(row) for row in rows), key=lambda n: n.id)


async def _record(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    results: dict[int, NoticeState],
    max_attempts: int,
    retry_ms: int,
) -> None:
    now = clock()
    for notice_id, state in sorted(results.items()):
        if state is NoticeState.PENDING:
            sql, values = "state = 'pending', attempts = attempts - 1, due_at = $2", (now,)
        elif state is NoticeState.FAILED:
            sql = "state = CASE WHEN attempts >= $2 THEN 'failed' ELSE 'pending' END, due_at = $3"
            values = (max_attempts, now + retry_ms)
        elif state in (NoticeState.SENT, NoticeState.BLOCKED):
            sql, values = "state = $2, sent_at = $3", (state.value, now)
        else:
            raise ValueError(f"not a notice's result: {state!r}")
        await conn.execute(
            f"UPDATE notices SET {sql}, claimed_until = NULL WHERE id = $1 AND state = 'sending'",
            notice_id,
            *values,
        )


class PgNotices(PgPortStore, NoticeStore):
    async def add_notices(self, notices: Sequence[NewNotice]) -> int:
        return await self._write(_add, self._clock, list(notices))

    async def add_blocked(self, notices: Sequence[NewNotice]) -> int:
        return await self._write(_add, self._clock, list(notices), True)

    async def claim_blocked(self, telegram_id: int, since_ms: int, claim_ms: int) -> list[Notice]:
        return await self._write(_claim_blocked, self._clock, telegram_id, since_ms, claim_ms)

    async def owes_blocked(self, telegram_id: int, since_ms: int) -> bool:
        row = await self._fetchrow(
            "SELECT 1 FROM notices AS n WHERE n.telegram_id = $1 AND n.state = 'blocked'"
            " AND n.created_at >= $2 AND NOT EXISTS"
            " (SELECT 1 FROM notices AS c WHERE c.key = $3::text || n.id) LIMIT 1",
            telegram_id,
            since_ms,
            AGAIN,
        )
        return row is not None

    async def get_notice(self, key: str) -> Notice | None:
        row = await self._fetchrow(f"SELECT {_COLUMNS} FROM notices WHERE key = $1", key)
        return _row_to_notice(row) if row else None

    async def claim_notices(
        self, limit: int, claim_ms: int, max_attempts: int, key: str | None = None
    ) -> list[Notice]:
        return await self._write(_claim, self._clock, limit, claim_ms, max_attempts, key)

    async def record_notices(
        self, results: dict[int, NoticeState], max_attempts: int, retry_ms: int
    ) -> None:
        await self._write(_record, self._clock, dict(results), max_attempts, retry_ms)
