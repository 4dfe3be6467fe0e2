"""The security audit log: append-only and hash chained, like the journal of transfers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterable

from bot.domain.security_ports import SecurityEvent

__all__ = ["GENESIS_HASH", "event_hash", "verify_events"]

GENESIS_HASH = "0" * 64


def event_hash(
    *,
    id: int,
    at: int,
    actor_id: int | None,
    event: str,
    subject_id: int | None,
    details: str,
    prev_hash: str,
) -> str:
    """SHA-256 over the event's fields (``details`` as stored JSON) and the previous hash."""
    payload = json.dumps(
        [id, at, actor_id, event, subject_id, details, prev_hash],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def canonical_details(details: dict) -> str:
    return json.dumps(details, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


async def verify_events(events: AsyncIterable[SecurityEvent]) -> tuple[int, list[str]]:
    """Count the events and list each broken link of the chain."""
    problems, count, prev_hash, prev_id = [], 0, GENESIS_HASH, 0
    async for e in events:
        count += 1
        if e.prev_hash != prev_hash:
            problems.append(f"security event {e.id}: prev_hash does not match event {prev_id}")
        expected = event_hash(
            id=e.id,
            at=e.at,
            actor_id=e.actor_id,
            event=e.event,
            subject_id=e.subject_id,
            details=canonical_details(e.details),
            prev_hash=e.prev_hash,
        )
        if expected != e.hash:
            problems.append(f"security event {e.id}: hash does not match its contents")
        prev_hash, prev_id = e.hash, e.id
    return count, problems
