"""Notices on SQLite (the ``NoticeStore`` of ``bot.domain.notices``).

Each write is one operation of the group-commit writer, so claims are taken one after
the other: a claim is a conditional ``UPDATE`` of open rows, and two senders never take
the same notice while its claim holds. A trigger keeps a final state final. A blocked
notice's copy (``again:<id>``) is written by one ``INSERT … ON CONFLICT DO NOTHING``,
so of several ``/start`` at once the first takes each copy and the others none.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from bot.domain.notices import AGAIN, NewNotice, Notice, NoticeState, NoticeStore
from bot.storage.sqlite.port import PortStore

__all__ = ["SqliteNotices", "add_notices"]

_COLUMNS = "id, key, telegram_id, kind, params, state, attempts, created_at"


def _row_to_notice(row: Sequence) -> Notice:
    return Notice(
        row[0], row[1], row[2], row[3], json.loads(row[4]), NoticeState(row[5]), *row[6:8]
    )


def add_notices(
    conn: sqlite3.Connection, now: int, notices: Sequence[NewNotice], *, blocked: bool = False
) -> int:
    """Write each notice whose key is new (inside the caller's transaction), pending, or
    with ``blocked`` already closed so (a message refused before it was a notice); how many."""
    state, attempts, sent_at = ("blocked", 1, now) if blocked else ("pending", 0, None)
    added = 0
    for notice in notices:
        added += conn.execute(
            "INSERT INTO notices (key, telegram_id, kind, params, state, attempts, due_at,"
            " created_at, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (key) DO NOTHING",
            (
                notice.key,
                notice.telegram_id,
                notice.kind,
                json.dumps(notice.params, sort_keys=True),
                state,
                attempts,
                now,
                now,
                sent_at,
            ),
        ).rowcount
    return added


def _claim_blocked(
    conn: sqlite3.Connection, now: int, telegram_id: int, since: int, claim_ms: int
) -> list[Notice]:
    rows = conn.execute(
        "INSERT INTO notices (key, telegram_id, kind, params, state, attempts, due_at,"
        " claimed_until, created_at)"
        " SELECT :again || id, telegram_id, kind, params, 'sending', 1, :now, :until, created_at"
        " FROM notices WHERE telegram_id = :person AND state = 'blocked'"
        " AND created_at >= :since ORDER BY id"
        f" ON CONFLICT (key) DO NOTHING RETURNING {_COLUMNS}",
        {
            "again": AGAIN,
            "now": now,
            "until": now + claim_ms,
            "person": telegram_id,
            "since": since,
        },
    ).fetchall()
    return sorted((_row_to_notice(row) for row in rows), key=lambda n: (n.created_at, n.id))


def _claim(
    conn: sqlite3.Connection,
    now: int,
    limit: int,
    claim_ms: int,
    max_attempts: int,
    key: str | None,
) -> list[Notice]:
    only = " AND key = :key" if key is not None else ""
    values = {"now": now, "until": now + claim_ms, "max": max_attempts, "key": key}
    conn.execute(
        "UPDATE notices SET state = 'failed', claimed_until = NULL WHERE state = 'sending'"
        f" AND claimed_until <= :now AND attempts >= :max{only}",
        values,
    )
    rows = conn.execute(
        "UPDATE notices SET state = 'sending', attempts = attempts + 1,"
        " claimed_until = :until WHERE id IN (SELECT id FROM notices"
        " WHERE ((state = 'pending' AND due_at <= :now)"
        f"  OR (state = 'sending' AND claimed_until <= :now)){only}"
        f" ORDER BY id LIMIT :limit) RETURNING {_COLUMNS}",
        values | {"limit": limit},
    ).fetchall()
    return sorted((_row_to_notice(row) for row in rows), key=lambda n: n.id)


def _record(
    conn: sqlite3.Connection,
    now: int,
    results: dict[int, NoticeState],
    max_attempts: int,
    retry_ms: int,
) -> None:
    for notice_id, state in results.items():
        if state is NoticeState.PENDING:
            sql = "state = 'pending', attempts = attempts - 1, due_at = :now"
        elif state is NoticeState.FAILED:
            sql = (
                "state = CASE WHEN attempts >= :max THEN 'failed' ELSE 'pending' END,"
                " due_at = :now + :retry"
            )
        elif state in (NoticeState.SENT, NoticeState.BLOCKED):
            sql = "state = :state, sent_at = :now"
        else:
            raise ValueError(f"not a notice's result: {state!r}")
        conn.execute(
            f"UPDATE notices SET {sql}, claimed_until = NULL WHERE id = :id AND state = 'sending'",
            {
                "now": now,
                "max": max_attempts,
                "retry": retry_ms,
                "state": state.value,
                "id": notice_id,
            },
        )


class SqliteNotices(PortStore, NoticeStore):
    async def add_notices(self, notices: Sequence[NewNotice]) -> int:
        return await self._writer.run(lambda conn: add_notices(conn, self._clock(), list(notices)))

    async def add_blocked(self, notices: Sequence[NewNotice]) -> int:
        return await self._writer.run(
            lambda conn: add_notices(conn, self._clock(), list(notices), blocked=True)
        )

    async def claim_blocked(self, telegram_id: int, since_ms: int, claim_ms: int) -> list[Notice]:
        return await self._writer.run(
            lambda conn: _claim_blocked(conn, self._clock(), telegram_id, since_ms, claim_ms)
        )

    async def owes_blocked(self, telegram_id: int, since_ms: int) -> bool:
        row = await self._fetchone(
            "SELECT 1 FROM notices AS n WHERE n.telegram_id = ? AND n.state = 'blocked'"
            " AND n.created_at >= ? AND NOT EXISTS"
            " (SELECT 1 FROM notices AS c WHERE c.key = ? || n.id) LIMIT 1",
            (telegram_id, since_ms, AGAIN),
        )
        return row is not None

    async def get_notice(self, key: str) -> Notice | None:
        row = await self._fetchone(f"SELECT {_COLUMNS} FROM notices WHERE key = ?", (key,))
        return _row_to_notice(row) if row else None

    async def claim_notices(
        self, limit: int, claim_ms: int, max_attempts: int, key: str | None = None
    ) -> list[Notice]:
        return await self._writer.run(
            lambda conn: _claim(conn, self._clock(), limit, claim_ms, max_attempts, key)
        )

    async def record_notices(
        self, results: dict[int, NoticeState], max_attempts: int, retry_ms: int
    ) -> None:
        results = dict(results)
        await self._writer.run(
            lambda conn: _record(conn, self._clock(), results, max_attempts, retry_ms)
        )
