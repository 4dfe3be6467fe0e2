"""Broadcasts on SQLite (the ``BroadcastStore`` of ``bot.domain.broadcasts``).

Each write is one operation of the group-commit writer. Beginning a broadcast writes it,
its recipients (``INSERT … SELECT`` from the users who opened the private chat and are
not unreachable) and the admin's event in one transaction; a repeat of its key returns
the first. A claim is one conditional ``UPDATE`` of one pending row, so two senders never
take the same person; a trigger keeps a recipient's final state final.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from bot.domain.broadcasts import Broadcast, BroadcastStore, RecipientState
from bot.domain.errors import BroadcastNotFound
from bot.storage.sqlite.ledger_ops import LedgerOps
from bot.storage.sqlite.port import PortStore
from bot.storage.sqlite.security_ops import SecurityOps

__all__ = ["SqliteBroadcasts"]

_AUDIENCE = (
    "SELECT u.telegram_id FROM users AS u WHERE u.private_chat = 1 AND NOT EXISTS"
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


def _row_to_broadcast(row: Sequence) -> Broadcast:
    return Broadcast(*row[:7], bool(row[7]), *row[8:])


def _get(conn: sqlite3.Connection, where: str, value: object) -> Broadcast | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM broadcasts AS b WHERE {where} = ?", (value,))
    found = row.fetchone()
    return _row_to_broadcast(found) if found else None


def _create(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    security: SecurityOps,
    key: str,
    admin_id: int,
    text: str,
    event: str,
) -> Broadcast:
    known = _get(conn, "b.key", key)
    if known is not None:
        return known
    (broadcast_id,) = conn.execute(
        "INSERT INTO broadcasts (key, admin_id, text, total, created_at) VALUES (?, ?, ?, 0, ?)"
        " RETURNING id",
        (key, admin_id, text, ledger.clock()),
    ).fetchone()
    total = conn.execute(
        "INSERT INTO broadcast_recipients (broadcast_id, telegram_id)"
        f" SELECT ?, telegram_id FROM ({_AUDIENCE})",
        (broadcast_id,),
    ).rowcount
    conn.execute("UPDATE broadcasts SET total = ? WHERE id = ?", (total, broadcast_id))
    details = {"broadcast_id": broadcast_id, "recipients": total, "characters": len(text)}
    security.record_event(conn, admin_id, event, None, details)
    return _get(conn, "b.id", broadcast_id)


def _claim(conn: sqlite3.Connection, broadcast_id: int, telegram_id: int) -> bool:
    return (
        conn.execute(
            "UPDATE broadcast_recipients SET state = 'sending', attempts = attempts + 1"
            " WHERE broadcast_id = ? AND telegram_id = ? AND state = 'pending'",
            (broadcast_id, telegram_id),
        ).rowcount
        == 1
    )


def _record(
    conn: sqlite3.Connection,
    ledger: LedgerOps,
    broadcast_id: int,
    results: dict[int, RecipientState],
) -> None:
    now = ledger.clock()
    for telegram_id, state in results.items():
        if state not in _FINAL:
            raise ValueError(f"not a delivery's result: {state!r}")
        conn.execute(
            "UPDATE broadcast_recipients SET state = ?"
            " WHERE broadcast_id = ? AND telegram_id = ? AND state = 'sending'",
            (state.value, broadcast_id, telegram_id),
        )
        if state is RecipientState.BLOCKED:
            conn.execute(
                "INSERT INTO broadcast_unreachable (telegram_id, since, broadcast_id)"
                " VALUES (?, ?, ?) ON CONFLICT (telegram_id) DO NOTHING",
                (telegram_id, now, broadcast_id),
            )


def _reopen_stale(conn: sqlite3.Connection, broadcast_id: int, max_attempts: int):
    failed = conn.execute(
        "UPDATE broadcast_recipients SET state = 'failed'"
        " WHERE broadcast_id = ? AND state = 'sending' AND attempts >= ?",
        (broadcast_id, max_attempts),
    ).rowcount
    reopened = conn.execute(
        "UPDATE broadcast_recipients SET state = 'pending'"
        " WHERE broadcast_id = ? AND state = 'sending'",
        (broadcast_id,),
    ).rowcount
    return reopened, failed


def _set_progress(conn: sqlite3.Connection, broadcast_id: int, chat_id: int, message_id: int):
    conn.execute(
        "UPDATE broadcasts SET progress_chat_id = ?, progress_message_id = ? WHERE id = ?",
        (chat_id, message_id, broadcast_id),
    )


def _finish(conn: sqlite3.Connection, ledger: LedgerOps, broadcast_id: int) -> Broadcast:
    """Finished once no recipient is pending or claimed; while another run still sends
    its claimed batch, the broadcast is left to that run to finish."""
    conn.execute(
        "UPDATE broadcasts SET finished = 1, finished_at = ? WHERE id = ? AND finished = 0"
        " AND NOT EXISTS (SELECT 1 FROM broadcast_recipients WHERE broadcast_id = ?"
        "  AND state IN ('pending', 'sending'))",
        (ledger.clock(), broadcast_id, broadcast_id),
    )
    broadcast = _get(conn, "b.id", broadcast_id)
    if broadcast is None:
        raise BroadcastNotFound(broadcast_id=broadcast_id)
    return broadcast


def _set_reachable(conn: sqlite3.Connection, ledger: LedgerOps, telegram_id: int, yes: bool):
    if yes:
        conn.execute("DELETE FROM broadcast_unreachable WHERE telegram_id = ?", (telegram_id,))
    else:
        conn.execute(
            "INSERT INTO broadcast_unreachable (telegram_id, since) VALUES (?, ?)"
            " ON CONFLICT (telegram_id) DO NOTHING",
            (telegram_id, ledger.clock()),
        )


class SqliteBroadcasts(PortStore, BroadcastStore):
    async def audience_size(self) -> int:
        row = await self._fetchone(f"SELECT count(*) FROM ({_AUDIENCE})", ())
        return row[0]

    async def create_broadcast(self, key: str, admin_id: int, text: str, event: str) -> Broadcast:
        return await self._writer.run(
            _create, self._ledger, self._security, key, admin_id, text, event
        )

    async def get_broadcast(self, broadcast_id: int) -> Broadcast | None:
        row = await self._fetchone(
            f"SELECT {_COLUMNS} FROM broadcasts AS b WHERE b.id = ?", (broadcast_id,)
        )
        return _row_to_broadcast(row) if row else None

    async def unfinished_broadcasts(self) -> list[Broadcast]:
        rows = await self._fetchall(
            f"SELECT {_COLUMNS} FROM broadcasts AS b WHERE b.finished = 0 ORDER BY b.id", ()
        )
        return [_row_to_broadcast(row) for row in rows]

    async def pending_recipients(self, broadcast_id: int, limit: int) -> list[int]:
        rows = await self._fetchall(
            "SELECT telegram_id FROM broadcast_recipients WHERE broadcast_id = ?"
            " AND state = 'pending' ORDER BY telegram_id LIMIT ?",
            (broadcast_id, limit),
        )
        return [row[0] for row in rows]

    async def claim_recipient(self, broadcast_id: int, telegram_id: int) -> bool:
        return await self._writer.run(_claim, broadcast_id, telegram_id)

    async def record_deliveries(
        self, broadcast_id: int, results: dict[int, RecipientState]
    ) -> None:
        await self._writer.run(_record, self._ledger, broadcast_id, dict(results))

    async def reopen_stale_claims(self, broadcast_id: int, max_attempts: int) -> tuple[int, int]:
        return await self._writer.run(_reopen_stale, broadcast_id, max_attempts)

    async def set_progress_message(self, broadcast_id: int, chat_id: int, message_id: int) -> None:
        await self._writer.run(_set_progress, broadcast_id, chat_id, message_id)

    async def finish_broadcast(self, broadcast_id: int) -> Broadcast:
        return await self._writer.run(_finish, self._ledger, broadcast_id)

    async def set_reachable(self, telegram_id: int, reachable: bool) -> None:
        await self._writer.run(_set_reachable, self._ledger, telegram_id, reachable)
