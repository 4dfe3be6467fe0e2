"""The ``OperationsStore`` of ``bot.domain.operations`` on PostgreSQL: figures and a write
probe. Transfer ids follow commit order here too (each append takes the journal's lock
and the tail's id + 1), so ``figures`` reading up to the newest id misses none."""

from __future__ import annotations

import asyncpg

from bot.domain.operations import Figures, Moved
from bot.storage.postgres.port import PgPortStore

__all__ = ["PgOperations"]


async def _probe(conn: asyncpg.Connection, at_ms: int) -> None:
    await conn.execute(
        "INSERT INTO wallet_meta (name, value) VALUES ('health_probe', $1)"
        " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        str(at_ms),
    )


class PgOperations(PgPortStore):
    async def figures(self, after_transfer_id: int) -> Figures:
        (last,) = await self._fetchrow("SELECT coalesce(max(id), 0) FROM transfers")
        # up to ``last`` only: a transfer committed meanwhile is read the next time
        rows = await self._fetch(
            "SELECT kind, currency, count(*), coalesce(sum(amount), 0)::bigint FROM transfers"
            " WHERE id > $1 AND id <= $2 AND flag IN ('posted', 'post_pending')"
            " GROUP BY kind, currency",
            after_transfer_id,
            last,
        )
        moved = {(kind, currency): Moved(count, amount) for kind, currency, count, amount in rows}
        packets = await self._fetch("SELECT state, count(*) FROM red_packets GROUP BY state")
        (held,) = await self._fetchrow("SELECT count(*) FROM held_payments WHERE state = 'open'")
        (queued,) = await self._fetchrow(
            "SELECT count(*) FROM payout_queue WHERE state = 'queued'"
        )
        by_state = {state: count for state, count in packets}
        return Figures(max(last, after_transfer_id), moved, by_state, held, queued)

    async def probe_write(self) -> None:
        await self._write(_probe, self._clock())
