"""Pending actions, PINs and the security log on PostgreSQL (the ``SecurityStore`` of
``bot.domain.security_ports``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence

import asyncpg

from bot.domain.security_errors import (
    ActionAlreadyUsed,
    ActionCancelled,
    ActionExpired,
    ActionNotFound,
    ActionNotYours,
)
from bot.domain.security_ports import MAX_TRIES, Action, PinRecord, PinState, SecurityEvent
from bot.domain.security_ports import SecurityStore as SecurityStorePort
from bot.storage.postgres.events import EVENT_COLUMNS, PgRecordsEvents, row_to_event

__all__ = ["ACTION_COLUMNS", "PIN_COLUMNS", "PgSecurity", "row_to_action", "row_to_pin"]

ACTION_COLUMNS = "id, telegram_id, purpose, payload, state, expires_at, created_at"
PIN_COLUMNS = "pin_hash, pin_key_id, pin_failed, pin_locked_until, pin_lockouts"


def row_to_action(row: Sequence) -> Action:
    return Action(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6])


def row_to_pin(row: Sequence | None) -> PinRecord:
    if row is None:
        return PinRecord(None, None, PinState())
    return PinRecord(row[0], row[1], PinState(row[2], row[3], row[4]))


async def _create_action(conn: asyncpg.Connection, action: Action) -> None:
    await conn.execute(
        f"INSERT INTO pending_actions ({ACTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        action.id,
        action.telegram_id,
        action.purpose,
        json.dumps(action.payload, ensure_ascii=False),
        action.state,
        action.expires_at,
        action.created_at,
    )


async def _finish_action(
    conn: asyncpg.Connection, action_id: str, telegram_id: int, state: str, now: int
) -> Action:
    done = await conn.fetchrow(
        f"UPDATE pending_actions SET state = $1 WHERE id = $2 AND telegram_id = $3"
        f" AND state = 'open' AND expires_at > $4 RETURNING {ACTION_COLUMNS}",
        state,
        action_id,
        telegram_id,
        now,
    )
    if done is not None:
        return row_to_action(done)
    row = await conn.fetchrow(
        f"SELECT {ACTION_COLUMNS} FROM pending_actions WHERE id = $1", action_id
    )
    if row is None:
        raise ActionNotFound(action_id=action_id)
    action = row_to_action(row)
    if action.telegram_id != telegram_id:
        raise ActionNotYours(action_id=action_id)
    if action.state == "cancelled":
        raise ActionCancelled(action_id=action_id)
    if action.state != "open":
        raise ActionAlreadyUsed(action_id=action_id)
    raise ActionExpired(action_id=action_id)


async def _purge_actions(conn: asyncpg.Connection, before_ms: int) -> int:
    status = await conn.execute("DELETE FROM pending_actions WHERE expires_at < $1", before_ms)
    return int(status.rsplit(" ", 1)[-1])


async def _set_pin(
    conn: asyncpg.Connection,
    clock: Callable[[], int],
    telegram_id: int,
    pin_hash: str,
    key_id: str,
) -> None:
    await conn.execute(
        "INSERT INTO credentials (telegram_id, pin_hash, pin_key_id, updated_at)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (telegram_id) DO UPDATE SET"
        " pin_hash = excluded.pin_hash, pin_key_id = excluded.pin_key_id,"
        " pin_failed = 0, pin_locked_until = 0, updated_at = excluded.updated_at",
        telegram_id,
        pin_hash,
        key_id,
        clock(),
    )


async def _begin_pin_attempt(conn: asyncpg.Connection, telegram_id: int, now: int) -> PinRecord:
    # FOR UPDATE: tries sent at once from several processes are counted one after another
    row = await conn.fetchrow(
        f"SELECT {PIN_COLUMNS} FROM credentials WHERE telegram_id = $1 FOR UPDATE", telegram_id
    )
    before = row_to_pin(row)
    after = before.state.after_failure(now)  # raises PinLocked while locked
    await conn.execute(
        "UPDATE credentials SET pin_failed = $1, pin_locked_until = $2, pin_lockouts = $3,"
        " updated_at = $4 WHERE telegram_id = $5",
        after.failed,
        after.locked_until_ms,
        after.lockouts,
        now,
        telegram_id,
    )
    return before


async def _pin_attempt_succeeded(
    conn: asyncpg.Connection, telegram_id: int, before: PinRecord
) -> None:
    if before.state.failed == MAX_TRIES - 1:  # counting this try locked: undo that lock
        await conn.execute(
            "UPDATE credentials SET pin_failed = 0, pin_locked_until = $1, pin_lockouts = $2"
            " WHERE telegram_id = $3",
            before.state.locked_until_ms,
            before.state.lockouts,
            telegram_id,
        )
    else:
        await conn.execute(
            "UPDATE credentials SET pin_failed = 0 WHERE telegram_id = $1", telegram_id
        )


class PgSecurity(PgRecordsEvents, SecurityStorePort):
    async def create_action(self, action: Action) -> None:
        await self._write(_create_action, action)

    async def get_action(self, action_id: str) -> Action | None:
        row = await self._fetchrow(
            f"SELECT {ACTION_COLUMNS} FROM pending_actions WHERE id = $1", action_id
        )
        return row_to_action(row) if row else None

    async def finish_action(
        self, action_id: str, telegram_id: int, state: str, now_ms: int
    ) -> Action:
        return await self._write(_finish_action, action_id, telegram_id, state, now_ms)

    async def purge_actions(self, before_ms: int) -> int:
        return await self._write(_purge_actions, before_ms)

    async def open_actions(self, purpose: str) -> list[Action]:
        rows = await self._fetch(
            f"SELECT {ACTION_COLUMNS} FROM pending_actions WHERE state = 'open' AND purpose = $1"
            " ORDER BY created_at, id",
            purpose,
        )
        return [row_to_action(row) for row in rows]

    async def get_pin(self, telegram_id: int) -> PinRecord:
        row = await self._fetchrow(
            f"SELECT {PIN_COLUMNS} FROM credentials WHERE telegram_id = $1", telegram_id
        )
        return row_to_pin(row)

    async def set_pin(self, telegram_id: int, pin_hash: str, key_id: str) -> None:
        await self._write(_set_pin, self._clock, telegram_id, pin_hash, key_id)

    async def begin_pin_attempt(self, telegram_id: int, now_ms: int) -> PinRecord:
        return await self._write(_begin_pin_attempt, telegram_id, now_ms)

    async def pin_attempt_succeeded(self, telegram_id: int, before: PinRecord) -> None:
        await self._write(_pin_attempt_succeeded, telegram_id, before)

    async def events(self) -> AsyncIterator[SecurityEvent]:
        sql = f"SELECT {EVENT_COLUMNS} FROM security_events WHERE id > $1 ORDER BY id LIMIT $2"
        async for rows in self._pages(sql, ()):
            for row in rows:
                yield row_to_event(row)
