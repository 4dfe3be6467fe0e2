"""Broadcasts on PostgreSQL (the ``BroadcastStore`` of ``bot.domain.broadcasts``).

Beginning a broadcast writes it, its recipients (``INSERT … SELECT`` from the users who
opened the private chat and are not unreachable) and the admin's event in one
transaction; a repeat of its key returns the first (two begun at once from two processes
meet on the key's unique index: the later runs again and answers the first). A claim is
one conditional ``UPDATE`` of one pending row, so two senders, in any processes, never
take the same person; a trigger keeps a recipient's final state final.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import asyncpg

from bot.domain.broadcasts import Broadcast, BroadcastStore, RecipientState
from bot.domain.errors import BroadcastNotFound
from bot.storage.postgres.events import append_event
from bot.storage.postgres.ledger_store import is_bigint
from bot.storage.postgres.port import RETRY_SQLSTATES, UNIQUE_VIOLATION, PgPortStore

__all__ = ["PgBroadcasts"]

_AUDIENCE = (
    "SELECT u.telegram_id FROM users AS u WHERE u.private_chat AND NOT EXISTS"
    " (SELECT 1 FROM broadcast_unreachable AS x WHERE x.telegram_id = u.telegram_id)"
)
_COUNT = (
    "(SELECT count(*) FROM broadcast_recipients AS r"
    " WHERE r.broadcast_id = b.id AND r.state = '{}')"
)
_COLUMNS = (
    "b.id, b.admin_id, b.text, b.total, "
    + ", ".join(_COUNT.format(s) for s in ("sent", "blocked", "failed"))
    + ", b.finished, b.created_at, b.progress_chat_id, b.progress_message_id"
)
_FINAL = (RecipientState.SENT, RecipientState.BLOCKED, RecipientState.FAILED)


def _updated(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


def _row_to_broadcast(row: Sequence) -> Broadcast:
    return Broadcast(*row[:7], bool(row[7]), *row[8:])


async def _get(conn: asyncpg.Connection, where: str, value: object) -> Broadcast | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM broadcasts AS b WHERE {where} = $1", value)
    return _row_to_broadcast(row) if row else None


async def _create(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    key: str,
    admin_id: int,
    text: str,
    event: str,
) -> Broadcast:
    known = await _get(conn, "b.key", key)
    if known is not None:
        return known
    broadcast_id = await conn.fetchval(
        "INSERT INTO broadcasts (key, admin_id, text, total, created_at)"
        " VALUES ($1, $2, $3, 0, $4) RETURNING id",
        key,
        admin_id,
        text,
        clock(),
    )
    total = _updated(
        await conn.execute(
            "INSERT INTO broadcast_recipients (broadcast_id, telegram_id)"
            f" SELECT $1, telegram_id FROM ({_AUDIENCE}) AS audience",
            broadcast_id,
        )
    )
    await conn.execute("UPDATE broadcasts SET total = $1 WHERE id = $2", total, broadcast_id)
    details = {"broadcast_id": broadcast_id, "recipients": total, "characters": len(text)}
    await append_event(conn, clock, admin_id, event, None, details)
    return await _get(conn, "b.id", broadcast_id)


async def _claim(conn: asyncpg.Connection, broadcast_id: int, telegram_id: int) -> bool:
    status = await conn.execute(
        "UPDATE broadcast_recipients SET state = 'sending', attempts = attempts + 1"
        " WHERE broadcast_id = $1 AND telegram_id = $2 AND state = 'pending'",
        broadcast_id,
        telegram_id,
    )
    return _updated(status) == 1


async def _record(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    broadcast_id: int,
    results: dict[int, RecipientState],
) -> None:
    now = clock()
    for telegram_id, state in results.items():
        if state not in _FINAL:
            raise ValueError(f"not a delivery's result: {state!r}")
        await conn.execute(
            "UPDATE broadcast_recipients SET state = $1"
            " WHERE broadcast_id = $2 AND telegram_id = $3 AND state = 'sending'",
            state.value,
            broadcast_id,
            telegram_id,
        )
        if state is RecipientState.BLOCKED:
            await conn.execute(
                "INSERT INTO broadcast_unreachable (telegram_id, since, broadcast_id)"
                " VALUES ($1, $2, $3) ON CONFLICT (telegram_id) DO NOTHING",
                telegram_id,
                now,
                broadcast_id,
            )


async def _reopen_stale(
    conn: asyncpg.Connection, broadcast_id: int, max_attempts: int
) -> tuple[int, int]:
    failed = await conn.execute(
        "UPDATE broadcast_recipients SET state = 'failed'"
        " WHERE broadcast_id = $1 AND state = 'sending' AND attempts >= $2",
        broadcast_id,
        max_attempts,
    )
    reopened = await conn.execute(
        "UPDATE broadcast_recipients SET state = 'pending'"
        " WHERE broadcast_id = $1 AND state = 'sending'",
        broadcast_id,
    )
    return _updated(reopened), _updated(failed)


async def _set_progress(
    conn: asyncpg.Connection, broadcast_id: int, chat_id: int, message_id: int
) -> None:
    await conn.execute(
        "UPDATE broadcasts SET progress_chat_id = $1, progress_message_id = $2 WHERE id = $3",
        chat_id,
        message_id,
        broadcast_id,
    )


async def _finish(
    conn: asyncpg.Connection, clock: Callable[[], int], broadcast_id: int
) -> Broadcast:
    """Finished once no recipient is pending or claimed; while another run (in this
    process or another) still sends its claimed batch, the broadcast is left to that run
    to finish."""
    if is_bigint(broadcast_id):
        await conn.execute(
            "UPDATE broadcasts SET finished = TRUE, finished_at = $1 WHERE id = $2"
            " AND NOT finished AND NOT EXISTS (SELECT 1 FROM broadcast_recipients"
            "  WHERE broadcast_id = $2 AND state IN ('pending', 'sending'))",
            clock(),
            broadcast_id,
        )
        broadcast = await _get(conn, "b.id", broadcast_id)
        if broadcast is not None:
            return broadcast
    raise BroadcastNotFound(broadcast_id=broadcast_id)


async def _set_reachable(
    conn: asyncpg.Connection, clock: Callable[[], int], telegram_id: int, yes: bool
) -> None:
    if yes:
        await conn.execute("DELETE FROM broadcast_unreachable WHERE telegram_id = $1", telegram_id)
    else:
        await conn.execute(
            "INSERT INTO broadcast_unreachable (telegram_id, since) VALUES ($1, $2)"
            " ON CONFLICT (telegram_id) DO NOTHING",
            telegram_id,
            clock(),
        )


class PgBroadcasts(PgPortStore, BroadcastStore):
    async def audience_size(self) -> int:
        return (await self._fetchrow(f"SELECT count(*) FROM ({_AUDIENCE}) AS audience"))[0]

    async def create_broadcast(self, key: str, admin_id: int, text: str, event: str) -> Broadcast:
        return await self._write(
            _create,
            self._clock,
            key,
            admin_id,
            text,
            event,
            retry=RETRY_SQLSTATES | {UNIQUE_VIOLATION},  # the same key begun at once
        )

    async def get_broadcast(self, broadcast_id: int) -> Broadcast | None:
        if not is_bigint(broadcast_id):
            return None
        row = await self._fetchrow(
            f"SELECT {_COLUMNS} FROM broadcasts AS b WHERE b.id = $1", broadcast_id
        )
        return _row_to_broadcast(row) if row else None

    async def unfinished_broadcasts(self) -> list[Broadcast]:
        rows = await self._fetch(
            f"SELECT {_COLUMNS} FROM broadcasts AS b WHERE NOT b.finished ORDER BY b.id"
        )
        return [_row_to_broadcast(row) for row in rows]

    async def pending_recipients(self, broadcast_id: int, limit: int) -> list[int]:
        rows = await self._fetch(
            "SELECT telegram_id FROM broadcast_recipients WHERE broadcast_id = $1"
            " AND state = 'pending' ORDER BY telegram_id LIMIT $2",
            broadcast_id,
            limit,
        )
        return [row[0] for row in rows]

    async def claim_recipient(self, broadcast_id: int, telegram_id: int) -> bool:
        return await self._write(_claim, broadcast_id, telegram_id)

    async def record_deliveries(
        self, broadcast_id: int, results: dict[int, RecipientState]
    ) -> None:
        await self._write(_record, self._clock, broadcast_id, dict(results))

    async def reopen_stale_claims(self, broadcast_id: int, max_attempts: int) -> tuple[int, int]:
        return await self._write(_reopen_stale, broadcast_id, max_attempts)

    async def set_progress_message(self, broadcast_id: int, chat_id: int, message_id: int) -> None:
        await self._write(_set_progress, broadcast_id, chat_id, message_id)

    async def finish_broadcast(self, broadcast_id: int) -> Broadcast:
        return await self._write(_finish, self._clock, broadcast_id)

    async def set_reachable(self, telegram_id: int, reachable: bool) -> None:
        await self._write(_set_reachable, self._clock, telegram_id, reachable)
