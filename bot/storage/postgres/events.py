"""The security log on PostgreSQL: appending to its hash chain, and row mapping.

Appends take the log's advisory lock (:data:`~bot.storage.postgres.port.EVENTS_LOCK`) in
the transaction that writes the event, so every process extends one chain in one order;
the event's id is the tail's id + 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import asyncpg

from bot.domain.events import GENESIS_HASH, canonical_details, event_hash
from bot.domain.security_ports import SecurityEvent
from bot.storage.postgres.port import EVENTS_LOCK, PgPortStore

__all__ = ["EVENT_COLUMNS", "PgRecordsEvents", "append_event", "row_to_event"]

EVENT_COLUMNS = "id, at, actor_id, event, subject_id, details, prev_hash, hash"


def row_to_event(row: Sequence) -> SecurityEvent:
    return SecurityEvent(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6], row[7])


async def append_event(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    actor_id: int | None,
    event: str,
    subject_id: int | None,
    details: dict,
) -> SecurityEvent:
    """Append one event to the log, inside the caller's transaction."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", EVENTS_LOCK)
    last = await conn.fetchrow("SELECT id, hash FROM security_events ORDER BY id DESC LIMIT 1")
    event_id, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
    text = canonical_details(details)
    at = clock()
    digest = event_hash(
        id=event_id,
        at=at,
        actor_id=actor_id,
        event=event,
        subject_id=subject_id,
        details=text,
        prev_hash=prev_hash,
    )
    await conn.execute(
        f"INSERT INTO security_events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        event_id,
        at,
        actor_id,
        event,
        subject_id,
        text,
        prev_hash,
        digest,
    )
    return SecurityEvent(event_id, at, actor_id, event, subject_id, details, prev_hash, digest)


class PgRecordsEvents(PgPortStore):
    """For the store of a port whose service writes to the security log (one hash chain,
    whichever port appends to it)."""

    async def record_event(
        self, actor_id: int | None, event: str, subject_id: int | None, details: dict
    ) -> SecurityEvent:
        return await self._write(append_event, self._clock, actor_id, event, subject_id, details)
