"""Leases of the jobs that must run once across processes, on PostgreSQL.

Several bot processes schedule the same sweeps. A sweep whose own SQL already makes a
second run harmless (the red packets' expiry: each packet is refunded under its row's
lock, once) needs nothing more; one that would do its work twice (send a message twice,
call a gateway twice) asks for the job's lease first and skips its turn without it::

    if await db.jobs.try_lock("withdrawals.sweep", ttl_ms=60_000):
        try:
            ...  # the sweep
        finally:
            await db.jobs.release("withdrawals.sweep")

A job that runs long (a broadcast) renews its lease while it runs (``renew``).

A lease is a row of ``job_leases`` (name, holder, until): taking it is one conditional
upsert that succeeds when nobody holds it or its holder's deadline has passed; while it
is held, every other try fails, this process's own included (two runs of one job in one
process are two runs too). A process that dies mid-job frees the lease when its deadline
passes, so ``ttl_ms`` is longer than one run of the job. Deadlines are read
on the database's clock (``now_ms``), the clock every process of one database shares.
"""

from __future__ import annotations

import uuid

from bot.storage.postgres.port import PgPortStore

__all__ = ["PgJobLeases"]

_TAKE = (
    "INSERT INTO job_leases AS l (name, holder, until) VALUES ($1, $2, $3::bigint + $4::bigint)"
    " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until"
    " WHERE l.until <= $3"
    " RETURNING holder"
)
_RENEW = (
    "UPDATE job_leases SET until = $3::bigint + $4::bigint WHERE name = $1 AND holder = $2"
    " RETURNING holder"
)
_RELEASE = "UPDATE job_leases SET until = 0 WHERE name = $1 AND holder = $2"


class PgJobLeases(PgPortStore):
    """The leases this process takes: ``holder`` names it (a new id per open database)."""

    def __init__(self, shared, holder: str | None = None) -> None:
        super().__init__(shared)
        self.holder = holder or uuid.uuid4().hex

    async def try_lock(self, name: str, ttl_ms: int) -> bool:
        """Take the lease of job ``name`` for ``ttl_ms`` unless it is held; whether it
        was taken. Never waits for the holder."""
        if ttl_ms <= 0:
            raise ValueError("a lease lasts a moment at least")

        async def take(conn) -> bool:
            return await conn.fetchval(_TAKE, name, self.holder, self._clock(), ttl_ms) is not None

        return await self._write(take)

    async def renew(self, name: str, ttl_ms: int) -> bool:
        """Hold the lease ``ttl_ms`` from now, while this process still holds it (nobody
        took it after its deadline); whether it does."""
        if ttl_ms <= 0:
            raise ValueError("a lease lasts a moment at least")

        async def extend(conn) -> bool:
            return await conn.fetchval(_RENEW, name, self.holder, self._clock(), ttl_ms) is not None

        return await self._write(extend)

    async def release(self, name: str) -> None:
        """Let the lease go now (if this process holds it), for the next run anywhere."""

        async def drop(conn) -> None:
            await conn.execute(_RELEASE, name, self.holder)

        await self._write(drop)
