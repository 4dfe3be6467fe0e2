"""Jobs that must run once across bot processes: a scheduled job takes its lease first.

With PostgreSQL several processes run the same schedule; a job whose work must not be
done twice at once (telling an owner, calling a gateway, sending a broadcast) runs only
where its lease is held (``db.jobs``, ``docs/postgres.md``: an expiring lease, so a
process that dies frees it when its deadline passes). A database with one writing
process (SQLite) has no leases: there the job always runs. A sweep that is safe by its
own SQL (the red packets' expiry) needs none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.domain.errors import StorageError
from bot.handlers.context import Wallet

__all__ = ["lease"]

log = logging.getLogger(__name__)


@asynccontextmanager
async def lease(
    wallet: Wallet, name: str, ttl_s: float, *, keep: bool = False, release: bool = True
) -> AsyncIterator[bool]:
    """Whether this process holds job ``name`` now (for ``ttl_s``); with ``keep``, the
    lease is renewed every third of ``ttl_s`` while the block runs. It is let go when
    the block ends, unless ``release`` is false: then it runs out at its deadline, and a
    job due every ``ttl_s`` or so (a backup) is done once in that time in one process,
    however many processes schedule it."""
    jobs = getattr(wallet.store, "jobs", None)
    if jobs is None:
        yield True
        return
    ttl_ms = int(ttl_s * 1000)
    held = await jobs.try_lock(name, ttl_ms)
    renewing = asyncio.create_task(_renew(jobs, name, ttl_ms)) if held and keep else None
    try:
        yield held
    finally:
        if renewing is not None:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        if held and release:
            await jobs.release(name)


async def _renew(jobs, name: str, ttl_ms: int) -> None:
    while True:
        await asyncio.sleep(ttl_ms / 3000)
        try:
            if not await jobs.renew(name, ttl_ms):
                log.warning("job %s: its lease was lost (another process holds it now)", name)
                return
        except StorageError:
            log.warning("job %s: its lease was not renewed now", name, exc_info=True)
